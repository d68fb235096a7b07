package bridge

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// hostPage is what a test reads from a WOPI host page.
type hostPage struct {
	body      string
	form      tag
	inputs    map[string]string
	iframe    tag
	token     accessToken
	actionURL string
}

// readHostPage checks the fixed shape of a WOPI host page and returns its parts.
func (e *testEnv) readHostPage(t *testing.T, w *httptest.ResponseRecorder) hostPage {
	t.Helper()
	wantStatus(t, w, http.StatusOK)
	p := hostPage{body: w.Body.String(), inputs: map[string]string{}}
	if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	if rp := w.Header().Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy = %q", rp)
	}
	forms := tags(p.body, "form")
	if len(forms) != 1 {
		t.Fatalf("%d forms in\n%s", len(forms), p.body)
	}
	p.form = forms[0]
	frames := tags(p.body, "iframe")
	if len(frames) != 1 {
		t.Fatalf("%d iframes in\n%s", len(frames), p.body)
	}
	p.iframe = frames[0]
	for _, in := range tags(p.body, "input") {
		if in.attrs["type"] != "hidden" {
			t.Errorf("input %v is not hidden", in.attrs)
		}
		p.inputs[in.attrs["name"]] = in.attrs["value"]
	}
	if got := p.form.attrs["method"]; got != "post" {
		t.Errorf("form method = %q", got)
	}
	if p.form.attrs["target"] == "" || p.form.attrs["target"] != p.iframe.attrs["name"] {
		t.Errorf("form target %q, iframe name %q", p.form.attrs["target"], p.iframe.attrs["name"])
	}
	for name, want := range map[string]string{"sandbox": editorSandbox, "allow": editorAllow, "allowfullscreen": "true"} {
		if got := p.iframe.attrs[name]; got != want {
			t.Errorf("iframe %s = %q, want %q", name, got, want)
		}
	}
	if len(p.inputs) != 2 {
		t.Errorf("inputs = %v, want access_token and access_token_ttl", p.inputs)
	}
	tok, err := e.srv.tokens.verify(p.inputs["access_token"])
	if err != nil {
		t.Fatalf("access_token: %v", err)
	}
	p.token = tok
	if ttl := p.inputs["access_token_ttl"]; ttl != strconv.FormatInt(tok.Exp, 10) {
		t.Errorf("access_token_ttl = %q, token expires %d", ttl, tok.Exp)
	}
	p.actionURL = p.form.attrs["action"]
	var viewport bool
	for _, m := range tags(p.body, "meta") {
		viewport = viewport || m.attrs["name"] == "viewport"
	}
	if !viewport {
		t.Error("no viewport meta tag")
	}
	for _, want := range []string{
		`var docsOrigin = "` + docsPublic + `"`,
		"e.origin !== docsOrigin",
		`"App_LoadingStatus"`, `"UI_Close"`, `"UI_Edit"`, `"File_Rename"`, `"Edit_Notification"`, "Host_PostmessageReady",
		`document.getElementById("office_form").submit()`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("host page lacks %s", want)
		}
	}
	return p
}

func TestWOPIHostPage(t *testing.T) {
	e := newEnv(t, withLaunchSecret, withDS(newFakeDS(t), config.ProofOff))
	legacy := e.createFile("old.doc", "binary")
	launch := func(claims jwt.MapClaims) string {
		return url.QueryEscape(e.launch(jwt.SigningMethodHS256, launchSecret, claims))
	}
	page := func(id, query string, claims jwt.MapClaims, hdr ...string) *httptest.ResponseRecorder {
		return e.do(http.MethodGet, "/open/"+id+"?style=wopi&launch="+launch(claims)+query, nil, hdr...)
	}

	t.Run("edit", func(t *testing.T) {
		p := e.readHostPage(t, page(e.file.ID, "", jwt.MapClaims{"lang": "fr-FR"}))
		wantAction := docsPublic + "/hosting/wopi/word/edit?rs=fr-FR&ui=fr-FR&WOPISrc=" + url.QueryEscape(e.srv.wopiSrc(e.file.ID))
		if p.actionURL != wantAction {
			t.Errorf("form action = %q, want %q", p.actionURL, wantAction)
		}
		if p.token.Mode != modeEdit || p.token.File != e.file.ID || p.token.User != "u-1" {
			t.Errorf("token = %+v", p.token)
		}
		icons := tags(p.body, "link")
		if len(icons) != 1 || icons[0].attrs["href"] != docsPublic+"/web-apps/apps/documenteditor/main/resources/img/favicon.ico" {
			t.Errorf("favicon links = %v", icons)
		}
		if !strings.Contains(p.body, `<html lang="fr-FR">`) || !strings.Contains(p.body, "<title>doc.docx</title>") {
			t.Errorf("lang or title missing")
		}
		if !strings.Contains(p.body, `var editURL = ""`) {
			t.Error("an edit page offers to switch to edit")
		}
	})
	t.Run("view with the right to edit", func(t *testing.T) {
		p := e.readHostPage(t, page(e.file.ID, "&action=view", nil, "Accept-Language", "it-IT,it;q=0.9"))
		if !strings.HasPrefix(p.actionURL, docsPublic+"/hosting/wopi/word/view?rs=it-IT&ui=it-IT&") {
			t.Errorf("form action = %q", p.actionURL)
		}
		if p.token.Mode != modeView {
			t.Errorf("token mode %s", p.token.Mode)
		}
		// UI_Edit switches this page to action=edit, keeping the credential.
		if !strings.Contains(p.body, `var editURL = "`+testPublic+`/open/`+e.file.ID+`?action=edit\u0026launch=`) {
			t.Errorf("no edit URL in\n%s", p.body)
		}
	})
	t.Run("view token", func(t *testing.T) {
		p := e.readHostPage(t, page(e.file.ID, "", jwt.MapClaims{"mode": "view"}))
		if !strings.Contains(p.actionURL, "/hosting/wopi/word/view?") || p.token.Mode != modeView {
			t.Errorf("action %q, token %+v", p.actionURL, p.token)
		}
		if !strings.Contains(p.body, `var editURL = ""`) {
			t.Error("a view-only user is offered edit")
		}
	})
	t.Run("edit of a binary format converts", func(t *testing.T) {
		p := e.readHostPage(t, page(legacy, "&action=edit", nil))
		if !strings.HasPrefix(p.actionURL, docsPublic+"/hosting/wopi/convert-and-edit/doc/docx?") || p.token.Mode != modeEdit {
			t.Errorf("action %q, token %+v", p.actionURL, p.token)
		}
		if p.inputs["access_token_ttl"] == "0" {
			t.Error("convert-and-edit needs a non-zero access_token_ttl")
		}
	})
	t.Run("binary format opens for view by default", func(t *testing.T) {
		p := e.readHostPage(t, page(legacy, "", nil))
		if !strings.Contains(p.actionURL, "/hosting/wopi/word/view?") {
			t.Errorf("action %q", p.actionURL)
		}
	})

	errorCases := []struct {
		name  string
		id    string
		query string
		want  int
	}{
		{"unknown action", e.file.ID, "&action=print", http.StatusBadRequest},
		{"unknown file", "nope", "", http.StatusNotFound},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			w := page(tc.id, tc.query, nil)
			wantStatus(t, w, tc.want)
			if !strings.Contains(w.Body.String(), "<h1>") {
				t.Errorf("not an HTML error page: %s", w.Body.String())
			}
		})
	}
	t.Run("no launch token", func(t *testing.T) {
		wantStatus(t, e.do(http.MethodGet, "/open/"+e.file.ID+"?style=wopi", nil), http.StatusUnauthorized)
	})
}

func TestWOPIHostPageWithoutDocumentServer(t *testing.T) {
	e := newEnv(t)
	w := e.do(http.MethodGet, "/open/"+e.file.ID+"?style=wopi", nil)
	wantStatus(t, w, http.StatusServiceUnavailable)
	if !strings.Contains(w.Body.String(), "WOPIBRIDGE_DOCS_URL") {
		t.Errorf("body = %s", w.Body.String())
	}
}

func TestComparePage(t *testing.T) {
	e := newEnv(t, withLaunchSecret, withDS(newFakeDS(t), config.ProofOff))
	launch := e.launch(jwt.SigningMethodHS256, launchSecret, nil)
	open := func(style string) string {
		return testPublic + "/open/" + e.file.ID + "?" + url.Values{"launch": {launch}, "style": {style}}.Encode()
	}
	tests := []struct {
		query         string
		first, second string
	}{
		{"", "docs", "wopi"},
		{"&first=docs", "docs", "wopi"},
		{"&first=wopi", "wopi", "docs"},
	}
	for _, tc := range tests {
		t.Run("query "+tc.query, func(t *testing.T) {
			w := e.do(http.MethodGet, "/compare/"+e.file.ID+"?launch="+url.QueryEscape(launch)+tc.query, nil)
			wantStatus(t, w, http.StatusOK)
			frames := tags(w.Body.String(), "iframe")
			if len(frames) != 2 {
				t.Fatalf("%d iframes", len(frames))
			}
			if got := frames[0].attrs["src"]; got != open(tc.first) {
				t.Errorf("first iframe src = %q, want %q", got, open(tc.first))
			}
			// The second opens once the first is ready (and holds the lock).
			if got := frames[1].attrs["data-src"]; got != open(tc.second) || frames[1].attrs["src"] != "" {
				t.Errorf("second iframe src %q data-src %q, want data-src %q", frames[1].attrs["src"], got, open(tc.second))
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		wantStatus(t, e.do(http.MethodGet, "/compare/"+e.file.ID+"?launch="+url.QueryEscape(launch)+"&first=both", nil), http.StatusBadRequest)
		wantStatus(t, e.do(http.MethodGet, "/compare/nope?launch="+url.QueryEscape(launch), nil), http.StatusNotFound)
		wantStatus(t, e.do(http.MethodGet, "/compare/"+e.file.ID, nil), http.StatusUnauthorized)
		other := e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"file": "another"})
		wantStatus(t, e.do(http.MethodGet, "/compare/"+e.file.ID+"?launch="+url.QueryEscape(other), nil), http.StatusForbidden)
	})
}

// The Docs API page tells an embedding page (the compare page) when its editor is up.
func TestDocsPageTellsParentWhenReady(t *testing.T) {
	e := newEnv(t, withDS(newFakeDS(t), config.ProofOff))
	w := e.do(http.MethodGet, "/open/"+e.file.ID+"?style=docs", nil)
	wantStatus(t, w, http.StatusOK)
	if !strings.Contains(w.Body.String(), `onDocumentReady`) || !strings.Contains(w.Body.String(), `wopibridge: "ready"`) {
		t.Errorf("docs page:\n%s", w.Body.String())
	}
}

func TestHostLinks(t *testing.T) {
	e := newEnv(t, withLaunchSecret, withDS(newFakeDS(t), config.ProofOff))
	cfi := func(token string) wopiclient.CheckFileInfo {
		w := e.wopi(http.MethodGet, e.filePath(e.file.ID), token, nil)
		wantStatus(t, w, http.StatusOK)
		return decodeJSON[wopiclient.CheckFileInfo](t, w)
	}
	get := func(u string) *httptest.ResponseRecorder {
		t.Helper()
		if !strings.HasPrefix(u, testPublic+"/open/") {
			t.Fatalf("not a host page URL: %q", u)
		}
		return e.do(http.MethodGet, strings.TrimPrefix(u, testPublic), nil)
	}

	edit := cfi(e.token)
	// A session from elsewhere (the launch API): the editor keeps its own behaviour.
	if edit.ClosePostMessage || edit.EditModePostMessage || edit.EditNotificationPostMessage || edit.PostMessageOrigin != testPublic {
		t.Errorf("PostMessage settings of an API session: %+v", edit)
	}
	t.Run("HostEditUrl opens for edit without a launch token", func(t *testing.T) {
		p := e.readHostPage(t, get(edit.HostEditURL))
		if !strings.Contains(p.actionURL, "/hosting/wopi/word/edit?") || p.token.Mode != modeEdit || p.token.User != "u-1" || p.token.Name != "Ada" {
			t.Errorf("action %q, token %+v", p.actionURL, p.token)
		}
		// The session ends when the access token the link came from does.
		if p.token.Exp > e.clock.Now().Add(time.Hour).UnixMilli() {
			t.Errorf("token from a link lives until %d, past the original token", p.token.Exp)
		}
		// The host page's session: the editor posts close, edit and edit notifications to it.
		c := cfi(p.inputs["access_token"])
		if !c.ClosePostMessage || !c.EditModePostMessage || !c.EditNotificationPostMessage || c.PostMessageOrigin != testPublic {
			t.Errorf("PostMessage settings of a host page session: %+v", c)
		}
	})
	t.Run("HostViewUrl", func(t *testing.T) {
		p := e.readHostPage(t, get(edit.HostViewURL))
		if !strings.Contains(p.actionURL, "/hosting/wopi/word/view?") || p.token.Mode != modeView {
			t.Errorf("action %q, token %+v", p.actionURL, p.token)
		}
	})
	view := cfi(e.mint(e.file.ID, modeView))
	t.Run("a view token's links", func(t *testing.T) {
		if view.HostEditURL != "" {
			t.Errorf("HostEditUrl for a view token: %q", view.HostEditURL)
		}
		tampered := strings.Replace(view.HostViewURL, "action=view", "action=edit", 1)
		wantStatus(t, get(tampered), http.StatusForbidden)
	})
	t.Run("a link for another file", func(t *testing.T) {
		other := e.createFile("other.docx", "x")
		u := strings.Replace(edit.HostEditURL, "/open/"+e.file.ID, "/open/"+other, 1)
		wantStatus(t, get(u), http.StatusForbidden)
	})
	t.Run("a tampered link", func(t *testing.T) {
		u, _ := url.Parse(edit.HostEditURL)
		q := u.Query()
		q.Set("link", q.Get("link")+"x")
		u.RawQuery = q.Encode()
		wantStatus(t, get(u.String()), http.StatusUnauthorized)
	})
	t.Run("links open host pages only", func(t *testing.T) {
		u, _ := url.Parse(edit.HostEditURL)
		w := e.do(http.MethodGet, "/compare/"+e.file.ID+"?link="+url.QueryEscape(u.Query().Get("link")), nil)
		wantStatus(t, w, http.StatusUnauthorized)
	})
	t.Run("links are not logged", func(t *testing.T) {
		if !strings.Contains(e.logs.String(), "link=***") {
			t.Errorf("link not scrubbed from the log")
		}
	})
	t.Run("an expired link", func(t *testing.T) {
		e.clock.Add(hostLinkTTL + time.Second)
		w := get(edit.HostEditURL)
		wantStatus(t, w, http.StatusUnauthorized)
		if !strings.Contains(w.Body.String(), "expired") {
			t.Errorf("body = %s", w.Body.String())
		}
	})
}

// ONLYOFFICE's convert-and-edit: PutRelativeFile of the converted copy, then the browser
// goes to the reply's HostEditUrl, which must open the new file for edit.
func TestConvertAndEditHostEditURL(t *testing.T) {
	e := newEnv(t, withLaunchSecret, withDS(newFakeDS(t), config.ProofOff))
	legacy := e.createFile("report.doc", "binary")
	token := e.mint(legacy, modeEdit)
	w := e.wopi(http.MethodPost, e.filePath(legacy), token, strings.NewReader("converted"),
		"X-WOPI-Override", "PUT_RELATIVE",
		"X-WOPI-SuggestedTarget", ".docx",
		"X-WOPI-FileConversion", "true")
	wantStatus(t, w, http.StatusOK)
	reply := decodeJSON[newFileReply](t, w)
	if reply.Name != "report.docx" || reply.HostEditURL == "" {
		t.Fatalf("reply = %+v", reply)
	}
	p := e.readHostPage(t, e.do(http.MethodGet, strings.TrimPrefix(reply.HostEditURL, testPublic), nil))
	if !strings.Contains(p.actionURL, "/hosting/wopi/word/edit?") || p.token.Mode != modeEdit || p.token.File == legacy {
		t.Errorf("action %q, token %+v", p.actionURL, p.token)
	}
	if got := e.content(p.token.File); got != "converted" {
		t.Errorf("new file holds %q", got)
	}
}

func FuzzHostLink(f *testing.F) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	c := newLinkCodec([]byte("secret"), clock.Now)
	exp := clock.Now().Add(time.Hour).UnixMilli()
	valid := c.sign(hostLink{User: "u", Name: "U", Mode: modeEdit, File: "f", Exp: exp, Until: exp})
	f.Add(valid)
	f.Add("INVALID")
	f.Add(".")
	f.Add(valid[:len(valid)-1])
	f.Add(valid + "A")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := c.user(raw, "f")
		if err != nil {
			if !errors.Is(err, errUnauthenticated) && !errors.Is(err, errForbidden) {
				t.Fatalf("error %v is neither errUnauthenticated nor errForbidden", err)
			}
			if len(raw) > 8 && strings.Contains(err.Error(), raw) {
				t.Fatalf("error repeats the link")
			}
			return
		}
		want := launchUser{Sub: "u", Name: "U", File: "f", Mode: modeEdit, Until: exp}
		if u != want {
			t.Fatalf("verified forged claims %+v from %q", u, raw)
		}
	})
}

func TestCleanLang(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"en", "en"}, {"de-DE", "de-DE"}, {"pt_BR", "pt_BR"}, {"zh-Hans-CN", "zh-Hans-CN"},
		{"", ""}, {"e", ""}, {"en-US&x=1", ""}, {"<script>", ""}, {" fr ", "fr"},
	} {
		if got := cleanLang(tc.in); got != tc.want {
			t.Errorf("cleanLang(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := acceptLanguage("it-IT,it;q=0.9,en;q=0.8"); got != "it-IT" {
		t.Errorf("acceptLanguage = %q", got)
	}
	if got := acceptLanguage("*"); got != "" {
		t.Errorf("acceptLanguage(*) = %q", got)
	}
}
