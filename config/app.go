package config

import (
	"fmt"
	"os"
	"strings"
)

// AppConfig is the bridge as an office app that WOPI hosts register by its discovery
// (/hosting/discovery): the proof keys it signs its calls to upstream hosts with, and
// the style a document opened through its entry point is shown in.
type AppConfig struct {
	// ProofKeyFile and ProofKeyOldFile are PEM files holding the current and the old
	// RSA private key (PKCS#1 or PKCS#8). Both empty: the keys are generated once and
	// kept in the state store. The old file may be left empty: the current key is then
	// published as the old one too.
	ProofKeyFile, ProofKeyOldFile string
	// Style is how the entry point shows a document.
	Style AppStyle
	// UnsignedUpstream sends calls to upstream WOPI hosts without proofs. Signing costs
	// an RSA signature (about a millisecond of CPU) per upstream call; a host that
	// checks no proofs (cs3org/wopiserver) does not need it.
	UnsignedUpstream bool
}

// AppStyle is WOPIBRIDGE_APP_STYLE.
type AppStyle string

// App styles.
const (
	AppStyleWOPI AppStyle = "wopi" // the bridge's WOPI host page, DS in WOPI mode
	AppStyleDocs AppStyle = "docs" // the Docs API page, DS with an editor config
)

// appSettings are the office app's settings, in the order they are documented.
var appSettings = []setting{
	{key: "proof_key_file", usage: "PEM `file` of the bridge's own current proof key (RSA, 2048 bits or more)", def: "generated once and kept in the state store", apply: func(c *Config, v string) error {
		c.App.ProofKeyFile = strings.TrimSpace(v)
		return nil
	}},
	{key: "proof_key_old_file", usage: "PEM `file` of the bridge's own old proof key", def: "proof-key-file's key", apply: func(c *Config, v string) error {
		c.App.ProofKeyOldFile = strings.TrimSpace(v)
		return nil
	}},
	{key: "upstream_proof", usage: "`mode`, sign or off: sign every call to an upstream WOPI host with the bridge's proof keys (off only for hosts that check no proofs)", def: "sign", apply: func(c *Config, v string) error {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "sign", "":
			c.App.UnsignedUpstream = false
		case "off":
			c.App.UnsignedUpstream = true
		default:
			return fmt.Errorf("%q is neither sign nor off", v)
		}
		return nil
	}},
	{key: "app_style", usage: "`style` a document opened through the office-app entry point is shown in: wopi or docs", def: string(AppStyleWOPI), apply: func(c *Config, v string) error {
		c.App.Style = AppStyle(strings.ToLower(strings.TrimSpace(v)))
		return nil
	}},
}

// validate adds the problems of the section.
func (a AppConfig) validate(fail func(key, format string, args ...any)) {
	switch a.Style {
	case "", AppStyleWOPI, AppStyleDocs:
	default:
		fail("app_style", "%q is neither wopi nor docs", a.Style)
	}
	if a.ProofKeyFile == "" && a.ProofKeyOldFile != "" {
		fail("proof_key_old_file", "set without %s: give the current key too, or neither (keys kept in the state store)", envName("proof_key_file"))
	}
	for _, f := range []struct{ key, path string }{{"proof_key_file", a.ProofKeyFile}, {"proof_key_old_file", a.ProofKeyOldFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			fail(f.key, "cannot read %s: %v", f.path, err)
		}
	}
}

// AppStyleOrDefault is the style, wopi when not set.
func (a AppConfig) AppStyleOrDefault() AppStyle {
	if a.Style == "" {
		return AppStyleWOPI
	}
	return a.Style
}
