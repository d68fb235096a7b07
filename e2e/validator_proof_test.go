package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// proofKeyTests are the validator's ProofKeys group (OfficeOnline category).
var proofKeyTests = []string{
	"ProofKeys.CurrentValid.OldValid",
	"ProofKeys.CurrentValid.OldInvalid",
	"ProofKeys.CurrentInvalid.OldValidSignedWithCurrentKey",
	"ProofKeys.CurrentValidSignedWithOldKey.OldInvalid",
	"ProofKeys.CurrentInvalid.OldValidSignedWithOldKey",
	"ProofKeys.CurrentInvalid.OldInvalid",
	"ProofKeys.TimestampOlderThan20Min",
}

// TestWOPIValidatorProofKeys runs the validator's ProofKeys group against the wopibridge
// binary with proofs required. Its Document Server publishes, in discovery, the current
// and old keys the validator signs with.
func TestWOPIValidatorProofKeys(t *testing.T) {
	dir := t.TempDir()
	cur, curPEM := newProofKey(t, dir, "current.pem")
	old, oldPEM := newProofKey(t, dir, "old.pem")
	checkValidatorDiscovery(t, curPEM, oldPEM, wopiclient.NewProofKeyInfo(&cur.PublicKey, &old.PublicKey))
	disc := newDiscoveryServer(t, &cur.PublicKey, &old.PublicKey)
	p := startProc(t,
		"WOPIBRIDGE_DOCS_URL="+disc.URL,
		"WOPIBRIDGE_PROOF=require",
		"WOPIBRIDGE_LAUNCH_SECRET="+string(testLaunchSecret))

	f := p.upload(launchToken(t, "validator", nil), "proof.wopitest", nil)
	status, body := p.api(http.MethodPost, "/api/v1/wopi/session?action=edit",
		launchToken(t, "validator", jwt.MapClaims{"file": f.ID}), nil)
	var session wopiSession
	if status != http.StatusOK || json.Unmarshal(body, &session) != nil {
		t.Fatalf("wopi session: %d %s", status, body)
	}

	report := runValidator(t, session,
		"--category", "OfficeOnline", "--group", "ProofKeys",
		"--proof-key", curPEM, "--proof-key-old", oldPEM)
	passed := map[string]bool{}
	for _, tc := range report.Tests {
		t.Logf("%-4s %s %s", tc.Status, tc.Name, tc.Reason)
		passed[tc.Name] = tc.Status == "PASS"
	}
	for _, name := range proofKeyTests {
		if !passed[name] {
			t.Errorf("%s did not pass", name)
		}
	}
	if report.Totals.Failed != 0 || report.Totals.Passed != len(proofKeyTests) {
		t.Errorf("validator: %d passed, %d failed, want %d passed and none failed",
			report.Totals.Passed, report.Totals.Failed, len(proofKeyTests))
	}
	// The refused proofs are in the log as errors; tokens and proof headers are not.
	waitFor(t, "the refused proofs in the log", func() bool {
		return contains(p.logs.String(), "proof does not verify")
	})
	if contains(p.logs.String(), session.AccessToken) {
		t.Error("the access token reached the log")
	}
}

// checkValidatorDiscovery checks that the validator's own rendering of the keys'
// discovery element (--print-proof-key-discovery) is what the test serves.
func checkValidatorDiscovery(t *testing.T, curPEM, oldPEM string, want wopiclient.ProofKeyInfo) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed to run the WOPI validator: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, validatorScript(t), "--print-proof-key-discovery",
		"--proof-key", curPEM, "--proof-key-old", oldPEM).Output()
	if err != nil {
		t.Fatalf("--print-proof-key-discovery: %v", err)
	}
	var got wopiclient.ProofKeyInfo
	if err := xml.Unmarshal(bytes.TrimSpace(out), &got); err != nil {
		t.Fatalf("--print-proof-key-discovery printed %q: %v", out, err)
	}
	if got != want {
		t.Errorf("the validator's discovery element\n%+v\ndiffers from the served one\n%+v", got, want)
	}
}
