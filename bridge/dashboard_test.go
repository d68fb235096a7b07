package bridge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// The Grafana dashboard in deploy/ plots only series the bridge exports, selected and
// grouped by labels they have: a renamed metric or label breaks this test, not the
// dashboard in someone's Grafana.

const dashboardFile = "../deploy/grafana/wopibridge.json"

// dashboardQuery is one PromQL expression of a panel.
type dashboardQuery struct{ panel, expr string }

func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string
		Targets []struct{ Expr string }
		Panels  []json.RawMessage // a collapsed row's panels
	}
	var d struct {
		UID        string
		Panels     []json.RawMessage
		Templating struct {
			List []struct {
				Name  string
				Query struct{ Query string }
			}
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []dashboardQuery
	var walk func([]json.RawMessage)
	walk = func(ps []json.RawMessage) {
		for _, r := range ps {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: panel %s: %v", dashboardFile, r, err)
			}
			for _, tg := range p.Targets {
				out = append(out, dashboardQuery{p.Title, tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		out = append(out, dashboardQuery{"variable " + v.Name, v.Query.Query})
	}
	return out
}

// exportedSeries are the series names of a /metrics exposition with their label names
// (a histogram's as _bucket, _count and _sum).
type exportedSeries map[string][]string

func parseExposition(t *testing.T, body string) exportedSeries {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := exportedSeries{}
	for name, f := range fams {
		labels := []string{"instance", "job"} // what the scrape adds
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			out[name+"_bucket"] = append(slices.Clone(labels), "le")
			out[name+"_count"], out[name+"_sum"] = labels, labels
		case dto.MetricType_SUMMARY:
			out[name] = append(slices.Clone(labels), "quantile")
			out[name+"_count"], out[name+"_sum"] = labels, labels
		default:
			out[name] = labels
		}
	}
	return out
}

var (
	// grafanaVars are the dashboard's variables, replaced before an expression is read.
	grafanaVars = regexp.MustCompile(`\$(__rate_interval|__interval|__range|\{?instance\}?)`)
	// selectorRE is a series name and its matchers; groupingRE a by/without clause.
	selectorRE = regexp.MustCompile(`\b(wopibridge_[a-zA-Z0-9_]+)\s*(\{([^}]*)\})?`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"`)
	groupingRE = regexp.MustCompile(`\b(by|without)\s*\(([^)]*)\)`)
	labelArgRE = regexp.MustCompile(`label_values\(\s*(wopibridge_[a-zA-Z0-9_]+)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)`)
)

// checkQuery lists what in expr the bridge does not export: unknown series, matchers on
// labels a series lacks, groupings by labels none of its series has.
func checkQuery(expr string, exported exportedSeries) []string {
	expr = grafanaVars.ReplaceAllString(expr, "5m")
	var problems []string
	var labels []string
	sels := selectorRE.FindAllStringSubmatch(expr, -1)
	if len(sels) == 0 {
		problems = append(problems, "no wopibridge series in "+expr)
	}
	for _, m := range sels {
		have, ok := exported[m[1]]
		if !ok {
			problems = append(problems, fmt.Sprintf("series %s is not in /metrics", m[1]))
			continue
		}
		labels = append(labels, have...)
		for _, mm := range matcherRE.FindAllStringSubmatch(m[3], -1) {
			if !slices.Contains(have, mm[1]) {
				problems = append(problems, fmt.Sprintf("%s has no label %q", m[1], mm[1]))
			}
		}
	}
	for _, m := range labelArgRE.FindAllStringSubmatch(expr, -1) {
		if have, ok := exported[m[1]]; ok && !slices.Contains(have, m[2]) {
			problems = append(problems, fmt.Sprintf("%s has no label %q", m[1], m[2]))
		}
	}
	for _, g := range groupingRE.FindAllStringSubmatch(expr, -1) {
		for l := range strings.SplitSeq(g[2], ",") {
			if l = strings.TrimSpace(l); l != "" && !slices.Contains(labels, l) {
				problems = append(problems, fmt.Sprintf("%s (%s): no series of the expression has label %q", g[1], g[2], l))
			}
		}
	}
	return problems
}

func TestGrafanaDashboardPlotsExportedMetrics(t *testing.T) {
	e := newEnv(t)
	// Traffic of both faces, so that every series the dashboard plots has a sample: a
	// WOPI lock, a save and a lock conflict; requests of the Docs API face.
	lock := func(id string) []string {
		return []string{wopiclient.HeaderOverride, "LOCK", wopiclient.HeaderLock, id}
	}
	wantStatus(t, e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, strings.NewReader(""), lock("A")...), http.StatusOK)
	wantStatus(t, e.wopi(http.MethodPost, e.filePath(e.file.ID)+"/contents", e.token, strings.NewReader("saved"),
		wopiclient.HeaderOverride, "PUT", wopiclient.HeaderLock, "A"), http.StatusOK)
	wantStatus(t, e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, strings.NewReader(""), lock("B")...), http.StatusConflict)
	e.do(http.MethodPost, "/docs/callback", strings.NewReader("{"))
	e.do(http.MethodGet, "/docs/files/"+e.file.ID+"/contents", nil)

	w := e.do(http.MethodGet, "/metrics", nil)
	wantStatus(t, w, http.StatusOK)
	exported := parseExposition(t, w.Body.String())

	queries := dashboardQueries(t)
	if len(queries) < 10 {
		t.Fatalf("%d queries in %s", len(queries), dashboardFile)
	}
	plotted := map[string]bool{}
	for _, q := range queries {
		for _, p := range checkQuery(q.expr, exported) {
			t.Errorf("panel %q: %s", q.panel, p)
		}
		for _, m := range selectorRE.FindAllStringSubmatch(q.expr, -1) {
			plotted[strings.TrimSuffix(strings.TrimSuffix(m[1], "_bucket"), "_count")] = true
		}
	}
	// What the dashboard is for: both styles' requests, save latency, lock conflicts,
	// saves waiting.
	for _, want := range []string{
		"wopibridge_http_requests_total", "wopibridge_save_duration_seconds", "wopibridge_lock_conflicts_total",
		"wopibridge_saves_waiting", "wopibridge_events_dropped_total",
	} {
		if !plotted[want] {
			t.Errorf("the dashboard does not plot %s", want)
		}
	}

	// The check itself catches drift.
	for _, bad := range []string{
		`rate(wopibridge_saves_total[5m])`,
		`sum by (stlye) (rate(wopibridge_save_duration_seconds_count[$__rate_interval]))`,
		`wopibridge_saves_waiting{face="docs"}`,
		`histogram_quantile(0.9, rate(wopibridge_lock_conflicts_total_bucket[5m]))`,
		`label_values(wopibridge_http_requests_total, style)`,
	} {
		if len(checkQuery(bad, exported)) == 0 {
			t.Errorf("checkQuery finds nothing wrong in %s", bad)
		}
	}
}
