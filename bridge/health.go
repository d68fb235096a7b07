package bridge

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// readyTimeout bounds the readiness checks.
const readyTimeout = 5 * time.Second

// healthz answers liveness: the process serves requests. It checks nothing else, so
// that a storage or DS outage never gets the process restarted.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ri := info(r.Context())
	ri.face, ri.op = faceOperator, "Healthz"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readyCheck is one readiness check and its outcome ("" when it passed).
type readyCheck struct {
	name    string
	problem string
}

// readyz answers readiness: storage and state reachable, and, with a Document Server
// configured, its discovery cached (fetched now if it never was), with proof keys when
// proofs are required. The body has one line per check, so that an operator sees which
// one failed:
//
//	not ready
//	storage: ok
//	state: ok
//	discovery: failed: wopi: discovery http://ds/hosting/discovery: ...
//
// In front of another WOPI host, a line "upstream: ok" or "upstream: failing: ..."
// reports how it answered the latest calls. It does not make the bridge unready: the
// bridge keeps saves while the upstream is down, and must go on receiving them.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ri := info(r.Context())
	ri.face, ri.op = faceOperator, "Readyz"
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	checks := []readyCheck{{name: "storage"}, {name: "state"}}
	if c, ok := s.store.(storage.Checker); ok {
		if err := c.Check(ctx); err != nil {
			checks[0].problem = err.Error()
		}
	} else if _, err := s.store.Root(ctx); err != nil {
		checks[0].problem = err.Error()
	}
	if err := s.state.View(func(tx state.Tx) error {
		_, err := tx.Get(metaBucket, secretKey)
		return err
	}); err != nil {
		checks[1].problem = err.Error()
	}
	if s.discovery != nil {
		checks = append(checks, s.discoveryChecks(ctx)...)
	}
	var body strings.Builder
	var failed []string
	for _, c := range checks {
		if c.problem == "" {
			body.WriteString(c.name + ": ok\n")
			continue
		}
		body.WriteString(c.name + ": failed: " + c.problem + "\n")
		failed = append(failed, c.name+": "+c.problem)
	}
	if u, ok := s.store.(upstreamReporter); ok {
		if err := u.UpstreamState(); err != nil {
			body.WriteString("upstream: failing: " + err.Error() + "\n")
		} else {
			body.WriteString("upstream: ok\n")
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(failed) > 0 {
		ri.err = userErr(storage.ErrUnavailable, "not ready: %s", strings.Join(failed, "; "))
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n" + body.String()))
		return
	}
	_, _ = w.Write([]byte("ready\n" + body.String()))
}

// upstreamReporter is a storage in front of another server that knows how that server
// answered its latest calls (wopi storage).
type upstreamReporter interface {
	UpstreamState() error
}

// discoveryChecks say whether the WOPI face can work: a discovery fetched (a copy kept
// from before DS went down still counts as cached), and, with proofs required, usable
// proof keys in it.
func (s *Server) discoveryChecks(ctx context.Context) []readyCheck {
	d, err := s.discovery.Get(ctx)
	if err != nil {
		return []readyCheck{{name: "discovery", problem: err.Error()}}
	}
	checks := []readyCheck{{name: "discovery"}}
	if s.proof != nil {
		pk := readyCheck{name: "proof keys"}
		if _, err := d.ProofKeys(); err != nil {
			pk.problem = err.Error() + " (WOPIBRIDGE_PROOF=require)"
		} else if kerr := s.discovery.Status().KeysError; kerr != nil {
			// Still working with the last good keys: say so, without failing.
			pk.name += " (the last good ones are kept: DS now publishes none usable: " + kerr.Error() + ")"
		}
		checks = append(checks, pk)
	}
	return checks
}
