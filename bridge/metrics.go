package bridge

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wopibridge/wopibridge/bridge/events"
	"github.com/wopibridge/wopibridge/bridge/session"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// Prometheus metrics at GET /metrics. Each Server has its own registry, so that several
// servers in one process (tests) never share counters. What is counted comes from the
// places that already know it: the middleware's requestInfo (requests, latencies, lock
// conflicts), the session model's events (saves), the discovery cache's fetch hook and
// the proof check.

const metricsNamespace = "wopibridge"

// Label values for proof failures.
const (
	proofMissing     = "missing"
	proofExpired     = "expired"
	proofFuture      = "future"
	proofInvalid     = "invalid"
	proofNoKey       = "no_key"
	proofUnavailable = "discovery_unavailable"
)

// sessionEventKinds are the session model's events, counted from zero so that a rate
// over a missing series never hides a first spooled save.
var sessionEventKinds = []session.EventKind{
	session.EventSaved, session.EventSpooled, session.EventReplayed, session.EventReplayFailed,
	session.EventConflictCopy, session.EventRepeated, session.EventLockRefresh,
	session.EventRecovered, session.EventNoEditor, session.EventReleaseFail, session.EventReleased,
}

// maxOperations bounds the distinct operation labels per face. Operation names come
// from the bridge's own tables, but an unknown X-WOPI-Override or a callback status is
// the client's word: a bound keeps a hostile client from growing the series without end.
const maxOperations = 64

// metrics holds a Server's collectors.
type metrics struct {
	reg  *prometheus.Registry
	http http.Handler // the exposition

	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	lockConflicts *prometheus.CounterVec
	sessionEvents *prometheus.CounterVec
	discovery     *prometheus.CounterVec
	proofFailures *prometheus.CounterVec
	callbacks     *prometheus.CounterVec
	drops         *prometheus.CounterVec
	saveDurations *prometheus.HistogramVec

	mu  sync.Mutex
	ops map[string]map[string]bool // face -> operation labels in use
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by face (wopi, docs, api, page, operator), operation and status code.",
		}, []string{"face", "operation", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "http_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its answer, by face and operation.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"face", "operation"}),
		lockConflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "lock_conflicts_total",
			Help: "Requests refused because the file holds another lock (WOPI 409), by face and operation.",
		}, []string{"face", "operation"}),
		sessionEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "docs_save_events_total",
			Help: "Save pipeline events, of Docs API saves and of WOPI PutFiles that storage refused: saved (written to storage, then acknowledged), spooled (storage refused; kept in the state store and acknowledged), replayed (a spooled save reached storage), replay_failed, conflict_copy (the lock was lost; saved as a copy), repeated (a save repeated for a saved key; nothing written), lock_refresh_failed, recovered (storage took neither the save nor a conflict copy: kept in the recovery area, see wopibridge saves), no_editor (storage refused the credentials of every editor of the save: it waits for one), release_failed (a session's save is in storage but its Unlock failed: retried), released (such a release went through).",
		}, []string{"event"}),
		discovery: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "discovery_fetches_total",
			Help: "Fetches of ONLYOFFICE Docs' WOPI discovery (first use, expiry, and reloads after a proof failed), by result (ok, error).",
		}, []string{"result"}),
		proofFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "proof_failures_total",
			Help: "WOPI requests refused because their proof did not verify, by reason (missing, expired, future, invalid, no_key, discovery_unavailable).",
		}, []string{"reason"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "docs_callbacks_total",
			Help: "Callbacks from ONLYOFFICE Docs, by status (1, 2, 3, 4, 6, 7, other; unknown when refused before the body could be trusted) and result (ok; refused: {\"error\":1} for a bad JWT, key or URL, or a status 1 that cannot take the lock; retry: HTTP 503).",
		}, []string{"status", "result"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "docs_drops_total",
			Help: "Docs API editing sessions the bridge ended through DS's command service (drop), by reason (locked_elsewhere: a status 1 found the file locked by another session; key_outdated: the file changed since the key was issued) and result (ok, error).",
		}, []string{"reason", "result"}),
		saveDurations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "save_duration_seconds",
			Help:    "Time from a save's request (DS's callback, a WOPI PutFile) to its bytes being safe (in storage, in a conflict copy or in the spool), by style (docs, wopi) and outcome (saved, spooled, conflict, repeated, refused); replayed and recovered saves count from when they were spooled.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"style", "outcome"}),
		ops: map[string]map[string]bool{},
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.lockConflicts, m.sessionEvents, m.discovery, m.proofFailures,
		m.callbacks, m.drops, m.saveDurations,
	)
	for _, st := range []string{"1", "2", "3", "4", "6", "7"} {
		for _, r := range []string{callbackOK, callbackRefused} {
			m.callbacks.WithLabelValues(st, r)
		}
	}
	m.callbacks.WithLabelValues("unknown", callbackRefused)
	for _, k := range sessionEventKinds {
		m.sessionEvents.WithLabelValues(string(k))
	}
	for _, r := range []string{"ok", "error"} {
		m.discovery.WithLabelValues(r)
	}
	for _, r := range []string{proofMissing, proofExpired, proofFuture, proofInvalid, proofNoKey, proofUnavailable} {
		m.proofFailures.WithLabelValues(r)
	}
	m.http = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
	return m
}

// watchWaitingSaves exports how many saves wait in the spool for storage.
func (m *metrics) watchWaitingSaves(count func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "saves_waiting",
		Help: "Saves acknowledged to ONLYOFFICE Docs and kept in the state store because storage refused them, not yet written (as this process last saw the spool).",
	}, func() float64 { return float64(count()) }))
}

// watchEventDrops exports the timeline's dropped events, by reason, when the recorder
// counts them (events.Log); otherwise they stay at zero.
func (m *metrics) watchEventDrops(rec events.Recorder) {
	d, _ := rec.(interface{ Dropped(reason string) uint64 })
	for _, reason := range events.DropReasons {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "events_dropped_total",
			Help:        "Timeline events not stored, by reason (queue_full: the writer was behind; store: the state store refused them; closed: recorded while the server stopped).",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, func() float64 {
			if d == nil {
				return 0
			}
			return float64(d.Dropped(reason))
		}))
	}
}

// observeRequest counts a finished request from what the middleware knows about it.
func (m *metrics) observeRequest(ri *requestInfo, status int, d time.Duration) {
	face := ri.face
	if face == "" {
		face = facePage
	}
	op := m.operation(face, ri.op, status)
	m.requests.WithLabelValues(face, op, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(face, op).Observe(d.Seconds())
	var conflict *storage.LockConflictError
	if errors.As(ri.err, &conflict) {
		m.lockConflicts.WithLabelValues(face, op).Inc()
	}
}

// operation is the label of an operation: "none" when the request never reached a
// handler (an unknown path), "unsupported" for a 501 (the operation named by the client
// is not one of the bridge's), "other" past maxOperations.
func (m *metrics) operation(face, op string, status int) string {
	switch {
	case status == http.StatusNotImplemented:
		return "unsupported"
	case op == "":
		return "none"
	case len(op) > 64:
		return "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := m.ops[face]
	if seen == nil {
		seen = map[string]bool{}
		m.ops[face] = seen
	}
	if !seen[op] {
		if len(seen) >= maxOperations {
			return "other"
		}
		seen[op] = true
	}
	return op
}

func (m *metrics) sessionEvent(k session.EventKind) {
	m.sessionEvents.WithLabelValues(string(k)).Inc()
}

// discoveryFetched is the discovery cache's OnFetch hook.
func (m *metrics) discoveryFetched(ok bool) {
	if ok {
		m.discovery.WithLabelValues("ok").Inc()
	} else {
		m.discovery.WithLabelValues("error").Inc()
	}
}

// proofFailed counts a refused proof by the reason err gives.
func (m *metrics) proofFailed(err error) {
	reason := proofUnavailable
	switch {
	case errors.Is(err, wopiclient.ErrProofMissing):
		reason = proofMissing
	case errors.Is(err, wopiclient.ErrProofExpired):
		reason = proofExpired
	case errors.Is(err, wopiclient.ErrProofFuture):
		reason = proofFuture
	case errors.Is(err, wopiclient.ErrProofInvalid):
		reason = proofInvalid
	case errors.Is(err, wopiclient.ErrNoProofKey):
		reason = proofNoKey
	}
	m.proofFailures.WithLabelValues(reason).Inc()
}

// callback counts a callback by its status label and result.
func (m *metrics) callback(status, result string) {
	m.callbacks.WithLabelValues(status, result).Inc()
}

// docsDrop counts an editing session ended through the command service.
// saveDuration observes how long a save took to be safe.
func (m *metrics) saveDuration(style, outcome string, d time.Duration) {
	m.saveDurations.WithLabelValues(style, outcome).Observe(d.Seconds())
}

func (m *metrics) docsDrop(reason, result string) {
	m.drops.WithLabelValues(reason, result).Inc()
}

// serveMetrics answers GET /metrics.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	ri := info(r.Context())
	ri.face, ri.op = faceOperator, "Metrics"
	s.metrics.http.ServeHTTP(w, r)
}
