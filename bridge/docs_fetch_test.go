package bridge

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/docsapi"
)

var resultSecret = []byte("ds result secret")

// resultEnv is a bridge whose Document Server serves saved documents at ds (under
// base) and an internal service that must never be reached from a callback.
type resultEnv struct {
	*testEnv
	ds       *httptest.Server
	mux      *http.ServeMux
	internal atomic.Int32 // requests the internal service got
	intURL   string
}

func newResultEnv(t *testing.T, base string, configure ...func(*Options)) *resultEnv {
	re := &resultEnv{mux: http.NewServeMux()}
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		re.internal.Add(1)
		_, _ = w.Write([]byte("INTERNAL-SECRET-DATA"))
	}))
	t.Cleanup(internal.Close)
	re.intURL = internal.URL
	re.ds = httptest.NewServer(re.mux)
	t.Cleanup(re.ds.Close)
	re.mux.HandleFunc("/secret", func(w http.ResponseWriter, r *http.Request) {
		re.internal.Add(1)
		_, _ = w.Write([]byte("DS-ORIGIN-SECRET"))
	})
	dsURL, _ := url.Parse(re.ds.URL + base)
	re.testEnv = newEnv(t, append([]func(*Options){func(o *Options) {
		o.Docs = DocsOptions{URL: dsURL, JWTSecret: resultSecret}
	}}, configure...)...)
	return re
}

// open starts a Docs API session on the test file: its key and callback path.
func (e *resultEnv) open() (key, callback string) {
	e.t.Helper()
	w := e.do(http.MethodPost, "/api/v1/docs/config?file="+e.file.ID, nil)
	if w.Code != http.StatusOK {
		e.t.Fatalf("config: %d %s", w.Code, w.Body)
	}
	var reply struct{ Config docsapi.Config }
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil {
		e.t.Fatal(err)
	}
	return reply.Config.Document.Key, strings.TrimPrefix(reply.Config.EditorConfig.CallbackURL, testPublic)
}

// callback posts a callback signed as DS signs it (with exp) and returns the reply.
func (e *resultEnv) callback(cb string, claims jwt.MapClaims) *httptest.ResponseRecorder {
	now := time.Now()
	c := jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(resultSecret)
	if err != nil {
		panic(err)
	}
	body, _ := json.Marshal(map[string]string{"token": tok})
	return e.do(http.MethodPost, cb, bytes.NewReader(body))
}

func wantCallback(t *testing.T, w *httptest.ResponseRecorder, wantStatus int, wantBody string) {
	t.Helper()
	if w.Code != wantStatus || strings.TrimSpace(w.Body.String()) != wantBody {
		t.Fatalf("callback = %d %q, want %d %s", w.Code, w.Body.String(), wantStatus, wantBody)
	}
}

// TestResultRedirects: a result download follows a redirect only while it stays on DS's
// origin and base path; a redirect anywhere else is refused, the internal service is
// never asked, and the document keeps its content.
func TestResultRedirects(t *testing.T) {
	e := newResultEnv(t, "")
	e.mux.HandleFunc("/cache/files/ok", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("SAVED"))
	})
	e.mux.HandleFunc("/cache/files/redirect-same", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/cache/files/ok", http.StatusFound)
	})
	e.mux.HandleFunc("/cache/files/redirect-internal", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, e.intURL+"/secret?via=redirect", http.StatusFound)
	})
	e.mux.HandleFunc("/cache/files/redirect-loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/cache/files/redirect-loop", http.StatusTemporaryRedirect)
	})

	key, cb := e.open()
	wantCallback(t, e.callback(cb, jwt.MapClaims{"key": key, "status": 1, "users": []string{"u-1"}}), 200, `{"error":0}`)
	for _, p := range []string{"/cache/files/redirect-internal", "/cache/files/redirect-loop"} {
		w := e.callback(cb, jwt.MapClaims{"key": key, "status": 6, "url": e.ds.URL + p})
		if strings.TrimSpace(w.Body.String()) == `{"error":0}` {
			t.Fatalf("%s: callback = %d %q, want a refusal", p, w.Code, w.Body.String())
		}
		if got := e.content(e.file.ID); got != "hello" {
			t.Fatalf("%s: document = %q", p, got)
		}
	}
	if n := e.internal.Load(); n != 0 {
		t.Fatalf("the internal service got %d requests", n)
	}
	if !strings.Contains(e.logs.String(), "refused to download a saved document from "+e.intURL) {
		t.Errorf("no error naming the redirect's origin in the log:\n%s", e.logs.String())
	}
	wantCallback(t, e.callback(cb, jwt.MapClaims{"key": key, "status": 6, "url": e.ds.URL + "/cache/files/redirect-same"}), 200, `{"error":0}`)
	if got := e.content(e.file.ID); got != "SAVED" {
		t.Fatalf("document = %q after a same-origin redirect", got)
	}
}

// TestResultPathPrefix: when DS lives below a path, a result URL (or a redirect) on its
// origin but outside that path is refused.
func TestResultPathPrefix(t *testing.T) {
	e := newResultEnv(t, "/ds/")
	e.mux.HandleFunc("/ds/cache/files/ok", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("SAVED"))
	})
	e.mux.HandleFunc("/ds/cache/files/redirect-up", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/secret", http.StatusFound)
	})
	key, cb := e.open()
	wantCallback(t, e.callback(cb, jwt.MapClaims{"key": key, "status": 1, "users": []string{"u-1"}}), 200, `{"error":0}`)
	for _, u := range []string{e.ds.URL + "/secret", e.ds.URL + "/ds/../secret", e.ds.URL + "/ds/cache/files/redirect-up"} {
		w := e.callback(cb, jwt.MapClaims{"key": key, "status": 6, "url": u})
		if strings.TrimSpace(w.Body.String()) == `{"error":0}` {
			t.Fatalf("%s: callback = %d %q, want a refusal", u, w.Code, w.Body.String())
		}
	}
	if n := e.internal.Load(); n != 0 {
		t.Fatalf("DS's origin outside its path got %d requests", n)
	}
	wantCallback(t, e.callback(cb, jwt.MapClaims{"key": key, "status": 6, "url": e.ds.URL + "/ds/cache/files/ok"}), 200, `{"error":0}`)
	if got := e.content(e.file.ID); got != "SAVED" {
		t.Fatalf("document = %q", got)
	}
}

// TestDocsClientDialTimeout: the default client for DS bounds connecting.
func TestDocsClientDialTimeout(t *testing.T) {
	e := newResultEnv(t, "")
	tr, ok := e.srv.docs.http.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport = %T", e.srv.docs.http.Transport)
	}
	if tr.DialContext == nil || tr.TLSHandshakeTimeout == 0 {
		t.Fatalf("the DS client dials without a timeout (DialContext %v, TLSHandshakeTimeout %v)", tr.DialContext != nil, tr.TLSHandshakeTimeout)
	}
}

// stall is a DS result that sends a few bytes, then nothing until release is called
// (or the client gives up); started is closed once the first bytes are out. The test's
// end releases it too, so that the servers can shut down.
func stall(t *testing.T, rest string) (h http.HandlerFunc, started chan struct{}, release func()) {
	started, ch := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "64")
		_, _ = w.Write([]byte(strings.Repeat("s", 64-len(rest))))
		w.(http.Flusher).Flush()
		close(started)
		select {
		case <-ch:
			_, _ = w.Write([]byte(rest))
		case <-r.Context().Done():
		}
	}, started, release
}

// await waits for ch within a generous bound.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: not within 20 s", what)
	}
	panic("unreachable")
}

// TestSlowResultDoesNotHoldUpCallbacks: while a forcesave's download is stalled, other
// callbacks of the file (status 1) are answered; the save completes once the bytes come.
func TestSlowResultDoesNotHoldUpCallbacks(t *testing.T) {
	e := newResultEnv(t, "")
	h, started, release := stall(t, "END")
	e.mux.Handle("/cache/files/slow", h)
	key, cb := e.open()
	wantCallback(t, e.callback(cb, jwt.MapClaims{"key": key, "status": 1, "users": []string{"u-1"}}), 200, `{"error":0}`)

	saved := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		saved <- e.callback(cb, jwt.MapClaims{"key": key, "status": 6, "url": e.ds.URL + "/cache/files/slow"})
	}()
	await(t, started, "the download did not start")

	editing := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		editing <- e.callback(cb, jwt.MapClaims{"key": key, "status": 1, "users": []string{"u-1", "u-2"}})
	}()
	w := await(t, editing, "status 1 waited for the stalled download")
	wantCallback(t, w, 200, `{"error":0}`)
	select {
	case w := <-saved:
		t.Fatalf("the save answered %d %q before its bytes came", w.Code, w.Body)
	default:
	}
	release()
	wantCallback(t, await(t, saved, "the save"), 200, `{"error":0}`)
	if got := e.content(e.file.ID); got != strings.Repeat("s", 61)+"END" {
		t.Fatalf("document = %q", got)
	}
}

// TestResultIdleTimeout: a result download that stops sending is abandoned (DS is told
// to retry) and the document keeps its content.
func TestResultIdleTimeout(t *testing.T) {
	e := newResultEnv(t, "", func(o *Options) { o.Docs.ResultIdle = 200 * time.Millisecond })
	h, _, _ := stall(t, "END")
	e.mux.Handle("/cache/files/stalled", h)
	key, cb := e.open()
	wantCallback(t, e.callback(cb, jwt.MapClaims{"key": key, "status": 1, "users": []string{"u-1"}}), 200, `{"error":0}`)
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		done <- e.callback(cb, jwt.MapClaims{"key": key, "status": 2, "url": e.ds.URL + "/cache/files/stalled"})
	}()
	wantCallback(t, await(t, done, "the stalled save"), http.StatusServiceUnavailable, `{"error":1}`)
	if got := e.content(e.file.ID); got != "hello" {
		t.Fatalf("document = %q", got)
	}
	if !strings.Contains(e.logs.String(), "no data for 200ms") {
		t.Errorf("the log does not say why:\n%s", e.logs.String())
	}
}
