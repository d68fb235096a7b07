package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// discoveryFixture is the discovery the simulated Document Server serves, written for
// its captured base URL.
const (
	discoveryFixture = "docserver/testdata/discovery.xml"
	fixtureBase      = "http://127.0.0.1:8000"
)

var proofKeyElement = regexp.MustCompile(`<proof-key [^>]*/>`)

// wopiTestApp is the app Office Online's discovery lists for the WOPI validator's
// .wopitest files; ONLYOFFICE Docs has none, so the validator runs add it.
const wopiTestApp = `<app name="WopiTest" favIconUrl="BASE/favicon.ico">` +
	`<action name="view" ext="wopitest" default="true" urlsrc="BASE/hosting/wopitest/view?&lt;ui=UI_LLCC&amp;&gt;&lt;testcategory=VALIDATOR_TEST_CATEGORY&amp;&gt;"/>` +
	`<action name="edit" ext="wopitest" requires="locks,update" urlsrc="BASE/hosting/wopitest/edit?&lt;ui=UI_LLCC&amp;&gt;&lt;testcategory=VALIDATOR_TEST_CATEGORY&amp;&gt;"/>` +
	`</app>`

// discoveryServer serves WOPI discovery, and nothing else, as ONLYOFFICE Docs writes it
// (urlsrc with the host it was asked on), with the WopiTest app and the public halves
// of cur and old as proof keys (no <proof-key> when cur is nil).
type discoveryServer struct {
	*httptest.Server
	fetches atomic.Int32
}

func newDiscoveryServer(t *testing.T, cur, old *rsa.PublicKey) *discoveryServer {
	t.Helper()
	raw, err := os.ReadFile(discoveryFixture)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(raw), "</net-zone>", wopiTestApp+"</net-zone>", 1)
	proofKey := ""
	if cur != nil {
		proofKey = wopiclient.NewProofKeyInfo(cur, old).Element()
	}
	doc = proofKeyElement.ReplaceAllLiteralString(doc, proofKey)
	d := &discoveryServer{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hosting/discovery" {
			http.NotFound(w, r)
			return
		}
		d.fetches.Add(1)
		base := "http://" + r.Host
		body := strings.ReplaceAll(strings.ReplaceAll(doc, fixtureBase, base), "BASE/", base+"/")
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(d.Close)
	return d
}

// newProofKey generates an RSA key and writes it as PEM into dir; it returns both.
func newProofKey(t *testing.T, dir, name string) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return k, path
}
