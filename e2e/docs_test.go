package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/e2e/docserver"
)

const dsSecret = "e2e document server secret"

// docsEnv is a bridge process in front of a simulated Document Server.
type docsEnv struct {
	t  *testing.T
	ds *docserver.Server
	p  *proc
}

func newDocsEnv(t *testing.T, env ...string) *docsEnv {
	t.Helper()
	ds, err := docserver.New(docserver.Options{
		JWTSecret:   dsSecret,
		WOPIEnabled: true,
		SaveDelay:   20 * time.Millisecond,
		RetryBase:   50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ds.Close)
	p := startProc(t, append([]string{
		"WOPIBRIDGE_DOCS_URL=" + ds.URL(),
		"WOPIBRIDGE_DOCS_JWT_SECRET=" + dsSecret,
		"WOPIBRIDGE_LAUNCH_SECRET=" + string(testLaunchSecret),
		"WOPIBRIDGE_PROOF=off",
	}, env...)...)
	return &docsEnv{t: t, ds: ds, p: p}
}

func (e *docsEnv) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// config asks the bridge for user's editor config of file.
func (e *docsEnv) config(user, file string) json.RawMessage {
	e.t.Helper()
	status, body := e.p.api(http.MethodPost, "/api/v1/docs/config?file="+file, launchToken(e.t, user, nil), nil)
	if status != http.StatusOK {
		e.t.Fatalf("docs config for %s: %d %s", user, status, body)
	}
	var reply struct {
		APIJSURL string          `json:"apiJsUrl"`
		Config   json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		e.t.Fatal(err)
	}
	if want := e.ds.URL() + "/web-apps/apps/api/documents/api.js"; reply.APIJSURL != want {
		e.t.Fatalf("apiJsUrl = %q, want %q", reply.APIJSURL, want)
	}
	return reply.Config
}

func configKey(t *testing.T, cfg json.RawMessage) (key, mode string) {
	t.Helper()
	var c struct {
		Document     struct{ Key string }
		EditorConfig struct{ Mode string } `json:"editorConfig"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	return c.Document.Key, c.EditorConfig.Mode
}

func (e *docsEnv) open(user, file string) *docserver.DocsSession {
	e.t.Helper()
	ed, err := e.ds.OpenDocs(e.ctx(), e.config(user, file), docserver.User{})
	if err != nil {
		e.t.Fatalf("DS opening the config of %s: %v", user, err)
	}
	return ed
}

// reply waits for DS to get the bridge's answer to a callback of status for key.
func (e *docsEnv) reply(key string, status int) docserver.Event {
	e.t.Helper()
	ev, err := e.ds.WaitFor(e.ctx(), func(ev docserver.Event) bool {
		return ev.Type == docserver.Reply && ev.Op == docserver.OpCallback && ev.Key == key && ev.Status == status && ev.OK()
	})
	if err != nil {
		e.t.Fatalf("no answer to the status %d callback of %s: %v\nDS events: %v", status, key, err, e.ds.Events())
	}
	return ev
}

func replyBody(ev docserver.Event) string {
	if ev.Reply == nil {
		return ""
	}
	return strings.TrimSpace(string(ev.Reply.Body))
}

func (e *docsEnv) upload(name, content string) apiFile {
	return e.p.upload(launchToken(e.t, "owner", nil), name, []byte(content))
}

func TestDocsEditAndSave(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("report.docx", "original")
	ed := e.open("alice", f.ID)
	if got := string(ed.Content()); got != "original" {
		t.Fatalf("DS downloaded %q", got)
	}
	// DS's download carried its JWT; the bridge accepted it.
	dl, err := e.ds.WaitFor(e.ctx(), docserver.Match{Type: docserver.Reply, Op: docserver.OpDownload}.Fn())
	if err != nil || dl.Reply.StatusCode != http.StatusOK || !strings.HasPrefix(dl.Request.Get("Authorization"), "Bearer ") {
		t.Fatalf("download: %+v %v", dl, err)
	}
	e.reply(ed.Key(), docserver.StatusEditing)
	if err := ed.Edit([]byte("edited by alice")); err != nil {
		t.Fatal(err)
	}
	ed.Close()
	ev := e.reply(ed.Key(), docserver.StatusMustSave)
	if got := replyBody(ev); got != `{"error":0}` {
		t.Fatalf("reply to status 2 = %s", got)
	}
	if got := string(e.p.read("report.docx")); got != "edited by alice" {
		t.Fatalf("stored %q", got)
	}
	if d := e.p.describe(launchToken(t, "owner", nil), f.ID); d.Version == f.Version {
		t.Fatal("version unchanged after a save")
	}
	// The next open gets a new key, and edit mode (the lock was released).
	key2, mode := configKey(t, e.config("alice", f.ID))
	if key2 == ed.Key() || mode != "edit" {
		t.Fatalf("after the save: key %q mode %q (old key %q)", key2, mode, ed.Key())
	}
}

func TestDocsCoEditingSharesOneKeyAndSavesOnce(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("plan.xlsx", "v1")
	a := e.open("alice", f.ID)
	e.reply(a.Key(), docserver.StatusEditing)
	b := e.open("bob", f.ID)
	if a.Key() != b.Key() {
		t.Fatalf("co-editors got keys %q and %q", a.Key(), b.Key())
	}
	if b.View() {
		t.Fatal("second editor opened view-only")
	}
	a.Edit([]byte("alice and bob"))
	a.Close()
	b.Close()
	e.reply(a.Key(), docserver.StatusMustSave)
	if got := string(e.p.read("plan.xlsx")); got != "alice and bob" {
		t.Fatalf("stored %q", got)
	}
	saves := e.ds.Find(docserver.Match{Type: docserver.Request, Op: docserver.OpCallback, Status: docserver.StatusMustSave}.Fn())
	if len(saves) != 1 {
		t.Fatalf("%d status 2 callbacks, want 1", len(saves))
	}
}

func TestDocsForcesaveThenClose(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("notes.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	ed.Edit([]byte("forcesaved"))
	if err := ed.Forcesave(); err != nil {
		t.Fatal(err)
	}
	e.reply(ed.Key(), docserver.StatusForceSave)
	if got := string(e.p.read("notes.docx")); got != "forcesaved" {
		t.Fatalf("after forcesave: %q", got)
	}
	// During the session, a new editor gets the same key, in edit mode.
	if key, mode := configKey(t, e.config("bob", f.ID)); key != ed.Key() || mode != "edit" {
		t.Fatalf("config during the session: key %q mode %q, want %q edit", key, mode, ed.Key())
	}
	ed.Edit([]byte("final"))
	ed.Close()
	e.reply(ed.Key(), docserver.StatusMustSave)
	if got := string(e.p.read("notes.docx")); got != "final" {
		t.Fatalf("after close: %q", got)
	}
}

func TestDocsCloseWithoutChangesUnlocks(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("idle.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	ed.Close()
	e.reply(ed.Key(), docserver.StatusClosed)
	// Unlocked: a WOPI session can take the lock now.
	sess := e.session("carol", f.ID, "edit")
	if code := wopiLock(t, sess, "wopi-lock"); code != http.StatusOK {
		t.Fatalf("WOPI Lock after status 4: %d", code)
	}
	if got := string(e.p.read("idle.docx")); got != "v1" {
		t.Fatalf("content changed: %q", got)
	}
	// Same content: the same key again, but view-only while WOPI holds the lock.
	if key, mode := configKey(t, e.config("alice", f.ID)); key != ed.Key() || mode != "view" {
		t.Fatalf("config while WOPI holds the lock: key %q mode %q", key, mode)
	}
}

func wopiLock(t *testing.T, s wopiSession, lock string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.WopiSrc+"?access_token="+s.AccessToken, nil)
	req.Header.Set("X-WOPI-Override", "LOCK")
	req.Header.Set("X-WOPI-Lock", lock)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestDocsSaveErrorStatus3Unlocks(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("broken.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	ed.Edit([]byte("never assembled"))
	e.ds.FailNextSave()
	ed.Close()
	if got := replyBody(e.reply(ed.Key(), docserver.StatusCorrupted)); got != `{"error":0}` {
		t.Fatalf("reply to status 3: %s", got)
	}
	if got := string(e.p.read("broken.docx")); got != "v1" {
		t.Fatalf("content after status 3: %q", got)
	}
	waitFor(t, "the status 3 log line", func() bool { return contains(e.p.logs.String(), "status 3") })
	if _, mode := configKey(t, e.config("alice", f.ID)); mode != "edit" {
		t.Fatalf("after status 3 the file is still locked (mode %s)", mode)
	}
}

func TestDocsWOPILockedFileOpensForView(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("busy.docx", "v1")
	sess := e.session("carol", f.ID, "edit")
	if code := wopiLock(t, sess, f.ID); code != http.StatusOK {
		t.Fatalf("WOPI Lock: %d", code)
	}
	ed := e.open("alice", f.ID)
	if !ed.View() {
		t.Fatal("a file locked by a WOPI session opened for edit in Docs API mode")
	}
}

func TestDocsRestartBetweenStatus1And2StillSaves(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("restart.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	e.p.restart(syscall.SIGTERM)
	ed.Edit([]byte("saved across a restart"))
	ed.Close()
	e.reply(ed.Key(), docserver.StatusMustSave)
	if got := string(e.p.read("restart.docx")); got != "saved across a restart" {
		t.Fatalf("stored %q", got)
	}
}

func TestDocsCallbackURLOnForeignOriginIsNeverFetched(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("ssrf.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)

	// A trap that records whether anything fetched from it.
	hit := make(chan struct{}, 1)
	trap := newTrap(t, hit)
	cb := callbackURLOf(t, ed.Config())
	body := map[string]any{"key": ed.Key(), "status": 2, "url": trap + "/secret", "users": []string{"alice"}}
	code, reply := postSignedCallback(t, cb, body)
	if code != http.StatusOK || reply != `{"error":1}` {
		t.Fatalf("callback with a foreign url: %d %s", code, reply)
	}
	select {
	case <-hit:
		t.Fatal("the bridge fetched a URL that is not on the Document Server's origin")
	default:
	}
	if got := string(e.p.read("ssrf.docx")); got != "v1" {
		t.Fatalf("content changed: %q", got)
	}
	waitFor(t, "an error log naming the origin", func() bool {
		l := e.p.logs.String()
		return contains(l, trap) && contains(l, "WOPIBRIDGE_DOCS_URL")
	})
}

func TestDocsBadCallbackJWTs(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("jwt.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	cb := callbackURLOf(t, ed.Config())
	claims := map[string]any{"key": ed.Key(), "status": 4}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(claims))
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	wrong, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString([]byte("not the secret"))
	cases := []struct {
		name string
		body map[string]any
	}{
		{"absent", map[string]any{"key": ed.Key(), "status": 4}},
		{"alg none", map[string]any{"key": ed.Key(), "status": 4, "token": noneTok}},
		{"wrong secret", map[string]any{"key": ed.Key(), "status": 4, "token": wrong}},
		{"garbage", map[string]any{"key": ed.Key(), "status": 4, "token": "a.b.c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, _ := json.Marshal(c.body)
			resp, err := http.Post(cb, "application/json", bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || strings.TrimSpace(buf.String()) != `{"error":1}` {
				t.Fatalf("got %d %s", resp.StatusCode, buf.String())
			}
		})
	}
	// None of them ended the session: the file is still locked by it.
	if key, mode := configKey(t, e.config("bob", f.ID)); key != ed.Key() || mode != "edit" {
		t.Fatalf("after forged callbacks: key %q mode %q", key, mode)
	}
}

func TestDocsDownloadNeedsDSJWT(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("dl.docx", "secret bytes")
	var c struct{ Document struct{ URL string } }
	json.Unmarshal(e.config("alice", f.ID), &c)
	u := c.Document.URL
	exp := time.Now().Add(5 * time.Minute).Unix() // DS's tokens expire after 5 minutes
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"payload": map[string]any{"url": u}, "exp": exp}).SignedString([]byte("forged"))
	good, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"payload": map[string]any{"url": u}, "exp": exp}).SignedString([]byte(dsSecret))
	other, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"payload": map[string]any{"url": u + "x"}, "exp": exp}).SignedString([]byte(dsSecret))
	for _, c := range []struct {
		name, auth string
		want       int
	}{
		{"no JWT", "", http.StatusUnauthorized},
		{"forged JWT", "Bearer " + forged, http.StatusUnauthorized},
		{"JWT for another URL", "Bearer " + other, http.StatusUnauthorized},
		{"DS's JWT", "Bearer " + good, http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, c.want, buf.String())
			}
			if c.want == http.StatusOK && buf.String() != "secret bytes" {
				t.Fatalf("body %q", buf.String())
			}
			if c.want != http.StatusOK && strings.Contains(buf.String(), "secret bytes") {
				t.Fatal("refused download leaked the document")
			}
		})
	}
}

func TestDocsStorageFailureThenRecovery(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("flaky.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	freeze(t, e.p.Data) // the disk refuses writes
	ed.Edit([]byte("kept through a storage failure"))
	ed.Close()
	if got := replyBody(e.reply(ed.Key(), docserver.StatusMustSave)); got != `{"error":0}` {
		t.Fatalf("reply with a failing storage: %s", got)
	}
	if got := string(e.p.read("flaky.docx")); got != "v1" {
		t.Fatalf("written despite the failure: %q", got)
	}
	thaw(t, e.p.Data)
	waitFor(t, "the spooled save to land", func() bool {
		b, _ := os.ReadFile(filepath.Join(e.p.Data, "flaky.docx"))
		return string(b) == "kept through a storage failure"
	})
}

func TestDocsSpooledSaveSurvivesSIGKILL(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("crash.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	freeze(t, e.p.Data)
	ed.Edit([]byte("acknowledged, then the bridge was killed"))
	ed.Close()
	if got := replyBody(e.reply(ed.Key(), docserver.StatusMustSave)); got != `{"error":0}` {
		t.Fatalf("reply: %s", got)
	}
	if got := string(e.p.read("crash.docx")); got != "v1" {
		t.Fatalf("written despite the failing disk: %q", got)
	}
	// The log line travels through a pipe and may trail the reply a little.
	waitFor(t, "the spooled save in the log", func() bool { return contains(e.p.logs.String(), "event=spooled") })
	e.p.stop(syscall.SIGKILL) // right after the acknowledgement
	thaw(t, e.p.Data)
	e.p.start()
	waitFor(t, "the spooled save to land after the restart", func() bool {
		b, _ := os.ReadFile(filepath.Join(e.p.Data, "crash.docx"))
		return string(b) == "acknowledged, then the bridge was killed"
	})
}

// freeze makes a directory refuse new files, even for root (the immutable attribute).
func freeze(t *testing.T, dir string) {
	t.Helper()
	out, err := exec.Command("chattr", "+i", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot make %s immutable to simulate a failing disk (chattr +i needs root and ext4/xfs): %v %s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
}

func thaw(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("chattr", "-i", dir).CombinedOutput(); err != nil {
		t.Fatalf("chattr -i: %v %s", err, out)
	}
}

func TestDocsRepeatedStatus2WritesNothingNew(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("twice.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	ed.Edit([]byte("once"))
	e.ds.DuplicateNextSave()
	ed.Close()
	evs, err := e.ds.WaitForN(e.ctx(), 2, func(ev docserver.Event) bool {
		return ev.Type == docserver.Reply && ev.Op == docserver.OpCallback && ev.Status == docserver.StatusMustSave && ev.OK()
	})
	if err != nil {
		t.Fatalf("two status 2 replies: %v", err)
	}
	for _, ev := range evs {
		if got := replyBody(ev); got != `{"error":0}` {
			t.Fatalf("reply %s", got)
		}
	}
	if got := string(e.p.read("twice.docx")); got != "once" {
		t.Fatalf("stored %q", got)
	}
	// Exactly one write: the repeat was recognised as such and wrote nothing, not even
	// the same bytes again or a conflict copy.
	m := e.p.metrics()
	for series, want := range map[string]float64{
		`wopibridge_docs_save_events_total{event="saved"}`:         1,
		`wopibridge_docs_save_events_total{event="repeated"}`:      1,
		`wopibridge_docs_save_events_total{event="conflict_copy"}`: 0,
	} {
		if got := sample(m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	entries, _ := os.ReadDir(e.p.Data)
	if len(entries) != 1 {
		t.Fatalf("files in the directory: %v", entries)
	}
}

func TestDocsOutOfOrderConcurrentCallbacks(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("race.docx", "v1")
	a := e.open("alice", f.ID)
	e.reply(a.Key(), docserver.StatusEditing)
	b := e.open("bob", f.ID)
	e.reply(b.Key(), docserver.StatusEditing)
	a.Edit([]byte("forcesave by alice"))
	// The next three callbacks (a forcesave, bob's leave, the final save) arrive
	// concurrently and newest first.
	e.ds.DeliverOutOfOrder(3)
	if err := a.Forcesave(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	a.Edit([]byte("final by alice"))
	a.Close()
	e.reply(a.Key(), docserver.StatusMustSave)
	e.reply(a.Key(), docserver.StatusForceSave)
	if got := string(e.p.read("race.docx")); got != "final by alice" {
		t.Fatalf("stored %q: a late forcesave overwrote the final save", got)
	}
	if _, mode := configKey(t, e.config("carol", f.ID)); mode != "edit" {
		t.Fatal("the file stayed locked after the final save")
	}
}

// newTrap is a server on another origin that reports any request.
func newTrap(t *testing.T, hit chan<- struct{}) string {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hit <- struct{}{}:
		default:
		}
		w.Write([]byte("trap"))
	})}
	addr := freeAddr(t)
	ln, err := netListen(addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + addr
}

func callbackURLOf(t *testing.T, cfg map[string]any) string {
	t.Helper()
	ec, _ := cfg["editorConfig"].(map[string]any)
	cb, _ := ec["callbackUrl"].(string)
	if cb == "" {
		t.Fatalf("no callbackUrl in %v", cfg)
	}
	return cb
}

// postSignedCallback posts a callback signed as DS signs it (body token).
func postSignedCallback(t *testing.T, cb string, body map[string]any) (int, string) {
	t.Helper()
	// DS's tokens carry iat and exp (5 minutes).
	claims := jwt.MapClaims{"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix()}
	for k, v := range body {
		claims[k] = v
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(dsSecret))
	if err != nil {
		t.Fatal(err)
	}
	withTok := map[string]any{"token": tok}
	for k, v := range body {
		withTok[k] = v
	}
	raw, _ := json.Marshal(withTok)
	resp, err := http.Post(cb, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, strings.TrimSpace(buf.String())
}

func TestDocsForcesaveErrorStatus7KeepsTheSession(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("seven.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	ed.Edit([]byte("not assembled"))
	e.ds.FailNextSave()
	if err := ed.Forcesave(); err != nil {
		t.Fatal(err)
	}
	if got := replyBody(e.reply(ed.Key(), docserver.StatusForceSaveError)); got != `{"error":0}` {
		t.Fatalf("reply to status 7: %s", got)
	}
	if got := string(e.p.read("seven.docx")); got != "v1" {
		t.Fatalf("content after status 7: %q", got)
	}
	// The session goes on: same key, still locked against WOPI, and the final save lands.
	if key, mode := configKey(t, e.config("bob", f.ID)); key != ed.Key() || mode != "edit" {
		t.Fatalf("after status 7: key %q mode %q", key, mode)
	}
	ed.Edit([]byte("final"))
	ed.Close()
	e.reply(ed.Key(), docserver.StatusMustSave)
	if got := string(e.p.read("seven.docx")); got != "final" {
		t.Fatalf("final content %q", got)
	}
}

func TestDocsLateStatus1ChangesNothing(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("late.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	ed.Edit([]byte("saved"))
	ed.Close()
	e.reply(ed.Key(), docserver.StatusMustSave)
	code, reply := postSignedCallback(t, callbackURLOf(t, ed.Config()), map[string]any{
		"key": ed.Key(), "status": 1, "users": []string{"alice"}, "actions": []map[string]any{{"type": 1, "userid": "alice"}},
	})
	if code != http.StatusOK || reply != `{"error":0}` {
		t.Fatalf("late status 1: %d %s", code, reply)
	}
	// No lock was taken: a WOPI client can lock the file.
	sess := e.session("carol", f.ID, "edit")
	if code := wopiLock(t, sess, "wopi-lock"); code != http.StatusOK {
		t.Fatalf("WOPI Lock after a late status 1: %d", code)
	}
}

func TestDocsUnsafeSaveAnswers503AndDSRetries(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("retry.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	ed.Edit([]byte("made safe on a retry"))
	e.ds.FailResultDownloads(http.StatusInternalServerError) // the bytes cannot be had
	ed.Close()
	first, err := e.ds.WaitFor(e.ctx(), func(ev docserver.Event) bool {
		return ev.Type == docserver.Reply && ev.Op == docserver.OpCallback && ev.Status == docserver.StatusMustSave
	})
	if err != nil || first.Reply == nil || first.Reply.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("first status 2 reply: %+v %v", first.Reply, err)
	}
	e.ds.FailResultDownloads(0)
	ev := e.reply(ed.Key(), docserver.StatusMustSave) // a retry, answered 200
	if ev.Attempt < 2 || replyBody(ev) != `{"error":0}` {
		t.Fatalf("retry: attempt %d reply %s", ev.Attempt, replyBody(ev))
	}
	if got := string(e.p.read("retry.docx")); got != "made safe on a retry" {
		t.Fatalf("stored %q", got)
	}
}

func TestDocsSaveNow(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("savenow.docx", "v1")
	launch := launchToken(t, "alice", nil)
	saveNow := func() (int, map[string]string) {
		status, body := e.p.api(http.MethodPost, "/api/v1/docs/forcesave?file="+f.ID, launch, nil)
		var reply map[string]string
		json.Unmarshal(body, &reply)
		return status, reply
	}
	if status, reply := saveNow(); status != http.StatusConflict || !strings.Contains(reply["error"], "no Docs API editing session") {
		t.Fatalf("save now without a session: %d %v", status, reply)
	}
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	ed.Edit([]byte("saved on request"))
	status, reply := saveNow()
	if status != http.StatusAccepted || reply["key"] != ed.Key() || reply["result"] != "requested" {
		t.Fatalf("save now: %d %v", status, reply)
	}
	ev := e.reply(ed.Key(), docserver.StatusForceSave)
	var cb struct{ Forcesavetype int }
	ev.Decode(&cb)
	if cb.Forcesavetype != 0 {
		t.Fatalf("forcesavetype %d, want 0 (command service)", cb.Forcesavetype)
	}
	if got := string(e.p.read("savenow.docx")); got != "saved on request" {
		t.Fatalf("stored %q", got)
	}
	// Nothing changed since: DS says so, and the bridge passes it on.
	if status, reply := saveNow(); status != http.StatusOK || reply["result"] != "not modified" {
		t.Fatalf("second save now: %d %v", status, reply)
	}
	view := launchToken(t, "viewer", jwt.MapClaims{"mode": "view"})
	if status, _ := e.p.api(http.MethodPost, "/api/v1/docs/forcesave?file="+f.ID, view, nil); status != http.StatusForbidden {
		t.Fatalf("save now with a view-only token: %d", status)
	}
}
