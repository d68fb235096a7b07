package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/e2e/docserver"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// newProofEnv is a bridge requiring proofs in front of a simulated DS in WOPI mode.
func newProofEnv(t *testing.T) *docsEnv {
	t.Helper()
	cur, old := newDSKeys(t)
	ds := newDS(t, cur, old)
	p := startProc(t,
		"WOPIBRIDGE_DOCS_URL="+ds.URL(),
		"WOPIBRIDGE_DOCS_JWT_SECRET="+dsSecret,
		"WOPIBRIDGE_LAUNCH_SECRET="+string(testLaunchSecret),
		"WOPIBRIDGE_PROOF=require")
	return &docsEnv{t: t, ds: ds, p: p}
}

// editOnce opens file through DS, checks it opened for edit, and closes it (UNLOCK).
func (e *docsEnv) editOnce(file, what string) {
	e.t.Helper()
	s := e.session("alice", file, "edit")
	w, err := e.ds.OpenWOPI(e.ctx(), s.ActionURL, s.AccessToken, s.AccessTokenTTL, "")
	if err != nil {
		e.t.Fatalf("%s: DS could not open the file: %v\nDS events: %v", what, err, e.ds.Events())
	}
	if w.Mode() != "edit" || w.ForcedView() {
		e.t.Fatalf("%s: DS opened in %s mode (forced view %v)", what, w.Mode(), w.ForcedView())
	}
	w.CloseExplicitly()
}

// forged sends a CheckFileInfo signed with keys DS does not publish: the bridge refreshes
// discovery for it (within its rate limit) and refuses it.
func (e *docsEnv) forged(file string) int {
	e.t.Helper()
	s := e.session("mallory", file, "view")
	cur, old := newDSKeys(e.t)
	req, _ := http.NewRequest(http.MethodGet, s.WopiSrc+"?access_token="+s.AccessToken, nil)
	if err := wopiclient.SignRequest(req, cur, old, s.AccessToken, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// DS rotating its proof keys twice within seconds: each time neither key is one the
// bridge cached, and the second time a refresh has just happened. The bridge waits for
// the next allowed refresh instead of refusing, and editing goes on.
func TestWOPIProofKeysRotatedTwiceWithinSeconds(t *testing.T) {
	e := newProofEnv(t)
	f := e.upload("rotated.docx", "v1")
	e.editOnce(f.ID, "before any rotation")
	retired, retiredOld := e.ds.ProofKeys()

	for _, step := range []string{"after the first double rotation", "after the second, seconds later"} {
		for range 2 {
			if err := e.ds.RotateProofKeys(nil); err != nil {
				t.Fatal(err)
			}
		}
		e.editOnce(f.ID, step)
	}
	if n := e.p.metrics(); sample(n, `wopibridge_discovery_fetches_total{result="ok"}`) != 3 {
		t.Errorf("discovery fetches: %s", grep(n, "discovery_fetches_total"))
	}
	if n := e.p.metrics(); sample(n, `wopibridge_proof_failures_total{reason="invalid"}`) != 0 {
		t.Errorf("proof failures: %s", grep(n, "proof_failures_total"))
	}
	if retired.Equal(retiredOld) {
		t.Fatal("the simulated DS started with one key")
	}
}

// A discovery whose proof keys are unusable (DS being reconfigured) never replaces the
// last good keys: requests signed with them go on, and once DS publishes good keys again
// the bridge uses them within seconds.
func TestWOPIUnusableProofKeysNeverReplaceGoodOnes(t *testing.T) {
	e := newProofEnv(t)
	f := e.upload("keys.docx", "v1")
	e.editOnce(f.ID, "with good keys")

	for _, kind := range []string{docserver.UnusableSmallKey, docserver.UnusableExponentOne, docserver.UnusableGarbage, ""} {
		el := ""
		if kind != "" {
			var err error
			if el, err = docserver.UnusableProofKeyElement(kind); err != nil {
				t.Fatal(err)
			}
		}
		e.ds.PublishProofKeyElement(el)
		before := sample(e.p.metrics(), `wopibridge_discovery_fetches_total{result="ok"}`)
		if code := e.forged(f.ID); code != http.StatusInternalServerError {
			t.Fatalf("forged request: %d", code)
		}
		if after := sample(e.p.metrics(), `wopibridge_discovery_fetches_total{result="ok"}`); after != before+1 {
			t.Fatalf("%q keys: the forged request fetched discovery %v times", kind, after-before)
		}
		e.editOnce(f.ID, "while DS publishes unusable keys ("+kind+")")
	}
	e.ds.ResetPublishedProofKeys()
	if err := e.ds.RotateProofKeys(nil); err != nil {
		t.Fatal(err)
	}
	if err := e.ds.RotateProofKeys(nil); err != nil {
		t.Fatal(err)
	}
	e.editOnce(f.ID, "after DS was fixed with new keys")
}

// A DS that never published usable keys: the refusal says what is wrong with them, and
// the bridge uses good keys as soon as DS publishes them.
func TestWOPIProofKeysFixedAfterAStartWithUnusableKeys(t *testing.T) {
	e := newProofEnv(t)
	small, err := docserver.UnusableProofKeyElement(docserver.UnusableSmallKey)
	if err != nil {
		t.Fatal(err)
	}
	e.ds.PublishProofKeyElement(small)
	f := e.upload("late.docx", "v1")
	s := e.session("alice", f.ID, "edit")
	if _, err := e.ds.OpenWOPI(e.ctx(), s.ActionURL, s.AccessToken, s.AccessTokenTTL, ""); err == nil {
		t.Fatal("DS opened a file while it publishes a 1024-bit proof key")
	}
	waitFor(t, "the log naming the key problem", func() bool {
		for _, line := range strings.Split(e.p.logs.String(), "\n") {
			if contains(line, "proof keys the bridge cannot use") && contains(line, "too small") {
				return true
			}
		}
		return false
	})
	e.ds.ResetPublishedProofKeys()
	e.editOnce(f.ID, "once DS publishes good keys")
}
