package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

const testPublic = "http://bridge.test"

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testEnv is a Server over a fresh backend, with a folder "work" holding "doc.docx".
type testEnv struct {
	t      testing.TB
	srv    *Server
	store  storage.Backend
	state  state.Store
	clock  *testClock
	logs   *syncBuffer
	root   storage.Folder
	folder storage.Folder // "work", the tree of the tokens below
	file   storage.File   // "doc.docx" in folder, content "hello"
	token  string         // edit token for file
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t testing.TB, configure ...func(*Options)) *testEnv {
	t.Helper()
	clock := &testClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	st, err := state.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvOn(t, st, clock, configure...)
}

// newEnvOn is newEnv over the state store st.
func newEnvOn(t testing.TB, st state.Store, clock *testClock, configure ...func(*Options)) *testEnv {
	t.Helper()
	backend := newTestBackend(t, st, clock.Now)
	logs := &syncBuffer{}
	logger := logrus.New()
	logger.SetOutput(logs)
	logger.SetLevel(logrus.DebugLevel)
	pub, _ := url.Parse(testPublic)
	o := Options{
		PublicURL:   pub,
		Storage:     backend,
		State:       st,
		TokenTTL:    time.Hour,
		MaxFileSize: 1 << 20,
		Logger:      logger,
		Now:         clock.Now,
	}
	for _, c := range configure {
		c(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &testEnv{t: t, srv: srv, store: backend, state: st, clock: clock, logs: logs}
	ctx := context.Background()
	if e.root, err = backend.Root(ctx); err != nil {
		t.Fatal(err)
	}
	if e.folder, err = backend.CreateFolder(ctx, e.root.ID, "work"); err != nil {
		t.Fatal(err)
	}
	if e.file, err = backend.Create(ctx, e.folder.ID, "doc.docx", strings.NewReader("hello"), false, 0); err != nil {
		t.Fatal(err)
	}
	e.token = e.mint(e.file.ID, modeEdit)
	return e
}

// mint signs a file token of the test user for the work tree.
func (e *testEnv) mint(fileID, mode string) string {
	return e.srv.tokens.sign(accessToken{
		User: "u-1", Name: "Ada", Mode: mode, File: fileID, Tree: e.folder.ID,
		Exp: e.clock.Now().Add(time.Hour).UnixMilli(),
	})
}

// mintFolder signs a folder token of the test user for the work tree.
func (e *testEnv) mintFolder(folderID string) string {
	return e.srv.tokens.sign(accessToken{
		User: "u-1", Mode: modeEdit, Folder: folderID, Tree: e.folder.ID,
		Exp: e.clock.Now().Add(time.Hour).UnixMilli(),
	})
}

// do sends a request to the server; hdr is name, value pairs.
func (e *testEnv) do(method, target string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, testPublic+target, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w
}

// wopi sends a WOPI request for a file with a token; override may be "".
func (e *testEnv) wopi(method, path, token string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(method, path+"?access_token="+url.QueryEscape(token), body, hdr...)
}

func (e *testEnv) filePath(id string) string { return "/wopi/files/" + url.PathEscape(id) }

func (e *testEnv) folderPath(id string) string { return "/wopi/folders/" + url.PathEscape(id) }

// content reads a file's bytes from storage.
func (e *testEnv) content(id string) string {
	e.t.Helper()
	rc, _, err := e.store.Open(context.Background(), id)
	if err != nil {
		e.t.Fatalf("open %s: %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

func (e *testEnv) stat(id string) storage.File {
	e.t.Helper()
	f, err := e.store.Stat(context.Background(), id)
	if err != nil {
		e.t.Fatalf("stat %s: %v", id, err)
	}
	return f
}

// names lists the names of a folder's files and subfolders.
func (e *testEnv) names(folderID string) []string {
	e.t.Helper()
	files, folders, err := e.store.List(context.Background(), folderID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	for _, f := range folders {
		out = append(out, f.Name+"/")
	}
	return out
}

func decodeJSON[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %q: %v", w.Body.String(), err)
	}
	return v
}

// wantStatus fails unless w has the status.
func wantStatus(t *testing.T, w *httptest.ResponseRecorder, want int) {
	t.Helper()
	if w.Code != want {
		t.Fatalf("status = %d, want %d; body %q; headers %v", w.Code, want, w.Body.String(), w.Header())
	}
}

// header reads a response header by exact or canonical name.
func header(w *httptest.ResponseRecorder, name string) (string, bool) {
	if v, ok := w.Header()[name]; ok && len(v) > 0 {
		return v[0], true
	}
	v := w.Header().Values(name)
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// httptestRequest builds a request whose announced length is length (0: the body's,
// -1: unknown, as a chunked upload).
func httptestRequest(method, target, body string, length int64) *http.Request {
	r := httptest.NewRequest(method, testPublic+target, strings.NewReader(body))
	switch {
	case length < 0:
		r.ContentLength = -1
		r.Body = io.NopCloser(strings.NewReader(body))
	case length > 0:
		r.ContentLength = length
	}
	return r
}

func (e *testEnv) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w
}

func httptestRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
