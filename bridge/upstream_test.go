package bridge

import (
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sirupsen/logrus"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/bridge/storage/wopi"
	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/docsapi"
	"github.com/wopibridge/wopibridge/wopiclient"
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// upstreamEnv is a Server whose storage is an upstream WOPI host (the in-memory
// wopitest host), with a launch secret and a fake DS.
type upstreamEnv struct {
	*testEnv
	up   *wopitest.Server
	puts *putSignal // the PutFiles the bridge sends the upstream
}

// putSignal is the upstream client's transport: it says when a PutFile goes out, and
// runs hold first when set (an error from it is the request's).
type putSignal struct {
	base http.RoundTripper
	sent chan struct{}
	hold atomic.Pointer[func() error]
}

func (p *putSignal) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get(wopiclient.HeaderOverride) == "PUT" {
		select {
		case p.sent <- struct{}{}:
		default:
		}
		if hold := p.hold.Load(); hold != nil {
			if err := (*hold)(); err != nil {
				return nil, err
			}
		}
	}
	return p.base.RoundTrip(r)
}

func newUpstreamEnv(t *testing.T) *upstreamEnv {
	t.Helper()
	return newProfileEnv(t, wopitest.Spec)
}

// newProfileEnv is newUpstreamEnv over a host that behaves as p describes.
func newProfileEnv(t *testing.T, p wopitest.Profile) *upstreamEnv {
	t.Helper()
	up := wopitest.NewServerProfile(t, p)
	// The upstream's tokens expire by real time: the bridge's clock starts there too.
	clock := &testClock{t: time.Now().UTC()}
	st, err := state.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	origin, _ := url.Parse(up.URL)
	signal := &putSignal{base: up.Client().Transport, sent: make(chan struct{}, 16)}
	client := &http.Client{Transport: signal}
	backend, err := wopi.New(wopi.Options{Origins: []*url.URL{origin}, State: st, HTTP: client, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := logrus.New()
	logger.SetOutput(logs)
	logger.SetLevel(logrus.DebugLevel)
	pub, _ := url.Parse(testPublic)
	o := Options{PublicURL: pub, Storage: backend, State: st, TokenTTL: time.Hour, MaxFileSize: 1 << 20, Logger: logger, Now: clock.Now}
	withLaunchSecret(&o)
	withDS(newFakeDS(t), config.ProofOff)(&o)
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &upstreamEnv{testEnv: &testEnv{t: t, srv: srv, store: backend, state: st, clock: clock, logs: logs}, up: up, puts: signal}
}

// upFile is a file on the upstream with a token for one user.
type upFile struct {
	id, src, token string
	ttl            int64
}

func (e *upstreamEnv) addFile(name, content, user string, canWrite bool) upFile {
	id, src := e.up.AddFile(name, []byte(content))
	tok := e.up.Token(id, user, canWrite)
	return upFile{id: id, src: src, token: tok, ttl: e.up.TokenTTL(tok)}
}

// launchFor is a launch token of user naming f on the upstream.
func (e *upstreamEnv) launchFor(user string, f upFile, claims jwt.MapClaims) string {
	c := jwt.MapClaims{"sub": user, "wopisrc": f.src, "access_token": f.token, "access_token_ttl": f.ttl}
	for k, v := range claims {
		c[k] = v
	}
	return e.launch(jwt.SigningMethodHS256, launchSecret, c)
}

func (e *upstreamEnv) session(launch, query string) (*httpResult, sessionJSON) {
	e.t.Helper()
	w := e.do(http.MethodPost, "/api/v1/wopi/session"+query, nil, bearerHdr(launch)...)
	var s sessionJSON
	if w.Code == http.StatusOK {
		s = decodeJSON[sessionJSON](e.t.(*testing.T), w)
	}
	return &httpResult{w.Code, w.Body.String()}, s
}

// usersOf lists the upstream users whose tokens the requests for op carried.
func (e *upstreamEnv) usersOf(op wopitest.Op) []string {
	var users []string
	for _, r := range e.up.Requests() {
		if r.Op == op {
			users = append(users, r.User)
		}
	}
	return users
}

func TestUpstreamLaunch(t *testing.T) {
	e := newUpstreamEnv(t)
	f := e.addFile("report.docx", "R", "alice", true)
	r, s := e.session(e.launchFor("alice", f, nil), "")
	if r.code != http.StatusOK {
		t.Fatalf("session: %d %s", r.code, r.body)
	}
	tok, err := e.srv.tokens.verify(s.AccessToken)
	if err != nil || tok.Mode != modeEdit || tok.User != "u-1" && tok.User != "alice" {
		t.Fatalf("token %+v, %v", tok, err)
	}
	id := tok.File
	// The bridge's token never outlives the upstream's.
	if s.AccessTokenTTL > f.ttl {
		t.Errorf("accessTokenTtl %d after the upstream token's %d", s.AccessTokenTTL, f.ttl)
	}
	if r := e.up.Requests(); len(r) == 0 || r[0].Op != wopitest.OpCheckFileInfo || r[0].User != "alice" {
		t.Errorf("upstream requests %+v, want a CheckFileInfo by alice first", r)
	}

	gone := e.addFile("gone.docx", "G", "alice", true)
	if err := (&wopiclient.Client{HTTP: e.up.Client()}).DeleteFile(t.Context(), gone.src, gone.token); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		launch string
		query  string
		want   int
		in     string // in the error message
	}{
		{"file claim agrees", e.launchFor("alice", f, jwt.MapClaims{"file": id}), "", 200, ""},
		{"file claim disagrees", e.launchFor("alice", f, jwt.MapClaims{"file": "other"}), "", 403, "file claim"},
		{"file param disagrees", e.launchFor("alice", f, nil), "?file=other", 403, "another file"},
		{"origin not allowed", e.launchFor("alice", upFile{src: "http://trap.example/wopi/files/1", token: f.token}, nil), "", 403, "WOPIBRIDGE_STORAGE"},
		{"not a WOPISrc", e.launchFor("alice", upFile{src: "file:///etc/passwd", token: f.token}, nil), "", 400, "wopisrc"},
		{"no access token", e.launchFor("alice", upFile{src: f.src}, nil), "", 400, "access_token"},
		{"access token ttl passed", e.launchFor("alice", upFile{src: f.src, token: f.token, ttl: e.clock.Now().Add(-time.Minute).UnixMilli()}, nil), "", 403, "access_token_ttl"},
		{"token refused upstream", e.launchFor("alice", upFile{src: f.src, token: "forged"}, nil), "", 403, "refused"},
		{"token for another file", e.launchFor("alice", upFile{src: e.up.WOPISrc("nope"), token: f.token}, nil), "", 403, "refused"},
		{"deleted upstream", e.launchFor("alice", gone, nil), "", 404, "no file"},
		{"access token without wopisrc", e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"access_token": f.token}), "", 400, "wopisrc"},
		{"unknown file without wopisrc", e.launch(jwt.SigningMethodHS256, launchSecret, nil), "?file=" + strings.Repeat("a", 26), 404, "wopisrc"},
		{"no file at all", e.launch(jwt.SigningMethodHS256, launchSecret, nil), "", 400, "wopisrc"},
		// A user who never registered the file is not lent another user's token.
		{"known file, other user", e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"sub": "mallory"}), "?file=" + id, 403, "wopisrc"},
		// A user who did may open it again by id (links from CheckFileInfo rely on it).
		{"known file, same user", e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"sub": "alice"}), "?file=" + id, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.up.ResetRequests()
			r, _ := e.session(tc.launch, tc.query)
			if r.code != tc.want || !strings.Contains(r.body, tc.in) {
				t.Errorf("session: %d %s; want %d mentioning %q", r.code, r.body, tc.want, tc.in)
			}
			if strings.Contains(r.body, f.token) {
				t.Errorf("the reply holds the upstream token: %s", r.body)
			}
			if tc.name == "origin not allowed" || tc.name == "not a WOPISrc" {
				if n := len(e.up.Requests()); n != 0 {
					t.Errorf("%d upstream requests for a refused wopisrc", n)
				}
			}
		})
	}
	if strings.Contains(e.logs.String(), f.token) {
		t.Error("the log holds the upstream token")
	}
}

func TestUpstreamLaunchOnFSStorage(t *testing.T) {
	e := newEnv(t, withLaunchSecret, withDS(newFakeDS(t), config.ProofOff))
	launch := e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"wopisrc": "http://up.example/wopi/files/1", "access_token": "T"})
	for _, path := range []string{"/api/v1/wopi/session", "/api/v1/docs/config"} {
		w := e.do(http.MethodPost, path, nil, bearerHdr(launch)...)
		wantStatus(t, w, http.StatusBadRequest)
		if !strings.Contains(w.Body.String(), "fs:") {
			t.Errorf("%s: %s, want a message saying the bridge serves fs storage", path, w.Body.String())
		}
	}
	w := e.do(http.MethodGet, "/open/"+e.file.ID+"?launch="+url.QueryEscape(launch), nil)
	wantStatus(t, w, http.StatusBadRequest)
}

// The upstream's permissions bound what the bridge hands out.
func TestUpstreamReadOnly(t *testing.T) {
	e := newUpstreamEnv(t)
	f := e.addFile("ro.docx", "R", "viewer", false)
	launch := e.launchFor("viewer", f, nil)

	r, s := e.session(launch, "")
	if r.code != http.StatusOK {
		t.Fatalf("session: %d %s", r.code, r.body)
	}
	tok, _ := e.srv.tokens.verify(s.AccessToken)
	if tok.Mode != modeView || !strings.Contains(s.ActionURL, "/view?") {
		t.Errorf("session on a read-only upstream file: token mode %s, action %s; want view", tok.Mode, s.ActionURL)
	}
	if r, _ := e.session(launch, "?action=edit"); r.code != http.StatusForbidden || !strings.Contains(r.body, "UserCanWrite") {
		t.Errorf("action=edit: %d %s", r.code, r.body)
	}

	w := e.do(http.MethodPost, "/api/v1/docs/config", nil, bearerHdr(launch)...)
	wantStatus(t, w, http.StatusOK)
	cfg := decodeJSON[docsConfigJSON](t, w).Config
	if cfg.EditorConfig.Mode != docsapi.ModeView || cfg.Document.Permissions.Edit {
		t.Errorf("Docs API config: mode %s edit %v; want view", cfg.EditorConfig.Mode, cfg.Document.Permissions.Edit)
	}

	// An edit token of the bridge (minted before the upstream changed its mind) still
	// gets the upstream's word in CheckFileInfo.
	edit := e.srv.tokens.sign(accessToken{User: "viewer", Mode: modeEdit, File: tok.File, Tree: tok.Tree, Exp: e.clock.Now().Add(time.Hour).UnixMilli()})
	w = e.wopi(http.MethodGet, e.filePath(tok.File), edit, nil)
	wantStatus(t, w, http.StatusOK)
	cfi := decodeJSON[wopiclient.CheckFileInfo](t, w)
	if cfi.UserCanWrite || !cfi.ReadOnly || cfi.UserCanRename || !cfi.UserCanNotWriteRelative || cfi.HostEditURL != "" {
		t.Errorf("CheckFileInfo of a read-only upstream file: %+v", cfi)
	}
}

func TestUpstreamCheckFileInfo(t *testing.T) {
	e := newUpstreamEnv(t)
	f := e.addFile("a.docx", "hello", "alice", true)
	e.addFile("b.docx", "other", "bob", true)
	_, s := e.session(e.launchFor("alice", f, nil), "")
	tok, _ := e.srv.tokens.verify(s.AccessToken)
	// Bob registers the same file later: his token is the most recent.
	bob := e.up.Token(f.id, "bob", true)
	if r, _ := e.session(e.launchFor("bob", upFile{src: f.src, token: bob, ttl: e.up.TokenTTL(bob)}, nil), ""); r.code != http.StatusOK {
		t.Fatalf("bob's session: %d %s", r.code, r.body)
	}

	e.up.ResetRequests()
	w := e.wopi(http.MethodGet, e.filePath(tok.File), s.AccessToken, nil)
	wantStatus(t, w, http.StatusOK)
	cfi := decodeJSON[wopiclient.CheckFileInfo](t, w)
	if cfi.BaseFileName != "a.docx" || cfi.Size != 5 || cfi.Version != e.up.Version(f.id) || !cfi.UserCanWrite {
		t.Errorf("CheckFileInfo = %+v", cfi)
	}
	if cfi.SupportsContainers || cfi.SupportsEcosystem || cfi.SupportsFolders || cfi.SupportsFileCreation {
		t.Errorf("CheckFileInfo advertises containers over an upstream without: %+v", cfi)
	}
	if cfi.BreadcrumbFolderName != "wopitest" {
		t.Errorf("BreadcrumbFolderName = %q", cfi.BreadcrumbFolderName)
	}
	// One upstream call, with the token of the WOPI token's user (not bob's, the newest).
	if got := e.up.Requests(); len(got) != 1 || got[0].Op != wopitest.OpCheckFileInfo || got[0].User != "alice" {
		t.Errorf("upstream requests for one CheckFileInfo: %+v", got)
	}
	if strings.Contains(w.Body.String(), f.token) || strings.Contains(w.Body.String(), bob) {
		t.Error("CheckFileInfo holds an upstream token")
	}
	w = e.wopi(http.MethodGet, "/wopi/ecosystem", s.AccessToken, nil)
	wantStatus(t, w, http.StatusOK)
	if decodeJSON[map[string]bool](t, w)["SupportsContainers"] {
		t.Error("CheckEcosystem says SupportsContainers")
	}

	// The WOPI face acts for its token's user; the Docs API face (DS) for nobody, so the
	// most recent token is used.
	e.up.ResetRequests()
	wantStatus(t, e.wopi(http.MethodPost, e.filePath(tok.File), s.AccessToken, nil,
		wopiclient.HeaderOverride, "LOCK", wopiclient.HeaderLock, "L1"), http.StatusOK)
	wantStatus(t, e.wopi(http.MethodPost, e.filePath(tok.File)+"/contents", s.AccessToken, strings.NewReader("v2"),
		wopiclient.HeaderOverride, "PUT", wopiclient.HeaderLock, "L1"), http.StatusOK)
	if got := e.usersOf(wopitest.OpLock); len(got) != 1 || got[0] != "alice" {
		t.Errorf("Lock sent with the tokens of %q, want alice's", got)
	}
	if got := e.usersOf(wopitest.OpPutFile); len(got) != 1 || got[0] != "alice" {
		t.Errorf("PutFile sent with the tokens of %q, want alice's", got)
	}
	if string(e.up.Content(f.id)) != "v2" || e.up.Lock(f.id) != "L1" {
		t.Errorf("upstream holds %q locked %q", e.up.Content(f.id), e.up.Lock(f.id))
	}
	e.up.ResetRequests()
	cur, err := e.srv.store.Stat(t.Context(), tok.File)
	if err != nil {
		t.Fatal(err)
	}
	dl := e.srv.docs.urls.downloadURL(testPublic, tok.File, cur.Version, e.clock.Now().Add(time.Hour).UnixMilli())
	w = e.do(http.MethodGet, strings.TrimPrefix(dl, testPublic), nil)
	wantStatus(t, w, http.StatusOK)
	if w.Body.String() != "v2" {
		t.Errorf("document.url served %q", w.Body.String())
	}
	if got := e.usersOf(wopitest.OpGetFile); len(got) != 1 || got[0] != "bob" {
		t.Errorf("DS's download used the tokens of %q, want the most recent (bob's)", got)
	}
}

// PutRelativeFile and RenameFile on a storage that picks names itself.
func TestUpstreamRelativeAndRename(t *testing.T) {
	e := newUpstreamEnv(t)
	f := e.addFile("report.docx", "R", "alice", true)
	e.addFile("report (copy).docx", "taken", "alice", true)
	_, s := e.session(e.launchFor("alice", f, nil), "")
	tok, _ := e.srv.tokens.verify(s.AccessToken)

	e.up.ResetRequests()
	w := e.wopi(http.MethodPost, e.filePath(tok.File), s.AccessToken, strings.NewReader("copy"),
		wopiclient.HeaderOverride, "PUT_RELATIVE", wopiclient.HeaderSuggestedTarget, "report (copy).docx")
	wantStatus(t, w, http.StatusOK)
	reply := decodeJSON[newFileReply](t, w)
	if reply.Name == "report (copy).docx" || !strings.HasPrefix(reply.URL, testPublic+"/wopi/files/") {
		t.Errorf("PutRelativeFile onto a taken suggested name = %+v; want a free name of the upstream's choice", reply)
	}
	if id := e.up.FileID(reply.Name); id == "" || string(e.up.Content(id)) != "copy" {
		t.Errorf("upstream has no %q with the copy", reply.Name)
	}
	if got := e.usersOf(wopitest.OpPutRelativeFile); len(got) != 1 || got[0] != "alice" {
		t.Errorf("PutRelativeFile by %q", got)
	}

	w = e.wopi(http.MethodPost, e.filePath(tok.File), s.AccessToken, nil,
		wopiclient.HeaderOverride, "RENAME_FILE", wopiclient.HeaderRequestedName, "final")
	wantStatus(t, w, http.StatusOK)
	if got := decodeJSON[struct{ Name string }](t, w).Name; got != "final" || e.up.Name(f.id) != "final.docx" {
		t.Errorf("rename: reply %q, upstream name %q", got, e.up.Name(f.id))
	}
	// The upstream refuses a taken name (409) and the bridge cannot list the folder to
	// pick another: 400 with the reason, as WOPI asks when no name can be chosen.
	w = e.wopi(http.MethodPost, e.filePath(tok.File), s.AccessToken, nil,
		wopiclient.HeaderOverride, "RENAME_FILE", wopiclient.HeaderRequestedName, "report (copy)")
	wantStatus(t, w, http.StatusBadRequest)
	if reason, _ := header(w, wopiclient.HeaderInvalidFileNameError); reason == "" {
		t.Error("no X-WOPI-InvalidFileNameError")
	}
}

// The launch API has nothing to list or upload to on an upstream.
func TestUpstreamNoFolders(t *testing.T) {
	e := newUpstreamEnv(t)
	launch := e.launch(jwt.SigningMethodHS256, launchSecret, nil)
	for _, req := range []struct{ method, path string }{{http.MethodGet, "/api/v1/files"}, {http.MethodPost, "/api/v1/files?name=a.docx"}} {
		w := e.do(req.method, req.path, strings.NewReader("x"), bearerHdr(launch)...)
		wantStatus(t, w, http.StatusNotImplemented)
		if !strings.Contains(w.Body.String(), "WOPIBRIDGE_STORAGE") {
			t.Errorf("%s %s: %s", req.method, req.path, w.Body.String())
		}
	}
	f := e.addFile("a.docx", "A", "alice", true)
	w := e.do(http.MethodGet, "/api/v1/files", nil, bearerHdr(e.launchFor("alice", f, nil))...)
	wantStatus(t, w, http.StatusOK)
	if got := decodeJSON[[]fileJSON](t, w); len(got) != 1 || got[0].Name != "a.docx" {
		t.Errorf("files of a wopisrc launch: %+v", got)
	}
}

// The compare page's editor frames get links of the bridge's own, not the launch token
// that holds the upstream's access token, and the editor pages hold no upstream token.
func TestUpstreamComparePageUsesLinks(t *testing.T) {
	e := newUpstreamEnv(t)
	f := e.addFile("a.docx", "A", "alice", true)
	launch := e.launchFor("alice", f, nil)
	_, s := e.session(launch, "")
	tok, _ := e.srv.tokens.verify(s.AccessToken)
	w := e.do(http.MethodGet, "/compare/"+tok.File+"?launch="+url.QueryEscape(launch), nil)
	wantStatus(t, w, http.StatusSeeOther) // the launch token is exchanged for a link
	w = e.do(http.MethodGet, w.Header().Get("Location"), nil)
	wantStatus(t, w, http.StatusOK)
	if strings.Contains(w.Body.String(), launch) || strings.Contains(w.Body.String(), "launch=") {
		t.Error("the compare page carries the launch token")
	}
	frames := tags(w.Body.String(), "iframe")
	if len(frames) != 2 {
		t.Fatalf("%d iframes", len(frames))
	}
	for _, fr := range frames {
		src := fr.attrs["src"] + fr.attrs["data-src"]
		if strings.Contains(src, "launch=") || !strings.Contains(src, "link=") {
			t.Errorf("frame %s: want a link, not the launch token", src)
		}
		w := e.do(http.MethodGet, strings.TrimPrefix(src, testPublic), nil)
		wantStatus(t, w, http.StatusOK)
		if strings.Contains(w.Body.String(), f.token) {
			t.Errorf("the editor page %s holds the upstream token", src)
		}
	}
	var _ storage.Registrar = e.store.(*wopi.Backend)
}

// dsSession is a WOPI edit session by alice, through the bridge, on a new upstream file
// holding "v1", locked as DS locks it: the upstream file, the bridge's WOPI path for it,
// the access token, and the X-WOPI-Lock header DS sends.
func (e *upstreamEnv) dsSession() (f upFile, path, tok string, lock []string) {
	e.t.Helper()
	f = e.addFile("report.docx", "v1", "alice", true)
	r, s := e.session(e.launchFor("alice", f, nil), "?action=edit")
	if r.code != http.StatusOK {
		e.t.Fatalf("session: %d %s", r.code, r.body)
	}
	t, err := e.srv.tokens.verify(s.AccessToken)
	if err != nil {
		e.t.Fatal(err)
	}
	path, tok, lock = e.filePath(t.File), s.AccessToken, []string{"X-WOPI-Lock", "dslock"}
	wantStatus(e.t.(*testing.T), e.wopi(http.MethodGet, path, tok, nil), http.StatusOK)
	wantStatus(e.t.(*testing.T), e.wopi(http.MethodPost, path, tok, nil, append([]string{"X-WOPI-Override", "LOCK"}, lock...)...), http.StatusOK)
	return f, path, tok, lock
}

// A PutFile the upstream cannot take is kept and acknowledged (DS never retries one);
// until the upstream takes it, the file is served to nobody; DS's Unlock waits for it.
func TestUpstreamPutFileKeptWhileUpstreamDown(t *testing.T) {
	e := newUpstreamEnv(t)
	f, path, tok, lock := e.dsSession()

	e.up.SetUnreachable(true)
	w := e.wopi(http.MethodPost, path+"/contents", tok, strings.NewReader("v2, kept"),
		append([]string{"X-WOPI-Override", "PUT", "X-LOOL-WOPI-IsExitSave", "true"}, lock...)...)
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "{}" {
		t.Fatalf("PutFile with the upstream down: %d %q", w.Code, w.Body.String())
	}
	if !strings.Contains(e.logs.String(), "event=spooled") {
		t.Errorf("no spooled event in the log:\n%s", e.logs.String())
	}
	wantStatus(t, e.wopi(http.MethodPost, path, tok, nil, append([]string{"X-WOPI-Override", "UNLOCK"}, lock...)...), http.StatusOK)
	// Nothing reads or changes the file around the waiting save.
	wantStatus(t, e.wopi(http.MethodGet, path, tok, nil), http.StatusServiceUnavailable)
	wantStatus(t, e.wopi(http.MethodGet, path+"/contents", tok, nil), http.StatusServiceUnavailable)
	wantStatus(t, e.wopi(http.MethodPost, path, tok, nil, "X-WOPI-Override", "RENAME_FILE", "X-WOPI-RequestedName", "other"), http.StatusServiceUnavailable)
	if got := string(e.up.Content(f.id)); got != "v1" || e.up.Lock(f.id) != "dslock" {
		t.Fatalf("upstream while down: %q locked %q", got, e.up.Lock(f.id))
	}
	if m := e.do(http.MethodGet, "/metrics", nil).Body.String(); !strings.Contains(m, "\nwopibridge_saves_waiting 1\n") {
		t.Errorf("metrics while the save waits:\n%s", grepLines(m, "saves_waiting"))
	}

	e.up.SetUnreachable(false)
	w = e.wopi(http.MethodGet, path+"/contents", tok, nil)
	if w.Code != http.StatusOK || w.Body.String() != "v2, kept" {
		t.Fatalf("GetFile once the upstream is back: %d %q", w.Code, w.Body.String())
	}
	if got := string(e.up.Content(f.id)); got != "v2, kept" || e.up.Lock(f.id) != "" {
		t.Errorf("upstream after the replay: %q locked %q", got, e.up.Lock(f.id))
	}
	if !strings.Contains(e.logs.String(), "event=replayed") {
		t.Errorf("no replayed event in the log")
	}
	if m := e.do(http.MethodGet, "/metrics", nil).Body.String(); !strings.Contains(m, "\nwopibridge_saves_waiting 0\n") {
		t.Errorf("metrics after the replay:\n%s", grepLines(m, "saves_waiting"))
	}
}

// Two PutFiles of one file: the first fails at the upstream while the second arrives.
// The second waits, and lands after the first: the newer bytes are the file's.
func TestUpstreamPutFilesKeepTheirOrder(t *testing.T) {
	e := newUpstreamEnv(t)
	f, path, tok, lock := e.dsSession()

	// The first PutFile fails (the connection drops) once the second one has gone
	// out, or after 300 ms if the second one does not (it must wait for the first).
	var n atomic.Int32
	var once sync.Once
	secondOut := make(chan struct{})
	hold := func() error {
		if n.Add(1) == 1 {
			select {
			case <-secondOut:
			case <-time.After(300 * time.Millisecond):
			}
			return errors.New("connection reset by peer")
		}
		once.Do(func() { close(secondOut) })
		return nil
	}
	e.puts.hold.Store(&hold)
	put := func(content string) <-chan int {
		done := make(chan int, 1)
		go func() {
			done <- e.wopi(http.MethodPost, path+"/contents", tok, strings.NewReader(content),
				append([]string{"X-WOPI-Override", "PUT"}, lock...)...).Code
		}()
		return done
	}
	first := put("older")
	<-e.puts.sent // the first PutFile is on its way to the upstream
	second := put("newer")
	if c1, c2 := <-first, <-second; c1 != http.StatusOK || c2 != http.StatusOK {
		t.Fatalf("PutFiles answered %d and %d", c1, c2)
	}
	wantStatus(t, e.wopi(http.MethodGet, path, tok, nil), http.StatusOK)
	if got := string(e.up.Content(f.id)); got != "newer" {
		t.Errorf("upstream holds %q, want the newer save", got)
	}

}
