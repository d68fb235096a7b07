package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/e2e/docserver"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// WOPI scenarios: the wopibridge binary with proofs required, and the simulated
// Document Server in WOPI mode signing every request with its proof keys.

// wopiEnv is a bridge process in front of a simulated DS whose proof keys the test
// knows, so that it can also sign requests as that DS.
type wopiEnv struct {
	*docsEnv
	key, oldKey *rsa.PrivateKey
}

func newDSKeys(t *testing.T) (cur, old *rsa.PrivateKey) {
	t.Helper()
	var err error
	if cur, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if old, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	return cur, old
}

func newWOPIEnv(t *testing.T, env ...string) *wopiEnv {
	t.Helper()
	cur, old := newDSKeys(t)
	ds := newDS(t, cur, old)
	p := startProc(t, append([]string{
		"WOPIBRIDGE_DOCS_URL=" + ds.URL(),
		"WOPIBRIDGE_DOCS_JWT_SECRET=" + dsSecret,
		"WOPIBRIDGE_LAUNCH_SECRET=" + string(testLaunchSecret),
		"WOPIBRIDGE_PROOF=require",
	}, env...)...)
	return &wopiEnv{docsEnv: &docsEnv{t: t, ds: ds, p: p}, key: cur, oldKey: old}
}

// newDS starts a simulated DS in WOPI mode with these proof keys.
func newDS(t *testing.T, cur, old *rsa.PrivateKey) *docserver.Server {
	t.Helper()
	ds, err := docserver.New(docserver.Options{
		JWTSecret:   dsSecret,
		WOPIEnabled: true,
		SaveDelay:   20 * time.Millisecond,
		RetryBase:   50 * time.Millisecond,
		ProofKey:    cur,
		ProofKeyOld: old,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ds.Close)
	return ds
}

// session asks the launch API for a WOPI session of user on file.
func (e *docsEnv) session(user, file, action string) wopiSession {
	e.t.Helper()
	status, body := e.p.api(http.MethodPost, "/api/v1/wopi/session?action="+action+"&file="+file, launchToken(e.t, user, nil), nil)
	var s wopiSession
	if status != http.StatusOK || json.Unmarshal(body, &s) != nil {
		e.t.Fatalf("wopi session (%s): %d %s", action, status, body)
	}
	return s
}

// openWOPI is DS opening a session's action URL, as a browser posting the host page
// form makes it do.
func (e *docsEnv) openWOPI(s wopiSession) *docserver.WOPISession {
	e.t.Helper()
	w, err := e.ds.OpenWOPI(e.ctx(), s.ActionURL, s.AccessToken, s.AccessTokenTTL, "")
	if err != nil {
		e.t.Fatalf("DS opening %s: %v\nDS events: %v", s.ActionURL, err, e.ds.Events())
	}
	return w
}

// wopiReplies are the answers DS got to its WOPI calls of op.
func wopiReplies(ds *docserver.Server, op docserver.Op) []docserver.Event {
	return ds.Find(docserver.Match{Type: docserver.Reply, Op: op}.Fn())
}

// wantWOPIOK fails unless DS made op at least once and every answer was 2xx.
func wantWOPIOK(t *testing.T, ds *docserver.Server, ops ...docserver.Op) {
	t.Helper()
	for _, op := range ops {
		replies := wopiReplies(ds, op)
		if len(replies) == 0 {
			t.Errorf("DS made no %s call", op)
		}
		for _, r := range replies {
			if !r.OK() {
				t.Errorf("%s answered %v: %s", op, r.Reply, r.Err)
			}
		}
	}
}

func TestWOPIEditAndSaveWithProofs(t *testing.T) {
	e := newWOPIEnv(t)
	f := e.upload("wopi.docx", "v1")
	s := e.session("alice", f.ID, "edit")
	if want := e.ds.URL() + "/hosting/wopi/word/edit?"; !strings.HasPrefix(s.ActionURL, want) {
		t.Fatalf("actionUrl %q, want %s...", s.ActionURL, want)
	}
	if want := e.ds.URL() + "/web-apps/apps/documenteditor/main/resources/img/favicon.ico"; s.FavIconURL != want {
		t.Errorf("favIconUrl %q, want %q", s.FavIconURL, want)
	}
	w := e.openWOPI(s)
	if w.Mode() != "edit" || w.ForcedView() {
		t.Fatalf("opened in %s mode (forced view %v)", w.Mode(), w.ForcedView())
	}
	if got := string(w.Content()); got != "v1" {
		t.Fatalf("DS loaded %q", got)
	}
	if err := w.Save([]byte("v2"), false); err != nil {
		t.Fatalf("Save button: %v", err)
	}
	if got := string(e.p.read("wopi.docx")); got != "v2" {
		t.Fatalf("after the Save button: %q", got)
	}
	if err := w.Save([]byte("v3"), true); err != nil {
		t.Fatalf("closing save: %v", err)
	}
	if got := string(e.p.read("wopi.docx")); got != "v3" {
		t.Fatalf("after closing: %q", got)
	}
	// The content comes through FileUrl, which the bridge signs itself; every signed
	// call was accepted.
	wantWOPIOK(t, e.ds, docserver.OpCheckFileInfo, docserver.OpLock, docserver.OpFileURL, docserver.OpPutFile, docserver.OpUnlock)
	for _, ev := range e.ds.Find(docserver.Match{Type: docserver.Request, Op: docserver.OpPutFile}.Fn()) {
		proof := ev.Request.Get("X-WOPI-Proof")
		if proof == "" {
			t.Fatal("DS sent a PutFile without a proof")
		}
		if contains(e.p.logs.String(), proof) {
			t.Error("a proof header reached the bridge's log")
		}
	}
	// Unlocked: a Docs API editor opens for edit again.
	if _, mode := configKey(t, e.config("bob", f.ID)); mode != "edit" {
		t.Errorf("after the WOPI session the Docs API config is %s", mode)
	}
}

func TestWOPIUnsignedRequestsAreRefused(t *testing.T) {
	e := newWOPIEnv(t)
	f := e.upload("guarded.docx", "v1")
	s := e.session("alice", f.ID, "edit")
	get := func(sign func(*http.Request)) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, s.WopiSrc+"?access_token="+url.QueryEscape(s.AccessToken), nil)
		if sign != nil {
			sign(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(nil); code != http.StatusInternalServerError || !contains(body, "X-WOPI-Proof") {
		t.Errorf("unsigned CheckFileInfo: %d %s", code, body)
	}
	stranger, _ := newDSKeys(t)
	if code, _ := get(func(r *http.Request) { wopiclient.SignRequest(r, stranger, stranger, s.AccessToken, time.Now()) }); code != http.StatusInternalServerError {
		t.Errorf("CheckFileInfo signed by another key: %d", code)
	}
	if code, _ := get(func(r *http.Request) {
		wopiclient.SignRequest(r, e.key, e.oldKey, s.AccessToken, time.Now().Add(-30*time.Minute))
	}); code != http.StatusInternalServerError {
		t.Errorf("CheckFileInfo signed 30 minutes ago: %d", code)
	}
	if code, body := get(func(r *http.Request) { wopiclient.SignRequest(r, e.key, e.oldKey, s.AccessToken, time.Now()) }); code != http.StatusOK {
		t.Errorf("CheckFileInfo signed by DS: %d %s", code, body)
	}
	// GetFile, which DS uses when CheckFileInfo has no FileUrl, signed as DS signs it.
	req, _ := http.NewRequest(http.MethodGet, s.WopiSrc+"/contents?access_token="+url.QueryEscape(s.AccessToken), nil)
	req.Header.Set("X-WOPI-MaxExpectedSize", "104857600")
	if err := wopiclient.SignRequest(req, e.key, e.oldKey, s.AccessToken, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "v1" {
		t.Errorf("signed GetFile: %d %q", resp.StatusCode, b)
	}
}

// switchProxy stands for a Document Server's address: what answers there can be
// replaced, as when DS is restarted.
type switchProxy struct {
	*httptest.Server
	target    atomic.Pointer[httputil.ReverseProxy]
	discovery atomic.Int32
}

func newSwitchProxy(t *testing.T) *switchProxy {
	p := &switchProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hosting/discovery" {
			p.discovery.Add(1)
		}
		p.target.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *switchProxy) to(ds *docserver.Server) {
	u, _ := url.Parse(ds.URL())
	p.target.Store(httputil.NewSingleHostReverseProxy(u))
}

// A DS restarted with new proof keys: the first request it signs fails with the keys
// the bridge cached, the bridge reads discovery once more, and editing goes on.
func TestWOPIProofKeyRotationStillSaves(t *testing.T) {
	cur1, old1 := newDSKeys(t)
	cur2, old2 := newDSKeys(t)
	ds1, ds2 := newDS(t, cur1, old1), newDS(t, cur2, old2)
	proxy := newSwitchProxy(t)
	proxy.to(ds1)
	p := startProc(t,
		"WOPIBRIDGE_DOCS_URL="+proxy.URL,
		"WOPIBRIDGE_DOCS_JWT_SECRET="+dsSecret,
		"WOPIBRIDGE_LAUNCH_SECRET="+string(testLaunchSecret),
		"WOPIBRIDGE_PROOF=require")
	e1 := &docsEnv{t: t, ds: ds1, p: p}
	f := e1.upload("rotate.docx", "v1")

	w := e1.openWOPI(e1.session("alice", f.ID, "edit"))
	if err := w.Save([]byte("before the restart"), true); err != nil {
		t.Fatalf("save before the restart: %v", err)
	}
	if n := proxy.discovery.Load(); n != 1 {
		t.Fatalf("discovery read %d times before the restart, want 1", n)
	}

	proxy.to(ds2) // the restart: same address, new keys
	e2 := &docsEnv{t: t, ds: ds2, p: p}
	w = e2.openWOPI(e2.session("alice", f.ID, "edit"))
	if w.Mode() != "edit" || w.ForcedView() {
		t.Fatalf("after the restart DS opened in %s mode (forced view %v)", w.Mode(), w.ForcedView())
	}
	if err := w.Save([]byte("after the restart"), true); err != nil {
		t.Fatalf("save after the restart: %v\nDS events: %v", err, ds2.Events())
	}
	if got := string(p.read("rotate.docx")); got != "after the restart" {
		t.Fatalf("stored %q", got)
	}
	wantWOPIOK(t, ds2, docserver.OpCheckFileInfo, docserver.OpLock, docserver.OpPutFile, docserver.OpUnlock)
	if n := proxy.discovery.Load(); n != 2 {
		t.Errorf("discovery read %d times in all, want 2 (one refresh after the restart)", n)
	}
}

// One editing session per file across both styles: a WOPI session opened while a Docs
// API session holds the lock falls back to view, as DS does when LOCK answers 409.
func TestWOPIViewWhileDocsAPIHoldsTheLock(t *testing.T) {
	e := newWOPIEnv(t)
	f := e.upload("shared.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing) // the Docs API session takes the lock

	w := e.openWOPI(e.session("bob", f.ID, "edit"))
	if w.Mode() != "view" || !w.ForcedView() {
		t.Fatalf("WOPI session opened in %s mode (forced view %v) while Docs API holds the lock", w.Mode(), w.ForcedView())
	}
	locks := wopiReplies(e.ds, docserver.OpLock)
	if len(locks) != 1 || locks[0].Reply == nil || locks[0].Reply.StatusCode != http.StatusConflict {
		t.Fatalf("LOCK replies: %v", locks)
	}
	if err := w.Save([]byte("not allowed"), false); !errors.Is(err, docserver.ErrViewOnly) {
		t.Fatalf("save from the view session: %v", err)
	}

	ed.Edit([]byte("from docs"))
	ed.Close()
	e.reply(ed.Key(), docserver.StatusMustSave)
	if got := string(e.p.read("shared.docx")); got != "from docs" {
		t.Fatalf("stored %q", got)
	}
}

// The reverse: a Docs API editor opened while a WOPI session holds the lock is
// view-only.
func TestDocsAPIViewWhileWOPIHoldsTheLock(t *testing.T) {
	e := newWOPIEnv(t)
	f := e.upload("shared.docx", "v1")
	w := e.openWOPI(e.session("bob", f.ID, "edit"))
	if w.Mode() != "edit" {
		t.Fatalf("WOPI session in %s mode", w.Mode())
	}
	if _, mode := configKey(t, e.config("alice", f.ID)); mode != "view" {
		t.Fatalf("Docs API config while WOPI holds the lock: %s", mode)
	}
	if ed := e.open("alice", f.ID); !ed.View() {
		t.Fatal("the Docs API editor opened for edit while WOPI holds the lock")
	}
	if err := w.Save([]byte("from wopi"), true); err != nil {
		t.Fatal(err)
	}
	if got := string(e.p.read("shared.docx")); got != "from wopi" {
		t.Fatalf("stored %q", got)
	}
	if _, mode := configKey(t, e.config("alice", f.ID)); mode != "edit" {
		t.Fatalf("Docs API config after the WOPI session: %s", mode)
	}
}

// hostForm reads the form of a WOPI host page: its action and its hidden fields.
func hostForm(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	form := regexp.MustCompile(`<form [^>]*action="([^"]*)" method="post">`).FindStringSubmatch(page)
	if form == nil {
		t.Fatalf("no form in the host page:\n%s", page)
	}
	fields := url.Values{}
	for _, m := range regexp.MustCompile(`<input name="([^"]*)" value="([^"]*)" type="hidden">`).FindAllStringSubmatch(page, -1) {
		fields.Set(m[1], html.UnescapeString(m[2]))
	}
	return html.UnescapeString(form[1]), fields
}

// browse GETs a bridge page and returns its body.
func browse(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", u, resp.StatusCode, b)
	}
	return string(b)
}

// submitHostPage does what a browser does with a host page: POST its form to DS, whose
// editor page names the session it opened.
func (e *docsEnv) submitHostPage(page string) *docserver.WOPISession {
	e.t.Helper()
	action, fields := hostForm(e.t, page)
	if fields.Get("access_token") == "" || fields.Get("access_token_ttl") == "" {
		e.t.Fatalf("form fields %v", fields)
	}
	resp, err := http.PostForm(action, fields)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`data-usid="([^"]+)"`).FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		e.t.Fatalf("DS editor page: %d %s", resp.StatusCode, body)
	}
	w, err := e.ds.WaitWOPISession(e.ctx(), string(m[1]))
	if err != nil {
		e.t.Fatalf("no editor connected: %v", err)
	}
	return w
}

func TestWOPIHostPageOpensInDS(t *testing.T) {
	e := newWOPIEnv(t)
	f := e.upload("page.docx", "v1")
	page := browse(t, e.p.URL+"/open/"+f.ID+"?style=wopi&launch="+url.QueryEscape(launchToken(t, "alice", jwt.MapClaims{"lang": "de-DE"})))
	w := e.submitHostPage(page)
	if w.Mode() != "edit" {
		t.Fatalf("mode %s", w.Mode())
	}
	q, _ := w.RenderParams()["queryParams"].(map[string]string)
	if q["ui"] != "de-DE" {
		t.Errorf("DS saw query %v", q)
	}
	if err := w.Save([]byte("edited from the host page"), true); err != nil {
		t.Fatal(err)
	}
	if got := string(e.p.read("page.docx")); got != "edited from the host page" {
		t.Fatalf("stored %q", got)
	}
}

// ONLYOFFICE's convert-and-edit of a binary document: DS converts, saves the copy with
// PutRelativeFile and sends the browser to the reply's HostEditUrl, which opens the copy
// for edit without a launch token.
func TestWOPIConvertAndEdit(t *testing.T) {
	e := newWOPIEnv(t)
	f := e.upload("legacy.doc", "binary word 97")
	s := e.session("alice", f.ID, "convert")
	if want := e.ds.URL() + "/hosting/wopi/convert-and-edit/doc/docx?"; !strings.HasPrefix(s.ActionURL, want) {
		t.Fatalf("actionUrl %q, want %s...", s.ActionURL, want)
	}
	// The host page's "edit" of a .doc runs the same conversion.
	page := browse(t, e.p.URL+"/open/"+f.ID+"?style=wopi&action=edit&launch="+url.QueryEscape(launchToken(t, "alice", nil)))
	if action, _ := hostForm(t, page); !strings.HasPrefix(action, e.ds.URL()+"/hosting/wopi/convert-and-edit/doc/docx?") {
		t.Fatalf("host page action %q", action)
	}

	// What DS's convert-and-edit handler sends once the conversion is done.
	req, _ := http.NewRequest(http.MethodPost, s.WopiSrc+"?access_token="+url.QueryEscape(s.AccessToken), strings.NewReader("converted docx"))
	req.Header.Set("X-WOPI-Override", "PUT_RELATIVE")
	req.Header.Set("X-WOPI-SuggestedTarget", ".docx")
	req.Header.Set("X-WOPI-FileConversion", "true")
	req.Header.Set("Content-Type", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
	if err := wopiclient.SignRequest(req, e.key, e.oldKey, s.AccessToken, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reply struct{ Name, Url, HostEditUrl, HostViewUrl string }
	err = json.NewDecoder(resp.Body).Decode(&reply)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || reply.HostEditUrl == "" {
		t.Fatalf("PutRelativeFile: %d %+v %v", resp.StatusCode, reply, err)
	}
	if reply.Name != "legacy.docx" || string(e.p.read("legacy.docx")) != "converted docx" {
		t.Fatalf("converted copy %q", reply.Name)
	}

	// The browser follows HostEditUrl (window.top.location.replace): no launch token.
	w := e.submitHostPage(browse(t, reply.HostEditUrl))
	if w.Mode() != "edit" || w.ForcedView() {
		t.Fatalf("the converted copy opened in %s mode", w.Mode())
	}
	if err := w.Save([]byte("edited docx"), true); err != nil {
		t.Fatal(err)
	}
	if got := string(e.p.read("legacy.docx")); got != "edited docx" {
		t.Fatalf("stored %q", got)
	}
	if got := string(e.p.read("legacy.doc")); got != "binary word 97" {
		t.Fatalf("the original changed: %q", got)
	}
}

// WOPIBRIDGE_IPFILTER applies to the WOPI and DS-facing routes, on the TCP peer.
func TestIPFilterOnWOPIRoutes(t *testing.T) {
	for _, tc := range []struct {
		filter string
		want   int
	}{
		{"127.0.0.2=allow,*=deny", http.StatusForbidden},
		{"127.0.0.1=allow,*=deny", http.StatusUnauthorized}, // through the filter; the token is bogus
	} {
		t.Run(tc.filter, func(t *testing.T) {
			p := startProc(t, "WOPIBRIDGE_IPFILTER="+tc.filter)
			req, _ := http.NewRequest(http.MethodGet, p.URL+"/wopi/files/x?access_token=bogus", nil)
			req.Header.Set("X-Forwarded-For", "127.0.0.2")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("WOPI request: %d %s", resp.StatusCode, body)
			}
			if tc.want == http.StatusForbidden && !contains(string(body), "WOPIBRIDGE_IPFILTER") {
				t.Errorf("body %s", body)
			}
			// Pages and the launch API are not filtered.
			if status, body := p.api(http.MethodGet, "/api/v1/files", "", nil); status != http.StatusOK {
				t.Errorf("launch API: %d %s", status, body)
			}
		})
	}
}

// DS locks a file while it renders the WOPI host page, before any editor connects. An
// open whose editor never connects keeps that lock: DS never unlocks it, so the file
// opens read-only in the Docs API until the lock lapses (README: "a document opens
// read-only").
func TestWOPIAbandonedOpenKeepsDSLock(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("abandoned.docx", "v1")
	s := e.session("carol", f.ID, "edit")
	render, err := e.ds.OpenWOPIAbandoned(e.ctx(), s.ActionURL, s.AccessToken, s.AccessTokenTTL, "")
	if err != nil {
		t.Fatal(err)
	}
	if auth, _ := render["userAuth"].(map[string]any); auth["mode"] != "edit" {
		t.Fatalf("DS rendered %v", render)
	}
	wantWOPIOK(t, e.ds, docserver.OpCheckFileInfo, docserver.OpLock)
	if n := len(wopiReplies(e.ds, docserver.OpFileURL)) + len(wopiReplies(e.ds, docserver.OpGetFile)); n != 0 {
		t.Errorf("DS downloaded the file %d times for an editor that never connected", n)
	}
	if _, mode := configKey(t, e.config("alice", f.ID)); mode != "view" {
		t.Errorf("Docs API config while DS holds the abandoned lock: mode %s", mode)
	}
	if n := len(wopiReplies(e.ds, docserver.OpUnlock)); n != 0 {
		t.Errorf("DS unlocked an abandoned open %d times", n)
	}
}
