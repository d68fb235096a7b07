package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/bridge/storage/storagetest"
	"github.com/wopibridge/wopibridge/bridge/storage/wopi"
	"github.com/wopibridge/wopibridge/e2e/docserver"
)

// Fronting a storage that already speaks WOPI: an upstream bridge process (A) serves a
// directory as a WOPI host, with no Document Server, and a front bridge process (B)
// with WOPIBRIDGE_STORAGE=wopi:<A> serves the same files to a simulated DS in both
// integration styles. Whatever B's users do lands on A: bytes and locks.

// upstreamHost is process A: fs storage, WOPI face, no DS.
type upstreamHost struct {
	*proc
}

func startUpstream(t *testing.T) *upstreamHost {
	t.Helper()
	return &upstreamHost{startProc(t,
		"WOPIBRIDGE_LAUNCH_SECRET="+string(testLaunchSecret),
		"WOPIBRIDGE_PROOF=off",
	)}
}

// session is A's WOPI session of user on file id: what an integrator puts in B's
// launch token.
func (a *upstreamHost) session(user, id, action string) wopiSession {
	a.t.Helper()
	status, body := a.api(http.MethodPost, "/api/v1/wopi/session?action="+action+"&file="+id, launchToken(a.t, user, nil), nil)
	var s wopiSession
	if status != http.StatusOK || json.Unmarshal(body, &s) != nil {
		a.t.Fatalf("upstream session for %s on %s: %d %s", user, id, status, body)
	}
	if s.AccessToken == "" || s.ActionURL != "" {
		a.t.Fatalf("upstream session without DS = %v", s)
	}
	return s
}

// wopiCall sends a WOPI request to A with s's token: X-WOPI-Override and headers as
// name, value pairs. It returns the status and the response headers.
func (a *upstreamHost) wopiCall(s wopiSession, override string, hdr ...string) (int, http.Header) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.WopiSrc+"?access_token="+url.QueryEscape(s.AccessToken), nil)
	req.Header.Set("X-WOPI-Override", override)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// lock is the file's lock as A's GET_LOCK reports it.
func (a *upstreamHost) lock(s wopiSession) string {
	a.t.Helper()
	status, h := a.wopiCall(s, "GET_LOCK")
	if status != http.StatusOK {
		a.t.Fatalf("GET_LOCK on the upstream: %d", status)
	}
	return h.Get("X-WOPI-Lock")
}

// frontLaunch is B's launch token for user naming A's file of session s.
func frontLaunch(t *testing.T, user string, s wopiSession, claims jwt.MapClaims) string {
	t.Helper()
	c := jwt.MapClaims{"wopisrc": s.WopiSrc, "access_token": s.AccessToken, "access_token_ttl": s.AccessTokenTTL}
	for k, v := range claims {
		c[k] = v
	}
	return launchToken(t, user, c)
}

// frontConfig is B's Docs API config for a launch token.
func (e *docsEnv) frontConfig(launch string) (json.RawMessage, []byte) {
	e.t.Helper()
	status, body := e.p.api(http.MethodPost, "/api/v1/docs/config", launch, nil)
	if status != http.StatusOK {
		e.t.Fatalf("front docs config: %d %s", status, body)
	}
	var reply struct{ Config json.RawMessage }
	if err := json.Unmarshal(body, &reply); err != nil {
		e.t.Fatal(err)
	}
	return reply.Config, body
}

// frontSession is B's WOPI session for a launch token.
func (e *docsEnv) frontSession(launch, action string) (wopiSession, []byte) {
	e.t.Helper()
	status, body := e.p.api(http.MethodPost, "/api/v1/wopi/session?action="+action, launch, nil)
	var s wopiSession
	if status != http.StatusOK || json.Unmarshal(body, &s) != nil {
		e.t.Fatalf("front wopi session: %d %s", status, body)
	}
	return s, body
}

// noUpstreamToken fails if the upstream's token shows in any of the texts.
func noUpstreamToken(t *testing.T, token string, texts map[string]string) {
	t.Helper()
	if len(token) < 16 {
		t.Fatalf("upstream token %q too short to search for", token)
	}
	for what, text := range texts {
		if strings.Contains(text, token) || strings.Contains(text, url.QueryEscape(token)) {
			t.Errorf("the upstream's access token appears in %s", what)
		}
	}
}

// TestUpstreamConformance runs the storage conformance suite against the wopi backend
// over process A: each case works in a folder of its own on A, whose files it
// registers with tokens from A's launch API.
func TestUpstreamConformance(t *testing.T) {
	a := startUpstream(t)
	owner := launchToken(t, "suite", jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})
	seed := a.upload(owner, "seed.txt", []byte("seed"))
	root := a.rootContainer(a.session("suite", seed.ID, "edit"))
	origin, _ := url.Parse(a.URL)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(client.CloseIdleConnections)

	homes := map[storage.Backend]string{} // backend → its case's folder on A
	var n atomic.Int32
	storagetest.RunWith(t, func(t *testing.T) storage.Backend {
		st, err := state.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		b, err := wopi.New(wopi.Options{Origins: []*url.URL{origin}, State: st, HTTP: client, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		homes[b] = ""
		return b
	}, storagetest.Options{
		Home: func(t *testing.T, b storage.Backend) storage.Folder {
			dir := fmt.Sprintf("case-%03d", n.Add(1))
			folderID := a.createContainer(root, dir)
			homes[b] = dir
			status, body := a.api(http.MethodPost, "/api/v1/files?name="+upstreamHome+"&folder="+folderID, owner, strings.NewReader(""))
			var home apiFile
			if status != http.StatusCreated || json.Unmarshal(body, &home) != nil {
				t.Fatalf("upload of the home file: %d %s", status, body)
			}
			s := a.session("suite", home.ID, "edit")
			f, err := b.(storage.Registrar).Register(t.Context(), s.WopiSrc, s.AccessToken, s.AccessTokenTTL, "suite")
			if err != nil {
				t.Fatalf("Register(%s): %v", s.WopiSrc, err)
			}
			folder, err := b.Folder(t.Context(), f.FolderID)
			if err != nil {
				t.Fatalf("Folder(%s): %v", f.FolderID, err)
			}
			return folder
		},
		NoFolders: true,
		NoList:    true,
		Names: func(t *testing.T, b storage.Backend, _ string) []string {
			entries, err := os.ReadDir(filepath.Join(a.Data, homes[b]))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				if !e.IsDir() && e.Name() != upstreamHome {
					names = append(names, e.Name())
				}
			}
			slices.Sort(names)
			return names
		},
		KeepsExtension: true,
		PicksFreeName:  true,
	})
}

// upstreamHome is the file whose virtual folder the conformance cases create files in.
const upstreamHome = "~home.txt"

// rootContainer is A's root folder, as the ecosystem of a token for a root file names
// it: its WOPI URL with a folder token.
func (a *upstreamHost) rootContainer(s wopiSession) string {
	a.t.Helper()
	var eco struct{ Url string }
	a.getJSON(s.WopiSrc+"/ecosystem_pointer?access_token="+url.QueryEscape(s.AccessToken), &eco)
	u, _ := url.Parse(eco.Url)
	u.Path += "/root_container_pointer"
	var root struct{ ContainerPointer struct{ Url string } }
	a.getJSON(u.String(), &root)
	return root.ContainerPointer.Url
}

// createContainer makes a subfolder of container (a WOPI URL with its token) and
// returns its id.
func (a *upstreamHost) createContainer(container, name string) string {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, container, nil)
	req.Header.Set("X-WOPI-Override", "CREATE_CHILD_CONTAINER")
	req.Header.Set("X-WOPI-RelativeTarget", name)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply struct{ ContainerPointer struct{ Name, Url string } }
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil || resp.StatusCode != http.StatusOK {
		a.t.Fatalf("CREATE_CHILD_CONTAINER %s: %d %v", name, resp.StatusCode, err)
	}
	u, err := url.Parse(reply.ContainerPointer.Url)
	if err != nil {
		a.t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/wopi/folders/")
}

func (a *upstreamHost) getJSON(u string, v any) {
	a.t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		a.t.Fatalf("GET %s: %d %s", strings.SplitN(u, "?", 2)[0], resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		a.t.Fatal(err)
	}
}

// frontEnv is B in front of A, with a simulated DS; wopiFace requires proofs.
func frontEnv(t *testing.T, a *upstreamHost, wopiFace bool) *docsEnv {
	t.Helper()
	storageEnv := "WOPIBRIDGE_STORAGE=wopi:" + a.URL
	if wopiFace {
		return newWOPIEnv(t, storageEnv).docsEnv
	}
	return newDocsEnv(t, storageEnv)
}

func TestUpstreamDocsEditAndSave(t *testing.T) {
	a := startUpstream(t)
	owner := launchToken(t, "owner", nil)
	f := a.upload(owner, "report.docx", []byte("original"))
	up := a.session("alice", f.ID, "edit")
	e := frontEnv(t, a, false)

	launch := frontLaunch(t, "alice", up, nil)
	cfg, reply := e.frontConfig(launch)
	ed, err := e.ds.OpenDocs(e.ctx(), cfg, docserver.User{})
	if err != nil {
		t.Fatalf("DS opening B's config: %v", err)
	}
	if got := string(ed.Content()); got != "original" || ed.View() {
		t.Fatalf("DS got %q (view %v) through B", got, ed.View())
	}
	e.reply(ed.Key(), docserver.StatusEditing)

	// The Docs API session's lock is A's lock: A's GET_LOCK shows it, and a WOPI client
	// of A meets a 409 with it.
	lock := a.lock(up)
	if !strings.HasPrefix(lock, "docs:") {
		t.Fatalf("lock on A during the session = %q, want the Docs API session's", lock)
	}
	bob := a.session("bob", f.ID, "edit")
	status, h := a.wopiCall(bob, "LOCK", "X-WOPI-Lock", "bobs-lock")
	if status != http.StatusConflict || h.Get("X-WOPI-Lock") != lock {
		t.Fatalf("a WOPI Lock on A during B's session: %d, X-WOPI-Lock %q", status, h.Get("X-WOPI-Lock"))
	}

	ed.Edit([]byte("edited through the front bridge"))
	ed.Close()
	if got := replyBody(e.reply(ed.Key(), docserver.StatusMustSave)); got != `{"error":0}` {
		t.Fatalf("reply to status 2 = %s", got)
	}
	if got := string(a.read("report.docx")); got != "edited through the front bridge" {
		t.Fatalf("A's directory holds %q", got)
	}
	if got := a.lock(up); got != "" {
		t.Errorf("A still locked %q after the session", got)
	}
	if code, _ := a.wopiCall(bob, "LOCK", "X-WOPI-Lock", "bobs-lock"); code != http.StatusOK {
		t.Errorf("a WOPI Lock on A after B's session: %d", code)
	}
	a.wopiCall(bob, "UNLOCK", "X-WOPI-Lock", "bobs-lock")

	// The next config is for a new version: a new key, edit mode.
	cfg2, _ := e.frontConfig(launch)
	if key, mode := configKey(t, cfg2); key == ed.Key() || mode != "edit" {
		t.Errorf("after the save: key %q mode %q", key, mode)
	}

	// The upstream's token reached neither DS nor a log.
	waitFor(t, "B's log of the last config", func() bool { return strings.Count(e.p.logs.String(), "DocsConfig") >= 2 })
	texts := map[string]string{"B's docs config reply": string(reply), "B's log": e.p.logs.String(), "A's log": a.logs.String()}
	for i, ev := range e.ds.Events() {
		if ev.Request != nil {
			texts["DS request "+ev.Request.URL] += string(ev.Request.Body)
		}
		if ev.Reply != nil {
			texts["DS event reply "+string(rune('a'+i%26))] += string(ev.Reply.Body)
		}
	}
	noUpstreamToken(t, up.AccessToken, texts)
}

func TestUpstreamWOPIEditAndSaveWithProofs(t *testing.T) {
	a := startUpstream(t)
	f := a.upload(launchToken(t, "owner", nil), "wopi.docx", []byte("v1"))
	up := a.session("alice", f.ID, "edit")
	e := frontEnv(t, a, true)

	s, reply := e.frontSession(frontLaunch(t, "alice", up, nil), "edit")
	if !strings.HasPrefix(s.WopiSrc, e.p.URL+"/wopi/files/") {
		t.Fatalf("B's session names WOPISrc %q, not B's", s.WopiSrc)
	}
	w := e.openWOPI(s)
	if w.Mode() != "edit" || w.ForcedView() {
		t.Fatalf("opened in %s mode (forced view %v)", w.Mode(), w.ForcedView())
	}
	if got := string(w.Content()); got != "v1" {
		t.Fatalf("DS loaded %q through B", got)
	}
	// DS's lock (its sanitised file id: B's id) is A's lock.
	bID := strings.TrimPrefix(s.WopiSrc, e.p.URL+"/wopi/files/")
	if got := a.lock(up); got != bID {
		t.Fatalf("lock on A = %q, want DS's %q", got, bID)
	}
	bob := a.session("bob", f.ID, "edit")
	if status, h := a.wopiCall(bob, "LOCK", "X-WOPI-Lock", "bobs-lock"); status != http.StatusConflict || h.Get("X-WOPI-Lock") != bID {
		t.Fatalf("a WOPI Lock on A during B's WOPI session: %d %q", status, h.Get("X-WOPI-Lock"))
	}
	if err := w.Save([]byte("v2"), false); err != nil {
		t.Fatalf("Save button: %v", err)
	}
	if got := string(a.read("wopi.docx")); got != "v2" {
		t.Fatalf("A holds %q after the Save button", got)
	}
	if err := w.Save([]byte("v3"), true); err != nil {
		t.Fatalf("closing save: %v", err)
	}
	if got := string(a.read("wopi.docx")); got != "v3" {
		t.Fatalf("A holds %q after closing", got)
	}
	if got := a.lock(up); got != "" {
		t.Errorf("A still locked %q after the WOPI session", got)
	}
	wantWOPIOK(t, e.ds, docserver.OpCheckFileInfo, docserver.OpLock, docserver.OpPutFile, docserver.OpUnlock)

	// B's CheckFileInfo advertises no containers (A's files come without folders), and
	// nothing DS saw holds the upstream's token.
	texts := map[string]string{"B's wopi session reply": string(reply), "B's log": e.p.logs.String()}
	for _, ev := range wopiReplies(e.ds, docserver.OpCheckFileInfo) {
		var cfi map[string]any
		if err := json.Unmarshal(ev.Reply.Body, &cfi); err != nil {
			t.Fatal(err)
		}
		if cfi["SupportsContainers"] == true || cfi["SupportsEcosystem"] == true || cfi["UserCanWrite"] != true {
			t.Errorf("B's CheckFileInfo: containers %v ecosystem %v write %v", cfi["SupportsContainers"], cfi["SupportsEcosystem"], cfi["UserCanWrite"])
		}
		texts["B's CheckFileInfo"] += string(ev.Reply.Body)
	}
	page := e.hostPage(frontLaunch(t, "alice", up, nil), bID)
	texts["B's host page"] = page
	noUpstreamToken(t, up.AccessToken, texts)
}

// hostPage is B's WOPI host page for a launch token.
func (e *docsEnv) hostPage(launch, id string) string {
	e.t.Helper()
	resp, err := http.Get(e.p.URL + "/open/" + id + "?style=wopi&launch=" + url.QueryEscape(launch))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "office_form") {
		e.t.Fatalf("host page: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// The upstream's permissions hold through the front: a user A lets only view gets view
// sessions in both styles.
func TestUpstreamViewOnlyUser(t *testing.T) {
	a := startUpstream(t)
	f := a.upload(launchToken(t, "owner", nil), "ro.docx", []byte("read me"))
	up := a.session("viewer", f.ID, "view")
	e := frontEnv(t, a, false)
	launch := frontLaunch(t, "viewer", up, nil)

	cfg, _ := e.frontConfig(launch)
	if _, mode := configKey(t, cfg); mode != "view" {
		t.Errorf("Docs API config for a user A lets only view: mode %s", mode)
	}
	s, _ := e.frontSession(launch, "")
	w := e.openWOPI(s)
	if w.Mode() != "view" {
		t.Errorf("WOPI session for a user A lets only view: mode %s", w.Mode())
	}
	if status, body := e.p.api(http.MethodPost, "/api/v1/wopi/session?action=edit", launch, nil); status != http.StatusForbidden {
		t.Errorf("action=edit for a viewer: %d %s", status, body)
	}
}

// A fails during a Docs API save: B spools the bytes and answers {"error":0}; when A is
// back, the bytes land on A.
func TestUpstreamFailsDuringSave(t *testing.T) {
	a := startUpstream(t)
	f := a.upload(launchToken(t, "owner", nil), "flaky.docx", []byte("v1"))
	up := a.session("alice", f.ID, "edit")
	e := frontEnv(t, a, false)

	cfg, _ := e.frontConfig(frontLaunch(t, "alice", up, nil))
	ed, err := e.ds.OpenDocs(e.ctx(), cfg, docserver.User{})
	if err != nil {
		t.Fatal(err)
	}
	e.reply(ed.Key(), docserver.StatusEditing)
	a.stop(syscall.SIGKILL) // A crashes mid-session
	ed.Edit([]byte("kept while the upstream was down"))
	ed.Close()
	if got := replyBody(e.reply(ed.Key(), docserver.StatusMustSave)); got != `{"error":0}` {
		t.Fatalf("reply with the upstream down: %s", got)
	}
	waitFor(t, "the spooled save in B's log", func() bool { return contains(e.p.logs.String(), "event=spooled") })
	if got := string(a.read("flaky.docx")); got != "v1" {
		t.Fatalf("A holds %q while it was down", got)
	}
	a.start()
	waitFor(t, "the spooled save to land on A", func() bool {
		b, _ := os.ReadFile(filepath.Join(a.Data, "flaky.docx"))
		return string(b) == "kept while the upstream was down"
	})
	waitFor(t, "the session's lock released on A", func() bool { return a.lock(up) == "" })
}

// A fails during a WOPI-mode session. ONLYOFFICE Docs never retries a PutFile (a
// failed one goes to its forgotten store), so B keeps the closing save, acknowledges it,
// and takes DS's Unlock; meanwhile B serves nothing of the file, not even the older
// bytes. When A is back, the bytes land on A under DS's lock, which is then released.
func TestUpstreamFailsDuringWOPISave(t *testing.T) {
	a := startUpstream(t)
	f := a.upload(launchToken(t, "owner", nil), "flaky-wopi.docx", []byte("v1"))
	up := a.session("alice", f.ID, "edit")
	e := frontEnv(t, a, true)

	s, _ := e.frontSession(frontLaunch(t, "alice", up, nil), "edit")
	w := e.openWOPI(s)
	if err := w.Save([]byte("v2"), false); err != nil {
		t.Fatalf("Save button: %v", err)
	}
	a.stop(syscall.SIGKILL)
	const final = "kept while the upstream was down"
	if err := w.Save([]byte(final), true); err != nil {
		t.Fatalf("closing save with A down: %v\nDS events: %v", err, e.ds.Events())
	}
	wantWOPIOK(t, e.ds, docserver.OpPutFile, docserver.OpUnlock)
	if !contains(e.p.logs.String(), "event=spooled") {
		t.Fatalf("no spooled save in B's log:\n%s", e.p.logs.String())
	}
	// Another open while A is down fails at CheckFileInfo; it never shows v2.
	if w2, err := e.ds.OpenWOPI(e.ctx(), s.ActionURL, s.AccessToken, s.AccessTokenTTL, ""); err == nil {
		t.Fatalf("opened with A down, content %q", w2.Content())
	}

	a.start()
	waitFor(t, "the spooled save to land on A", func() bool {
		b, _ := os.ReadFile(filepath.Join(a.Data, "flaky-wopi.docx"))
		return string(b) == final
	})
	waitFor(t, "DS's lock released on A", func() bool { return a.lock(up) == "" })
	if got := string(e.openWOPI(s).Content()); got != final {
		t.Errorf("reopened after A came back: %q", got)
	}
	if got := string(a.read("flaky-wopi.docx")); got != final {
		t.Errorf("A holds %q", got)
	}
	entries, _ := os.ReadDir(a.Data)
	for _, de := range entries {
		if strings.Contains(de.Name(), "conflict") {
			t.Errorf("a conflict copy on A: %s", de.Name())
		}
	}
}

// A launch token whose wopisrc is on an origin WOPIBRIDGE_STORAGE does not allow is
// refused, and nothing is sent there.
func TestUpstreamOriginNotAllowed(t *testing.T) {
	a := startUpstream(t)
	f := a.upload(launchToken(t, "owner", nil), "a.docx", []byte("A"))
	up := a.session("alice", f.ID, "edit")
	e := frontEnv(t, a, false)

	hit := make(chan struct{}, 1)
	trap := newTrap(t, hit)
	evil := up
	evil.WopiSrc = trap + "/wopi/files/" + f.ID
	launch := frontLaunch(t, "alice", evil, nil)
	for _, path := range []string{"/api/v1/docs/config", "/api/v1/wopi/session", "/api/v1/files"} {
		method := http.MethodPost
		if path == "/api/v1/files" {
			method = http.MethodGet
		}
		status, body := e.p.api(method, path, launch, nil)
		if status != http.StatusForbidden || !contains(string(body), "WOPIBRIDGE_STORAGE") || !contains(string(body), trap) {
			t.Errorf("%s with a wopisrc on %s: %d %s", path, trap, status, body)
		}
		noUpstreamToken(t, up.AccessToken, map[string]string{path + " reply": string(body)})
	}
	resp, err := http.Get(e.p.URL + "/open/x?style=docs&launch=" + url.QueryEscape(launch))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("page with a wopisrc on %s: %d", trap, resp.StatusCode)
	}
	select {
	case <-hit:
		t.Fatal("B sent a request to an origin WOPIBRIDGE_STORAGE does not allow")
	default:
	}
	noUpstreamToken(t, up.AccessToken, map[string]string{"B's log": e.p.logs.String()})
}

// Someone else takes the file on A during B's Docs API session and writes to it: B's
// save becomes a conflict copy next to the file on A, and their work stays.
func TestUpstreamConflictCopyNextToFile(t *testing.T) {
	a := startUpstream(t)
	f := a.upload(launchToken(t, "owner", nil), "report.docx", []byte("v1"))
	up := a.session("alice", f.ID, "edit")
	e := frontEnv(t, a, false)

	cfg, _ := e.frontConfig(frontLaunch(t, "alice", up, nil))
	ed, err := e.ds.OpenDocs(e.ctx(), cfg, docserver.User{})
	if err != nil {
		t.Fatal(err)
	}
	e.reply(ed.Key(), docserver.StatusEditing)
	lock := a.lock(up)

	// Bob, a client of A, breaks the lock and saves his own version.
	bob := a.session("bob", f.ID, "edit")
	for _, step := range []struct {
		override, lock string
	}{{"UNLOCK", lock}, {"LOCK", "bobs-lock"}} {
		if status, _ := a.wopiCall(bob, step.override, "X-WOPI-Lock", step.lock); status != http.StatusOK {
			t.Fatalf("%s on A: %d", step.override, status)
		}
	}
	if status := a.putFile(bob, "bobs-lock", "bob's version"); status != http.StatusOK {
		t.Fatalf("bob's PutFile on A: %d", status)
	}
	a.wopiCall(bob, "UNLOCK", "X-WOPI-Lock", "bobs-lock")

	ed.Edit([]byte("alice's version"))
	ed.Close()
	if got := replyBody(e.reply(ed.Key(), docserver.StatusMustSave)); got != `{"error":0}` {
		t.Fatalf("reply to status 2: %s", got)
	}
	if got := string(a.read("report.docx")); got != "bob's version" {
		t.Errorf("report.docx on A holds %q: bob's work was overwritten", got)
	}
	copies, _ := filepath.Glob(filepath.Join(a.Data, "report (conflict *).docx"))
	if len(copies) != 1 {
		entries, _ := os.ReadDir(a.Data)
		t.Fatalf("conflict copies next to the file on A: %v (directory: %v)", copies, entries)
	}
	if got, _ := os.ReadFile(copies[0]); string(got) != "alice's version" {
		t.Errorf("the conflict copy holds %q", got)
	}
}

// putFile is a WOPI PutFile on A with s's token; it returns the status.
func (a *upstreamHost) putFile(s wopiSession, lock, content string) int {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.WopiSrc+"/contents?access_token="+url.QueryEscape(s.AccessToken), strings.NewReader(content))
	req.Header.Set("X-WOPI-Override", "PUT")
	req.Header.Set("X-WOPI-Lock", lock)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
