package bridge

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/wopiclient"
)

func TestGetFile(t *testing.T) {
	e := newEnv(t)
	version := e.stat(e.file.ID).Version
	tests := []struct {
		name     string
		hdr      []string
		want     int
		wantBody string
	}{
		{"whole", nil, http.StatusOK, "hello"},
		{"max expected size above", []string{wopiclient.HeaderMaxExpectedSize, "104857600"}, http.StatusOK, "hello"},
		{"max expected size equal", []string{wopiclient.HeaderMaxExpectedSize, "5"}, http.StatusOK, "hello"},
		{"max expected size below", []string{wopiclient.HeaderMaxExpectedSize, "4"}, http.StatusPreconditionFailed, ""},
		{"max expected size garbage", []string{wopiclient.HeaderMaxExpectedSize, "lots"}, http.StatusBadRequest, ""},
		{"range", []string{"Range", "bytes=1-3"}, http.StatusPartialContent, "ell"},
		{"not modified", []string{"If-None-Match", etag(version)}, http.StatusNotModified, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.wopi(http.MethodGet, e.filePath(e.file.ID)+"/contents", e.token, nil, tc.hdr...)
			wantStatus(t, w, tc.want)
			if tc.wantBody != "" && w.Body.String() != tc.wantBody {
				t.Errorf("body = %q, want %q", w.Body.String(), tc.wantBody)
			}
			if w.Code < 300 {
				if got, _ := header(w, wopiclient.HeaderItemVersion); got != version {
					t.Errorf("X-WOPI-ItemVersion = %q, want %q", got, version)
				}
			}
		})
	}
}

func TestPutFile(t *testing.T) {
	tests := []struct {
		name        string
		token       func(e *testEnv) string
		lock        string
		body        string
		length      int64 // announced Content-Length; 0: actual
		want        int
		wantContent string
	}{
		{"locked", nil, "L", "new content", 0, http.StatusOK, "new content"},
		{"too large, announced", nil, "L", strings.Repeat("x", 100), 0, http.StatusRequestEntityTooLarge, "hello"},
		{"too large, chunked", nil, "L", strings.Repeat("x", 100), -1, http.StatusRequestEntityTooLarge, "hello"},
		{"lock mismatch", nil, "other", "evil", 0, http.StatusConflict, "hello"},
		{"view token", func(e *testEnv) string { return e.mint(e.file.ID, modeView) }, "L", "evil", 0, http.StatusUnauthorized, "hello"},
		{"another file's token", func(e *testEnv) string { return e.mint("f-other", modeEdit) }, "L", "evil", 0, http.StatusUnauthorized, "hello"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.MaxFileSize = 64 })
			if _, err := e.store.Lock(t.Context(), e.file.ID, "L"); err != nil {
				t.Fatal(err)
			}
			before := e.stat(e.file.ID)
			tok := e.token
			if tc.token != nil {
				tok = tc.token(e)
			}
			r := httptestRequest(http.MethodPost, e.filePath(e.file.ID)+"/contents?access_token="+url.QueryEscape(tok), tc.body, tc.length)
			r.Header.Set(wopiclient.HeaderOverride, "PUT")
			r.Header.Set(wopiclient.HeaderLock, tc.lock)
			w := e.serve(r)
			wantStatus(t, w, tc.want)
			if got := e.content(e.file.ID); got != tc.wantContent {
				t.Errorf("content = %q, want %q", got, tc.wantContent)
			}
			after := e.stat(e.file.ID)
			if tc.want != http.StatusOK && after.Version != before.Version {
				t.Errorf("version changed on a refused PutFile")
			}
			if tc.want == http.StatusConflict {
				if got, _ := header(w, wopiclient.HeaderLock); got != "L" {
					t.Errorf("X-WOPI-Lock = %q, want L", got)
				}
			}
			if tc.want == http.StatusOK {
				if got, _ := header(w, wopiclient.HeaderItemVersion); got != after.Version {
					t.Errorf("X-WOPI-ItemVersion = %q, want %q", got, after.Version)
				}
				reply := decodeJSON[struct{ LastModifiedTime string }](t, w)
				if _, err := time.Parse(time.RFC3339Nano, reply.LastModifiedTime); err != nil {
					t.Errorf("LastModifiedTime %q: %v", reply.LastModifiedTime, err)
				}
			}
		})
	}
}

func TestFileURL(t *testing.T) {
	e := newEnv(t)
	c := decodeJSON[wopiclient.CheckFileInfo](t, e.wopi(http.MethodGet, e.filePath(e.file.ID), e.token, nil))
	u, err := url.Parse(c.FileURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.RequestURI()
	if strings.Contains(target, "access_token") {
		t.Fatalf("FileUrl carries the access token: %s", target)
	}
	w := e.do(http.MethodGet, target, nil)
	wantStatus(t, w, http.StatusOK)
	if w.Body.String() != "hello" {
		t.Errorf("body = %q", w.Body.String())
	}
	// It serves the current content, not the one of the moment it was made.
	if _, err := e.store.Lock(t.Context(), e.file.ID, "L"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Put(t.Context(), e.file.ID, "L", strings.NewReader("changed"), 0); err != nil {
		t.Fatal(err)
	}
	if w := e.do(http.MethodGet, target, nil); w.Body.String() != "changed" {
		t.Errorf("after PutFile body = %q", w.Body.String())
	}
	w = e.do(http.MethodGet, target, nil, wopiclient.HeaderMaxExpectedSize, "3")
	wantStatus(t, w, http.StatusPreconditionFailed)

	q := u.Query()
	tampered := []string{
		strings.Replace(target, e.file.ID, "f-other", 1),
		u.Path + "?exp=" + q.Get("exp") + "1&sig=" + q.Get("sig"),
		u.Path + "?exp=" + q.Get("exp") + "&sig=AAAA",
		u.Path,
	}
	for _, tgt := range tampered {
		w := e.do(http.MethodGet, tgt, nil)
		wantStatus(t, w, http.StatusUnauthorized)
	}
	// Valid for minutes, not for the access token's hours.
	e.clock.Add(fileURLLifetime - time.Second)
	wantStatus(t, e.do(http.MethodGet, target, nil), http.StatusOK)
	e.clock.Add(time.Second)
	w = e.do(http.MethodGet, target, nil)
	wantStatus(t, w, http.StatusUnauthorized)
}
