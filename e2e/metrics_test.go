package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/e2e/docserver"
)

// metrics scrapes the process's /metrics.
func (p *proc) metrics() string {
	p.t.Helper()
	resp, err := http.Get(p.URL + "/metrics")
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		p.t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// sample is the value of the series named exactly (name{labels}); -1 if absent.
func sample(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		// Split at the last space: label values may hold spaces.
		i := strings.LastIndexByte(line, ' ')
		if name, value := line[:max(i, 0)], line[i+1:]; i > 0 && name == series {
			v, err := strconv.ParseFloat(value, 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

func (p *proc) waitMetric(series string, want float64) {
	p.t.Helper()
	waitFor(p.t, series+" = "+strconv.FormatFloat(want, 'f', -1, 64), func() bool { return sample(p.metrics(), series) == want })
}

// The metrics of a real process follow real traffic: a WOPI lock conflict, a Docs API
// save, a save spooled while the disk refuses writes and replayed after.
func TestMetricsAfterRealRequests(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("metrics.docx", "v1")

	// WOPI: a lock, then a conflicting one.
	sess := e.session("carol", f.ID, "edit")
	if code := wopiLock(t, sess, "lock-a"); code != http.StatusOK {
		t.Fatalf("Lock: %d", code)
	}
	if code := wopiLock(t, sess, "lock-b"); code != http.StatusConflict {
		t.Fatalf("conflicting Lock: %d", code)
	}
	m := e.p.metrics()
	for series, want := range map[string]float64{
		`wopibridge_http_requests_total{code="409",face="wopi",operation="Lock"}`:      1,
		`wopibridge_http_requests_total{code="200",face="wopi",operation="Lock"}`:      1,
		`wopibridge_lock_conflicts_total{face="wopi",operation="Lock"}`:                1,
		`wopibridge_http_requests_total{code="201",face="api",operation="UploadFile"}`: 1,
		`wopibridge_discovery_fetches_total{result="ok"}`:                              1,
		`wopibridge_discovery_fetches_total{result="error"}`:                           0,
		`wopibridge_docs_save_events_total{event="spooled"}`:                           0,
	} {
		if got := sample(m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if sample(m, `wopibridge_http_request_duration_seconds_count{face="wopi",operation="Lock"}`) != 2 {
		t.Error("no Lock latencies")
	}
	if sample(m, "process_start_time_seconds") <= 0 || sample(m, "go_goroutines") <= 0 {
		t.Error("no process or Go runtime metrics")
	}
	unlock, _ := http.NewRequest(http.MethodPost, sess.WopiSrc+"?access_token="+sess.AccessToken, nil)
	unlock.Header.Set("X-WOPI-Override", "UNLOCK")
	unlock.Header.Set("X-WOPI-Lock", "lock-a")
	if resp, err := http.DefaultClient.Do(unlock); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Unlock: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Docs API: a save written to storage.
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	ed.Edit([]byte("saved"))
	ed.Close()
	e.reply(ed.Key(), docserver.StatusMustSave)
	e.p.waitMetric(`wopibridge_docs_save_events_total{event="saved"}`, 1)
	m = e.p.metrics()
	if sample(m, `wopibridge_http_requests_total{code="200",face="docs",operation="CallbackMustSave"}`) != 1 || sample(m, `wopibridge_docs_callbacks_total{result="ok",status="2"}`) != 1 {
		t.Errorf("the status 2 callback is not counted:\n%s", grep(m, `face="docs"`))
	}

	// A save while the disk refuses writes: spooled, then replayed.
	ed = e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	freeze(t, e.p.Data)
	ed.Edit([]byte("spooled"))
	ed.Close()
	e.reply(ed.Key(), docserver.StatusMustSave)
	e.p.waitMetric(`wopibridge_docs_save_events_total{event="spooled"}`, 1)
	thaw(t, e.p.Data)
	e.p.waitMetric(`wopibridge_docs_save_events_total{event="replayed"}`, 1)
	if b, _ := os.ReadFile(filepath.Join(e.p.Data, "metrics.docx")); string(b) != "spooled" {
		t.Errorf("stored %q", b)
	}
}

func grep(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// /healthz and /readyz of a real process.
func TestHealthEndpoints(t *testing.T) {
	e := newDocsEnv(t)
	for path, want := range map[string]string{
		"/healthz": "ok\n",
		"/readyz":  "ready\nstorage: ok\nstate: ok\ndiscovery: ok\n",
	} {
		resp, err := http.Get(e.p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != want {
			t.Errorf("%s: %d %q, want 200 %q", path, resp.StatusCode, b, want)
		}
	}
}
