package bridge

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// TestDemoModeHost: in demo mode, the launch API and the pages answer only for the
// public URL's host or a loopback name: a rebound DNS name gets nothing.
func TestDemoModeHost(t *testing.T) {
	e := newEnv(t)
	for host, want := range map[string]int{
		"bridge.test":                 http.StatusOK,
		"BRIDGE.test:80":              http.StatusOK,
		"127.0.0.1:18083":             http.StatusOK,
		"localhost:18083":             http.StatusOK,
		"[::1]:18083":                 http.StatusOK,
		"rebind.evil.example:18083":   http.StatusForbidden,
		"bridge.test.evil.example":    http.StatusForbidden,
		"127.0.0.1.nip.io:18083":      http.StatusForbidden,
		"localhost.evil.example:8080": http.StatusForbidden,
	} {
		for _, path := range []string{"/api/v1/files", "/"} {
			r := httptest.NewRequest(http.MethodGet, testPublic+path, nil)
			r.Host = host
			w := e.serve(r)
			if w.Code != want {
				t.Errorf("GET %s with Host %s = %d, want %d; %s", path, host, w.Code, want, w.Body)
			}
			if want == http.StatusForbidden && strings.Contains(w.Body.String(), "doc.docx") {
				t.Errorf("GET %s with Host %s leaked the listing", path, host)
			}
		}
	}
	// With a launch secret, the launch token is the credential: no Host rule.
	l := newEnv(t, withLaunchSecret)
	r := httptest.NewRequest(http.MethodGet, testPublic+"/api/v1/files", nil)
	r.Host = "rebind.evil.example"
	if w := l.serve(r); w.Code != http.StatusUnauthorized {
		t.Errorf("launch-secret mode, foreign Host: %d, want 401 (no launch token)", w.Code)
	}
}

// TestDemoModeCrossSite: in demo mode, a change to the launch API requested by another
// site's page (a form or a no-cors fetch) is refused and changes nothing; the bridge's
// own page (same origin, with X-Requested-With) and non-browser clients get through.
func TestDemoModeCrossSite(t *testing.T) {
	tests := []struct {
		name string
		hdr  []string
		want int
	}{
		{"foreign Origin", []string{"Origin", "http://evil.example", "Content-Type", "text/plain"}, http.StatusForbidden},
		{"foreign Origin with the header", []string{"Origin", "http://evil.example", requestedWith, "x"}, http.StatusForbidden},
		{"null Origin", []string{"Origin", "null"}, http.StatusForbidden},
		{"cross-site fetch metadata", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"same-site fetch metadata", []string{"Sec-Fetch-Site", "same-site", requestedWith, "x"}, http.StatusForbidden},
		{"same origin without the header", []string{"Origin", testPublic, "Sec-Fetch-Site", "same-origin"}, http.StatusForbidden},
		{"the bridge's own page", []string{"Origin", testPublic, "Sec-Fetch-Site", "same-origin", requestedWith, "wopibridge"}, http.StatusCreated},
		{"not a browser", nil, http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			before := strings.Join(e.names(e.root.ID), ",")
			w := e.do(http.MethodPost, "/api/v1/files?name=csrf.docx", strings.NewReader("planted"), tc.hdr...)
			wantStatus(t, w, tc.want)
			after := strings.Join(e.names(e.root.ID), ",")
			if created := after != before; created != (tc.want == http.StatusCreated) {
				t.Errorf("root was %s, is %s", before, after)
			}
		})
	}
}

// TestPageSecurityHeaders: every page (index, both editor styles, compare, errors)
// has a CSP whose nonce is the one on the page's inline scripts, that names DS's public
// origin for scripts, frames and forms, and frame-ancestors from the setting; error
// pages have nosniff and no-referrer as well.
func TestPageSecurityHeaders(t *testing.T) {
	e := newEnv(t, withDS(newFakeDS(t), config.ProofOff))
	nonceRE := regexp.MustCompile(`'nonce-([A-Za-z0-9_-]+)'`)
	pages := map[string]int{
		"/":                                  http.StatusOK,
		"/open/" + e.file.ID + "?style=wopi": http.StatusOK,
		"/open/" + e.file.ID + "?style=docs": http.StatusOK,
		"/compare/" + e.file.ID:              http.StatusOK,
		"/files/" + e.file.ID + "/timeline":  http.StatusOK,
		"/open/nope?style=wopi":              http.StatusNotFound,
		"/open/" + e.file.ID + "?style=x":    http.StatusBadRequest,
	}
	seen := map[string]bool{}
	for path, status := range pages {
		w := e.do(http.MethodGet, path, nil)
		wantStatus(t, w, status)
		csp := w.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "frame-ancestors 'self'", "object-src 'none'", "base-uri 'none'",
			"script-src 'self' 'nonce-", docsPublic, "frame-src 'self' " + docsPublic, "form-action 'self' " + docsPublic} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
			"Cache-Control": "no-store", "X-Frame-Options": "SAMEORIGIN"} {
			if got := w.Header().Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", path, h, got, want)
			}
		}
		m := nonceRE.FindStringSubmatch(csp)
		if m == nil {
			t.Errorf("%s: no nonce in %q", path, csp)
			continue
		}
		if seen[m[1]] {
			t.Errorf("%s: nonce %s used twice", path, m[1])
		}
		seen[m[1]] = true
		body := w.Body.String()
		scripts := strings.Count(body, "<script")
		if withNonce := strings.Count(body, `nonce="`+m[1]+`"`); withNonce != scripts {
			t.Errorf("%s: %d scripts, %d with the page's nonce", path, scripts, withNonce)
		}
	}

	f := newEnv(t, func(o *Options) { o.Guard.FrameAncestors = "'self' https://portal.example.com" })
	w := f.do(http.MethodGet, "/", nil)
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self' https://portal.example.com;") {
		t.Errorf("CSP %q", csp)
	}
	if got := w.Header().Get("X-Frame-Options"); got != "" {
		t.Errorf("X-Frame-Options = %q with other frame ancestors", got)
	}
}

// TestSeparateAdmin: with an admin listener, the operator routes are served by
// AdminHandler only, and it serves nothing else.
func TestSeparateAdmin(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Guard.SeparateAdmin = true })
	admin := e.srv.AdminHandler()
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		wantStatus(t, e.do(http.MethodGet, path, nil), http.StatusNotFound)
		w := httptest.NewRecorder()
		admin.ServeHTTP(w, httptest.NewRequest(http.MethodGet, testPublic+path, nil))
		if w.Code == http.StatusNotFound {
			t.Errorf("admin %s = 404", path)
		}
	}
	w := httptest.NewRecorder()
	admin.ServeHTTP(w, httptest.NewRequest(http.MethodGet, testPublic+"/metrics", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "# TYPE") {
		t.Errorf("admin /metrics = %d", w.Code)
	}
	for _, path := range []string{"/", "/api/v1/files", e.filePath(e.file.ID)} {
		w := httptest.NewRecorder()
		admin.ServeHTTP(w, httptest.NewRequest(http.MethodGet, testPublic+path, nil))
		if w.Code != http.StatusNotFound {
			t.Errorf("admin %s = %d, want 404", path, w.Code)
		}
	}
	// Without the option, the main handler serves them.
	wantStatus(t, newEnv(t).do(http.MethodGet, "/healthz", nil), http.StatusOK)
}

// slowEnv is a bridge behind a real HTTP server whose bodies must arrive at 1 KiB/s
// on average after 300 ms.
func slowEnv(t *testing.T) (*testEnv, *httptest.Server) {
	e := newEnv(t, func(o *Options) {
		o.MaxFileSize = 64 << 20
		o.Guard.BodyGrace = 300 * time.Millisecond
		o.Guard.MinBodyRate = 1 << 10
	})
	srv := httptest.NewServer(e.srv)
	t.Cleanup(srv.Close)
	return e, srv
}

// trickle sends head, then one body byte every 50 ms, and reports whether the server
// closed the connection (within 20 s) and what it answered.
func trickle(t *testing.T, srv *httptest.Server, head string) (closed bool, reply string) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // the bound, not a timing assertion
	var got bytes.Buffer
	_, err = io.Copy(&got, conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false, got.String()
	}
	return true, got.String() // EOF or reset: the server let go
}

// TestTricklingBodyIsCutOff: a client that trickles a body, to a route that does not
// read it (a callback with a bad signature) or to one that does (PutFile), loses the
// connection; the file is unchanged.
func TestTricklingBodyIsCutOff(t *testing.T) {
	e, srv := slowEnv(t)
	if _, err := e.store.Lock(t.Context(), e.file.ID, "L"); err != nil {
		t.Fatal(err)
	}
	heads := map[string]string{
		"callback with a bad signature": "POST /docs/callback?file=x&sig=y HTTP/1.1\r\nHost: bridge.test\r\nContent-Length: 100000\r\n\r\n",
		"PutFile": "POST " + e.filePath(e.file.ID) + "/contents?access_token=" + url.QueryEscape(e.token) + " HTTP/1.1\r\nHost: bridge.test\r\n" +
			"X-WOPI-Override: PUT\r\nX-WOPI-Lock: L\r\nContent-Length: 100000\r\n\r\n",
		"upload": "POST /api/v1/files?name=slow.docx HTTP/1.1\r\nHost: bridge.test\r\nContent-Length: 100000\r\n\r\n",
	}
	for name, head := range heads {
		t.Run(name, func(t *testing.T) {
			closed, reply := trickle(t, srv, head)
			if !closed {
				t.Fatalf("the connection was still open after 20 s; got %q", reply)
			}
		})
	}
	if got := e.content(e.file.ID); got != "hello" {
		t.Errorf("content = %q", got)
	}
	if n := len(e.names(e.root.ID)); n != 1 {
		t.Errorf("root holds %v", e.names(e.root.ID))
	}
}

// TestLargeSaveWithRateLimit: a PutFile of 16 MiB at loopback speed passes the rate
// limit, and the handler's work after the body is not cut off.
func TestLargeSaveWithRateLimit(t *testing.T) {
	e, srv := slowEnv(t)
	if _, err := e.store.Lock(t.Context(), e.file.ID, "L"); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+e.filePath(e.file.ID)+"/contents?access_token="+url.QueryEscape(e.token), bytes.NewReader(body))
	req.Header.Set(wopiclient.HeaderOverride, "PUT")
	req.Header.Set(wopiclient.HeaderLock, "L")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PutFile = %d", resp.StatusCode)
	}
	if st := e.stat(e.file.ID); st.Size != int64(len(body)) {
		t.Fatalf("stored %d bytes, want %d", st.Size, len(body))
	}
	// The connection is reused for the next request: the lifted deadline does not linger.
	resp, err = srv.Client().Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b := bufio.NewReader(resp.Body)
	line, _ := b.ReadString('\n')
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz = %d %s", resp.StatusCode, line)
	}
}
