package redistest

import (
	"strings"
	"testing"
)

// StartCluster starts a Redis Cluster of one node holding every slot, enough to run a
// client in cluster mode (slot routing, MOVED handling, cross-slot rules) against the
// real server. URL-wise it is reached as redis-cluster://<Addr>.
func StartCluster(t testing.TB) *Server {
	t.Helper()
	s := Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	if _, err := command(s.Addr, "CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
		t.Fatalf("redistest: CLUSTER ADDSLOTSRANGE: %v", err)
	}
	waitCond(t, "cluster state ok", func() (bool, error) {
		info, err := command(s.Addr, "CLUSTER", "INFO")
		return strings.Contains(info, "cluster_state:ok"), err
	})
	return s
}

// Flush empties every database of the server (FLUSHALL).
func (s *Server) Flush(t testing.TB) {
	t.Helper()
	if _, err := command(s.Addr, "FLUSHALL"); err != nil {
		t.Fatalf("redistest: FLUSHALL: %v", err)
	}
}
