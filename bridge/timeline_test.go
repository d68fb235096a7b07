package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/bridge/events"
	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/docsapi"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// memRecorder keeps every event it is given, in order.
type memRecorder struct {
	mu  sync.Mutex
	evs []events.Event
}

func (m *memRecorder) Record(e events.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evs = append(m.evs, e)
}

// take returns the events recorded since the last take.
func (m *memRecorder) take() []events.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	evs := m.evs
	m.evs = nil
	return evs
}

// timelineEnv is a bridge with a DS that serves save results (each download moves the
// clock by resultDelay, so that a save's duration is known) and answers commands.
type timelineEnv struct {
	*resultEnv
	rec         *memRecorder
	commandCode atomic.Int32 // what DS's command service answers
}

const resultDelay = 250 * time.Millisecond

func newTimelineEnv(t *testing.T, configure ...func(*Options)) *timelineEnv {
	rec := &memRecorder{}
	e := &timelineEnv{rec: rec}
	e.resultEnv = newResultEnv(t, "", append([]func(*Options){func(o *Options) {
		o.Events = rec
		o.Proof = config.ProofOff
		withLaunchSecret(o)
	}}, configure...)...)
	e.mux.HandleFunc("/cache/", func(w http.ResponseWriter, r *http.Request) {
		e.clock.Add(resultDelay)
		_, _ = w.Write([]byte("saved by " + strings.TrimPrefix(r.URL.Path, "/cache/")))
	})
	e.mux.HandleFunc("/command", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, `{"error":%d}`, e.commandCode.Load())
	})
	return e
}

// config gets the Docs API config of the test file for user in mode; the request id too.
func (e *timelineEnv) config(user, mode string) (docsapi.Config, string) {
	e.t.Helper()
	launch := e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"sub": user, "name": "Name of " + user, "mode": mode, "file": e.file.ID})
	w := e.do(http.MethodPost, "/api/v1/docs/config", nil, bearerHdr(launch)...)
	if w.Code != http.StatusOK {
		e.t.Fatalf("config for %s: %d %s", user, w.Code, w.Body)
	}
	var reply struct{ Config docsapi.Config }
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil {
		e.t.Fatal(err)
	}
	return reply.Config, w.Header().Get("X-Request-Id")
}

// cb posts a signed callback for cfg's key; it wants {"error":0} and returns the request id.
func (e *timelineEnv) cb(cfg docsapi.Config, claims jwt.MapClaims) string {
	e.t.Helper()
	claims["key"] = cfg.Document.Key
	w := e.callback(strings.TrimPrefix(cfg.EditorConfig.CallbackURL, testPublic), claims)
	wantCallback(e.t.(*testing.T), w, http.StatusOK, `{"error":0}`)
	return w.Header().Get("X-Request-Id")
}

// step is what a test says of an event: kind, style, op or outcome, user.
func stepOf(e events.Event) string {
	what := e.Op
	if e.Outcome != "" {
		what += "/" + e.Outcome
	}
	return fmt.Sprintf("%s %s %s %s", e.Kind, e.Style, what, e.User)
}

func wantSteps(t *testing.T, got []events.Event, want ...string) {
	t.Helper()
	var steps []string
	for _, e := range got {
		steps = append(steps, stepOf(e))
	}
	if strings.Join(steps, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n  %s\nwant:\n  %s", strings.Join(steps, "\n  "), strings.Join(want, "\n  "))
	}
}

func actions(typ int, user string) []map[string]any {
	return []map[string]any{{"type": typ, "userid": user}}
}

// A Docs API session from open to end: opens, joins, a forcesave and its save, the
// final save, the session end, and the next open under a new key.
func TestTimelineDocsSession(t *testing.T) {
	e := newTimelineEnv(t)
	cfg, rid := e.config("ann", modeEdit)
	key := cfg.Document.Key
	evs := e.rec.take()
	wantSteps(t, evs, "opened docs  ann")
	if o := evs[0]; o.FileID != e.file.ID || o.Mode != "edit" || o.Reason != "" || o.UserName != "Name of ann" || o.RequestID != rid || !o.Time.Equal(e.clock.Now()) {
		t.Errorf("opened: %+v (request %s)", o, rid)
	}

	e.cb(cfg, jwt.MapClaims{"status": 1, "users": []string{"ann"}, "actions": actions(1, "ann")})
	if _, rid = e.config("bob", modeEdit); rid == "" {
		t.Fatal("no request id")
	}
	e.cb(cfg, jwt.MapClaims{"status": 1, "users": []string{"ann", "bob"}, "actions": actions(1, "bob")})
	evs = e.rec.take()
	wantSteps(t, evs, "joined docs 1 ann", "opened docs  bob", "joined docs 1 bob")
	for _, ev := range evs {
		if ev.Kind == events.KindJoined && (ev.Session != key || ev.Status != 1) {
			t.Errorf("joined: %+v, want session %s status 1", ev, key)
		}
	}

	launch := e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"sub": "bob", "mode": modeEdit, "file": e.file.ID})
	w := e.do(http.MethodPost, "/api/v1/docs/forcesave", nil, bearerHdr(launch)...)
	wantStatus(t, w, http.StatusAccepted)
	evs = e.rec.take()
	wantSteps(t, evs, "forcesave docs forcesave/requested bob")
	if f := evs[0]; f.Session != key || f.Status != http.StatusAccepted || f.RequestID != w.Header().Get("X-Request-Id") {
		t.Errorf("forcesave: %+v", f)
	}

	before := e.stat(e.file.ID).Version
	rid = e.cb(cfg, jwt.MapClaims{"status": 6, "users": []string{"bob"}, "url": e.ds.URL + "/cache/one"})
	evs = e.rec.take()
	wantSteps(t, evs, "save docs 6/saved bob")
	after := e.stat(e.file.ID).Version
	s := evs[0]
	if s.Bytes != int64(len("saved by one")) || s.VersionBefore != before || s.VersionAfter != after || before == after ||
		s.DurationMS != float64(resultDelay.Milliseconds()) || s.RequestID != rid || s.Session != key {
		t.Errorf("forcesave's save: %+v; versions %s -> %s", s, before, after)
	}

	e.cb(cfg, jwt.MapClaims{"status": 2, "users": []string{"ann"}, "actions": actions(0, "ann"), "url": e.ds.URL + "/cache/two"})
	evs = e.rec.take()
	wantSteps(t, evs, "save docs 2/saved ann", "ended docs  ", "left docs 2 ann")
	if evs[0].VersionBefore != after || evs[1].Session != key {
		t.Errorf("final save %+v, end %+v", evs[0], evs[1])
	}

	cfg2, _ := e.config("ann", modeEdit)
	evs = e.rec.take()
	wantSteps(t, evs, "key_changed docs  ", "opened docs  ann")
	if k := evs[0]; k.Session != key || k.NewSession != cfg2.Document.Key || key == cfg2.Document.Key {
		t.Errorf("key change %+v, from %s to %s", k, key, cfg2.Document.Key)
	}
}

// WOPI: the first CheckFileInfo of a token opens, the lock operations answer, PutFile
// saves, Unlock leaves and ends; proof refusals are on the file's timeline too.
func TestTimelineWOPISession(t *testing.T) {
	e := newTimelineEnv(t)
	path := e.filePath(e.file.ID)
	for range 2 {
		wantStatus(t, e.wopi(http.MethodGet, path, e.token, nil, wopiclient.HeaderCorrelationID, "corr-1"), http.StatusOK)
	}
	view := e.mint(e.file.ID, modeView)
	wantStatus(t, e.wopi(http.MethodGet, path, view, nil), http.StatusOK)
	evs := e.rec.take()
	wantSteps(t, evs, "opened wopi  u-1", "opened wopi  u-1")
	if evs[0].Mode != "edit" || evs[0].CorrelationID != "corr-1" || evs[1].Mode != "view" || evs[1].Reason != events.ReasonViewAction {
		t.Errorf("opens: %+v", evs)
	}

	lock := "secret-lock-value-1"
	wantStatus(t, e.wopi(http.MethodPost, path, e.token, nil, "X-WOPI-Override", "LOCK", "X-WOPI-Lock", lock), http.StatusOK)
	wantStatus(t, e.wopi(http.MethodPost, path, e.token, nil, "X-WOPI-Override", "REFRESH_LOCK", "X-WOPI-Lock", lock), http.StatusOK)
	wantStatus(t, e.wopi(http.MethodPost, path, e.token, nil, "X-WOPI-Override", "GET_LOCK"), http.StatusOK)
	wantStatus(t, e.wopi(http.MethodPost, path, e.token, nil, "X-WOPI-Override", "LOCK", "X-WOPI-Lock", "other-lock"), http.StatusConflict)
	before := e.stat(e.file.ID).Version
	w := e.wopi(http.MethodPost, path+"/contents", e.token, strings.NewReader("new bytes"), "X-WOPI-Override", "PUT", "X-WOPI-Lock", lock)
	wantStatus(t, w, http.StatusOK)
	wantStatus(t, e.wopi(http.MethodPost, path, e.token, nil, "X-WOPI-Override", "UNLOCK", "X-WOPI-Lock", lock), http.StatusOK)
	evs = e.rec.take()
	wantSteps(t, evs,
		"joined wopi LOCK u-1",
		"lock wopi REFRESH_LOCK u-1",
		"lock wopi GET_LOCK u-1",
		"lock_conflict wopi LOCK u-1",
		"save wopi PUT/saved u-1",
		"left wopi UNLOCK u-1",
		"ended wopi UNLOCK u-1")
	session := lockSession(lock)
	if !strings.HasPrefix(session, "lock-") || len(session) != len("lock-")+12 {
		t.Fatalf("lock session %q", session)
	}
	for i, ev := range evs {
		if i != 2 && i != 3 && ev.Session != session {
			t.Errorf("%s: session %q, want %q", stepOf(ev), ev.Session, session)
		}
	}
	if c := evs[3]; c.Status != http.StatusConflict || c.Holder == nil || *c.Holder != (events.Holder{Style: events.StyleWOPI, Session: session}) {
		t.Errorf("conflict: %+v holder %+v", c, c.Holder)
	}
	if s := evs[4]; s.Bytes != int64(len("new bytes")) || s.VersionAfter != e.stat(e.file.ID).Version || s.VersionAfter == before ||
		s.Status != http.StatusOK || s.RequestID != w.Header().Get("X-Request-Id") {
		t.Errorf("save: %+v", s)
	}
}

// The two styles meet: a WOPI Lock while a Docs API session holds the file is a lock
// conflict naming that session; a Docs API open while WOPI holds it opens for view,
// saying why and who holds it; a status 1 then is a lock conflict too.
func TestTimelineLockConflicts(t *testing.T) {
	e := newTimelineEnv(t)
	cfg, _ := e.config("ann", modeEdit)
	e.cb(cfg, jwt.MapClaims{"status": 1, "users": []string{"ann"}, "actions": actions(1, "ann")})
	e.rec.take()
	path := e.filePath(e.file.ID)
	wantStatus(t, e.wopi(http.MethodPost, path, e.token, nil, "X-WOPI-Override", "LOCK", "X-WOPI-Lock", "w1"), http.StatusConflict)
	evs := e.rec.take()
	wantSteps(t, evs, "lock_conflict wopi LOCK u-1")
	docsHolder := events.Holder{Style: events.StyleDocs, Session: cfg.Document.Key, User: "ann", Since: e.clock.Now()}
	if h := evs[0].Holder; h == nil || *h != docsHolder {
		t.Fatalf("holder %+v, want the Docs API session %s", h, cfg.Document.Key)
	}
	e.cb(cfg, jwt.MapClaims{"status": 4, "actions": actions(0, "ann")})
	wantSteps(t, e.rec.take(), "ended docs  ", "left docs 4 ann")

	wantStatus(t, e.wopi(http.MethodPost, path, e.token, nil, "X-WOPI-Override", "LOCK", "X-WOPI-Lock", "w1"), http.StatusOK)
	e.rec.take()
	cfg2, _ := e.config("bob", modeEdit)
	evs = e.rec.take()
	wantSteps(t, evs, "opened docs  bob")
	wopiHolder := events.Holder{Style: events.StyleWOPI, Session: lockSession("w1")}
	if o := evs[0]; o.Mode != "view" || o.Reason != events.ReasonLocked || o.Holder == nil || *o.Holder != wopiHolder {
		t.Fatalf("opened %+v holder %+v", o, o.Holder)
	}
	if cfg2.EditorConfig.Mode != "view" {
		t.Fatalf("config mode %q", cfg2.EditorConfig.Mode)
	}
	// A status 1 of a stale editor of the old key: refused, the WOPI session holds the file.
	cfg.Document.Key = cfg2.Document.Key
	w := e.callback(strings.TrimPrefix(cfg.EditorConfig.CallbackURL, testPublic),
		jwt.MapClaims{"key": cfg2.Document.Key, "status": 1, "users": []string{"bob"}, "actions": actions(1, "bob")})
	wantCallback(t, w, http.StatusOK, `{"error":1}`)
	evs = e.rec.take()
	wantSteps(t, evs, "lock_conflict docs 1 bob")
	if h := evs[0].Holder; h == nil || *h != wopiHolder {
		t.Fatalf("holder %+v", h)
	}
}

// A WOPI client that opens a file a Docs API session edits is refused its lock and
// falls back to view: its open says so, with the Docs API session that holds the file.
func TestTimelineWOPIOpenWhileDocsEdits(t *testing.T) {
	e := newTimelineEnv(t)
	cfg, _ := e.config("ann", modeEdit)
	e.cb(cfg, jwt.MapClaims{"status": 1, "users": []string{"ann"}, "actions": actions(1, "ann")})
	e.rec.take()
	wantStatus(t, e.wopi(http.MethodGet, e.filePath(e.file.ID), e.token, nil), http.StatusOK)
	evs := e.rec.take()
	wantSteps(t, evs, "opened wopi  u-1")
	docsHolder := events.Holder{Style: events.StyleDocs, Session: cfg.Document.Key, User: "ann", Since: e.clock.Now()}
	if o := evs[0]; o.Mode != "view" || o.Reason != events.ReasonLocked || o.Holder == nil || *o.Holder != docsHolder {
		t.Fatalf("opened %+v holder %+v, want view, locked by the Docs API session %s", o, o.Holder, cfg.Document.Key)
	}
}

// Refused callbacks are on the file's timeline with a reason; a view-only launch opens
// for view with its reason.
func TestTimelineRefusals(t *testing.T) {
	e := newTimelineEnv(t)
	cfg, _ := e.config("ann", modeView)
	evs := e.rec.take()
	wantSteps(t, evs, "opened docs  ann")
	if evs[0].Mode != "view" || evs[0].Reason != events.ReasonViewAction {
		t.Errorf("view open: %+v", evs[0])
	}
	cbPath := strings.TrimPrefix(cfg.EditorConfig.CallbackURL, testPublic)
	w := e.do(http.MethodPost, cbPath, strings.NewReader(`{"key":"k","status":1}`))
	wantCallback(t, w, http.StatusOK, `{"error":1}`)
	wantCallback(t, e.callback(cbPath, jwt.MapClaims{"key": "no-such-key", "status": 1}), http.StatusOK, `{"error":1}`)
	evs = e.rec.take()
	wantSteps(t, evs, "refused docs  ", "refused docs 1 ")
	if evs[0].Reason != "bad_token" || evs[1].Reason != "unknown_key" || evs[1].Session != "no-such-key" {
		t.Errorf("refusals: %+v", evs)
	}
	// A callback URL whose signature is wrong names no file this bridge vouches for.
	wantCallback(t, e.callback("/docs/callback?file="+e.file.ID+"&sig=bad", jwt.MapClaims{"key": "k", "status": 1}), http.StatusOK, `{"error":1}`)
	wantSteps(t, e.rec.take())
}

// A WOPI request whose proof fails is on the file's timeline as a refusal.
func TestTimelineProofRefused(t *testing.T) {
	e := newTimelineEnv(t, func(o *Options) { o.Proof = config.ProofRequire })
	w := e.wopi(http.MethodGet, e.filePath(e.file.ID), e.token, nil)
	if w.Code < 400 {
		t.Fatalf("an unsigned request was answered %d", w.Code)
	}
	evs := e.rec.take()
	wantSteps(t, evs, "refused wopi CheckFileInfo ")
	if r := evs[0]; r.Reason != "proof" || r.Status != w.Code || r.RequestID != w.Header().Get("X-Request-Id") || r.FileID != e.file.ID {
		t.Errorf("refusal %+v", r)
	}
	wantStatus(t, e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, nil, "X-WOPI-Override", "LOCK", "X-WOPI-Lock", "l"), w.Code)
	wantStatus(t, e.wopi(http.MethodGet, e.folderPath(e.folder.ID), e.token, nil), w.Code)
	wantSteps(t, e.rec.take(), "refused wopi LOCK ")
}

// The save duration metric: one observation per save, by style and outcome.
func TestSaveDurationMetric(t *testing.T) {
	e := newTimelineEnv(t)
	cfg, _ := e.config("ann", modeEdit)
	e.cb(cfg, jwt.MapClaims{"status": 1, "users": []string{"ann"}})
	e.cb(cfg, jwt.MapClaims{"status": 6, "users": []string{"ann"}, "url": e.ds.URL + "/cache/a"})
	e.cb(cfg, jwt.MapClaims{"status": 2, "users": []string{"ann"}, "url": e.ds.URL + "/cache/b"})
	path := e.filePath(e.file.ID)
	wantStatus(t, e.wopi(http.MethodPost, path+"/contents", e.token, strings.NewReader("x"), "X-WOPI-Override", "PUT", "X-WOPI-Lock", "nope"), http.StatusConflict)
	body := e.do(http.MethodGet, "/metrics", nil).Body.String()
	for _, want := range []string{
		`wopibridge_save_duration_seconds_count{outcome="saved",style="docs"} 2`,
		`wopibridge_save_duration_seconds_sum{outcome="saved",style="docs"} 0.5`,
		`wopibridge_save_duration_seconds_bucket{outcome="saved",style="docs",le="0.1"} 0`,
		`wopibridge_save_duration_seconds_bucket{outcome="saved",style="docs",le="0.25"} 2`,
		`wopibridge_save_duration_seconds_count{outcome="refused",style="wopi"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// No event ever carries an access token, a launch token, a JWT or a WOPI lock.
func TestTimelineKeepsSecretsOut(t *testing.T) {
	e := newTimelineEnv(t)
	launch := e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"sub": "ann", "mode": modeEdit, "file": e.file.ID})
	w := e.do(http.MethodPost, "/api/v1/docs/config", nil, bearerHdr(launch)...)
	wantStatus(t, w, http.StatusOK)
	var reply struct{ Config docsapi.Config }
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil {
		t.Fatal(err)
	}
	cfg := reply.Config
	secrets := []string{e.token, launch, cfg.Token}
	cbPath := strings.TrimPrefix(cfg.EditorConfig.CallbackURL, testPublic)
	for _, claims := range []jwt.MapClaims{
		{"key": cfg.Document.Key, "status": 1, "users": []string{"ann"}, "actions": actions(1, "ann")},
		{"key": cfg.Document.Key, "status": 6, "users": []string{"ann"}, "url": e.ds.URL + "/cache/a"},
		{"key": "unknown", "status": 1},
	} {
		claims["exp"] = time.Now().Add(time.Minute).Unix()
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(resultSecret)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"token": tok})
		e.do(http.MethodPost, cbPath, strings.NewReader(string(body)))
		secrets = append(secrets, tok)
	}
	bad := e.do(http.MethodPost, cbPath, strings.NewReader(`{"token":"eyJhbGciOiJIUzI1NiJ9.eyJrZXkiOiJrIn0.c2lnbmF0dXJl"}`))
	wantCallback(t, bad, http.StatusOK, `{"error":1}`)
	secrets = append(secrets, "eyJhbGciOiJIUzI1NiJ9", "c2lnbmF0dXJl")
	e.cb(reply.Config, jwt.MapClaims{"status": 4, "actions": actions(0, "ann")})
	path := e.filePath(e.file.ID)
	lock := "the-raw-lock-of-a-wopi-session"
	secrets = append(secrets, lock)
	wantStatus(t, e.wopi(http.MethodGet, path, e.token, nil), http.StatusOK)
	for _, ov := range []string{"LOCK", "REFRESH_LOCK", "GET_LOCK"} {
		wantStatus(t, e.wopi(http.MethodPost, path, e.token, nil, "X-WOPI-Override", ov, "X-WOPI-Lock", lock), http.StatusOK)
	}
	wantStatus(t, e.wopi(http.MethodPost, path+"/contents", e.token, strings.NewReader("x"), "X-WOPI-Override", "PUT", "X-WOPI-Lock", lock), http.StatusOK)
	wantStatus(t, e.wopi(http.MethodPost, path, e.token, nil, "X-WOPI-Override", "LOCK", "X-WOPI-Lock", lock+"-2"), http.StatusConflict)
	wantStatus(t, e.wopi(http.MethodPost, path, e.token, nil, "X-WOPI-Override", "UNLOCK", "X-WOPI-Lock", lock), http.StatusOK)

	evs := e.rec.take()
	if len(evs) < 12 {
		t.Fatalf("only %d events", len(evs))
	}
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("a secret of the test is empty")
		}
		if strings.Contains(string(b), s) {
			t.Errorf("an event carries %q:\n%s", s, b)
		}
	}
	for _, part := range strings.Split(e.token, ".") {
		if len(part) > 8 && strings.Contains(string(b), part) {
			t.Errorf("an event carries part of the access token %q", part)
		}
	}
}

// Saves storage refuses: a Docs API save and a WOPI PutFile are spooled, then
// replayed once storage is back, and the Docs API session ends when its save lands.
func TestTimelineSpooledAndReplayed(t *testing.T) {
	rec := &memRecorder{}
	e := newSaveEnv(t, 20*time.Millisecond, func(o *Options) { o.Events = rec })
	f := e.addFile("report.docx", "v1", "erin", true)
	cfg := e.mustConfig(e.launchFor("erin", f, nil))
	e.mustCallback(cfg, map[string]any{"status": 1, "users": []string{"erin"}})
	rec.take()
	e.up.SetUnreachable(true)
	e.mustCallback(cfg, map[string]any{"status": 2, "users": []string{"erin"}, "url": e.results.put("r1", []byte("erin's edit"))})
	evs := rec.take()
	wantSteps(t, evs, "save docs 2/spooled erin")
	if s := evs[0]; s.Bytes != int64(len("erin's edit")) || s.Session != cfg.Document.Key || s.RequestID == "" {
		t.Errorf("spooled: %+v", s)
	}
	e.up.SetUnreachable(false)
	var got []events.Event
	waitUntil(t, "the replay", 5*time.Second, func() bool {
		got = append(got, rec.take()...)
		return len(got) >= 2
	})
	wantSteps(t, got, "save docs 2/replayed erin", "ended docs  ")
	if r := got[0]; r.Bytes != int64(len("erin's edit")) || r.VersionAfter == "" || r.RequestID != "" {
		t.Errorf("replayed: %+v", r)
	}

	_, path, tok, lock := e.dsSession()
	rec.take()
	e.up.SetUnreachable(true)
	w := e.wopi(http.MethodPost, path+"/contents", tok, strings.NewReader("v2, kept"), append([]string{"X-WOPI-Override", "PUT"}, lock...)...)
	wantStatus(t, w, http.StatusOK)
	evs = rec.take()
	wantSteps(t, evs, "save wopi PUT/spooled alice")
	if s := evs[0]; s.Bytes != int64(len("v2, kept")) || s.RequestID != w.Header().Get("X-Request-Id") || s.VersionBefore == "" {
		t.Errorf("spooled PutFile: %+v", s)
	}
	e.up.SetUnreachable(false)
	got = nil
	waitUntil(t, "the replay of the PutFile", 5*time.Second, func() bool {
		got = append(got, rec.take()...)
		return len(got) >= 1
	})
	wantSteps(t, got, "save wopi PUT/replayed alice")
	if s := lockSession("dslock"); evs[0].Session != s || got[0].Session != s {
		t.Errorf("sessions %q and %q, want %q", evs[0].Session, got[0].Session, s)
	}
}

// The other outcomes of Docs API callbacks: DS's own failures (status 3 and 7), a
// repeated final save, a save written to a conflict copy because someone else changed
// the file, and a forcesave with nothing to save.
func TestTimelineDocsOutcomes(t *testing.T) {
	e := newTimelineEnv(t)
	cfg, _ := e.config("ann", modeEdit)
	key := cfg.Document.Key
	e.cb(cfg, jwt.MapClaims{"status": 1, "users": []string{"ann"}})
	e.cb(cfg, jwt.MapClaims{"status": 7, "users": []string{"ann"}})
	// Another writer with the session's lock changes the file: the save goes to a copy.
	if _, err := e.store.Put(context.Background(), e.file.ID, "docs:"+key, strings.NewReader("theirs"), 0); err != nil {
		t.Fatal(err)
	}
	e.cb(cfg, jwt.MapClaims{"status": 2, "users": []string{"ann"}, "url": e.ds.URL + "/cache/mine"})
	e.cb(cfg, jwt.MapClaims{"status": 2, "users": []string{"ann"}, "url": e.ds.URL + "/cache/mine"})
	evs := e.rec.take()
	wantSteps(t, evs,
		"opened docs  ann",
		"forcesave docs 7/error ann",
		"save docs 2/conflict ann",
		"ended docs  ",
		"save docs 2/repeated ann")
	if c := evs[2]; !strings.HasPrefix(c.ConflictCopy, "doc (conflict ") || !strings.HasSuffix(c.ConflictCopy, ").docx") || c.Session != key {
		t.Errorf("conflict copy: %+v", c)
	}
	if got := e.content(e.file.ID); got != "theirs" {
		t.Errorf("the file holds %q", got)
	}

	cfg2, _ := e.config("ann", modeEdit)
	e.cb(cfg2, jwt.MapClaims{"status": 1, "users": []string{"ann"}})
	e.rec.take()
	e.cb(cfg2, jwt.MapClaims{"status": 3, "users": []string{"ann"}})
	evs = e.rec.take()
	wantSteps(t, evs, "ended docs  ", "save docs 3/refused ann")
	if !strings.Contains(evs[1].Detail, "status 3") {
		t.Errorf("status 3: %+v", evs[1])
	}
}

// PutRelativeFile is a save of the source file's session into a new file; a PutFile
// while the file's saves wait for storage is refused.
func TestTimelinePutRelative(t *testing.T) {
	e := newTimelineEnv(t)
	path := e.filePath(e.file.ID)
	w := e.wopi(http.MethodPost, path, e.token, strings.NewReader("copy bytes"), "X-WOPI-Override", "PUT_RELATIVE",
		"X-WOPI-SuggestedTarget", "copy.docx", "X-WOPI-Size", "10")
	wantStatus(t, w, http.StatusOK)
	evs := e.rec.take()
	wantSteps(t, evs, "save wopi PUT_RELATIVE/saved u-1")
	if s := evs[0]; s.Bytes != 10 || s.Detail != `saved as "copy.docx"` || s.FileID != e.file.ID || s.VersionBefore != "" || s.VersionAfter != "" {
		t.Errorf("put relative: %+v", s)
	}
}

// DS's answers to a forcesave request: nothing to save, and an error.
func TestTimelineForcesaveAnswers(t *testing.T) {
	e := newTimelineEnv(t)
	cfg, _ := e.config("ann", modeEdit)
	e.cb(cfg, jwt.MapClaims{"status": 1, "users": []string{"ann"}})
	e.rec.take()
	launch := e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"sub": "ann", "mode": modeEdit, "file": e.file.ID})
	e.commandCode.Store(int32(docsapi.CommandNotModified))
	wantStatus(t, e.do(http.MethodPost, "/api/v1/docs/forcesave", nil, bearerHdr(launch)...), http.StatusOK)
	e.commandCode.Store(int32(docsapi.CommandInternal))
	w := e.do(http.MethodPost, "/api/v1/docs/forcesave", nil, bearerHdr(launch)...)
	evs := e.rec.take()
	wantSteps(t, evs, "forcesave docs forcesave/not_modified ann", "forcesave docs forcesave/refused ann")
	if evs[0].Status != http.StatusOK || evs[1].Status != w.Code || w.Code < 500 || evs[1].Detail != "ONLYOFFICE Docs answered error 3" {
		t.Errorf("answers %+v; reply %d", evs, w.Code)
	}
}

// A file type DS only views opens for view, and the timeline says why.
func TestTimelineViewOnlyType(t *testing.T) {
	e := newTimelineEnv(t)
	f, err := e.store.Create(context.Background(), e.folder.ID, "drawing.vsdx", strings.NewReader("x"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.file = f
	cfg, _ := e.config("ann", modeEdit)
	evs := e.rec.take()
	wantSteps(t, evs, "opened docs  ann")
	if o := evs[0]; cfg.EditorConfig.Mode != "view" || o.Mode != "view" || o.Reason != "" || o.Detail != "ONLYOFFICE Docs only views files of this type" {
		t.Errorf("opened %+v; config mode %s", o, cfg.EditorConfig.Mode)
	}
}
