package bridge

import (
	"crypto/rand"
	"crypto/rsa"
	_ "embed"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// discoveryXML is a discovery ONLYOFFICE Docs serves, cut to the Word and Excel apps.
//
//go:embed testdata/discovery.xml
var discoveryXML string

// docsPublic is where browsers reach the fake Document Server in these tests; the fake
// itself writes its urlsrc with the address it was asked on, as DS does.
const docsPublic = "https://docs.example.com"

var (
	keysOnce sync.Once
	keys     [3]*rsa.PrivateKey
)

// testKey returns one of three RSA keys, generated once per test binary.
func testKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	keysOnce.Do(func() {
		for k := range keys {
			var err error
			if keys[k], err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
	})
	return keys[i]
}

// fakeDS serves WOPI discovery as ONLYOFFICE Docs does: urlsrc and favicons with the
// host it was asked on, and the public halves of its proof keys.
type fakeDS struct {
	srv     *httptest.Server
	fetches atomic.Int32

	mu       sync.Mutex
	cur, old *rsa.PrivateKey // nil cur: no <proof-key>
	status   int             // 0: 200
}

func newFakeDS(t testing.TB) *fakeDS {
	t.Helper()
	d := &fakeDS{cur: testKey(t, 0), old: testKey(t, 1)}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *fakeDS) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/hosting/discovery" {
		http.NotFound(w, r)
		return
	}
	d.fetches.Add(1)
	d.mu.Lock()
	cur, old, status := d.cur, d.old, d.status
	d.mu.Unlock()
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	proofKey := ""
	if cur != nil {
		proofKey = wopiclient.NewProofKeyInfo(&cur.PublicKey, &old.PublicKey).Element()
	}
	doc := strings.ReplaceAll(discoveryXML, "{BASE}", "http://"+r.Host)
	doc = strings.ReplaceAll(doc, "{PROOF_KEY}", proofKey)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write([]byte(doc))
}

// setKeys changes the proof keys DS publishes (a restart with new keys); nil cur
// publishes none.
func (d *fakeDS) setKeys(cur, old *rsa.PrivateKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cur, d.old = cur, old
}

// setStatus makes discovery answer with status (0: serve it).
func (d *fakeDS) setStatus(status int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status = status
}

// withDS points the bridge at d, with browsers reaching DS at docsPublic.
func withDS(d *fakeDS, proof config.ProofMode) func(*Options) {
	return func(o *Options) {
		o.Docs.URL, _ = url.Parse(d.srv.URL)
		o.Docs.PublicURL, _ = url.Parse(docsPublic)
		o.Proof = proof
	}
}

// signedWOPI sends a WOPI request signed as DS signs it: X-WOPI-Proof with cur,
// X-WOPI-ProofOld with old (nil: unsigned header left out), at time at.
func (e *testEnv) signedWOPI(method, path, token string, cur, old *rsa.PrivateKey, at time.Time, hdr ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, testPublic+path+"?access_token="+url.QueryEscape(token), nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	signProof(e.t, r, token, cur, old, at)
	return e.serve(r)
}

// signProof sets the proof headers of r for its URL.
func signProof(t testing.TB, r *http.Request, token string, cur, old *rsa.PrivateKey, at time.Time) {
	t.Helper()
	ticks := wopiclient.Ticks(at)
	u := r.URL.String()
	r.Header.Set(wopiclient.HeaderTimeStamp, strconv.FormatInt(ticks, 10))
	for _, h := range []struct {
		name string
		key  *rsa.PrivateKey
	}{{wopiclient.HeaderProof, cur}, {wopiclient.HeaderProofOld, old}} {
		if h.key == nil {
			continue
		}
		sig, err := wopiclient.Sign(h.key, token, u, ticks)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set(h.name, sig)
	}
}

// tagRE and attrRE read the tags of the bridge's own pages, which are plain enough for
// regular expressions.
var (
	tagRE  = regexp.MustCompile(`<([a-z]+)((?:\s+[a-z-]+(?:="[^"]*")?)*)\s*/?>`)
	attrRE = regexp.MustCompile(`([a-z-]+)(?:="([^"]*)")?`)
)

// tag is one start tag of a page.
type tag struct {
	name  string
	attrs map[string]string
}

// tags lists the start tags named name, in order.
func tags(page, name string) []tag {
	var out []tag
	for _, m := range tagRE.FindAllStringSubmatch(page, -1) {
		if m[1] != name {
			continue
		}
		t := tag{name: m[1], attrs: map[string]string{}}
		for _, a := range attrRE.FindAllStringSubmatch(m[2], -1) {
			t.attrs[a[1]] = html.UnescapeString(a[2])
		}
		out = append(out, t)
	}
	return out
}
