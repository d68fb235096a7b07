package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/e2e/docserver"
)

// replies waits for DS to get n answers to callbacks of status for key.
func (e *docsEnv) replies(key string, status, n int) []docserver.Event {
	e.t.Helper()
	evs, err := e.ds.WaitForN(e.ctx(), n, func(ev docserver.Event) bool {
		return ev.Type == docserver.Reply && ev.Op == docserver.OpCallback && ev.Key == key && ev.Status == status && ev.OK()
	})
	if err != nil {
		e.t.Fatalf("no %d answers to status %d callbacks of %s: %v\nDS events: %v", n, status, key, err, e.ds.Events())
	}
	return evs
}

// joinLeave opens cfg in DS, waits for status 1, closes without changes and waits
// for status 4 (the n-th of the key).
func (e *docsEnv) joinLeave(cfg []byte, n int) string {
	e.t.Helper()
	ed, err := e.ds.OpenDocs(e.ctx(), cfg, docserver.User{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.replies(ed.Key(), docserver.StatusEditing, n)
	ed.Close()
	e.replies(ed.Key(), docserver.StatusClosed, n)
	return ed.Key()
}

// The real DS reuses a key after the last editor left without changes: an editor that
// reconnects with the config it had sends status 1 with that key again. The bridge
// must lock the file again, or a WOPI client could lock and edit it at the same time.
func TestDocsReconnectAfterTheLastEditorLeftTakesTheLock(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("reconnect.docx", "v1")
	cfg := e.config("alice", f.ID)
	key := e.joinLeave(cfg, 1)

	back, err := e.ds.OpenDocs(e.ctx(), cfg, docserver.User{}) // a dropped connection comes back
	if err != nil {
		t.Fatal(err)
	}
	if got := replyBody(e.replies(key, docserver.StatusEditing, 2)[1]); got != `{"error":0}` {
		t.Fatalf("reply to the status 1 of the reconnect: %s", got)
	}
	// DS in WOPI mode now meets the lock and falls back to view.
	w := e.openWOPI(e.session("carol", f.ID, "edit"))
	if w.Mode() != "view" || !w.ForcedView() {
		t.Fatalf("WOPI open while the reconnected Docs API editor edits: mode %s (forced view %v)", w.Mode(), w.ForcedView())
	}
	// And the reopened session saves as any other.
	back.Edit([]byte("after the reconnect"))
	back.Close()
	e.reply(key, docserver.StatusMustSave)
	if got := string(e.p.read("reconnect.docx")); got != "after the reconnect" {
		t.Fatalf("stored %q", got)
	}
}

// When another session holds the lock by the time the editor reconnects, the bridge
// ends DS's editing of that key through the command service (drop): the editor
// reloads and gets a view-mode config. The WOPI editor keeps the file.
func TestDocsReconnectWhileWOPIHoldsTheLockIsDropped(t *testing.T) {
	e := newDocsEnv(t, "WOPIBRIDGE_LOG_LEVEL=info")
	f := e.upload("dropped.docx", "v1")
	cfg := e.config("alice", f.ID)
	key := e.joinLeave(cfg, 1)
	w := e.openWOPI(e.session("carol", f.ID, "edit"))
	if w.Mode() != "edit" {
		t.Fatalf("WOPI open after status 4: mode %s", w.Mode())
	}

	back, err := e.ds.OpenDocs(e.ctx(), cfg, docserver.User{})
	if err != nil {
		t.Fatal(err)
	}
	if got := replyBody(e.replies(key, docserver.StatusEditing, 2)[1]); got != `{"error":1}` {
		t.Errorf("reply to a status 1 that cannot take the lock: %s", got)
	}
	if _, err := e.ds.WaitFor(e.ctx(), docserver.Match{Type: docserver.Dropped, Key: key}.Fn()); err != nil {
		t.Fatalf("the bridge did not drop the editors of %s: %v\nDS events: %v", key, err, e.ds.Events())
	}
	e.replies(key, docserver.StatusClosed, 2) // the drop ends DS's session
	if err := back.Edit([]byte("never")); !errors.Is(err, docserver.ErrClosed) {
		t.Errorf("the dropped editor can still edit: %v", err)
	}
	e.p.waitMetric(`wopibridge_docs_drops_total{reason="locked_elsewhere",result="ok"}`, 1)
	waitFor(t, "the drop's warning", func() bool {
		return contains(e.p.logs.String(), "disconnected the editors of this key") && contains(e.p.logs.String(), "level=warning")
	})
	if _, mode := configKey(t, e.config("alice", f.ID)); mode != "view" {
		t.Errorf("a reload while WOPI edits gets mode %s", mode)
	}
	if err := w.Save([]byte("by carol"), true); err != nil {
		t.Fatalf("the WOPI editor lost the file: %v", err)
	}
	if got := string(e.p.read("dropped.docx")); got != "by carol" {
		t.Fatalf("stored %q", got)
	}
}

// A key whose content changed since is never served again: an editor coming back with
// the old config is dropped, and the old config's document.url answers an error, not
// the new bytes.
func TestDocsKeyWhoseContentChangedIsNeverServedAgain(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("changed.docx", "v1")
	cfg := e.config("alice", f.ID)
	key := e.joinLeave(cfg, 1)
	w := e.openWOPI(e.session("carol", f.ID, "edit"))
	if err := w.Save([]byte("v2 by carol"), true); err != nil {
		t.Fatal(err)
	}

	if _, err := e.ds.OpenDocs(e.ctx(), cfg, docserver.User{}); err != nil {
		t.Fatal(err)
	}
	e.replies(key, docserver.StatusEditing, 2)
	if _, err := e.ds.WaitFor(e.ctx(), docserver.Match{Type: docserver.Dropped, Key: key}.Fn()); err != nil {
		t.Fatalf("the editors of an outdated key were not dropped: %v", err)
	}
	e.p.waitMetric(`wopibridge_docs_drops_total{reason="key_outdated",result="ok"}`, 1)
	if _, mode := configKey(t, e.config("bob", f.ID)); mode != "edit" {
		t.Error("an outdated key's status 1 locked the file")
	}
	if k, _ := configKey(t, e.config("bob", f.ID)); k == key {
		t.Error("the changed file got the old key")
	}

	// DS downloading the old config's document.url (with a valid JWT) gets an error.
	var c struct {
		Document struct{ URL string }
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	code, body := dsGet(t, c.Document.URL, dsSecret)
	if code == http.StatusOK || strings.Contains(body, "v2 by carol") {
		t.Fatalf("the old document.url served %d %q", code, body)
	}
	if code != http.StatusConflict {
		t.Errorf("old document.url: %d %s", code, body)
	}
	// The current config's URL serves the current bytes.
	if err := json.Unmarshal(e.config("bob", f.ID), &c); err != nil {
		t.Fatal(err)
	}
	if code, body := dsGet(t, c.Document.URL, dsSecret); code != http.StatusOK || body != "v2 by carol" {
		t.Fatalf("current document.url: %d %q", code, body)
	}
}

// dsGet downloads u as DS does, with the JWT {payload:{url}} signed with secret.
func dsGet(t *testing.T, u, secret string) (int, string) {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"payload": map[string]any{"url": u}, "iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A DS whose inbox and outbox secrets differ: configs and commands are signed with the
// inbox secret, callbacks and downloads verified with the outbox one.
func TestDocsSeparateInboxAndOutboxSecrets(t *testing.T) {
	const inbox, outbox = "e2e inbox secret", "e2e outbox secret"
	ds, err := docserver.New(docserver.Options{
		JWTSecret: inbox, JWTOutboxSecret: outbox, WOPIEnabled: true,
		SaveDelay: 20 * time.Millisecond, RetryBase: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ds.Close)
	p := startProc(t,
		"WOPIBRIDGE_DOCS_URL="+ds.URL(),
		"WOPIBRIDGE_DOCS_JWT_SECRET="+inbox,
		"WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET="+outbox,
		"WOPIBRIDGE_LAUNCH_SECRET="+string(testLaunchSecret),
		"WOPIBRIDGE_PROOF=off")
	e := &docsEnv{t: t, ds: ds, p: p}
	f := e.upload("split.docx", "v1")
	ed := e.open("alice", f.ID) // DS accepts the config (inbox) and the bridge the download (outbox)
	if got := string(ed.Content()); got != "v1" {
		t.Fatalf("DS downloaded %q", got)
	}
	if got := replyBody(e.reply(ed.Key(), docserver.StatusEditing)); got != `{"error":0}` {
		t.Fatalf("status 1 signed with the outbox secret: %s", got)
	}
	ed.Edit([]byte("saved with split secrets"))
	if err := ed.Forcesave(); err != nil {
		t.Fatal(err)
	}
	e.reply(ed.Key(), docserver.StatusForceSave)
	ed.Close()
	e.reply(ed.Key(), docserver.StatusMustSave)
	if got := string(p.read("split.docx")); got != "saved with split secrets" {
		t.Fatalf("stored %q", got)
	}
}

// A callback signed with another secret is refused, logged as a warning at the default
// level with its reason, and counted.
func TestDocsRefusedCallbackIsLoggedAndCounted(t *testing.T) {
	e := newDocsEnv(t, "WOPIBRIDGE_LOG_LEVEL=info")
	f := e.upload("refused.docx", "v1")
	cfg := e.config("alice", f.ID)
	var m map[string]any
	if err := json.Unmarshal(cfg, &m); err != nil {
		t.Fatal(err)
	}
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"key": "k", "status": 1}).SignedString([]byte("another secret"))
	resp, err := http.Post(callbackURLOf(t, m), "application/json", strings.NewReader(`{"key":"k","status":1,"token":"`+tok+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != `{"error":1}` {
		t.Fatalf("callback with a foreign JWT: %d %s", resp.StatusCode, b)
	}
	e.p.waitMetric(`wopibridge_docs_callbacks_total{result="refused",status="unknown"}`, 1)
	waitFor(t, "the refusal's warning", func() bool {
		for _, line := range strings.Split(e.p.logs.String(), "\n") {
			if contains(line, "level=warning") && contains(line, "callback refused") && contains(line, "WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET") {
				return true
			}
		}
		return false
	})
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	e.p.waitMetric(`wopibridge_docs_callbacks_total{result="ok",status="1"}`, 1)
	if m := e.p.metrics(); sample(m, `wopibridge_http_requests_total{code="200",face="docs",operation="CallbackEditing"}`) != 1 {
		t.Errorf("status 1 not counted as CallbackEditing:\n%s", grep(m, `face="docs"`))
	}
}

// A status 1 that arrives after the status 4 DS sent later (the two are fire-and-forget,
// so a slow one can be overtaken) reopens the session; the bridge then asks DS (info)
// whether editors are there, DS answers with status 4, and the file is not left locked.
func TestDocsLateStatus1AfterStatus4LeavesNoLock(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("late-join.docx", "v1")
	cfg := e.config("alice", f.ID)
	key := e.joinLeave(cfg, 1)
	var m map[string]any
	if err := json.Unmarshal(cfg, &m); err != nil {
		t.Fatal(err)
	}
	code, reply := postSignedCallback(t, callbackURLOf(t, m), map[string]any{
		"key": key, "status": 1, "users": []string{"alice"}, "actions": []map[string]any{{"type": 1, "userid": "alice"}},
	})
	if code != http.StatusOK || reply != `{"error":0}` {
		t.Fatalf("late status 1: %d %s", code, reply)
	}
	// DS, asked, reports nobody there: status 4 ends the session again.
	e.replies(key, docserver.StatusClosed, 2)
	waitFor(t, "the lock of the late status 1 to go", func() bool {
		_, mode := configKey(t, e.config("bob", f.ID))
		return mode == "edit"
	})
	if code := wopiLock(t, e.session("carol", f.ID, "edit"), "wopi-lock"); code != http.StatusOK {
		t.Fatalf("WOPI Lock after the late status 1: %d", code)
	}
}
