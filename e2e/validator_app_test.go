package e2e

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/bridge"
	"github.com/wopibridge/wopibridge/bridge/officeapp"
	"github.com/wopibridge/wopibridge/bridge/storage/wopi"
	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/wopiclient"
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// TestWOPIValidatorThroughHostsRequiringProofs runs Microsoft's validator definitions
// (WopiCore) through the bridge in front of each host profile twice: once with a host
// that does not check proofs, once with the same kind of host having registered the
// bridge by its discovery and requiring proofs. Every test passes or fails alike in
// both runs (what fails is the host's own refusals, see TestWOPIValidatorThroughHosts),
// and the host that checks verifies every call the bridge makes.
func TestWOPIValidatorThroughHostsRequiringProofs(t *testing.T) {
	for _, p := range wopitest.Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			plain, _ := validateThroughHost(t, p, false)
			proofs, up := validateThroughHost(t, p, true)
			for _, status := range []string{"PASS", "FAIL"} {
				if a, b := testsWith(plain, status), testsWith(proofs, status); !slices.Equal(a, b) {
					t.Errorf("%s without proofs: %v\n%s with proofs required: %v", status, a, status, b)
				}
			}
			verified, refusals := up.ProofChecks()
			if len(refusals) != 0 || verified != len(up.Requests()) || verified == 0 && proofs.Totals.Passed > 0 {
				t.Errorf("the host verified %d of %d calls; refused %q", verified, len(up.Requests()), refusals)
			}
			t.Logf("%s: %d passed, %d failed alike; the host verified %d calls", p.Name, proofs.Totals.Passed, proofs.Totals.Failed, verified)
		})
	}
}

// validateThroughHost runs the validator through a bridge (with its own proof keys,
// signing its upstream calls) in front of a new host of profile p.
func validateThroughHost(t *testing.T, p wopitest.Profile, requireProofs bool) (validatorReport, *wopitest.Server) {
	t.Helper()
	up := wopitest.NewServerProfile(t, p)
	origin, _ := url.Parse(up.URL)
	disc := newDiscoveryServer(t, nil, nil)
	b := startBridge(t, func(o *bridge.Options) {
		o.Docs.URL, _ = url.Parse(disc.URL)
		o.Proof = config.ProofOff
		keys, err := officeapp.OpenKeys(officeapp.KeysOptions{State: o.State})
		if err != nil {
			t.Fatal(err)
		}
		hc := wopiclient.NewHTTPClient()
		hc.Transport.(*wopiclient.Transport).Proof = keys.Signer()
		backend, err := wopi.New(wopi.Options{Origins: []*url.URL{origin}, State: o.State, HTTP: hc, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		o.Storage = backend
		o.App = bridge.AppOptions{Keys: keys}
	})
	if err := up.RegisterApp(t.Context(), b.URL+"/hosting/discovery", requireProofs); err != nil {
		t.Fatal(err)
	}
	id, src := up.AddFile("test.wopitest", nil)
	tok := up.Token(id, "validator", true)
	launch := launchToken(t, "validator", jwt.MapClaims{"wopisrc": src, "access_token": tok, "access_token_ttl": up.TokenTTL(tok)})
	var session wopiSession
	b.apiCall(t, http.MethodPost, "/api/v1/wopi/session?action=edit", launch, nil, http.StatusOK, &session)
	report := validate(t, session, t.Logf, "--category", "WopiCore")
	return report, up
}

func testsWith(r validatorReport, status string) []string {
	var out []string
	for _, tc := range r.Tests {
		if tc.Status == status {
			out = append(out, tc.Group+"."+tc.Name)
		}
	}
	slices.Sort(out)
	return out
}
