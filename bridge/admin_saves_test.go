package bridge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// The admin routes answer loopback callers with the admin token only, and drop a save
// only once it was exported.
func TestAdminSavesRoutes(t *testing.T) {
	const token = "admin-token-for-tests"
	e := newSaveEnv(t, time.Hour, func(o *Options) { o.AdminToken = token })
	f := e.addFile("report.docx", "v1", "alice", true)
	launch := e.launchFor("alice", f, nil)
	cfg := e.mustConfig(launch)
	e.mustCallback(cfg, map[string]any{"status": 1, "users": []string{"alice"}})
	e.up.Refuse(wopitest.OpPutFile, http.StatusInternalServerError)
	e.mustCallback(cfg, map[string]any{"status": 2, "users": []string{"alice"}, "url": e.results.put("r1", []byte("waiting bytes"))})

	call := func(method, path, remote, bearer string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, testPublic+path, nil)
		r.RemoteAddr = remote
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		return w
	}
	wantStatus(t, call(http.MethodGet, "/admin/v1/saves", "192.0.2.7:4000", token), http.StatusForbidden)
	wantStatus(t, call(http.MethodGet, "/admin/v1/saves", "127.0.0.1:4000", ""), http.StatusUnauthorized)
	wantStatus(t, call(http.MethodGet, "/admin/v1/saves", "127.0.0.1:4000", token+"x"), http.StatusUnauthorized)
	w := call(http.MethodGet, "/admin/v1/saves", "127.0.0.1:4000", token)
	wantStatus(t, w, http.StatusOK)
	if !strings.Contains(w.Body.String(), `"state":"waiting"`) || !strings.Contains(w.Body.String(), `"id":"1"`) {
		t.Fatalf("list: %s", w.Body.String())
	}
	w = call(http.MethodDelete, "/admin/v1/saves/1", "[::1]:4000", token)
	wantStatus(t, w, http.StatusConflict)
	if !strings.Contains(w.Body.String(), "export it first") {
		t.Errorf("drop before export: %s", w.Body.String())
	}
	w = call(http.MethodGet, "/admin/v1/saves/1/content", "127.0.0.1:4000", token)
	wantStatus(t, w, http.StatusOK)
	if w.Body.String() != "waiting bytes" || w.Header().Get("Content-Length") != "13" {
		t.Fatalf("export: %q %v", w.Body.String(), w.Header())
	}
	wantStatus(t, call(http.MethodPost, "/admin/v1/saves/1/exported?size=12", "127.0.0.1:4000", token), http.StatusConflict)
	wantStatus(t, call(http.MethodPost, "/admin/v1/saves/1/exported?size=13", "127.0.0.1:4000", token), http.StatusNoContent)
	wantStatus(t, call(http.MethodDelete, "/admin/v1/saves/1", "127.0.0.1:4000", token), http.StatusNoContent)
	wantStatus(t, call(http.MethodGet, "/admin/v1/saves/1/content", "127.0.0.1:4000", token), http.StatusNotFound)
	// The dropped save no longer holds the file: its session ended, its lock is released.
	e.up.Refuse(wopitest.OpPutFile, 0)
	if c := e.mustConfig(launch); c.EditorConfig.Mode != "edit" || c.Document.Key == cfg.Document.Key {
		t.Fatalf("config after the drop: key %q mode %s", c.Document.Key, c.EditorConfig.Mode)
	}
	if e.up.Lock(f.id) != "" {
		t.Errorf("lock after the drop: %q", e.up.Lock(f.id))
	}
	// Without an admin token the routes do not exist.
	plain := newSaveEnv(t, time.Hour)
	r := httptest.NewRequest(http.MethodGet, testPublic+"/admin/v1/saves", nil)
	r.RemoteAddr = "127.0.0.1:4000"
	r.Header.Set("Authorization", "Bearer ")
	rw := httptest.NewRecorder()
	plain.srv.ServeHTTP(rw, r)
	wantStatus(t, rw, http.StatusNotFound)
}
