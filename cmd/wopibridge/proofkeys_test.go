package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/bridge/officeapp"
	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/wopiclient"
)

var rotatedLine = regexp.MustCompile(`proof keys rotated: current (sha256:[0-9a-f]{16}), old (sha256:[0-9a-f]{16})`)

// proof-keys rotate on a stopped server's state: the current key becomes the old one,
// the new current key is what the server signs with at its next start.
func TestProofKeysRotate(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "state.db")
	env := map[string]string{
		"WOPIBRIDGE_STORAGE": "fs:" + filepath.Join(dir, "data"),
		"WOPIBRIDGE_STATE":   "bolt:" + db,
	}
	getenv := func(k string) string { return env[k] }

	st, err := state.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := officeapp.OpenKeys(officeapp.KeysOptions{State: st})
	if err != nil {
		t.Fatal(err)
	}
	before := fingerprint(keysPub(t, keys).Current)

	// While a process holds the bolt file, the command says to stop it.
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"proof-keys", "rotate"}, getenv, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "in use by another wopibridge process") || !strings.Contains(errb.String(), "stop the server, rotate, start it again") {
		t.Fatalf("rotate with the state file in use: %d\n%s", code, errb.String())
	}
	st.Close()

	out.Reset()
	errb.Reset()
	if code := run(t.Context(), []string{"proof-keys", "rotate"}, getenv, &out, &errb); code != 0 {
		t.Fatalf("rotate: %d\n%s", code, errb.String())
	}
	m := rotatedLine.FindStringSubmatch(out.String())
	if m == nil || m[2] != before || m[1] == before {
		t.Fatalf("rotate said %q; the key before was %s", out.String(), before)
	}
	if !strings.Contains(out.String(), "/hosting/discovery") {
		t.Errorf("no word on reloading discovery: %q", out.String())
	}

	st, err = state.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err = officeapp.OpenKeys(officeapp.KeysOptions{State: st})
	if err != nil {
		t.Fatal(err)
	}
	if pk := keysPub(t, keys); fingerprint(pk.Current) != m[1] || fingerprint(pk.Old) != before {
		t.Errorf("stored after rotation: current %s old %s", fingerprint(pk.Current), fingerprint(pk.Old))
	}
}

func TestProofKeysRefusals(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"proof-keys"}, func(string) string { return "" }, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage: wopibridge proof-keys rotate") {
		t.Errorf("no subcommand: %d %q", code, errb.String())
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.pem")
	writeTestKey(t, keyFile)
	env := map[string]string{"WOPIBRIDGE_STORAGE": "fs:" + dir, "WOPIBRIDGE_PROOF_KEY_FILE": keyFile}
	errb.Reset()
	if code := run(t.Context(), []string{"proof-keys", "rotate"}, func(k string) string { return env[k] }, &out, &errb); code != 1 || !strings.Contains(errb.String(), "rotate them by making the current file the old one") {
		t.Errorf("keys from files: %d %q", code, errb.String())
	}
}

func writeTestKey(t *testing.T, path string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func keysPub(t testing.TB, k *officeapp.Keys) wopiclient.ProofKeys {
	t.Helper()
	p, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Upstream calls are signed with the bridge's keys unless WOPIBRIDGE_UPSTREAM_PROOF=off.
func TestUpstreamSigner(t *testing.T) {
	st, err := state.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, off := range []bool{false, true} {
		cfg := config.Default()
		cfg.App.UnsignedUpstream = off
		keys, err := openAppKeys(cfg, st)
		if err != nil {
			t.Fatal(err)
		}
		signer := upstreamSigner(cfg, keys)
		if off {
			if signer != nil {
				t.Error("WOPIBRIDGE_UPSTREAM_PROOF=off still signs")
			}
			continue
		}
		req, _ := http.NewRequest(http.MethodGet, "http://up.example/wopi/files/1?access_token=t", nil)
		if err := signer.Sign(req); err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{wopiclient.HeaderProof, wopiclient.HeaderProofOld, wopiclient.HeaderTimeStamp} {
			if req.Header.Get(h) == "" {
				t.Errorf("signed upstream call without %s", h)
			}
		}
	}
}
