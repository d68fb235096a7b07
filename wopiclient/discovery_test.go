package wopiclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const realTemplate = "<rs=DC_LLCC&><dchat=DISABLE_CHAT&><embed=EMBEDDED&><fs=FULLSCREEN&>" +
	"<hid=HOST_SESSION_ID&><rec=RECORDING&><sc=SESSION_CONTEXT&><thm=THEME_ID&><ui=UI_LLCC&>" +
	"<wopisrc=WOPI_SOURCE&>&"

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseTestdata(t testing.TB, name string) *Discovery {
	t.Helper()
	d, err := ParseDiscovery(strings.NewReader(string(readTestdata(t, name))))
	if err != nil {
		t.Fatalf("ParseDiscovery(%s): %v", name, err)
	}
	return d
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestParseDiscoveryReal(t *testing.T) {
	d := parseTestdata(t, "discovery-real.xml")
	if d.NetZone != "external-http" {
		t.Errorf("NetZone = %q, want external-http", d.NetZone)
	}
	actions := 0
	for _, a := range d.Apps {
		actions += len(a.Actions)
	}
	if len(d.Apps) != 59 || actions != 466 {
		t.Errorf("got %d apps, %d actions; want 59, 466", len(d.Apps), actions)
	}
	keys, err := d.ProofKeys()
	if err != nil {
		t.Fatalf("ProofKeys: %v", err)
	}
	for name, k := range map[string]any{"current": keys.Current, "old": keys.Old} {
		k := k.(interface{ Size() int })
		if k.Size() != 256 {
			t.Errorf("%s key is %d bytes, want 256", name, k.Size())
		}
	}
	if keys.Current.E != 65537 || keys.Old.E != 65537 {
		t.Errorf("exponents %d, %d; want 65537", keys.Current.E, keys.Old.E)
	}
	if keys.Current.Equal(keys.Old) {
		t.Error("current and old keys are equal; the capture used two different keys")
	}
	// The PUBLICKEYBLOB in value is the same key as modulus/exponent.
	for _, v := range []struct{ blob, modulus, exponent string }{
		{d.ProofKey.Value, d.ProofKey.Modulus, d.ProofKey.Exponent},
		{d.ProofKey.OldValue, d.ProofKey.OldModulus, d.ProofKey.OldExponent},
	} {
		fromBlob, err := publishedKey("", "", v.blob)
		if err != nil {
			t.Fatal(err)
		}
		fromParts, err := publishedKey(v.modulus, v.exponent, "")
		if err != nil {
			t.Fatal(err)
		}
		if !fromBlob.Equal(fromParts) {
			t.Error("value blob and modulus/exponent differ")
		}
	}
}

func TestDiscoveryLookupsReal(t *testing.T) {
	d := parseTestdata(t, "discovery-real.xml")
	const base = "http://127.0.0.1:8000/hosting/"
	tests := []struct {
		name, ext     string
		wantApp       string
		wantSrc       string // urlsrc without the placeholder template
		wantDefault   bool
		wantRequires  string
		wantTargetExt string
	}{
		{"edit", "docx", "Word", base + "wopi/word/edit?", true, "locks,update", ""},
		{"view", "docx", "Word", base + "wopi/word/view?", false, "", ""},
		{"embedview", "docx", "Word", base + "wopi/word/view?embed=1&", false, "", ""},
		{"mobileEdit", "docx", "Word", base + "wopi/word/edit?mobile=1&", false, "locks,update", ""},
		{"editnew", "docx", "Word", base + "wopi/word/edit?", false, "locks,update", ""},
		{"edit", "xlsx", "Excel", base + "wopi/cell/edit?", true, "locks,update", ""},
		{"editnew", "xlsx", "Excel", base + "wopi/cell/edit?", false, "locks,update", ""},
		{"edit", "pptx", "PowerPoint", base + "wopi/slide/edit?", true, "locks,update", ""},
		{"editnew", "pptx", "PowerPoint", base + "wopi/slide/edit?", false, "locks,update", ""},
		{"edit", "pdf", "Pdf", base + "wopi/pdf/edit?", true, "locks,update", ""},
		{"view", "pdf", "Pdf", base + "wopi/pdf/view?", false, "", ""},
		{"formsubmit", "pdf", "Pdf", base + "wopi/pdf/edit?formsubmit=1&", false, "locks,update", ""},
		{"editnew", "pdf", "Pdf", base + "wopi/pdf/edit?", false, "locks,update", ""},
		{"view", "doc", "Word", base + "wopi/word/view?", true, "", ""},
		{"convert", "doc", "Word", base + "wopi/convert-and-edit/doc/docx?", false, "update", "docx"},
		{"convert", "xls", "Excel", base + "wopi/convert-and-edit/xls/xlsx?", false, "update", "xlsx"},
		{"convert", "ppt", "PowerPoint", base + "wopi/convert-and-edit/ppt/pptx?", false, "update", "pptx"},
		{"edit", "DOCX", "Word", base + "wopi/word/edit?", true, "locks,update", ""},
		{"EDIT", ".docx", "Word", base + "wopi/word/edit?", true, "locks,update", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.ext, func(t *testing.T) {
			a, ok := d.Action(tt.name, tt.ext)
			if !ok {
				t.Fatal("not found")
			}
			if a.App != tt.wantApp {
				t.Errorf("App = %q, want %q", a.App, tt.wantApp)
			}
			if got := strings.TrimSuffix(a.URLSrc, realTemplate); got != tt.wantSrc {
				t.Errorf("urlsrc = %q, want %q + template", a.URLSrc, tt.wantSrc)
			}
			if a.Default != tt.wantDefault {
				t.Errorf("Default = %v, want %v", a.Default, tt.wantDefault)
			}
			if got := strings.Join(a.Requires, ","); got != tt.wantRequires {
				t.Errorf("Requires = %q, want %q", got, tt.wantRequires)
			}
			if a.TargetExt != tt.wantTargetExt {
				t.Errorf("TargetExt = %q, want %q", a.TargetExt, tt.wantTargetExt)
			}
		})
	}

	for _, missing := range [][2]string{{"edit", "doc"}, {"editnew", "doc"}, {"editnew", "odt"}, {"view", "exe"}, {"getinfo", ""}, {"view", ""}} {
		if a, ok := d.Action(missing[0], missing[1]); ok {
			t.Errorf("Action(%q, %q) = %+v, want none", missing[0], missing[1], a)
		}
	}
	if got := d.Extensions("editnew"); strings.Join(got, ",") != "docx,xlsx,pptx,pdf" {
		t.Errorf("Extensions(editnew) = %v, want docx,xlsx,pptx,pdf", got)
	}

	defaults := map[string]string{"docx": "edit", "doc": "view", "xlsx": "edit", "pptx": "edit", "pdf": "edit", "odt": "edit", "DOCX": "edit"}
	for ext, want := range defaults {
		if a, ok := d.DefaultAction(ext); !ok || a.Name != want {
			t.Errorf("DefaultAction(%q) = %q, %v; want %q", ext, a.Name, ok, want)
		}
	}

	const icons = "http://127.0.0.1:8000/web-apps/apps/"
	favs := map[string]string{
		"docx": icons + "documenteditor/main/resources/img/favicon.ico",
		"xlsx": icons + "spreadsheeteditor/main/resources/img/favicon.ico",
		"pptx": icons + "presentationeditor/main/resources/img/favicon.ico",
		"pdf":  icons + "pdfeditor/main/resources/img/favicon.ico",
		"exe":  "",
	}
	for ext, want := range favs {
		if got := d.FavIconURL(ext); got != want {
			t.Errorf("FavIconURL(%q) = %q, want %q", ext, got, want)
		}
	}

	if a, ok := d.AppAction("Capabilities", "getinfo"); !ok || a.URLSrc != base+"capabilities" {
		t.Errorf("AppAction(Capabilities, getinfo) = %+v, %v", a, ok)
	}
	if a, ok := d.AppAction("application/pdf", "edit"); !ok || a.Ext != "" || !strings.HasPrefix(a.URLSrc, base+"wopi/pdf/edit?") {
		t.Errorf("AppAction(application/pdf, edit) = %+v, %v", a, ok)
	}
	if a, ok := d.AppAction("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "edit"); !ok || !a.Default {
		t.Errorf("AppAction(docx MIME, edit) = %+v, %v", a, ok)
	}
}

// Every urlsrc DS publishes resolves to a URL with exactly one WOPISrc and no leftovers.
func TestActionURLAllRealActions(t *testing.T) {
	d := parseTestdata(t, "discovery-real.xml")
	const src = "https://bridge.example/wopi/files/f1"
	params := map[string]string{PlaceholderUILLCC: "de-DE", PlaceholderThemeID: "2"}
	public := mustURL(t, "https://docs.example.com")
	n := 0
	for _, app := range d.Apps {
		for _, a := range app.Actions {
			n++
			got, err := a.URL(src, params, public)
			if err != nil {
				t.Fatalf("%s %s/%s: %v", app.Name, a.Name, a.Ext, err)
			}
			u, err := url.Parse(got)
			if err != nil {
				t.Fatalf("%s: %v", got, err)
			}
			q := u.Query()
			if u.Host != "docs.example.com" || u.Scheme != "https" {
				t.Errorf("%s: origin not rewritten", got)
			}
			if strings.ContainsAny(got, "<>") || strings.Contains(got, "&&") || strings.HasSuffix(got, "&") {
				t.Errorf("%s: template leftovers", got)
			}
			if len(q["WOPISrc"]) != 1 || q.Get("WOPISrc") != src || len(q["wopisrc"]) != 0 {
				t.Errorf("%s: WOPISrc = %v", got, q)
			}
			if a.Name != "getinfo" && (q.Get("ui") != "de-DE" || q.Get("thm") != "2") {
				t.Errorf("%s: placeholders not filled", got)
			}
		}
	}
	if n != 466 {
		t.Errorf("resolved %d actions, want 466", n)
	}
}

func TestActionURL(t *testing.T) {
	d := parseTestdata(t, "discovery-real.xml")
	edit, _ := d.Action("edit", "docx")
	embed, _ := d.Action("embedview", "docx")
	convert, _ := d.Action("convert", "doc")
	const src = "http://bridge.local:8080/wopi/files/abc"
	const enc = "http%3A%2F%2Fbridge.local%3A8080%2Fwopi%2Ffiles%2Fabc"
	tests := []struct {
		name   string
		action Action
		params map[string]string
		public string
		want   string
	}{
		{"no params, no rewrite", edit, nil, "",
			"http://127.0.0.1:8000/hosting/wopi/word/edit?WOPISrc=" + enc},
		{"placeholders in template order, values escaped", edit,
			map[string]string{PlaceholderUILLCC: "en-US", PlaceholderThemeID: "2", PlaceholderSessionContext: "a b&c",
				PlaceholderDisableChat: "1", PlaceholderDCLLCC: "", "UNKNOWN": "x", PlaceholderWOPISource: "http://evil/"},
			"https://docs.example.com",
			"https://docs.example.com/hosting/wopi/word/edit?dchat=1&sc=a+b%26c&thm=2&ui=en-US&WOPISrc=" + enc},
		{"fixed query part kept", embed, map[string]string{PlaceholderDisableChat: "1"}, "https://docs.example.com:8443/",
			"https://docs.example.com:8443/hosting/wopi/word/view?embed=1&dchat=1&WOPISrc=" + enc},
		{"public URL with a path prefix", convert, nil, "https://example.com/office/",
			"https://example.com/office/hosting/wopi/convert-and-edit/doc/docx?WOPISrc=" + enc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var public *url.URL
			if tt.public != "" {
				public = mustURL(t, tt.public)
			}
			got, err := tt.action.URL(src, tt.params, public)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestActionURLErrors(t *testing.T) {
	tests := []struct {
		name, urlsrc, wopiSrc string
	}{
		{"empty WOPISrc", "http://ds/hosting/wopi/word/edit?" + realTemplate, ""},
		{"unterminated section", "http://ds/x?<ui=UI_LLCC&", "http://h/wopi/files/1"},
		{"section without =", "http://ds/x?<UI_LLCC&>", "http://h/wopi/files/1"},
		{"stray >", "http://ds/x?a=1>", "http://h/wopi/files/1"},
		{"not http", "javascript:alert(1)?<ui=UI_LLCC&>", "http://h/wopi/files/1"},
		{"relative", "/hosting/wopi/word/edit?", "http://h/wopi/files/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := (Action{Name: "edit", URLSrc: tt.urlsrc}).URL(tt.wopiSrc, nil, nil); err == nil {
				t.Errorf("URL = %q, want an error", got)
			}
		})
	}
}

func TestRewriteOrigin(t *testing.T) {
	tests := []struct{ raw, public, want string }{
		{"http://127.0.0.1:8000/web-apps/apps/documenteditor/main/resources/img/favicon.ico", "https://docs.example.com",
			"https://docs.example.com/web-apps/apps/documenteditor/main/resources/img/favicon.ico"},
		{"http://ds:80/hosting/wopi/word/view?embed=1&WOPISrc=x%2Fy", "https://d.example/ds",
			"https://d.example/ds/hosting/wopi/word/view?embed=1&WOPISrc=x%2Fy"},
		{"http://ds/ds/hosting/x", "https://d.example/ds/", "https://d.example/ds/hosting/x"},
		{"http://ds/a%2Fb?q", "http://pub:81", "http://pub:81/a%2Fb?q"},
	}
	for _, tt := range tests {
		got, err := RewriteOrigin(tt.raw, mustURL(t, tt.public))
		if err != nil || got != tt.want {
			t.Errorf("RewriteOrigin(%q, %q) = %q, %v; want %q", tt.raw, tt.public, got, err, tt.want)
		}
	}
	if _, err := RewriteOrigin("http://ds/x", mustURL(t, "/relative")); err == nil {
		t.Error("relative public origin accepted")
	}
	if _, err := RewriteOrigin("ftp://ds/x", mustURL(t, "https://p")); err == nil {
		t.Error("ftp URL accepted")
	}
}

func TestParseDiscoveryFixture(t *testing.T) {
	d := parseTestdata(t, "discovery-fixture.xml")
	a, ok := d.Action("edit", "docx")
	if !ok || !strings.HasPrefix(a.URLSrc, "https://docs.example.net/hosting/wopi/word/edit?") {
		t.Fatalf("edit docx = %+v, %v", a, ok)
	}
	if _, ok := d.AppAction("Capabilities", "getinfo"); !ok {
		t.Error("no Capabilities/getinfo")
	}
	// The fixture's proof-key values are placeholders: the discovery parses, its keys do not.
	_, err := d.ProofKeys()
	if err == nil || errors.Is(err, ErrNoProofKey) {
		t.Errorf("ProofKeys error = %v, want a parse error", err)
	}
}

func TestParseDiscoveryErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":        "",
		"not XML":      "{\"hello\": 1}",
		"HTML page":    "<html><body>Sign in</body></html>",
		"wrong root":   `<?xml version="1.0"?><discovery><net-zone name="x"/></discovery>`,
		"no net-zone":  `<?xml version="1.0"?><wopi-discovery></wopi-discovery>`,
		"truncated":    `<?xml version="1.0"?><wopi-discovery><net-zone name="x"><app name="Word">`,
		"bad charset":  `<?xml version="1.0" encoding="koi8-r"?><wopi-discovery><net-zone name="x"/></wopi-discovery>`,
		"unclosed tag": `<wopi-discovery><net-zone name="x">`,
	} {
		if _, err := ParseDiscovery(strings.NewReader(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDiscoveryProofKeyVariants(t *testing.T) {
	cur, old := testKey(t, 0), testKey(t, 1)
	info := NewProofKeyInfo(&cur.PublicKey, &old.PublicKey)
	doc := func(pk string) string {
		return `<?xml version="1.0" encoding="utf-8"?><wopi-discovery><net-zone name="external-https">` +
			`<app name="Word" favIconUrl="https://ds/f.ico"><action name="edit" ext="docx" default="true" urlsrc="https://ds/e?"/></app>` +
			`</net-zone>` + pk + `</wopi-discovery>`
	}
	mismatch := info
	mismatch.Value = info.OldValue
	onlyBlob := ProofKeyInfo{Value: info.Value, OldValue: info.OldValue}
	noOld := ProofKeyInfo{Value: info.Value, Modulus: info.Modulus, Exponent: info.Exponent}
	badModulusGoodBlob := info
	badModulusGoodBlob.Modulus = "!!!"
	tests := []struct {
		name    string
		pk      string
		want    ProofKeys
		wantErr error // nil: no error; errAny: any error
	}{
		{"both", info.Element(), ProofKeys{&cur.PublicKey, &old.PublicKey}, nil},
		{"absent", "", ProofKeys{}, ErrNoProofKey},
		{"blob disagrees with modulus", mismatch.Element(), ProofKeys{}, errAny},
		{"blob only", onlyBlob.Element(), ProofKeys{&cur.PublicKey, &old.PublicKey}, nil},
		{"no old key", noOld.Element(), ProofKeys{Current: &cur.PublicKey}, nil},
		{"broken modulus, blob fallback", badModulusGoodBlob.Element(), ProofKeys{&cur.PublicKey, &old.PublicKey}, nil},
		{"even exponent, no blob", ProofKeyInfo{Modulus: info.Modulus, Exponent: "AQAC"}.Element(), ProofKeys{}, errAny},
		{"garbage blob only", ProofKeyInfo{Value: "AAAA"}.Element(), ProofKeys{}, errAny},
		{"empty element", ProofKeyInfo{}.Element(), ProofKeys{}, ErrNoProofKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDiscovery(strings.NewReader(doc(tt.pk)))
			if err != nil {
				t.Fatal(err)
			}
			if d.NetZone != "external-https" {
				t.Errorf("NetZone = %q", d.NetZone)
			}
			got, err := d.ProofKeys()
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("ProofKeys: %v", err)
			case tt.wantErr == errAny && err == nil:
				t.Fatal("ProofKeys: no error")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("ProofKeys error = %v, want %v", err, tt.wantErr)
			}
			if !got.Equal(tt.want) {
				t.Errorf("keys differ from the published ones")
			}
		})
	}
}

var errAny = errors.New("any error")

// fakeDS is a Document Server that serves only /hosting/discovery and counts requests.
type fakeDS struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	status   int
	body     string
	gate     chan struct{} // when not nil, requests wait until it is closed
}

func newFakeDS(t *testing.T, body string) *fakeDS {
	f := &fakeDS{status: http.StatusOK, body: body}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hosting/discovery" {
			http.NotFound(w, r)
			return
		}
		f.requests.Add(1)
		f.mu.Lock()
		status, body, gate := f.status, f.body, f.gate
		f.mu.Unlock()
		if gate != nil {
			<-gate
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeDS) set(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.body = status, body
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 23, 5, 53, 21, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestCache(t *testing.T, base string, clock *fakeClock) *DiscoveryCache {
	t.Helper()
	c, err := NewDiscoveryCache(DiscoveryCacheOptions{URL: base, TTL: time.Hour, RetryInterval: 15 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDiscoveryCacheCachesAndExpires(t *testing.T) {
	ds := newFakeDS(t, string(readTestdata(t, "discovery-real.xml")))
	clock := newFakeClock()
	c := newTestCache(t, ds.URL+"/", clock)
	ctx := context.Background()
	if c.URL() != ds.URL+"/hosting/discovery" {
		t.Errorf("URL() = %q", c.URL())
	}

	d1, err := c.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d1.Action("edit", "docx"); !ok {
		t.Error("fetched discovery has no docx edit")
	}
	clock.Advance(59 * time.Minute)
	d2, err := c.Get(ctx)
	if err != nil || d2 != d1 {
		t.Fatalf("second Get = %p, %v; want the cached %p", d2, err, d1)
	}
	if n := ds.requests.Load(); n != 1 {
		t.Fatalf("%d requests within TTL, want 1", n)
	}
	clock.Advance(2 * time.Minute)
	d3, err := c.Get(ctx)
	if err != nil || d3 == d1 {
		t.Fatalf("Get after TTL = %p, %v; want a new copy", d3, err)
	}
	if n := ds.requests.Load(); n != 2 {
		t.Fatalf("%d requests after TTL, want 2", n)
	}
	st := c.Status()
	if !st.Have || st.Stale || st.LastError != nil || !st.FetchedAt.Equal(clock.Now()) {
		t.Errorf("Status = %+v", st)
	}
}

func TestDiscoveryCacheServesStaleCopy(t *testing.T) {
	ds := newFakeDS(t, string(readTestdata(t, "discovery-fixture.xml")))
	clock := newFakeClock()
	c := newTestCache(t, ds.URL, clock)
	ctx := context.Background()
	good, err := c.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fetchedAt := clock.Now()

	ds.set(http.StatusBadGateway, "down")
	clock.Advance(2 * time.Hour)
	got, err := c.Get(ctx)
	if err != nil || got != good {
		t.Fatalf("Get with DS down = %p, %v; want the last good copy %p and no error", got, err, good)
	}
	if !c.Stale() {
		t.Error("Stale() = false while serving an expired copy")
	}
	st := c.Status()
	var de *DiscoveryError
	if !errors.As(st.LastError, &de) || de.StatusCode != http.StatusBadGateway || !st.FetchedAt.Equal(fetchedAt) {
		t.Errorf("Status = %+v", st)
	}

	// Within RetryInterval the stale copy is served without asking DS again.
	before := ds.requests.Load()
	clock.Advance(10 * time.Second)
	if got, err := c.Get(ctx); err != nil || got != good {
		t.Fatalf("Get = %p, %v", got, err)
	}
	if n := ds.requests.Load(); n != before {
		t.Errorf("DS asked again within the retry interval")
	}

	// Refresh reports the failure, and Get keeps serving the copy.
	if _, err := c.Refresh(ctx); err == nil {
		t.Error("Refresh with DS down: no error")
	}

	// DS is back: after the retry interval the next Get fetches again.
	ds.set(http.StatusOK, string(readTestdata(t, "discovery-fixture.xml")))
	clock.Advance(16 * time.Second)
	fresh, err := c.Get(ctx)
	if err != nil || fresh == good {
		t.Fatalf("Get after recovery = %p, %v; want a fresh copy", fresh, err)
	}
	if c.Stale() || c.Status().LastError != nil {
		t.Errorf("Status after recovery = %+v", c.Status())
	}
}

func TestDiscoveryCacheErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("404 means WOPI disabled", func(t *testing.T) {
		ds := newFakeDS(t, "")
		ds.set(http.StatusNotFound, "Not Found")
		_, err := newTestCache(t, ds.URL, newFakeClock()).Get(ctx)
		var de *DiscoveryError
		if !errors.Is(err, ErrWOPIDisabled) || !errors.As(err, &de) || de.StatusCode != 404 {
			t.Fatalf("err = %v, want ErrWOPIDisabled in a *DiscoveryError", err)
		}
		if !strings.Contains(err.Error(), "wopi.enable") || !strings.Contains(err.Error(), "WOPI_ENABLED") {
			t.Errorf("message %q gives no hint", err)
		}
	})
	t.Run("500 without a copy", func(t *testing.T) {
		ds := newFakeDS(t, "")
		ds.set(http.StatusInternalServerError, "boom")
		_, err := newTestCache(t, ds.URL, newFakeClock()).Get(ctx)
		var de *DiscoveryError
		if !errors.As(err, &de) || de.StatusCode != 500 || errors.Is(err, ErrWOPIDisabled) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not a discovery", func(t *testing.T) {
		ds := newFakeDS(t, "<html>login</html>")
		if _, err := newTestCache(t, ds.URL, newFakeClock()).Get(ctx); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("too large", func(t *testing.T) {
		ds := newFakeDS(t, string(readTestdata(t, "discovery-real.xml")))
		c, err := NewDiscoveryCache(DiscoveryCacheOptions{URL: ds.URL, MaxSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx); err == nil || !strings.Contains(err.Error(), "too large") {
			t.Fatalf("err = %v, want too large", err)
		}
		exact := string(readTestdata(t, "discovery-fixture.xml"))
		ds.set(http.StatusOK, exact)
		c, _ = NewDiscoveryCache(DiscoveryCacheOptions{URL: ds.URL, MaxSize: int64(len(exact))})
		if _, err := c.Get(ctx); err != nil {
			t.Fatalf("document of exactly MaxSize: %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		ds := newFakeDS(t, "")
		ds.Close()
		_, err := newTestCache(t, ds.URL, newFakeClock()).Get(ctx)
		var de *DiscoveryError
		if !errors.As(err, &de) || de.StatusCode != 0 || !strings.Contains(err.Error(), "reachable") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad base URL", func(t *testing.T) {
		for _, u := range []string{"", "ds:8000", "/hosting", "ftp://ds"} {
			if _, err := NewDiscoveryCache(DiscoveryCacheOptions{URL: u}); err == nil {
				t.Errorf("NewDiscoveryCache(%q): no error", u)
			}
		}
	})
}

// runConcurrently starts n calls of f, waits until all are about to call, gives them
// time to join the fetch in flight, releases the gate and waits for them.
func runConcurrently(t *testing.T, ds *fakeDS, n int, f func() (*Discovery, error)) []*Discovery {
	t.Helper()
	gate := make(chan struct{})
	ds.mu.Lock()
	ds.gate = gate
	ds.mu.Unlock()
	var started sync.WaitGroup
	var wg sync.WaitGroup
	out := make([]*Discovery, n)
	errs := make([]error, n)
	started.Add(n)
	for i := range n {
		wg.Go(func() {
			started.Done()
			out[i], errs[i] = f()
		})
	}
	started.Wait()
	time.Sleep(200 * time.Millisecond)
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	return out
}

func TestDiscoveryCacheSingleFlight(t *testing.T) {
	ctx := context.Background()
	for name, call := range map[string]func(*DiscoveryCache) (*Discovery, error){
		"Get":     func(c *DiscoveryCache) (*Discovery, error) { return c.Get(ctx) },
		"Refresh": func(c *DiscoveryCache) (*Discovery, error) { return c.Refresh(ctx) },
	} {
		t.Run(name, func(t *testing.T) {
			ds := newFakeDS(t, string(readTestdata(t, "discovery-real.xml")))
			c := newTestCache(t, ds.URL, newFakeClock())
			got := runConcurrently(t, ds, 50, func() (*Discovery, error) { return call(c) })
			if n := ds.requests.Load(); n != 1 {
				t.Errorf("50 concurrent %s calls made %d requests, want 1", name, n)
			}
			for _, d := range got {
				if d != got[0] {
					t.Fatal("callers got different copies")
				}
			}
		})
	}
}

func TestDiscoveryCacheCallerCancel(t *testing.T) {
	ds := newFakeDS(t, string(readTestdata(t, "discovery-fixture.xml")))
	gate := make(chan struct{})
	ds.mu.Lock()
	ds.gate = gate
	ds.mu.Unlock()
	c := newTestCache(t, ds.URL, newFakeClock())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := c.Get(ctx)
		done <- err
	}()
	for ds.requests.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// The fetch was not cancelled with the caller: once DS answers, the copy is cached.
	close(gate)
	for !c.Status().Have {
		time.Sleep(time.Millisecond)
	}
	if _, err := c.Get(context.Background()); err != nil || ds.requests.Load() != 1 {
		t.Fatalf("Get = %v after %d requests", err, ds.requests.Load())
	}
}
