package officeapp

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/wopiclient"
)

func openState(t *testing.T) state.Store {
	t.Helper()
	st, err := state.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Generated keys are made once and kept in the store: a second server (a replica, or
// the same one restarted) gets the same ones; a rotation makes the current key the old
// one, and a server that reads the store again signs with the new current key.
func TestKeysGeneratedKeptAndRotated(t *testing.T) {
	st := openState(t)
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a, err := OpenKeys(KeysOptions{State: st, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := load(st); rec != nil || err != nil {
		t.Fatalf("a key was made before its first use (%v)", err)
	}
	b, err := OpenKeys(KeysOptions{State: st, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	first := pub(t, a)
	if !first.Equal(pub(t, b)) || !first.Current.Equal(first.Old) || first.Current.N.BitLen() < KeyBits {
		t.Fatalf("two openings of one store: %v and %v", first, pub(t, b))
	}

	rotated, err := Rotate(st, now)
	if err != nil {
		t.Fatal(err)
	}
	if !rotated.Old.Equal(first.Current) || rotated.Current.Equal(first.Current) {
		t.Fatalf("after rotation: old is the previous current %v, current is new %v",
			rotated.Old.Equal(first.Current), !rotated.Current.Equal(first.Current))
	}
	// Until its reload interval passes, a server keeps the keys it has ...
	if !pub(t, a).Equal(first) {
		t.Errorf("keys changed before the reload interval")
	}
	// ... then takes up the rotation.
	now = now.Add(DefaultReloadEvery)
	if got := pub(t, a); !got.Equal(rotated) {
		t.Errorf("after the reload interval: %v, want the rotated keys", got)
	}
	if err := b.Reload(); err != nil || !pub(t, b).Equal(rotated) {
		t.Errorf("Reload: %v, keys %v", err, pub(t, b))
	}
	cur, old, _ := a.Pair()
	if cur.N.BitLen() < KeyBits || old.N.BitLen() < KeyBits {
		t.Errorf("key sizes %d, %d", cur.N.BitLen(), old.N.BitLen())
	}
}

// Two servers starting at once on one store end up with one key.
func TestKeysCreatedOnce(t *testing.T) {
	st := openState(t)
	var wg sync.WaitGroup
	got := make([]wopiclient.ProofKeys, 2)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := OpenKeys(KeysOptions{State: st})
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = pub(t, k)
		}()
	}
	wg.Wait()
	if got[0].Current == nil || !got[0].Equal(got[1]) {
		t.Errorf("concurrent starts got different keys")
	}
}

func writeKey(t *testing.T, dir, name string, bits int, pkcs1 bool) (string, *rsa.PrivateKey) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if pkcs1 {
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	} else {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, k
}

func TestKeysFromFiles(t *testing.T) {
	dir := t.TempDir()
	curPath, cur := writeKey(t, dir, "cur.pem", 2048, true)
	oldPath, old := writeKey(t, dir, "old.pem", 2048, false)
	k, err := OpenKeys(KeysOptions{CurrentFile: curPath, OldFile: oldPath})
	if err != nil {
		t.Fatal(err)
	}
	if got := pub(t, k); !got.Current.Equal(&cur.PublicKey) || !got.Old.Equal(&old.PublicKey) || !k.FromFiles() {
		t.Errorf("keys from files differ")
	}
	only, err := OpenKeys(KeysOptions{CurrentFile: curPath})
	if err != nil || !pub(t, only).Old.Equal(&cur.PublicKey) {
		t.Errorf("current file alone: %v", err)
	}

	small, _ := writeKey(t, dir, "small.pem", 1024, false)
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a key"), 0o600)
	for name, o := range map[string]KeysOptions{
		"1024 bits":       {CurrentFile: small},
		"not PEM":         {CurrentFile: junk},
		"missing file":    {CurrentFile: filepath.Join(dir, "none.pem")},
		"old without cur": {OldFile: oldPath, State: openState(t)},
	} {
		if _, err := OpenKeys(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, err = OpenKeys(KeysOptions{CurrentFile: small})
	if err == nil || !strings.Contains(err.Error(), "1024 bits") || !strings.Contains(err.Error(), "WOPIBRIDGE_PROOF_KEY_FILE") {
		t.Errorf("small key: %v", err)
	}
}

func dsDiscovery(t *testing.T) *wopiclient.Discovery {
	t.Helper()
	b, err := os.ReadFile("../../wopiclient/testdata/discovery-real.xml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := wopiclient.ParseDiscovery(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The bridge's discovery offers what DS's offers, at the bridge's entry point, with the
// bridge's keys; a WOPI host's parser (wopiclient's) reads it back.
func TestDiscovery(t *testing.T) {
	ds := dsDiscovery(t)
	st := openState(t)
	keys, err := OpenKeys(KeysOptions{State: st})
	if err != nil {
		t.Fatal(err)
	}
	pub(t, keys) // made at the first use
	if _, err := Rotate(st, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := keys.Reload(); err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://bridge.example.com/office")
	docsPublic, _ := url.Parse("https://docs.example.com")
	out, err := Discovery(DiscoveryOptions{DS: ds, Base: base, DocsPublic: docsPublic, Keys: pub(t, keys)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte(`<?xml version="1.0" encoding="UTF-8"?><wopi-discovery><net-zone name="external-http"><app name="Word" favIconUrl="https://docs.example.com/`)) {
		t.Errorf("document starts %s", out[:200])
	}
	got, err := wopiclient.ParseDiscovery(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := got.ProofKeys()
	if err != nil || !pk.Equal(pub(t, keys)) || pk.Current.Equal(pk.Old) {
		t.Fatalf("published keys: %v (equal to the bridge's: %v)", err, pk.Equal(pub(t, keys)))
	}
	for _, action := range []string{"view", "edit", "editnew", "embedview", "convert"} {
		if g, w := got.Extensions(action), ds.Extensions(action); !slices.Equal(g, w) {
			t.Errorf("%s: extensions %v, DS offers %v", action, g, w)
		}
	}
	a, ok := got.Action("edit", "docx")
	if !ok {
		t.Fatal("no edit action for docx")
	}
	if !strings.HasPrefix(a.URLSrc, "https://bridge.example.com/office/hosting/wopi/word/edit?") || !strings.Contains(a.URLSrc, "<ui=UI_LLCC&>") || !a.Needs("locks") {
		t.Errorf("edit docx urlsrc %q requires %v", a.URLSrc, a.Requires)
	}
	u, err := a.URL("https://host.example.com/wopi/files/1", map[string]string{wopiclient.PlaceholderUILLCC: "de-DE"}, nil)
	if err != nil || !strings.HasPrefix(u, "https://bridge.example.com/office/hosting/wopi/word/edit?") || !strings.Contains(u, "ui=de-DE&") || !strings.HasSuffix(u, "WOPISrc=https%3A%2F%2Fhost.example.com%2Fwopi%2Ffiles%2F1") {
		t.Errorf("resolved action URL %q (%v)", u, err)
	}
	if c, ok := got.Action("convert", "doc"); !ok || c.TargetExt != "docx" || !strings.Contains(c.URLSrc, "/hosting/wopi/word/convert?") {
		t.Errorf("convert doc: %+v", c)
	}
	if g, ok := got.AppAction("Capabilities", "getinfo"); !ok || g.URLSrc != "https://bridge.example.com/office/hosting/capabilities" {
		t.Errorf("capabilities action %+v", g)
	}
	for _, app := range got.Apps {
		for _, a := range app.Actions {
			if strings.Contains(a.URLSrc, "docs.example.com") || strings.Contains(a.URLSrc, "127.0.0.1:8000") {
				t.Errorf("%s %s/%s points at DS: %s", app.Name, a.Name, a.Ext, a.URLSrc)
			}
		}
	}
}

func TestCapabilities(t *testing.T) {
	ds := []byte(`{"convert-to":{"available":true,"endpoint":"/lool/convert-to"},"hasMobileSupport":true,"hasProxyPrefix":false,"hasTemplateSaveAs":false,"hasTemplateSource":true,"productVersion":"4.1.2"}`)
	got, err := Capabilities(ds)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"convert-to":{"available":false},"hasMobileSupport":true,"hasProxyPrefix":false,"hasTemplateSaveAs":false,"hasTemplateSource":true,"productVersion":"4.1.2"}`
	if string(got) != want {
		t.Errorf("capabilities\n got %s\nwant %s", got, want)
	}
	if _, err := Capabilities([]byte("<html>")); err == nil {
		t.Error("HTML accepted as capabilities")
	}
}

func pub(t testing.TB, k *Keys) wopiclient.ProofKeys {
	t.Helper()
	p, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
