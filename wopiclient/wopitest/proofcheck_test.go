package wopitest_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/wopibridge/wopibridge/wopiclient"
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// officeApp is a minimal office app: a discovery with one Word edit action pointing at
// its own entry point, which records the forms posted to it.
type officeApp struct {
	*httptest.Server
	mu       sync.Mutex
	cur, old *rsa.PrivateKey
	posts    []url.Values
	query    []url.Values
}

var appKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	var ks []*rsa.PrivateKey
	for range 4 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ks = append(ks, k)
	}
	return ks
})

func newOfficeApp(t *testing.T) *officeApp {
	a := &officeApp{cur: appKeys()[0], old: appKeys()[1]}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		switch r.URL.Path {
		case "/hosting/discovery":
			pk := wopiclient.NewProofKeyInfo(&a.cur.PublicKey, &a.old.PublicKey)
			w.Write([]byte(`<?xml version="1.0" encoding="utf-8"?><wopi-discovery><net-zone name="external-http"><app name="Word">` +
				`<action name="edit" ext="docx" requires="locks,update" urlsrc="` + a.URL + `/hosting/wopi/word/edit?&lt;ui=UI_LLCC&amp;&gt;"/>` +
				`</app></net-zone>` + pk.Element() + `</wopi-discovery>`))
		case "/hosting/wopi/word/edit":
			r.ParseForm()
			a.posts = append(a.posts, r.PostForm)
			a.query = append(a.query, r.URL.Query())
			w.Write([]byte("<html>editor</html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *officeApp) rotate(fresh *rsa.PrivateKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.old, a.cur = a.cur, fresh
}

// client signs with the given keys, as the app's WOPI client does.
func signingClient(keys func() (*rsa.PrivateKey, *rsa.PrivateKey)) *wopiclient.Client {
	hc := wopiclient.NewHTTPClient()
	hc.Transport.(*wopiclient.Transport).Proof = &wopiclient.ProofSigner{Keys: func() (*rsa.PrivateKey, *rsa.PrivateKey, error) {
		c, o := keys()
		return c, o, nil
	}}
	return &wopiclient.Client{HTTP: hc}
}

// A host with proofs required accepts the registered app's signed calls, across a key
// rotation before and after it reloads discovery, and refuses unsigned calls and calls
// signed with a key it does not know, saying why in ProofChecks.
func TestHostRequiresAppProofs(t *testing.T) {
	app := newOfficeApp(t)
	srv := wopitest.NewServer(t)
	if err := srv.RegisterApp(t.Context(), app.URL+"/hosting/discovery", true); err != nil {
		t.Fatal(err)
	}
	id, src := srv.AddFile("a.docx", []byte("x"))
	token := srv.Token(id, "alice", true)
	ctx := t.Context()
	var mu sync.Mutex
	cur, old := app.cur, app.old
	c := signingClient(func() (*rsa.PrivateKey, *rsa.PrivateKey) { mu.Lock(); defer mu.Unlock(); return cur, old })

	if _, err := c.CheckFileInfo(ctx, src, token); err != nil {
		t.Fatalf("signed CheckFileInfo: %v", err)
	}
	// The app rotates: it signs with the new key, and the old one as ProofOld. The
	// host still holds the old discovery, and accepts by X-WOPI-ProofOld.
	fresh := appKeys()[2]
	app.rotate(fresh)
	mu.Lock()
	cur, old = fresh, app.old
	mu.Unlock()
	if err := c.Lock(ctx, src, token, "L"); err != nil {
		t.Fatalf("after the app's rotation, old discovery: %v", err)
	}
	if err := srv.ReloadApp(ctx); err != nil || !srv.AppKeys().Current.Equal(&fresh.PublicKey) {
		t.Fatalf("reload: %v", err)
	}
	if err := c.Unlock(ctx, src, token, "L"); err != nil {
		t.Fatalf("after the host reloaded discovery: %v", err)
	}
	verified, refusals := srv.ProofChecks()
	if verified != 3 || len(refusals) != 0 {
		t.Fatalf("verified %d, refused %v", verified, refusals)
	}

	// Unsigned, and signed with a stranger's key: 500, as OpenCloud answers.
	_, err := (&wopiclient.Client{}).CheckFileInfo(ctx, src, token)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("unsigned call: %v", err)
	}
	stranger := appKeys()[3] // a key the app never published
	_, err = signingClient(func() (*rsa.PrivateKey, *rsa.PrivateKey) { return stranger, stranger }).CheckFileInfo(ctx, src, token)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("call signed with an unknown key: %v", err)
	}
	_, refusals = srv.ProofChecks()
	if len(refusals) != 2 || !strings.Contains(refusals[0], "no proof headers") || !strings.Contains(refusals[1], "does not verify") {
		t.Errorf("refusals %q", refusals)
	}
}

// The host's page posts the form to the action URL from the app's discovery.
func TestHostPageOpensInApp(t *testing.T) {
	app := newOfficeApp(t)
	srv := wopitest.NewServer(t)
	if err := srv.RegisterApp(t.Context(), app.URL+"/hosting/discovery", false); err != nil {
		t.Fatal(err)
	}
	id, src := srv.AddFile("a.docx", []byte("x"))
	token := srv.Token(id, "alice", true)
	page, err := srv.OpenInApp(t.Context(), nil, id, "edit", token, "de-DE")
	if err != nil {
		t.Fatal(err)
	}
	if page.Status != 200 || page.Body != "<html>editor</html>" || !strings.HasPrefix(page.ActionURL, app.URL+"/hosting/wopi/word/edit?ui=de-DE&WOPISrc=") {
		t.Fatalf("page %+v", page)
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	if len(app.posts) != 1 || app.posts[0].Get("access_token") != token || app.posts[0].Get("access_token_ttl") == "" || app.query[0].Get("WOPISrc") != src {
		t.Errorf("posted %v query %v", app.posts, app.query)
	}
	if _, err := srv.OpenInApp(t.Context(), nil, id, "view", token, ""); err == nil {
		t.Error("an action the discovery lacks was posted")
	}
}
