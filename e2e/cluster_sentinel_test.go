package e2e

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/e2e/docserver"
)

// Three replicas on a Sentinel-watched master and replica (wait=1, the default), with
// failovers forced while the soak's sessions save: every acknowledged save is in its
// file after them, and the replicas keep working against each new master.
func TestClusterSentinelFailoverDuringSaves(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	c := startCluster(t, clusterOptions{Sentinel: true, DS: docserver.Options{RetryBase: 200 * time.Millisecond}})
	s := &soak{t: t, c: c, seed: seed}
	s.run(40, func(done <-chan struct{}) {
		// A failover soon after the start, then one every few seconds: the store
		// needs the demoted master back in sync as a replica before writes count
		// as done again (wait=1).
		rng := rand.New(rand.NewPCG(seed, 2))
		pause := time.Duration(300+rng.IntN(700)) * time.Millisecond
		for {
			select {
			case <-done:
				return
			case <-time.After(pause):
			}
			pause = time.Duration(2000+rng.IntN(2000)) * time.Millisecond
			old := c.Sent.Master(t)
			if next := c.Sent.Failover(t); next == old {
				t.Errorf("the failover kept %s as master", old.Addr)
			}
			s.failovers.Add(1)
		}
	})
	if s.failovers.Load() == 0 {
		t.Error("the sessions ended before any failover: the test judged nothing of Sentinel")
	}
	// After the last failover, a whole session still saves.
	s.run(2, func(<-chan struct{}) {})
}
