package bridge

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sirupsen/logrus"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage/wopi"
	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/docsapi"
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// Saves through an upstream WOPI host that fails: a bridge over the wopitest host, with
// a DS that serves discovery and save results, and a fast background replay.

type saveEnv struct {
	*upstreamEnv
	results *resultStore
}

// resultStore is DS's store of saved documents, served under /cache/files/.
type resultStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (r *resultStore) put(name string, b []byte) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[name] = b
	return docsPublic + "/cache/files/" + name
}

func newSaveEnv(t *testing.T, retry time.Duration, configure ...func(*Options)) *saveEnv {
	t.Helper()
	up := wopitest.NewServer(t)
	clock := &testClock{t: time.Now().UTC()}
	st, err := state.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	origin, _ := url.Parse(up.URL)
	// Stalls end where a real client gives up.
	client := &http.Client{Transport: up.Client().Transport, Timeout: 500 * time.Millisecond}
	backend, err := wopi.New(wopi.Options{Origins: []*url.URL{origin}, State: st, HTTP: client, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	results := &resultStore{m: map[string][]byte{}}
	ds := newFakeDS(t)
	dsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := strings.CutPrefix(r.URL.Path, "/cache/files/"); ok {
			results.mu.Lock()
			b, ok := results.m[name]
			results.mu.Unlock()
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Write(b)
			return
		}
		ds.serve(w, r)
	}))
	t.Cleanup(dsSrv.Close)
	logs := &syncBuffer{}
	logger := logrus.New()
	logger.SetOutput(logs)
	logger.SetLevel(logrus.InfoLevel)
	pub, _ := url.Parse(testPublic)
	o := Options{PublicURL: pub, Storage: backend, State: st, TokenTTL: time.Hour, MaxFileSize: 1 << 20, Logger: logger, Now: clock.Now}
	withLaunchSecret(&o)
	o.Docs.URL, _ = url.Parse(dsSrv.URL)
	o.Docs.PublicURL, _ = url.Parse(docsPublic)
	o.Docs.SaveRetryEvery = retry
	o.Proof = config.ProofOff
	for _, c := range configure {
		c(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &saveEnv{
		upstreamEnv: &upstreamEnv{testEnv: &testEnv{t: t, srv: srv, store: backend, state: st, clock: clock, logs: logs}, up: up},
		results:     results,
	}
}

// docsConfig is the Docs API config for a launch token; the status and body on failure.
func (e *saveEnv) docsConfig(launch string) (*docsapi.Config, int, string) {
	w := e.do(http.MethodPost, "/api/v1/docs/config", nil, bearerHdr(launch)...)
	if w.Code != http.StatusOK {
		return nil, w.Code, w.Body.String()
	}
	var reply struct{ Config docsapi.Config }
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil {
		e.t.Fatal(err)
	}
	return &reply.Config, w.Code, w.Body.String()
}

func (e *saveEnv) mustConfig(launch string) *docsapi.Config {
	e.t.Helper()
	cfg, code, body := e.docsConfig(launch)
	if cfg == nil {
		e.t.Fatalf("docs config: %d %s", code, body)
	}
	return cfg
}

// callback posts a callback for cfg's key; it returns the HTTP status and the reply.
func (e *saveEnv) callback(cfg *docsapi.Config, claims map[string]any) (int, string) {
	claims["key"] = cfg.Document.Key
	body, _ := json.Marshal(claims)
	w := e.do(http.MethodPost, strings.TrimPrefix(cfg.EditorConfig.CallbackURL, testPublic), strings.NewReader(string(body)),
		"Content-Type", "application/json")
	return w.Code, strings.TrimSpace(w.Body.String())
}

func (e *saveEnv) mustCallback(cfg *docsapi.Config, claims map[string]any) {
	e.t.Helper()
	if code, reply := e.callback(cfg, claims); code != http.StatusOK || reply != `{"error":0}` {
		e.t.Fatalf("callback %v: %d %s", claims["status"], code, reply)
	}
}

// metric is the value of a save event counter in /metrics.
func (e *saveEnv) metric(event string) string {
	w := e.do(http.MethodGet, "/metrics", nil)
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if strings.HasPrefix(line, `wopibridge_docs_save_events_total{event="`+event+`"} `) {
			return strings.Fields(line)[1]
		}
	}
	return "absent"
}

func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// M4: a Docs API save is written with the token of an editor of its session, never with
// the most recently registered one (here a viewer's, which the upstream refuses).
func TestDocsSaveActsForItsEditor(t *testing.T) {
	e := newSaveEnv(t, time.Hour)
	f := e.addFile("report.docx", "v1", "erin", true)
	fred := e.up.Token(f.id, "fred", false)
	erinLaunch := e.launchFor("erin", f, nil)
	cfg := e.mustConfig(erinLaunch)
	if cfg.EditorConfig.Mode != docsapi.ModeEdit {
		t.Fatalf("erin's config mode %q", cfg.EditorConfig.Mode)
	}
	e.mustCallback(cfg, map[string]any{"status": 1, "users": []string{"erin"}})
	fredLaunch := e.launchFor("fred", upFile{id: f.id, src: f.src, token: fred, ttl: e.up.TokenTTL(fred)}, nil)
	if c := e.mustConfig(fredLaunch); c.Document.Key != cfg.Document.Key || c.EditorConfig.Mode != docsapi.ModeView {
		t.Fatalf("fred's config: key %q mode %q", c.Document.Key, c.EditorConfig.Mode)
	}
	e.up.ResetRequests()
	e.mustCallback(cfg, map[string]any{"status": 2, "users": []string{"erin"}, "url": e.results.put("r1", []byte("erin's edit"))})
	if got := string(e.up.Content(f.id)); got != "erin's edit" {
		t.Fatalf("upstream holds %q", got)
	}
	if got := e.usersOf(wopitest.OpPutFile); len(got) != 1 || got[0] != "erin" {
		t.Fatalf("PutFile sent with the tokens of %q, want erin's", got)
	}
	if got := e.usersOf(wopitest.OpUnlock); len(got) != 1 || got[0] != "erin" || e.up.Lock(f.id) != "" {
		t.Fatalf("Unlock sent with the tokens of %q; lock %q", got, e.up.Lock(f.id))
	}
}

// M4: when no editor of the session has a token the upstream accepts, the save waits and
// says so (log, metric, launch API), and is not written with another person's token;
// it lands once an editor opens the file again.
func TestDocsSaveWithoutEditorCredentialWaits(t *testing.T) {
	e := newSaveEnv(t, 20*time.Millisecond)
	f := e.addFile("report.docx", "v1", "erin", true)
	cfg := e.mustConfig(e.launchFor("erin", f, nil))
	e.mustCallback(cfg, map[string]any{"status": 1, "users": []string{"erin"}})
	// Fred may write upstream, but opens this session only to view: not one of its editors.
	fred := e.up.Token(f.id, "fred", true)
	fredFile := upFile{id: f.id, src: f.src, token: fred, ttl: e.up.TokenTTL(fred)}
	if c := e.mustConfig(e.launchFor("fred", fredFile, jwt.MapClaims{"mode": "view"})); c.EditorConfig.Mode != docsapi.ModeView {
		t.Fatalf("fred's config mode %q", c.EditorConfig.Mode)
	}
	e.up.RevokeToken(f.token)
	e.up.ResetRequests()
	e.mustCallback(cfg, map[string]any{"status": 2, "users": []string{"erin"}, "url": e.results.put("r1", []byte("erin's edit"))})
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.logs.String())
			for _, r := range e.up.Requests() {
				t.Logf("%+v", r)
			}
		}
	})
	waitUntil(t, "a few replays", 5*time.Second, func() bool { n, _ := strconv.Atoi(e.metric("replay_failed")); return n >= 3 })
	if got := string(e.up.Content(f.id)); got != "v1" {
		t.Fatalf("upstream holds %q", got)
	}
	for _, u := range e.usersOf(wopitest.OpPutFile) {
		if u != "" {
			t.Fatalf("a PutFile went with %s's token", u)
		}
	}
	if !strings.Contains(e.logs.String(), "event=no_editor") || e.metric("no_editor") == "0" {
		t.Fatalf("no no_editor log line or count (%s)", e.metric("no_editor"))
	}
	if _, code, body := e.docsConfig(e.launchFor("fred", fredFile, jwt.MapClaims{"mode": "view"})); code != http.StatusServiceUnavailable || !strings.Contains(body, "refuses the credentials of everyone who edited it") {
		t.Fatalf("config while the save waits for an editor: %d %s", code, body)
	}
	// Erin comes back with a new token: the save lands, written as erin.
	erin2 := e.up.Token(f.id, "erin", true)
	w := e.do(http.MethodPost, "/api/v1/wopi/session?action=view", nil,
		bearerHdr(e.launchFor("erin", upFile{id: f.id, src: f.src, token: erin2, ttl: e.up.TokenTTL(erin2)}, nil))...)
	_ = w // registering erin's new token is what matters; the session may be refused while the save waits
	waitUntil(t, "the save to land", 5*time.Second, func() bool { return string(e.up.Content(f.id)) == "erin's edit" })
	for _, r := range e.up.Requests() {
		if r.Op == wopitest.OpPutFile && r.Status == http.StatusOK && r.User != "erin" {
			t.Fatalf("the save was written as %q", r.User)
		}
	}
	waitUntil(t, "the lock released", 5*time.Second, func() bool { return e.up.Lock(f.id) == "" })
}

// A file whose save waits for the upstream is offered in neither style: the launch API
// says why instead of handing out a session that cannot open.
func TestLaunchRefusedWhileSaveWaits(t *testing.T) {
	e := newSaveEnv(t, time.Hour)
	f := e.addFile("report.docx", "v1", "alice", true)
	launch := e.launchFor("alice", f, nil)
	cfg := e.mustConfig(launch)
	e.mustCallback(cfg, map[string]any{"status": 1, "users": []string{"alice"}})
	e.up.Refuse(wopitest.OpPutFile, http.StatusInternalServerError) // the upstream answers, but takes no write
	e.mustCallback(cfg, map[string]any{"status": 2, "users": []string{"alice"}, "url": e.results.put("r1", []byte("kept"))})
	for _, action := range []string{"edit", "view", ""} {
		r, s := e.session(launch, "?action="+action)
		if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "still waiting to be written to storage") || s.AccessToken != "" {
			t.Errorf("WOPI session (action %q) while the save waits: %d %s", action, r.code, r.body)
		}
	}
	if _, code, body := e.docsConfig(launch); code != http.StatusServiceUnavailable || !strings.Contains(body, "still waiting to be written to storage") {
		t.Errorf("docs config while the save waits: %d %s", code, body)
	}
	e.up.Refuse(wopitest.OpPutFile, 0)
	if r, _ := e.session(launch, "?action=edit"); r.code != http.StatusOK || string(e.up.Content(f.id)) != "kept" {
		t.Fatalf("WOPI session once the upstream is back: %d %s; upstream holds %q", r.code, r.body, e.up.Content(f.id))
	}
}

// The final save lands but the upstream refuses the Unlock: the key is finished at once,
// the file opens for view (a new key) while the release is retried, and for editing
// once the upstream takes it.
func TestFinalSaveUnlockRefusedThroughUpstream(t *testing.T) {
	e := newSaveEnv(t, 20*time.Millisecond)
	f := e.addFile("report.docx", "v1", "alice", true)
	launch := e.launchFor("alice", f, nil)
	cfg := e.mustConfig(launch)
	e.mustCallback(cfg, map[string]any{"status": 1, "users": []string{"alice"}})
	e.up.Refuse(wopitest.OpUnlock, http.StatusInternalServerError)
	e.mustCallback(cfg, map[string]any{"status": 2, "users": []string{"alice"}, "url": e.results.put("r1", []byte("final"))})
	if got := string(e.up.Content(f.id)); got != "final" {
		t.Fatalf("upstream holds %q", got)
	}
	for range 3 {
		c := e.mustConfig(launch)
		if c.Document.Key == cfg.Document.Key || c.EditorConfig.Mode != docsapi.ModeView {
			t.Fatalf("config while the release waits: key %q (finished %q), mode %s", c.Document.Key, cfg.Document.Key, c.EditorConfig.Mode)
		}
	}
	if r, _ := e.session(launch, "?action=edit"); r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "still being released") {
		t.Errorf("WOPI edit session while the release waits: %d %s", r.code, r.body)
	}
	if e.metric("release_failed") == "0" || e.up.Lock(f.id) == "" {
		t.Fatalf("release_failed %s, lock %q", e.metric("release_failed"), e.up.Lock(f.id))
	}
	e.up.Refuse(wopitest.OpUnlock, 0)
	waitUntil(t, "the release", 5*time.Second, func() bool { return e.up.Lock(f.id) == "" })
	if c := e.mustConfig(launch); c.Document.Key == cfg.Document.Key || c.EditorConfig.Mode != docsapi.ModeEdit {
		t.Fatalf("config after the release: key %q mode %s", c.Document.Key, c.EditorConfig.Mode)
	}
}

// Real-hosts row 8: a WOPI save spooled while the upstream was down, replayed after
// DS's lock lapsed, meets OpenCloud's 500 "aborted: not locked" rather than a 409. It
// no longer waits for ever. The 500 is read as the lock being gone: when the file is
// still the version the save was made on, the bytes re-lock it and land in it; when
// someone changed it upstream meanwhile, they go to a conflict copy next to the file,
// and where the upstream takes no copy either (cs3org/wopiserver's 501), to the
// recovery area. Either way the file opens again.
func TestUpstreamSpooledPutLockLapsedAnswers500(t *testing.T) {
	for _, tc := range []struct {
		name            string
		changed, copies bool
	}{{"unchanged", false, true}, {"copy", true, true}, {"recovery", true, false}} {
		copies := tc.copies
		t.Run(tc.name, func(t *testing.T) {
			e := newSaveEnv(t, 20*time.Millisecond)
			e.up.SetNotLockedStatus(http.StatusInternalServerError)
			if !copies {
				e.up.Refuse(wopitest.OpPutRelativeFile, http.StatusNotImplemented)
			}
			f, path, tok, lock := e.dsSession()
			e.up.SetUnreachable(true)
			w := e.wopi(http.MethodPost, path+"/contents", tok, strings.NewReader("v2, kept"),
				append([]string{"X-WOPI-Override", "PUT", "X-LOOL-WOPI-IsExitSave", "true"}, lock...)...)
			wantStatus(t, w, http.StatusOK)
			wantStatus(t, e.wopi(http.MethodPost, path, tok, nil, append([]string{"X-WOPI-Override", "UNLOCK"}, lock...)...), http.StatusOK)
			e.up.ExpireLock(f.id) // the outage outlasts the upstream's lock
			want := "v1"
			if tc.changed {
				want = "v1, changed upstream"
				e.up.SetContent(f.id, []byte(want))
			}
			e.up.SetUnreachable(false)
			waitUntil(t, "the save to resolve", 10*time.Second, func() bool { return e.srv.docs.sessions.WaitingTotal() == 0 })
			if !tc.changed {
				want = "v2, kept"
			}
			if got := string(e.up.Content(f.id)); got != want {
				t.Fatalf("upstream file holds %q, want %q", got, want)
			}
			var copyName string
			for _, n := range e.up.Names() {
				if strings.HasPrefix(n, "report (conflict ") {
					copyName = n
				}
			}
			saves, _ := e.srv.docs.sessions.Saves()
			switch {
			case !tc.changed && (copyName != "" || len(saves) != 0):
				t.Fatalf("copy %q, saves %+v", copyName, saves)
			case !tc.changed:
			case copies && (copyName == "" || string(e.up.Content(e.up.FileID(copyName))) != "v2, kept" || len(saves) != 0):
				t.Fatalf("copy %q, saves %+v", copyName, saves)
			case !copies && (copyName != "" || len(saves) != 1 || saves[0].State != "recovered" || saves[0].Face != "wopi"):
				t.Fatalf("copy %q, saves %+v", copyName, saves)
			}
			if !copies && !strings.Contains(e.logs.String(), "event=recovered") {
				t.Error("no recovered event in the log")
			}
			// The file is served again.
			w = e.wopi(http.MethodGet, path+"/contents", tok, nil)
			if w.Code != http.StatusOK || w.Body.String() != want {
				t.Fatalf("GetFile after the save resolved: %d %q", w.Code, w.Body.String())
			}
		})
	}
}

// M4: a FileUrl download acts for the user it was made for, not for whoever registered
// the file last.
func TestFileURLActsForItsUser(t *testing.T) {
	e := newSaveEnv(t, time.Hour)
	f := e.addFile("report.docx", "content", "alice", true)
	r, s := e.session(e.launchFor("alice", f, nil), "?action=view")
	if r.code != http.StatusOK {
		t.Fatalf("alice's session: %d %s", r.code, r.body)
	}
	bob := e.up.Token(f.id, "bob", false)
	if r, _ := e.session(e.launchFor("bob", upFile{id: f.id, src: f.src, token: bob, ttl: e.up.TokenTTL(bob)}, nil), "?action=view"); r.code != http.StatusOK {
		t.Fatalf("bob's session: %d %s", r.code, r.body)
	}
	tok, _ := e.srv.tokens.verify(s.AccessToken)
	w := e.wopi(http.MethodGet, e.filePath(tok.File), s.AccessToken, nil)
	wantStatus(t, w, http.StatusOK)
	var info struct{ FileUrl string }
	if err := json.Unmarshal(w.Body.Bytes(), &info); err != nil || info.FileUrl == "" {
		t.Fatalf("CheckFileInfo: %v %s", err, w.Body.String())
	}
	e.up.ResetRequests()
	w = e.do(http.MethodGet, strings.TrimPrefix(info.FileUrl, testPublic), nil)
	if w.Code != http.StatusOK || w.Body.String() != "content" {
		t.Fatalf("FileUrl: %d %q", w.Code, w.Body.String())
	}
	if got := e.usersOf(wopitest.OpGetFile); len(got) != 1 || got[0] != "alice" {
		t.Fatalf("the FileUrl download used the tokens of %q, want alice's", got)
	}
	// The user is part of what the URL's signature covers.
	forged := strings.Replace(info.FileUrl, "u=alice", "u=bob", 1)
	wantStatus(t, e.do(http.MethodGet, strings.TrimPrefix(forged, testPublic), nil), http.StatusUnauthorized)
}
