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

// healthz answers liveness: the process serves requests.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers readiness: storage and state reachable, and, with a Document Server
// configured, its discovery cached (fetched now if it never was), with proof keys when
// proofs are required.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	var problems []string
	if c, ok := s.store.(storage.Checker); ok {
		if err := c.Check(ctx); err != nil {
			problems = append(problems, "storage: "+err.Error())
		}
	} else if _, err := s.store.Root(ctx); err != nil {
		problems = append(problems, "storage: "+err.Error())
	}
	if err := s.state.View(func(tx state.Tx) error {
		_, err := tx.Get(metaBucket, secretKey)
		return err
	}); err != nil {
		problems = append(problems, "state: "+err.Error())
	}
	if s.discovery != nil {
		problems = append(problems, s.discoveryProblems(ctx)...)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(problems) > 0 {
		info(r.Context()).err = userErr(storage.ErrUnavailable, "%s", strings.Join(problems, "; "))
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + strings.Join(problems, "; ") + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// discoveryProblems says what keeps the WOPI face from working: no discovery ever
// fetched, or, with proofs required, no usable proof keys in it. A discovery kept from
// before DS went down still counts as cached.
func (s *Server) discoveryProblems(ctx context.Context) []string {
	d, err := s.discovery.Get(ctx)
	if err != nil {
		return []string{"discovery: " + err.Error()}
	}
	if s.proof != nil {
		if _, err := d.ProofKeys(); err != nil {
			return []string{"proof keys: " + err.Error() + " (WOPIBRIDGE_PROOF=require)"}
		}
	}
	return nil
}
