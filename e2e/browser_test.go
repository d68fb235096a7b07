package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/e2e/docserver"
)

// The browser scenarios load the bridge's pages in headless Chromium, against the real
// binary and the simulated Document Server: what a page does in a browser (submit a
// form into a frame, load a script from another origin, run a fetch) is checked by
// what reaches the servers.

// chromiumPath is Debian's Chromium.
const chromiumPath = "/usr/bin/chromium"

// browserTimeout bounds one browser scenario, browser start included.
const browserTimeout = 90 * time.Second

// newBrowser starts a headless Chromium for one test and returns its context; the
// browser ends with the test. The flags keep it off the network: without the
// background-networking ones it keeps calling Google's hosts.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser tests need Chromium at %s: install Debian's package with `apt-get install -y chromium` (.ci/run does): %v", chromiumPath, err)
	}
	profile := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
	)
	bctx, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancel()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	watchCSP(t, bctx)
	return bctx
}

// watchCSP fails the test when the browser reports that a page broke its
// Content-Security-Policy (a script, frame or form the policy blocked).
func watchCSP(t *testing.T, ctx context.Context) {
	t.Helper()
	var mu sync.Mutex
	var violations []string
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range chromedp.Console(cctx) {
			if err != nil {
				return
			}
			if strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy") {
				mu.Lock()
				violations = append(violations, m.Text)
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, v := range violations {
			t.Errorf("CSP violation in the browser: %s", v)
		}
	})
}

// inBrowser runs browser steps, failing the test with what it was doing.
func inBrowser(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}

// screenshot saves the page to $WOPIBRIDGE_SCREENSHOTS/<name>.png when that variable
// names a directory: a way to look at the pages, not a check.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("WOPIBRIDGE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

// wait waits for a docserver event, with the browser's deadline.
func (e *docsEnv) wait(ctx context.Context, what string, pred func(docserver.Event) bool) docserver.Event {
	e.t.Helper()
	ev, err := e.ds.WaitFor(ctx, pred)
	if err != nil {
		e.t.Fatalf("waiting for %s: %v\nDS events: %v", what, err, e.ds.Events())
	}
	return ev
}

// hostFormPost matches the browser's POST of a WOPI host page form to DS's editor
// route, for the WOPI URL of file.
func (e *docsEnv) hostFormPost(fileID string) func(docserver.Event) bool {
	wopiSrc := e.p.URL + "/wopi/files/" + fileID
	return func(ev docserver.Event) bool {
		if ev.Type != docserver.Served || ev.Request == nil || ev.Request.Method != http.MethodPost {
			return false
		}
		u, err := url.Parse(ev.Request.URL)
		if err != nil || !strings.HasPrefix(u.Path, "/hosting/wopi/") {
			return false
		}
		for k, v := range u.Query() {
			if strings.EqualFold(k, "wopisrc") && len(v) > 0 && v[0] == wopiSrc {
				return true
			}
		}
		return false
	}
}

// usidOf reads the editor session id DS put into the editor page it answered.
func usidOf(t *testing.T, ev docserver.Event) string {
	t.Helper()
	if ev.Reply == nil {
		t.Fatal("no reply recorded")
	}
	body := string(ev.Reply.Body)
	const attr = `data-usid="`
	i := strings.Index(body, attr)
	if i < 0 {
		t.Fatalf("DS's editor page has no session id:\n%s", body)
	}
	body = body[i+len(attr):]
	return body[:strings.IndexByte(body, '"')]
}

func pageURL(base, path string, q url.Values) string {
	return base + path + "?" + q.Encode()
}

// The WOPI host page, in a browser, POSTs access_token and access_token_ttl into its
// frame to DS's WOPI editor route; DS then calls the bridge with that token.
func TestBrowserWOPIHostPagePostsTheTokenToDS(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("hosted.docx", "hosted content")
	ctx := newBrowser(t)
	launch := launchToken(t, "alice", nil)
	opened := time.Now()

	inBrowser(t, ctx, "open the WOPI host page",
		chromedp.Navigate(pageURL(e.p.URL, "/open/"+f.ID, url.Values{"style": {"wopi"}, "launch": {launch}})))
	token := eval[string](t, ctx, `document.querySelector("#office_form input[name=access_token]").value`)
	ttl := eval[string](t, ctx, `document.querySelector("#office_form input[name=access_token_ttl]").value`)
	if token == "" || ttl == "" {
		t.Fatalf("host page inputs: token %q ttl %q", token, ttl)
	}

	post := e.wait(ctx, "the host page form POST at DS", e.hostFormPost(f.ID))
	form, err := url.ParseQuery(string(post.Request.Body))
	if err != nil {
		t.Fatalf("form body %q: %v", post.Request.Body, err)
	}
	if ct := post.Request.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("form Content-Type = %q", ct)
	}
	if got := form.Get("access_token"); got != token {
		t.Errorf("posted access_token differs from the page's")
	}
	if got := form.Get("access_token_ttl"); got != ttl {
		t.Errorf("posted access_token_ttl = %q, page has %q", got, ttl)
	}
	ms, err := strconv.ParseInt(ttl, 10, 64)
	if err != nil || ms < opened.UnixMilli() || ms > time.Now().Add(10*time.Hour+time.Minute).UnixMilli() {
		t.Errorf("access_token_ttl = %q: want a millisecond epoch within the 10h token lifetime", ttl)
	}
	if post.Reply == nil || post.Reply.StatusCode != http.StatusOK {
		t.Fatalf("DS's editor route answered %+v", post.Reply)
	}
	if ref := post.Request.Get("Referer"); ref != "" {
		t.Errorf("the form POST carried the page's URL (and its launch token) as Referer: %s", ref)
	}

	// DS used that very token on the bridge: CheckFileInfo, then LOCK in edit mode.
	cfi := e.wait(ctx, "DS's CheckFileInfo", docserver.Match{Type: docserver.Reply, Op: docserver.OpCheckFileInfo}.Fn())
	if !cfi.OK() {
		t.Fatalf("CheckFileInfo answered %+v", cfi.Reply)
	}
	if u, _ := url.Parse(cfi.Request.URL); u == nil || u.Query().Get("access_token") != token || !strings.HasPrefix(cfi.Request.URL, e.p.URL+"/wopi/files/"+f.ID+"?") {
		t.Errorf("CheckFileInfo went to %s, not with the page's token to the bridge", cfi.Request.URL)
	}
	var fileInfo struct{ BaseFileName string }
	if err := json.Unmarshal(cfi.Reply.Body, &fileInfo); err != nil || fileInfo.BaseFileName != "hosted.docx" {
		t.Errorf("CheckFileInfo body %s", cfi.Reply.Body)
	}
	if lock := e.wait(ctx, "DS's LOCK", docserver.Match{Type: docserver.Reply, Op: docserver.OpLock}.Fn()); !lock.OK() {
		t.Errorf("LOCK answered %+v", lock.Reply)
	}
	// The editor connected and has the file's bytes.
	sess, err := e.ds.WaitWOPISession(ctx, usidOf(t, post))
	if err != nil {
		t.Fatal(err)
	}
	if sess.Mode() != "edit" || string(sess.Content()) != "hosted content" {
		t.Errorf("WOPI editor: mode %s, content %q", sess.Mode(), sess.Content())
	}
}

// The Docs API page, in a browser, loads api.js from DS and constructs the editor with
// the config the bridge signed.
func TestBrowserDocsPageConstructsTheEditor(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("api.docx", "api content")
	ctx := newBrowser(t)
	launch := launchToken(t, "bob", jwt.MapClaims{"name": "Bob Browser"})
	page := pageURL(e.p.URL, "/open/"+f.ID, url.Values{"style": {"docs"}, "launch": {launch}})
	inBrowser(t, ctx, "open the Docs API page", chromedp.Navigate(page))

	script := e.wait(ctx, "api.js served to the page", func(ev docserver.Event) bool {
		return ev.Type == docserver.Served && ev.Request != nil && strings.HasSuffix(ev.Request.URL, "/web-apps/apps/api/documents/api.js")
	})
	if script.Request.Get("Referer") != "" {
		t.Error("the page sent its URL (which holds the launch token) as a referrer")
	}
	raw, err := e.ds.WaitEditorConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Document struct {
			Key, URL, Title, FileType string
		}
		EditorConfig struct {
			CallbackURL string `json:"callbackUrl"`
			Mode        string
			User        struct{ ID, Name string }
		} `json:"editorConfig"`
		Token string
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("config %s: %v", raw, err)
	}
	if !strings.HasPrefix(cfg.Document.URL, e.p.URL+"/docs/files/"+f.ID+"/contents?") {
		t.Errorf("document.url = %q: not the bridge's", cfg.Document.URL)
	}
	if !strings.HasPrefix(cfg.EditorConfig.CallbackURL, e.p.URL+"/docs/callback?") {
		t.Errorf("callbackUrl = %q: not the bridge's", cfg.EditorConfig.CallbackURL)
	}
	if cfg.Document.Key == "" || cfg.Document.Title != "api.docx" || cfg.EditorConfig.Mode != "edit" || cfg.EditorConfig.User.ID != "bob" {
		t.Errorf("config: %s", raw)
	}
	// The key is the one the bridge gives every editor of this file version.
	if key, _ := configKey(t, e.config("bob", f.ID)); key != cfg.Document.Key {
		t.Errorf("document.key %q; the launch API gives %q", cfg.Document.Key, key)
	}
	// The token is DS's JWT over the same config.
	var claims struct {
		jwt.RegisteredClaims
		Document struct{ Key, URL string }
	}
	if _, err := jwt.ParseWithClaims(cfg.Token, &claims, func(*jwt.Token) (any, error) { return []byte(dsSecret), nil },
		jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Fatalf("config token does not verify with the DS secret: %v", err)
	}
	if claims.Document.Key != cfg.Document.Key || claims.Document.URL != cfg.Document.URL {
		t.Errorf("token says key %q url %q; config says %q %q", claims.Document.Key, claims.Document.URL, cfg.Document.Key, cfg.Document.URL)
	}
	// What the page handed over opens in DS: it downloads the bytes from the bridge.
	ed, err := e.ds.OpenDocs(ctx, raw, docserver.User{})
	if err != nil {
		t.Fatalf("DS opening the page's config: %v", err)
	}
	if got := string(ed.Content()); got != "api content" {
		t.Errorf("DS downloaded %q", got)
	}
	if got := eval[string](t, ctx, `document.querySelector("iframe[name=frameEditor]").getAttribute("data-docs-key")`); got != cfg.Document.Key {
		t.Errorf("editor frame for key %q, want %q", got, cfg.Document.Key)
	}
}

// The compare page shows the file in both styles: the Docs API editor first, holding
// the lock, then the WOPI editor, which DS opens read-only.
func TestBrowserComparePageShowsBothStyles(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("compare.docx", "side by side")
	ctx := newBrowser(t)
	launch := launchToken(t, "carol", nil)
	inBrowser(t, ctx, "open the compare page",
		chromedp.Navigate(pageURL(e.p.URL, "/compare/"+f.ID, url.Values{"launch": {launch}})))
	if n := eval[int](t, ctx, `document.querySelectorAll("iframe").length`); n != 2 {
		t.Fatalf("%d frames on the compare page", n)
	}

	// First frame: the Docs API page; DS gets its config, the editor joins (status 1)
	// and the bridge takes the lock.
	raw, err := e.ds.WaitEditorConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := e.ds.OpenDocs(ctx, raw, docserver.User{})
	if err != nil {
		t.Fatalf("DS opening the first frame's config: %v", err)
	}
	if ed.View() {
		t.Fatal("the first editor opened read-only")
	}
	e.reply(ed.Key(), docserver.StatusEditing)
	if src := eval[string](t, ctx, `document.getElementById("second").getAttribute("src") || ""`); src != "" {
		t.Fatalf("the second frame loaded (%s) before the first editor was ready", src)
	}
	screenshot(t, ctx, "compare-waiting")
	// The editor reports ready, as api.js does through config.events.onDocumentReady;
	// the page then opens the second frame.
	inBrowser(t, ctx, "the first editor reports ready", chromedp.Evaluate[chromedp.Void](
		`document.getElementById("first").contentWindow.__docsEditorConfig.events.onDocumentReady()`))

	// Second frame: the WOPI host page; DS's LOCK gets 409 and it opens for view.
	post := e.wait(ctx, "the second frame's form POST at DS", e.hostFormPost(f.ID))
	lock := e.wait(ctx, "DS's LOCK", docserver.Match{Type: docserver.Reply, Op: docserver.OpLock}.Fn())
	if lock.Reply == nil || lock.Reply.StatusCode != http.StatusConflict {
		t.Fatalf("LOCK while the Docs API session holds the file answered %+v, want 409", lock.Reply)
	}
	e.wait(ctx, "DS falling back to view", docserver.Match{Type: docserver.ViewFallback}.Fn())
	sess, err := e.ds.WaitWOPISession(ctx, usidOf(t, post))
	if err != nil {
		t.Fatal(err)
	}
	if sess.Mode() != "view" || !sess.ForcedView() {
		t.Errorf("second editor: mode %s forced view %v, want view", sess.Mode(), sess.ForcedView())
	}
	if got := string(sess.Content()); got != "side by side" {
		t.Errorf("second editor shows %q", got)
	}

	// Under the editors, the file's timeline: carol's Docs API session holds the file,
	// which is why the WOPI editor's LOCK was refused.
	inBrowser(t, ctx, "mark the window", chromedp.Evaluate[chromedp.Void](`window.__timelineMarked = true`))
	st := waitTimeline(t, ctx, "the WOPI editor's lock conflict, live", func(s timelineState) bool {
		return s.State == "live" && s.rowWith("WOPI", "lock conflict", "held by carol (Docs API") != ""
	})
	if !strings.HasPrefix(st.Holder, "Held by carol (Docs API, session ") || st.rowWith("Docs API", "joined", "carol") == "" {
		t.Errorf("compare page timeline: holder %q, rows %v", st.Holder, st.Rows)
	}
	screenshot(t, ctx, "compare")
	// DS saves while the page is open: the save appears under the editors.
	if err := ed.Edit([]byte("saved from the compare page")); err != nil {
		t.Fatal(err)
	}
	if err := ed.Forcesave(); err != nil {
		t.Fatal(err)
	}
	e.reply(ed.Key(), docserver.StatusForceSave)
	st = waitTimeline(t, ctx, "the forcesave's save", func(s timelineState) bool {
		seq := s.rowWith("Docs API", "save saved", "DS status 6")
		return seq != "" && strings.Contains(s.Marks[seq], "wb-outcome-saved")
	})
	if st.Reloads != 0 {
		t.Error("the compare page reloaded")
	}
	screenshot(t, ctx, "compare-saved")
}

// The index page lists an uploaded file, and its links open the editors; upload and
// "new blank document" work from the page.
func TestBrowserIndexPage(t *testing.T) {
	e := newDocsEnv(t)
	ctx := newBrowser(t)
	launch := launchToken(t, "dora", jwt.MapClaims{"name": "Dora Index"})
	index := pageURL(e.p.URL, "/", url.Values{"launch": {launch}})
	inBrowser(t, ctx, "open the index page", chromedp.Navigate(index))
	if got := eval[int](t, ctx, `document.querySelectorAll("tr.file").length`); got != 0 {
		t.Fatalf("%d files listed in an empty storage", got)
	}

	// Upload through the page's form.
	doc := filepath.Join(t.TempDir(), "uploaded notes.docx")
	if err := os.WriteFile(doc, []byte("uploaded from the browser"), 0o600); err != nil {
		t.Fatal(err)
	}
	row := `tr.file[data-name="uploaded notes.docx"]`
	inBrowser(t, ctx, "upload a file",
		chromedp.SetUploadFiles(chromedp.CSS(`#upload input[type=file]`), []string{doc}),
		chromedp.Click(chromedp.CSS(`#upload button`)),
		chromedp.WaitVisible(chromedp.CSS(row)),
	)
	if got := string(e.p.read("uploaded notes.docx")); got != "uploaded from the browser" {
		t.Fatalf("stored %q", got)
	}
	id := eval[string](t, ctx, `document.querySelector('`+row+`').dataset.id`)
	size := eval[string](t, ctx, `document.querySelector('`+row+` td.num').textContent`)
	if id == "" || size != "25 B" {
		t.Errorf("row: id %q size %q", id, size)
	}
	screenshot(t, ctx, "index")

	// Every link carries the launch token; WOPI opens the host page, which reaches DS.
	for _, class := range []string{"docs", "wopi", "view", "compare", "timeline"} {
		href := eval[string](t, ctx, `document.querySelector('`+row+` a.`+class+`').href`)
		u, err := url.Parse(href)
		if err != nil || u.Query().Get("launch") != launch || !strings.Contains(u.Path, "/"+id) {
			t.Errorf("%s link %q", class, href)
		}
	}
	inBrowser(t, ctx, "click WOPI",
		chromedp.Click(chromedp.CSS(row+` a.wopi`)),
		chromedp.WaitReady(chromedp.CSS(`#office_form`)),
	)
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasPrefix(loc, e.p.URL+"/open/"+id+"?") {
		t.Errorf("WOPI link went to %s", loc)
	}
	post := e.wait(ctx, "the host page form POST at DS", e.hostFormPost(id))
	if post.Reply == nil || post.Reply.StatusCode != http.StatusOK {
		t.Fatalf("DS's editor route answered %+v", post.Reply)
	}

	// Back on the index: the Docs API link opens the api.js page.
	inBrowser(t, ctx, "back to the index, click Docs API",
		chromedp.Navigate(index),
		chromedp.Click(chromedp.CSS(row+` a.docs`)),
		chromedp.WaitReady(chromedp.CSS(`iframe[name=frameEditor]`)),
	)
	if _, err := e.ds.WaitEditorConfig(ctx); err != nil {
		t.Fatal(err)
	}

	// New blank document: an empty file, opened in WOPI style, which DS fills from its
	// template before it locks.
	inBrowser(t, ctx, "create a new spreadsheet",
		chromedp.Navigate(index),
		chromedp.SetValue(chromedp.CSS(`#new input[name=name]`), "Budget"),
		chromedp.SetValue(chromedp.CSS(`#new select[name=ext]`), "xlsx"),
		chromedp.Click(chromedp.CSS(`#new button`)),
		chromedp.WaitReady(chromedp.CSS(`#office_form`)),
	)
	var blank apiFile
	waitFor(t, "the new file in the listing", func() bool {
		status, body := e.p.api(http.MethodGet, "/api/v1/files", launch, nil)
		var files []apiFile
		if status != http.StatusOK || json.Unmarshal(body, &files) != nil {
			return false
		}
		for _, f := range files {
			if f.Name == "Budget.xlsx" {
				blank = f
				return true
			}
		}
		return false
	})
	put := e.wait(ctx, "DS's template PutFile", docserver.Match{Type: docserver.Reply, Op: docserver.OpPutFile}.Fn())
	if !put.OK() || !strings.HasPrefix(put.Request.URL, e.p.URL+"/wopi/files/"+blank.ID+"/contents?") {
		t.Fatalf("template PutFile: %s answered %+v", put.Request.URL, put.Reply)
	}
	if got := e.p.read("Budget.xlsx"); len(got) == 0 {
		t.Error("the new document is still empty after DS opened it")
	}
	// A second new document with the same name gets a number.
	inBrowser(t, ctx, "create another one",
		chromedp.Navigate(index),
		chromedp.SetValue(chromedp.CSS(`#new input[name=name]`), "Budget"),
		chromedp.SetValue(chromedp.CSS(`#new select[name=ext]`), "xlsx"),
		chromedp.Click(chromedp.CSS(`#new button`)),
		chromedp.WaitReady(chromedp.CSS(`#office_form`)),
	)
	if _, err := os.Stat(filepath.Join(e.p.Data, "Budget (2).xlsx")); err != nil {
		t.Errorf("second new document: %v", err)
	}
}

// A failed upload says why, on the page.
func TestBrowserIndexUploadError(t *testing.T) {
	e := newDocsEnv(t)
	e.upload("taken.docx", "first")
	ctx := newBrowser(t)
	launch := launchToken(t, "erin", nil)
	doc := filepath.Join(t.TempDir(), "taken.docx")
	if err := os.WriteFile(doc, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	inBrowser(t, ctx, "upload a file whose name is taken",
		chromedp.Navigate(pageURL(e.p.URL, "/", url.Values{"launch": {launch}})),
		chromedp.SetUploadFiles(chromedp.CSS(`#upload input[type=file]`), []string{doc}),
		chromedp.Click(chromedp.CSS(`#upload button`)),
		chromedp.WaitVisible(chromedp.CSS(`#upload-status.error`)),
	)
	msg := eval[string](t, ctx, `document.getElementById("upload-status").textContent`)
	if !strings.Contains(msg, "already exists") {
		t.Errorf("upload error says %q", msg)
	}
	if got := string(e.p.read("taken.docx")); got != "first" {
		t.Errorf("the existing file became %q", got)
	}
}
