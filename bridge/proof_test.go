package bridge

import (
	"context"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/wopiclient"
)

func TestProofVerification(t *testing.T) {
	ds := newFakeDS(t)
	e := newEnv(t, withDS(ds, config.ProofRequire))
	cur, old, other := testKey(t, 0), testKey(t, 1), testKey(t, 2)
	now := e.clock.Now()
	path := e.filePath(e.file.ID)
	tests := []struct {
		name     string
		cur, old *rsa.PrivateKey
		at       time.Time
		want     int
	}{
		{"current and old valid", cur, old, now, 200},
		{"current valid, old invalid", cur, other, now, 200},
		{"current invalid, old signed with the current key (DS rotated, discovery not refreshed)", other, cur, now, 200},
		{"current signed with the old key (discovery refreshed before DS signs with its new key)", old, other, now, 200},
		{"current invalid, old signed with the old key", other, old, now, 500},
		{"both invalid", other, other, now, 500},
		{"no old proof", cur, nil, now, 200},
		{"timestamp 19 minutes old", cur, old, now.Add(-19 * time.Minute), 200},
		{"timestamp 21 minutes old", cur, old, now.Add(-21 * time.Minute), 500},
		{"timestamp from 2015", cur, old, time.Date(2015, 8, 17, 0, 0, 0, 0, time.UTC), 500},
		{"timestamp 10 minutes ahead", cur, old, now.Add(10 * time.Minute), 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.signedWOPI(http.MethodGet, path, e.token, tc.cur, tc.old, tc.at)
			wantStatus(t, w, tc.want)
			if tc.want == http.StatusInternalServerError {
				if msg, _ := header(w, wopiclient.HeaderServerError); msg == "" {
					t.Error("no X-WOPI-ServerError on a refused proof")
				}
			}
		})
	}

	t.Run("no proof headers", func(t *testing.T) {
		w := e.wopi(http.MethodGet, path, e.token, nil)
		wantStatus(t, w, http.StatusInternalServerError)
		if !strings.Contains(w.Body.String(), "X-WOPI-Proof") {
			t.Errorf("body = %q", w.Body.String())
		}
	})
	t.Run("proof checked before the token", func(t *testing.T) {
		wantStatus(t, e.wopi(http.MethodGet, path, "forged", nil), http.StatusInternalServerError)
		wantStatus(t, e.signedWOPI(http.MethodGet, path, "forged", cur, old, now), http.StatusUnauthorized)
	})
	t.Run("proof headers are never logged", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, testPublic+path+"?access_token="+url.QueryEscape(e.token), nil)
		signProof(t, r, e.token, other, other, now)
		proof := r.Header.Get(wopiclient.HeaderProof)
		wantStatus(t, e.serve(r), http.StatusInternalServerError)
		if logs := e.logs.String(); strings.Contains(logs, proof[:24]) || strings.Contains(logs, e.token) {
			t.Error("a proof or token reached the log")
		}
	})
}

// The URL a proof signs is rebuilt from the public URL, never from the Host header.
func TestProofURLFromPublicURL(t *testing.T) {
	e := newEnv(t, withDS(newFakeDS(t), config.ProofRequire))
	path := e.filePath(e.file.ID) + "?access_token=" + url.QueryEscape(e.token)
	cur, old := testKey(t, 0), testKey(t, 1)

	// Signed for the public URL, arriving with another Host (behind a proxy): accepted.
	r := httptest.NewRequest(http.MethodGet, testPublic+path, nil)
	signProof(t, r, e.token, cur, old, e.clock.Now())
	r.Host = "10.0.0.7:8080"
	wantStatus(t, e.serve(r), http.StatusOK)

	// Signed for the URL the Host header names: refused.
	r = httptest.NewRequest(http.MethodGet, "http://evil.test"+path, nil)
	signProof(t, r, e.token, cur, old, e.clock.Now())
	wantStatus(t, e.serve(r), http.StatusInternalServerError)
}

func TestProofOnEveryWOPIRoute(t *testing.T) {
	e := newEnv(t, withDS(newFakeDS(t), config.ProofRequire))
	cur, old := testKey(t, 0), testKey(t, 1)
	folderToken := e.mintFolder(e.folder.ID)
	routes := []struct {
		name, method, path, token string
		hdr                       []string
	}{
		{"CheckFileInfo", http.MethodGet, e.filePath(e.file.ID), e.token, nil},
		{"GetFile", http.MethodGet, e.filePath(e.file.ID) + "/contents", e.token, nil},
		{"GetLock", http.MethodPost, e.filePath(e.file.ID), e.token, []string{"X-WOPI-Override", "GET_LOCK"}},
		{"CheckFolderInfo", http.MethodGet, e.folderPath(e.folder.ID), folderToken, nil},
		{"EnumerateChildren", http.MethodGet, e.folderPath(e.folder.ID) + "/children", folderToken, nil},
		{"CheckEcosystem", http.MethodGet, "/wopi/ecosystem", e.token, nil},
	}
	for _, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			wantStatus(t, e.wopi(rt.method, rt.path, rt.token, nil, rt.hdr...), http.StatusInternalServerError)
			wantStatus(t, e.signedWOPI(rt.method, rt.path, rt.token, cur, old, e.clock.Now(), rt.hdr...), http.StatusOK)
		})
	}

	t.Run("FileUrl is the bridge's own signature, without proof", func(t *testing.T) {
		fileURL := e.srv.fileURL.url(testPublic, e.file.ID, "", e.clock.Now().Add(time.Hour).UnixMilli())
		wantStatus(t, e.do(http.MethodGet, strings.TrimPrefix(fileURL, testPublic), nil), http.StatusOK)
	})
}

func TestProofOff(t *testing.T) {
	e := newEnv(t, withDS(newFakeDS(t), config.ProofOff))
	wantStatus(t, e.wopi(http.MethodGet, e.filePath(e.file.ID), e.token, nil), http.StatusOK)
}

// A DS restarted with new keys: the first request it signs fails with the cached keys,
// discovery is fetched once more, and the request goes through. Failures do not turn
// into a discovery fetch each.
func TestProofKeyRotationRefreshesOnce(t *testing.T) {
	ds := newFakeDS(t)
	e := newEnv(t, withDS(ds, config.ProofRequire))
	path := e.filePath(e.file.ID)
	a, b, c := testKey(t, 0), testKey(t, 1), testKey(t, 2)

	ds.setKeys(a, a)
	wantStatus(t, e.signedWOPI(http.MethodGet, path, e.token, a, a, e.clock.Now()), http.StatusOK)
	if n := ds.fetches.Load(); n != 1 {
		t.Fatalf("discovery fetched %d times, want 1", n)
	}

	ds.setKeys(b, b) // restart with a new key pair
	wantStatus(t, e.signedWOPI(http.MethodGet, path, e.token, b, b, e.clock.Now()), http.StatusOK)
	wantStatus(t, e.signedWOPI(http.MethodGet, path, e.token, b, b, e.clock.Now()), http.StatusOK)
	if n := ds.fetches.Load(); n != 2 {
		t.Fatalf("discovery fetched %d times after the rotation, want 2", n)
	}

	// Forged requests right after a refresh wait for the next allowed one (DS may
	// have rotated its keys twice within seconds), and are refused: at most one fetch
	// per 2 seconds.
	var waited time.Duration
	e.srv.sleep = func(_ context.Context, d time.Duration) error { waited += d; e.clock.Add(d); return nil }
	for range 5 {
		wantStatus(t, e.signedWOPI(http.MethodGet, path, e.token, c, c, e.clock.Now()), http.StatusInternalServerError)
	}
	if n := ds.fetches.Load(); n > 2+int32(waited/(2*time.Second)) || waited > 5*(2*time.Second) {
		t.Fatalf("forged requests: %d fetches after waiting %v, want at most one per 2s", n, waited)
	}
	before := ds.fetches.Load()
	// Later, one failure refreshes once more, and still refuses.
	e.clock.Add(time.Minute)
	wantStatus(t, e.signedWOPI(http.MethodGet, path, e.token, c, c, e.clock.Now()), http.StatusInternalServerError)
	if n := ds.fetches.Load(); n != before+1 {
		t.Fatalf("discovery fetched %d times, want %d", n, before+1)
	}
	// The old keys stopped working with the rotation.
	e.clock.Add(time.Minute)
	wantStatus(t, e.signedWOPI(http.MethodGet, path, e.token, a, a, e.clock.Now()), http.StatusInternalServerError)
}
