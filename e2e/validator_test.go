package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge"
	"github.com/wopibridge/wopibridge/config"
)

// minValidatorPasses is what the WopiCore category must pass: every group except
// AddActivities and the unsupported alternative of each mutually exclusive pair
// (PutRelativeFileUnsupported, RenameFileIfCreateChildFileIsNotSupported).
const minValidatorPasses = 91

// requireValidatorEnv, set to 1 (as .ci/run does), makes a missing validator a failure
// instead of a skip.
const requireValidatorEnv = "WOPIBRIDGE_REQUIRE_VALIDATOR"

// validatorScript finds wopivalidate.py: $WOPI_VALIDATOR (the script or its directory),
// else the shared checkout beside the repository. Without it the test is skipped (a
// fresh clone has no shared/), unless $WOPIBRIDGE_REQUIRE_VALIDATOR is 1.
func validatorScript(t *testing.T) string {
	t.Helper()
	loc := os.Getenv("WOPI_VALIDATOR")
	if loc == "" {
		loc = filepath.Join("..", "..", "shared", "wopi-validator")
	}
	if fi, err := os.Stat(loc); err == nil && fi.IsDir() {
		loc = filepath.Join(loc, "wopivalidate.py")
	}
	if _, err := os.Stat(loc); err != nil {
		msg := fmt.Sprintf("WOPI validator not found at %s (%v): check out shared/ beside the repository or set WOPI_VALIDATOR to wopivalidate.py or its directory", loc, err)
		if os.Getenv(requireValidatorEnv) == "1" {
			t.Fatalf("%s (%s=1: the validator is required)", msg, requireValidatorEnv)
		}
		t.Skip("skipped: " + msg)
	}
	abs, err := filepath.Abs(loc)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

type validatorReport struct {
	Totals struct {
		Passed  int `json:"passed"`
		Failed  int `json:"failed"`
		Skipped int `json:"skipped"`
	} `json:"totals"`
	Groups map[string]struct {
		Passed  int `json:"passed"`
		Failed  int `json:"failed"`
		Skipped int `json:"skipped"`
	} `json:"groups"`
	Tests []struct {
		Group    string `json:"group"`
		Name     string `json:"name"`
		Status   string `json:"status"`
		Reason   string `json:"reason"`
		Requests []struct {
			Request string   `json:"request"`
			URL     string   `json:"url"`
			Status  int      `json:"status"`
			Errors  []string `json:"errors"`
		} `json:"requests"`
	} `json:"tests"`
}

// TestWOPIValidator runs Microsoft's WOPI validator definitions (WopiCore) against the
// bridge on the fs backend, on a .wopitest file uploaded through the launch API into a
// folder of its own.
func TestWOPIValidator(t *testing.T) {
	report := runValidatorOnBridge(t, "--category", "WopiCore")
	if report.Totals.Failed != 0 {
		t.Errorf("validator: %d tests failed", report.Totals.Failed)
	}
	if report.Totals.Passed < minValidatorPasses {
		t.Errorf("validator: %d tests passed, want at least %d", report.Totals.Passed, minValidatorPasses)
	}
}

// TestWOPIValidatorAllCategories runs every category of Microsoft's definitions
// (WopiCore, OfficeOnline, OfficeNativeClient, ContainerAndEcosystem …): none may fail.
func TestWOPIValidatorAllCategories(t *testing.T) {
	report := runValidatorOnBridge(t, "--category", "All")
	if report.Totals.Failed != 0 {
		t.Errorf("validator --category All: %d tests failed", report.Totals.Failed)
	}
	if report.Totals.Passed < minValidatorPasses {
		t.Errorf("validator --category All: %d tests passed, want at least %d", report.Totals.Passed, minValidatorPasses)
	}
}

// runValidatorOnBridge runs the validator with args against a bridge on the fs
// backend, on a .wopitest file uploaded through the launch API into a folder of its own.
func runValidatorOnBridge(t *testing.T, args ...string) validatorReport {
	t.Helper()
	validatorScript(t) // skip before starting anything when it is absent
	disc := newDiscoveryServer(t, nil, nil)
	b := startBridge(t, func(o *bridge.Options) {
		o.Docs.URL, _ = url.Parse(disc.URL)
		o.Proof = config.ProofOff
	})
	ctx := context.Background()
	root, err := b.Storage.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	folder, err := b.Storage.CreateFolder(ctx, root.ID, "wopi-validator")
	if err != nil {
		t.Fatal(err)
	}
	launch := launchToken(t, "validator", nil)
	var file apiFile
	b.apiCall(t, http.MethodPost, "/api/v1/files?name=test.wopitest&folder="+url.QueryEscape(folder.ID), launch,
		strings.NewReader(""), http.StatusCreated, &file)
	// A launch for the whole storage (the file named in the query, not in a file claim):
	// a launch limited to one file gets a token that reaches no container, and the
	// validator's container tests need one.
	var session wopiSession
	b.apiCall(t, http.MethodPost, "/api/v1/wopi/session?action=edit&file="+url.QueryEscape(file.ID),
		launch, nil, http.StatusOK, &session)
	t.Logf("validating %s", session)
	return runValidator(t, session, args...)
}

// runValidator runs wopivalidate.py on a session's file with the extra arguments, logs
// the per-group counts and fails the test for every failure, and returns the report.
func runValidator(t *testing.T, session wopiSession, args ...string) validatorReport {
	t.Helper()
	return validate(t, session, t.Errorf, args...)
}

// validate is runValidator reporting each failure with fail.
func validate(t *testing.T, session wopiSession, fail func(format string, args ...any), args ...string) validatorReport {
	t.Helper()
	script := validatorScript(t)
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed to run the WOPI validator: %v", err)
	}
	reportPath := filepath.Join(t.TempDir(), "report.json")
	runCtx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, python, append([]string{script,
		"--wopisrc", session.WopiSrc,
		"--token", session.AccessToken,
		"--token-ttl", strconv.FormatInt(session.AccessTokenTTL, 10),
		"--json", reportPath}, args...)...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("validator did not run: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatalf("no validator report: %v\n%s", err, out)
	}
	var report validatorReport
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatalf("validator report: %v", err)
	}

	groups := make([]string, 0, len(report.Groups))
	for g := range report.Groups {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		c := report.Groups[g]
		t.Logf("%-45s pass %3d  fail %3d  skip %3d", g, c.Passed, c.Failed, c.Skipped)
	}
	t.Logf("total: %d passed, %d failed, %d skipped", report.Totals.Passed, report.Totals.Failed, report.Totals.Skipped)
	for _, tc := range report.Tests {
		if tc.Status != "FAIL" {
			continue
		}
		fail("FAIL [%s] %s: %s", tc.Group, tc.Name, tc.Reason)
		for _, r := range tc.Requests {
			if len(r.Errors) > 0 {
				t.Logf("    %s %s -> %d: %s", r.Request, r.URL, r.Status, strings.Join(r.Errors, "; "))
			}
		}
	}
	return report
}
