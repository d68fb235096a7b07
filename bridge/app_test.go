package bridge

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/bridge/officeapp"
	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/wopiclient"
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// withAppKeys gives the server of e proof keys kept in its state store, in style.
func withAppKeys(t *testing.T, e *upstreamEnv, style config.AppStyle) *officeapp.Keys {
	t.Helper()
	keys, err := officeapp.OpenKeys(officeapp.KeysOptions{State: e.state})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := url.Parse(testPublic)
	e.srv.app = newAppFace(AppOptions{Keys: keys, Style: style}, pub)
	return keys
}

func (e *upstreamEnv) postEntry(target string, form url.Values) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(http.MethodPost, target, strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
}

func TestAppDiscoveryEndpoint(t *testing.T) {
	e := newUpstreamEnv(t)
	w := e.do(http.MethodGet, "/hosting/discovery", nil)
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no office app WOPI hosts can register") {
		t.Errorf("without keys: %d %s", w.Code, w.Body)
	}
	keys := withAppKeys(t, e, "")
	w = e.do(http.MethodGet, "/hosting/discovery", nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/xml; charset=utf-8" {
		t.Fatalf("discovery: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	d, err := wopiclient.ParseDiscovery(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if pk, err := d.ProofKeys(); err != nil || !pk.Equal(appPub(t, keys)) {
		t.Errorf("published keys are not the bridge's (%v)", err)
	}
	a, ok := d.Action("edit", "docx")
	if !ok || !strings.HasPrefix(a.URLSrc, testPublic+"/hosting/wopi/word/edit?") {
		t.Errorf("edit docx: %+v", a)
	}
}

// Bad input to the entry point gets a clear error and reaches no host.
func TestAppEntryRefusals(t *testing.T) {
	e := newUpstreamEnv(t)
	withAppKeys(t, e, "")
	id, src := e.up.AddFile("a.docx", []byte("x"))
	tok := e.up.Token(id, "alice", true)
	form := url.Values{"access_token": {tok}, "access_token_ttl": {strconv.FormatInt(e.up.TokenTTL(tok), 10)}}
	q := "?WOPISrc=" + url.QueryEscape(src)
	for _, tc := range []struct {
		name, target string
		form         url.Values
		status       int
		says         string
	}{
		{"unknown action", "/hosting/wopi/word/print" + q, form, 404, "has no action \"print\""},
		{"no WOPISrc", "/hosting/wopi/word/edit", form, 400, "no WOPISrc in the action URL"},
		{"no token", "/hosting/wopi/word/edit" + q, url.Values{"access_token_ttl": {"1"}}, 401, "no access_token posted"},
		{"bad ttl", "/hosting/wopi/word/edit" + q, url.Values{"access_token": {tok}, "access_token_ttl": {"soon"}}, 400, "access_token_ttl \"soon\" is not a time"},
		{"expired ttl", "/hosting/wopi/word/edit" + q, url.Values{"access_token": {tok}, "access_token_ttl": {"1000"}}, 403, "refused the posted access_token"},
		{"foreign origin", "/hosting/wopi/word/edit?WOPISrc=" + url.QueryEscape("https://elsewhere.example.com/wopi/files/1"), form, 403, "https://elsewhere.example.com, which is not a WOPI host this bridge may call"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.up.Requests())
			w := e.postEntry(tc.target, tc.form)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), strings.ReplaceAll(tc.says, `"`, "&#34;")) {
				t.Errorf("%d %s\nwant %d saying %s", w.Code, w.Body, tc.status, tc.says)
			}
			if n := len(e.up.Requests()); n != before {
				t.Errorf("%d calls reached the host", n-before)
			}
		})
	}
}

var formToken = regexp.MustCompile(`<input name="access_token" value="([^"]+)"`)

// The user, the name and the rights come from the host's CheckFileInfo: edit asked for
// a user the host lets only view opens for view; the page relays to PostMessageOrigin.
func TestAppEntryUserFromHost(t *testing.T) {
	e := newProfileEnv(t, wopitest.Spec)
	withAppKeys(t, e, config.AppStyleWOPI)
	id, src := e.up.AddFile("a.docx", []byte("x"))
	e.up.SetProperties(id, map[string]any{"PostMessageOrigin": "https://host.example.com/some/page", "UserFriendlyName": "Bob B."})
	for _, write := range []bool{true, false} {
		tok := e.up.Token(id, "bob", write)
		w := e.postEntry("/hosting/wopi/word/edit?wopisrc="+url.QueryEscape(src), url.Values{"access_token": {tok}})
		if w.Code != http.StatusOK {
			t.Fatalf("write %v: %d %s", write, w.Code, w.Body)
		}
		m := formToken.FindStringSubmatch(w.Body.String())
		if m == nil {
			t.Fatalf("no form in %s", w.Body)
		}
		at, err := e.srv.tokens.verify(m[1])
		if err != nil {
			t.Fatal(err)
		}
		want := modeView
		if write {
			want = modeEdit
		}
		if at.User != "bob" || at.Name != "Bob B." || at.Mode != want {
			t.Errorf("write %v: token for %q (%q) mode %s, want bob (Bob B.) %s", write, at.User, at.Name, at.Mode, want)
		}
		if !strings.Contains(w.Body.String(), `var hostOrigin = "https://host.example.com"`) {
			t.Errorf("the page does not relay to the host's origin:\n%s", w.Body)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "; frame-ancestors 'self' "+e.up.URL+" https://host.example.com;") {
			t.Errorf("CSP %q", csp)
		}
	}
}

// A bridge over its own directory publishes its discovery but opens nothing a host
// posts: the documents it serves are its own.
func TestAppEntryNeedsWOPIStorage(t *testing.T) {
	e := newEnv(t)
	keys, err := officeapp.OpenKeys(officeapp.KeysOptions{State: e.state})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := url.Parse(testPublic)
	e.srv.app = newAppFace(AppOptions{Keys: keys}, pub)
	form := url.Values{"access_token": {"t"}}
	w := e.do(http.MethodPost, "/hosting/wopi/word/edit?WOPISrc="+url.QueryEscape("https://host.example.com/wopi/files/1"),
		strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "set WOPIBRIDGE_STORAGE=wopi:") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

func appPub(t testing.TB, k *officeapp.Keys) wopiclient.ProofKeys {
	t.Helper()
	p, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
