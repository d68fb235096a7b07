package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAppSettings(t *testing.T) {
	dir := t.TempDir()
	cur := filepath.Join(dir, "proof.pem")
	if err := os.WriteFile(cur, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(nil, env(map[string]string{
		"WOPIBRIDGE_PROOF_KEY_FILE": cur,
		"WOPIBRIDGE_APP_STYLE":      "Docs",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.App.ProofKeyFile != cur || c.App.ProofKeyOldFile != "" || c.App.Style != AppStyleDocs {
		t.Errorf("App = %+v", c.App)
	}
	if d := Default(); d.App.AppStyleOrDefault() != AppStyleWOPI {
		t.Errorf("default style %q", d.App.Style)
	}

	_, err = Load(nil, env(map[string]string{
		"WOPIBRIDGE_PROOF_KEY_OLD_FILE": filepath.Join(dir, "missing.pem"),
		"WOPIBRIDGE_APP_STYLE":          "iframe",
	}))
	got := problems(err)
	want := []string{
		`WOPIBRIDGE_APP_STYLE: "iframe" is neither wopi nor docs`,
		"WOPIBRIDGE_PROOF_KEY_OLD_FILE: set without WOPIBRIDGE_PROOF_KEY_FILE",
		"WOPIBRIDGE_PROOF_KEY_OLD_FILE: cannot read",
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.Contains(g, w)
		}
		if !found {
			t.Errorf("problems %q lack %q", got, w)
		}
	}
}

func TestUpstreamProofSetting(t *testing.T) {
	if d := Default(); d.App.UnsignedUpstream {
		t.Error("upstream calls unsigned by default")
	}
	for v, want := range map[string]bool{"sign": false, "OFF": true, "off": true} {
		c, err := Load(nil, env(map[string]string{"WOPIBRIDGE_UPSTREAM_PROOF": v}))
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if c.App.UnsignedUpstream != want {
			t.Errorf("%q: unsigned %v, want %v", v, c.App.UnsignedUpstream, want)
		}
	}
	_, err := Load(nil, env(map[string]string{"WOPIBRIDGE_UPSTREAM_PROOF": "maybe"}))
	if got := problems(err); len(got) != 1 || !strings.Contains(got[0], `WOPIBRIDGE_UPSTREAM_PROOF: "maybe" is neither sign nor off`) {
		t.Errorf("problems %q", got)
	}
}
