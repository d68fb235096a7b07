package state_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/state/redistest"
)

// A write the master took but no replica got is lost when a replica takes over. With
// wait=1 the store does not report such a write done.
func TestRedisSentinelUnreplicatedWriteIsNotAcknowledged(t *testing.T) {
	sent := redistest.StartSentinel(t, 1)
	s := openRedis(t, sent.URL(0, "wait_timeout=300ms")) // wait=1 is the Sentinel default
	if err := s.Update(func(tx state.Tx) error { return tx.Put("saves", "before", []byte("replicated")) }); err != nil {
		t.Fatalf("write with the replica up: %v", err)
	}

	// The replica loses its link and cannot come back (the master now wants a
	// password the replica does not have); the master still answers the store, whose
	// connection is authenticated already.
	master, replica := sent.Servers[0], sent.Servers[1]
	raw := redis.NewClient(&redis.Options{Addr: master.Addr})
	defer raw.Close()
	ctx := context.Background()
	if err := raw.ConfigSet(ctx, "requirepass", "replicas-locked-out").Err(); err != nil {
		t.Fatal(err)
	}
	if err := raw.ClientKillByFilter(ctx, "TYPE", "replica").Err(); err != nil {
		t.Fatal(err)
	}
	err := s.Update(func(tx state.Tx) error { return tx.Put("saves", "during", []byte("master only")) })
	acknowledged := err == nil
	if !errors.Is(err, state.ErrNotReplicated) {
		t.Errorf("write while no replica takes it: %v, want ErrNotReplicated", err)
	}

	// The master dies; the replica is promoted.
	if sent.KillMaster(t) != replica {
		t.Fatal("the sentinels promoted another server")
	}
	after := openRedis(t, sent.URL(0, "wait=0"))
	got := map[string]string{}
	if err := after.View(func(tx state.Tx) error {
		return tx.ForEach("saves", func(k string, v []byte) error { got[k] = string(v); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if got["before"] != "replicated" {
		t.Errorf("after the failover the replicated write reads %q", got["before"])
	}
	if acknowledged && got["during"] != "master only" {
		t.Errorf("a write reported done is lost after the failover: %q", got)
	}
}

// Writers run through a forced failover: every write reported done is there after it,
// and writes go on against the new master.
func TestRedisSentinelFailoverDuringWrites(t *testing.T) {
	sent := redistest.StartSentinel(t, 1)
	s := openRedis(t, sent.URL(0))

	var (
		mu     sync.Mutex
		done   = map[string]bool{}
		failed atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	afterFailover := make(chan struct{})
	var doneAfter atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", w, i)
				err := s.Update(func(tx state.Tx) error {
					n, err := getCounter(tx)
					if err != nil {
						return err
					}
					if err := tx.Put("counter", "n", fmt.Appendf(nil, "%d", n+1)); err != nil {
						return err
					}
					return tx.Put("saves", key, []byte(key))
				})
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				done[key] = true
				mu.Unlock()
				select {
				case <-afterFailover:
					doneAfter.Add(1)
				default:
				}
			}
		})
	}
	waitUntil(t, "writes before the failover", func() bool { mu.Lock(); defer mu.Unlock(); return len(done) >= 50 })
	old := sent.Master(t)
	if next := sent.Failover(t); next == old {
		t.Fatal("no new master")
	}
	close(afterFailover)
	waitUntil(t, "writes against the new master", func() bool { return doneAfter.Load() >= 50 })
	close(stop)
	wg.Wait()

	got := map[string]bool{}
	var counter int
	if err := s.View(func(tx state.Tx) error {
		var err error
		if counter, err = getCounter(tx); err != nil {
			return err
		}
		return tx.ForEach("saves", func(k string, _ []byte) error { got[k] = true; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for k := range done {
		if !got[k] {
			lost++
			if lost <= 5 {
				t.Errorf("write %s was reported done and is gone after the failover", k)
			}
		}
	}
	if counter < len(done) {
		t.Errorf("counter %d after %d writes reported done", counter, len(done))
	}
	t.Logf("%d writes done (%d after the failover), %d failed during it, %d lost", len(done), doneAfter.Load(), failed.Load(), lost)
}

// waitUntil polls cond until it holds, failing the test after a deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
