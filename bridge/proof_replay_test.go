package bridge

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/state/redistest"
	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// TestProofReplayRefused: a proof captured from a GetFile does not authorise a PutFile
// (same URL, same token) a few seconds later, on this bridge or on a replica sharing its
// state; a fresh proof does.
func TestProofReplayRefused(t *testing.T) {
	e := newEnv(t, withDS(newFakeDS(t), config.ProofRequire))
	if _, err := e.store.Lock(t.Context(), e.file.ID, "L"); err != nil {
		t.Fatal(err)
	}
	cur, old := testKey(t, 0), testKey(t, 1)
	path := e.filePath(e.file.ID) + "/contents?access_token=" + url.QueryEscape(e.token)
	get := httptest.NewRequest(http.MethodGet, testPublic+path, nil)
	signProof(t, get, e.token, cur, old, e.clock.Now())
	wantStatus(t, e.serve(get), http.StatusOK)

	e.clock.Add(5 * time.Second)
	put := httptest.NewRequest(http.MethodPost, testPublic+path, strings.NewReader("evil"))
	for _, h := range []string{wopiclient.HeaderProof, wopiclient.HeaderProofOld, wopiclient.HeaderTimeStamp} {
		put.Header.Set(h, get.Header.Get(h))
	}
	put.Header.Set(wopiclient.HeaderOverride, "PUT")
	put.Header.Set(wopiclient.HeaderLock, "L")
	w := e.serve(put)
	wantStatus(t, w, http.StatusInternalServerError)
	if !strings.Contains(w.Body.String(), "already used") {
		t.Errorf("body = %q", w.Body.String())
	}
	if got := e.content(e.file.ID); got != "hello" {
		t.Fatalf("content = %q after a replayed proof", got)
	}

	// A replica with the same state store refuses it too.
	replica := newProofReplays(e.state, e.clock.Now)
	if err := replica.check(get); !errors.Is(err, errProof) {
		t.Errorf("replica: %v, want a refusal", err)
	}

	put = httptest.NewRequest(http.MethodPost, testPublic+path, strings.NewReader("new"))
	put.Header.Set(wopiclient.HeaderOverride, "PUT")
	put.Header.Set(wopiclient.HeaderLock, "L")
	signProof(t, put, e.token, cur, old, e.clock.Now())
	wantStatus(t, e.serve(put), http.StatusOK)
	if got := e.content(e.file.ID); got != "new" {
		t.Fatalf("content = %q after a fresh proof", got)
	}
}

// TestProofRepeatWithinGrace: DS's timestamps have millisecond resolution, so two of
// its requests for one URL within the same millisecond carry the same proof: a repeat
// right away is accepted.
func TestProofRepeatWithinGrace(t *testing.T) {
	e := newEnv(t, withDS(newFakeDS(t), config.ProofRequire))
	cur, old := testKey(t, 0), testKey(t, 1)
	at := e.clock.Now()
	wantStatus(t, e.signedWOPI(http.MethodGet, e.filePath(e.file.ID), e.token, cur, old, at), http.StatusOK)
	wantStatus(t, e.signedWOPI(http.MethodGet, e.filePath(e.file.ID), e.token, cur, old, at), http.StatusOK)
	e.clock.Add(3 * time.Second)
	wantStatus(t, e.signedWOPI(http.MethodGet, e.filePath(e.file.ID), e.token, cur, old, at), http.StatusInternalServerError)
}

// TestProofMemorySwept: records of proofs older than their validity are removed.
func TestProofMemorySwept(t *testing.T) {
	e := newEnv(t)
	p := newProofReplays(e.state, e.clock.Now)
	for i := range 50 {
		r := httptest.NewRequest(http.MethodGet, testPublic+"/", nil)
		r.Header.Set(wopiclient.HeaderProof, "proof-"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		r.Header.Set(wopiclient.HeaderTimeStamp, "1")
		if err := p.check(r); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		n := 0
		_ = e.state.View(func(tx state.Tx) error {
			for s := range byte(proofShards) {
				_ = tx.ForEach(proofBucket(s), func(string, []byte) error { n++; return nil })
			}
			return nil
		})
		return n
	}
	if n := count(); n != 50 {
		t.Fatalf("%d records, want 50", n)
	}
	e.clock.Add(proofMemory + time.Minute)
	r := httptest.NewRequest(http.MethodGet, testPublic+"/", nil)
	r.Header.Set(wopiclient.HeaderProof, "late")
	if err := p.check(r); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("%d records after the sweep, want 1", n)
	}
}

// TestProofReplayAcrossRedisReplicas: two replicas on one Redis state refuse each
// other's proofs.
func TestProofReplayAcrossRedisReplicas(t *testing.T) {
	srv := redistest.Start(t)
	open := func() state.Store {
		st, err := state.OpenRedis(srv.URL(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	clock := &testClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	a, b := newProofReplays(open(), clock.Now), newProofReplays(open(), clock.Now)
	r := httptest.NewRequest(http.MethodGet, testPublic+"/wopi/files/x/contents", nil)
	r.Header.Set(wopiclient.HeaderProof, "captured-proof")
	r.Header.Set(wopiclient.HeaderTimeStamp, "639000000000000000")
	if err := a.check(r); err != nil {
		t.Fatal(err)
	}
	clock.Add(5 * time.Second)
	if err := b.check(r); !errors.Is(err, errProof) {
		t.Fatalf("the other replica accepted a proof seen %v ago: %v", 5*time.Second, err)
	}
}
