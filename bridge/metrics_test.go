package bridge

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/session"
	"github.com/wopibridge/wopibridge/config"
)

// scrape returns the exposition text of GET /metrics.
func (e *testEnv) scrape(t *testing.T) string {
	t.Helper()
	w := e.do(http.MethodGet, "/metrics", nil)
	wantStatus(t, w, http.StatusOK)
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q", ct)
	}
	return w.Body.String()
}

// metricValue is the value of the sample named exactly series (name{labels}), or -1
// when the exposition has no such sample.
func metricValue(t *testing.T, text, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		// Split at the last space: label values may hold spaces.
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || line[:i] != series {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		return v
	}
	return -1
}

func wantMetric(t *testing.T, text, series string, want float64) {
	t.Helper()
	if got := metricValue(t, text, series); got != want {
		t.Errorf("%s = %v, want %v", series, got, want)
	}
}

func TestMetricsCountRequestsAndLockConflicts(t *testing.T) {
	e := newEnv(t)
	path := e.filePath(e.file.ID)
	wantStatus(t, e.wopi(http.MethodPost, path, e.token, nil, "X-WOPI-Override", "LOCK", "X-WOPI-Lock", "first"), http.StatusOK)
	wantStatus(t, e.wopi(http.MethodPost, path, e.token, nil, "X-WOPI-Override", "LOCK", "X-WOPI-Lock", "second"), http.StatusConflict)
	wantStatus(t, e.wopi(http.MethodPost, path+"/contents", e.token, strings.NewReader("x"), "X-WOPI-Override", "PUT", "X-WOPI-Lock", "other"), http.StatusConflict)
	wantStatus(t, e.wopi(http.MethodGet, path, e.token, nil), http.StatusOK)
	wantStatus(t, e.do(http.MethodGet, "/no/such/page", nil), http.StatusNotFound)

	m := e.scrape(t)
	wantMetric(t, m, `wopibridge_http_requests_total{code="200",face="wopi",operation="Lock"}`, 1)
	wantMetric(t, m, `wopibridge_http_requests_total{code="409",face="wopi",operation="Lock"}`, 1)
	wantMetric(t, m, `wopibridge_http_requests_total{code="409",face="wopi",operation="PutFile"}`, 1)
	wantMetric(t, m, `wopibridge_http_requests_total{code="200",face="wopi",operation="CheckFileInfo"}`, 1)
	wantMetric(t, m, `wopibridge_http_requests_total{code="404",face="page",operation="none"}`, 1)
	wantMetric(t, m, `wopibridge_lock_conflicts_total{face="wopi",operation="Lock"}`, 1)
	wantMetric(t, m, `wopibridge_lock_conflicts_total{face="wopi",operation="PutFile"}`, 1)
	wantMetric(t, m, `wopibridge_http_request_duration_seconds_count{face="wopi",operation="Lock"}`, 2)
	if metricValue(t, m, `wopibridge_http_request_duration_seconds_bucket{face="wopi",operation="Lock",le="+Inf"}`) != 2 {
		t.Error("no latency histogram for Lock")
	}
	// Runtime and process collectors.
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if !regexp.MustCompile(`(?m)^` + name + ` `).MatchString(m) {
			t.Errorf("no %s", name)
		}
	}
	// The scrape itself is counted by the next one.
	wantMetric(t, e.scrape(t), `wopibridge_http_requests_total{code="200",face="operator",operation="Metrics"}`, 1)
}

// Operation labels are the bridge's own words: an override the client makes up is
// counted as "unsupported", and however many names arrive the series stay bounded.
func TestMetricsOperationLabelsAreBounded(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		w := e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, nil, "X-WOPI-Override", "MADE_UP_"+strconv.Itoa(i))
		wantStatus(t, w, http.StatusNotImplemented)
	}
	m := e.scrape(t)
	wantMetric(t, m, `wopibridge_http_requests_total{code="501",face="wopi",operation="unsupported"}`, 5)
	if strings.Contains(m, "MADE_UP") {
		t.Error("a client's override name became a label")
	}

	mt := newMetrics()
	for i := range maxOperations + 10 {
		mt.observeRequest(&requestInfo{face: faceDocs, op: "Op" + strconv.Itoa(i)}, 200, time.Millisecond)
	}
	if got := mt.operation(faceDocs, "Op3", 200); got != "Op3" {
		t.Errorf("a known operation became %q", got)
	}
	if got := mt.operation(faceDocs, "Op"+strconv.Itoa(maxOperations+20), 200); got != "other" {
		t.Errorf("operation past the bound = %q, want other", got)
	}
	if got := mt.operation(faceWOPI, "Lock", 200); got != "Lock" {
		t.Errorf("the bound of one face limited another: %q", got)
	}
}

// The session model's events are counted from zero, each under its own label.
func TestMetricsSessionEvents(t *testing.T) {
	e := newEnv(t)
	m := e.scrape(t)
	for _, k := range sessionEventKinds {
		wantMetric(t, m, `wopibridge_docs_save_events_total{event="`+string(k)+`"}`, 0)
	}
	e.srv.logSessionEvent(session.Event{Kind: session.EventSpooled, FileID: e.file.ID, Key: "k1"})
	e.srv.logSessionEvent(session.Event{Kind: session.EventReplayed, FileID: e.file.ID, Key: "k1"})
	e.srv.logSessionEvent(session.Event{Kind: session.EventSaved, FileID: e.file.ID, Key: "k2"})
	e.srv.logSessionEvent(session.Event{Kind: session.EventSaved, FileID: e.file.ID, Key: "k3"})
	m = e.scrape(t)
	wantMetric(t, m, `wopibridge_docs_save_events_total{event="spooled"}`, 1)
	wantMetric(t, m, `wopibridge_docs_save_events_total{event="replayed"}`, 1)
	wantMetric(t, m, `wopibridge_docs_save_events_total{event="saved"}`, 2)
	wantMetric(t, m, `wopibridge_docs_save_events_total{event="conflict_copy"}`, 0)
}

func TestMetricsProofFailuresAndDiscoveryFetches(t *testing.T) {
	ds := newFakeDS(t)
	e := newEnv(t, withDS(ds, config.ProofRequire))
	path := e.filePath(e.file.ID)
	cur, old, other := testKey(t, 0), testKey(t, 1), testKey(t, 2)
	now := e.clock.Now()

	wantStatus(t, e.signedWOPI(http.MethodGet, path, e.token, cur, old, now), http.StatusOK)
	wantStatus(t, e.wopi(http.MethodGet, path, e.token, nil), http.StatusInternalServerError)
	wantStatus(t, e.signedWOPI(http.MethodGet, path, e.token, cur, old, now.Add(-21*time.Minute)), http.StatusInternalServerError)
	wantStatus(t, e.signedWOPI(http.MethodGet, path, e.token, other, other, now), http.StatusInternalServerError) // reloads discovery once

	m := e.scrape(t)
	wantMetric(t, m, `wopibridge_proof_failures_total{reason="missing"}`, 1)
	wantMetric(t, m, `wopibridge_proof_failures_total{reason="expired"}`, 1)
	wantMetric(t, m, `wopibridge_proof_failures_total{reason="invalid"}`, 1)
	wantMetric(t, m, `wopibridge_proof_failures_total{reason="future"}`, 0)
	wantMetric(t, m, `wopibridge_discovery_fetches_total{result="ok"}`, float64(ds.fetches.Load()))
	if ds.fetches.Load() < 2 {
		t.Errorf("discovery fetched %d times; the invalid proof should have reloaded it", ds.fetches.Load())
	}
	wantMetric(t, m, `wopibridge_discovery_fetches_total{result="error"}`, 0)

	// DS down: the refresh after a failed proof fails, and is counted as such.
	ds.setStatus(http.StatusBadGateway)
	e.clock.Add(time.Minute)
	wantStatus(t, e.signedWOPI(http.MethodGet, path, e.token, other, other, e.clock.Now()), http.StatusInternalServerError)
	m = e.scrape(t)
	if metricValue(t, m, `wopibridge_discovery_fetches_total{result="error"}`) < 1 {
		t.Errorf("failed discovery fetch not counted:\n%s", grepLines(m, "wopibridge_discovery"))
	}
}

// Each Server counts for itself.
func TestMetricsRegistryPerServer(t *testing.T) {
	a, b := newEnv(t), newEnv(t)
	wantStatus(t, a.do(http.MethodGet, "/healthz", nil), http.StatusOK)
	wantStatus(t, a.do(http.MethodGet, "/healthz", nil), http.StatusOK)
	wantMetric(t, a.scrape(t), `wopibridge_http_requests_total{code="200",face="operator",operation="Healthz"}`, 2)
	if v := metricValue(t, b.scrape(t), `wopibridge_http_requests_total{code="200",face="operator",operation="Healthz"}`); v != -1 {
		t.Errorf("the other server counted %v health checks", v)
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// readyz lists every check with its verdict, so that the failing one is named.
func TestReadyzSaysWhichCheckFailed(t *testing.T) {
	ds := newFakeDS(t)
	e := newEnv(t, withDS(ds, config.ProofRequire))
	w := e.do(http.MethodGet, "/readyz", nil)
	wantStatus(t, w, http.StatusOK)
	if got, want := w.Body.String(), "ready\nstorage: ok\nstate: ok\ndiscovery: ok\nproof keys: ok\n"; got != want {
		t.Errorf("readyz = %q, want %q", got, want)
	}

	// DS goes down: the cached discovery still counts.
	ds.setStatus(http.StatusBadGateway)
	e.clock.Add(2 * time.Hour)
	wantStatus(t, e.do(http.MethodGet, "/readyz", nil), http.StatusOK)

	// The state store goes away.
	if err := e.state.Close(); err != nil {
		t.Fatal(err)
	}
	w = e.do(http.MethodGet, "/readyz", nil)
	wantStatus(t, w, http.StatusServiceUnavailable)
	body := w.Body.String()
	if !strings.HasPrefix(body, "not ready\n") || !strings.Contains(body, "storage: ok\n") || !strings.Contains(body, "\nstate: failed: ") {
		t.Errorf("readyz = %q", body)
	}
	wantStatus(t, e.do(http.MethodGet, "/healthz", nil), http.StatusOK)
}
