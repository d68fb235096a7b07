package state_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/state/redistest"
	"github.com/wopibridge/wopibridge/bridge/state/statetest"
)

func openRedis(t *testing.T, rawURL string) *state.Redis {
	t.Helper()
	s, err := state.OpenRedis(rawURL)
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRedisConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Store {
		return openRedis(t, redistest.Start(t).URL(0))
	})
}

// replicas are two stores on one server, as two bridge processes would have.
func replicas(t *testing.T) (a, b *state.Redis) {
	srv := redistest.Start(t)
	return openRedis(t, srv.URL(0)), openRedis(t, srv.URL(0))
}

func getCounter(tx state.Tx) (int, error) {
	v, err := tx.Get("counter", "n")
	if err != nil || v == nil {
		return 0, err
	}
	return strconv.Atoi(string(v))
}

func increment(tx state.Tx) error {
	n, err := getCounter(tx)
	if err != nil {
		return err
	}
	return tx.Put("counter", "n", strconv.AppendInt(nil, int64(n+1), 10))
}

func readCounter(t *testing.T, s state.Store) int {
	t.Helper()
	var n int
	if err := s.View(func(tx state.Tx) (err error) { n, err = getCounter(tx); return err }); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return n
}

func TestRedisReplicasLoseNoUpdate(t *testing.T) {
	a, b := replicas(t)
	const workers, rounds = 12, 15 // per replica
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*rounds)
	for _, s := range []*state.Redis{a, b} {
		for range workers {
			wg.Go(func() {
				for range rounds {
					errs <- s.Update(increment)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	want := 2 * workers * rounds
	for name, s := range map[string]*state.Redis{"a": a, "b": b} {
		if got := readCounter(t, s); got != want {
			t.Errorf("replica %s reads counter %d after %d increments, want %d", name, got, want, want)
		}
	}
}

func TestRedisConflictIsRetried(t *testing.T) {
	a, b := replicas(t)
	if err := a.Update(func(tx state.Tx) error { return tx.Put("counter", "n", []byte("10")) }); err != nil {
		t.Fatal(err)
	}
	var seen []int
	err := a.Update(func(tx state.Tx) error {
		n, err := getCounter(tx)
		if err != nil {
			return err
		}
		seen = append(seen, n)
		if len(seen) == 1 {
			// The other replica commits between this transaction's read and its commit.
			if err := b.Update(increment); err != nil {
				return err
			}
		}
		if err := tx.Put("counter", "n", strconv.AppendInt(nil, int64(n+100), 10)); err != nil {
			return err
		}
		return tx.Put("log", fmt.Sprint("attempt-", len(seen)), nil)
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if want := []int{10, 11}; !slices.Equal(seen, want) {
		t.Errorf("fn read %v over its attempts, want %v (one conflict, then fresh data)", seen, want)
	}
	if got, want := readCounter(t, b), 111; got != want {
		t.Errorf("counter = %d, want %d", got, want)
	}
	var logged []string
	b.View(func(tx state.Tx) error {
		return tx.ForEach("log", func(k string, _ []byte) error { logged = append(logged, k); return nil })
	})
	if want := []string{"attempt-2"}; !slices.Equal(logged, want) {
		t.Errorf("writes that landed: %q, want only those of the retried attempt %q", logged, want)
	}
}

// An error fn returns after reading data that changed before the end of the
// transaction came from a state that no longer holds: fn runs again.
func TestRedisErrorFromStaleReadIsRetried(t *testing.T) {
	a, b := replicas(t)
	errLocked := errors.New("locked by someone else")
	if err := a.Update(func(tx state.Tx) error { return tx.Put("locks", "f1", []byte("other")) }); err != nil {
		t.Fatal(err)
	}
	attempts := 0
	err := a.Update(func(tx state.Tx) error {
		attempts++
		holder, err := tx.Get("locks", "f1")
		if err != nil {
			return err
		}
		if attempts == 1 {
			// The holder unlocks while this transaction decides.
			if err := b.Update(func(tx state.Tx) error { return tx.Delete("locks", "f1") }); err != nil {
				return err
			}
		}
		if holder != nil {
			return errLocked
		}
		return tx.Put("locks", "f1", []byte("me"))
	})
	if err != nil {
		t.Fatalf("Update = %v after %d attempts, want nil once the lock was seen free", err, attempts)
	}
	if attempts != 2 {
		t.Errorf("fn ran %d times, want 2", attempts)
	}

	// With nothing changing under it, fn's error is returned as is, after one run.
	attempts = 0
	err = b.Update(func(tx state.Tx) error {
		attempts++
		if _, err := tx.Get("locks", "f1"); err != nil {
			return err
		}
		return fmt.Errorf("f1: %w", errLocked)
	})
	if !errors.Is(err, errLocked) || attempts != 1 {
		t.Errorf("Update = %v after %d runs, want fn's error after 1", err, attempts)
	}
}

func TestRedisEndlessConflictGivesUp(t *testing.T) {
	a, b := replicas(t)
	attempts := 0
	err := a.Update(func(tx state.Tx) error {
		attempts++
		if err := increment(tx); err != nil {
			return err
		}
		return b.Update(increment) // another replica always gets there first
	})
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("Update = %v, want ErrConflict", err)
	}
	if !strings.Contains(err.Error(), "WOPIBRIDGE_STATE") {
		t.Errorf("error %q does not name WOPIBRIDGE_STATE", err)
	}
	if attempts < 2 {
		t.Errorf("gave up after %d attempts, want retries first", attempts)
	}
	if got := readCounter(t, b); got != attempts {
		t.Errorf("counter = %d, want %d: only the other replica's increments land", got, attempts)
	}
}

func TestRedisReadsSeeOwnWrites(t *testing.T) {
	a, b := replicas(t)
	err := a.Update(func(tx state.Tx) error {
		for _, k := range []string{"b", "d", "e"} {
			if err := tx.Put("names", k, []byte("old-"+k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	type kv struct{ k, v string }
	var walk []kv
	err = a.Update(func(tx state.Tx) error {
		walk = walk[:0]
		steps := []func() error{
			func() error { return tx.Put("names", "a", []byte("new-a")) },
			func() error { return tx.Put("names", "d", []byte("new-d")) },
			func() error { return tx.Delete("names", "e") },
			func() error { return tx.Put("names", "c", []byte{}) },
			func() error { return tx.Delete("names", "c") },
			func() error { return tx.Put("names", "c", []byte("new-c")) },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		for k, want := range map[string][]byte{"a": []byte("new-a"), "b": []byte("old-b"), "c": []byte("new-c"), "d": []byte("new-d"), "e": nil} {
			if got, err := tx.Get("names", k); err != nil || !bytes.Equal(got, want) || (got == nil) != (want == nil) {
				return fmt.Errorf("Get(%q) inside the transaction = %q, %v; want %q", k, got, err, want)
			}
		}
		// Nothing is visible to others before the commit.
		if err := b.View(func(other state.Tx) error {
			if v, err := other.Get("names", "a"); err != nil || v != nil {
				return fmt.Errorf("another replica sees an uncommitted write: %q, %v", v, err)
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.ForEach("names", func(k string, v []byte) error {
			walk = append(walk, kv{k, string(v)})
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []kv{{"a", "new-a"}, {"b", "old-b"}, {"c", "new-c"}, {"d", "new-d"}}
	if !slices.Equal(walk, want) {
		t.Errorf("ForEach inside the transaction = %q, want %q", walk, want)
	}
	var after []kv
	b.View(func(tx state.Tx) error {
		return tx.ForEach("names", func(k string, v []byte) error {
			after = append(after, kv{k, string(v)})
			return nil
		})
	})
	if !slices.Equal(after, want) {
		t.Errorf("after the commit the other replica sees %q, want %q", after, want)
	}
}

// ForEach fetches values in batches sized by what it has seen: walk buckets of many
// small values and of several large ones, and stop early in one.
func TestRedisForEachBatches(t *testing.T) {
	s := openRedis(t, redistest.Start(t).URL(0))
	const small = 1500
	var want []string
	err := s.Update(func(tx state.Tx) error {
		want = want[:0]
		for i := range small {
			k := fmt.Sprintf("k%05d", i)
			want = append(want, k)
			if err := tx.Put("small", k, []byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	chunk := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 3<<20+i) }
	const large = 5
	for i := range large { // one transaction each: a few MiB per value
		if err := s.Update(func(tx state.Tx) error { return tx.Put("spool.data", fmt.Sprint(i), chunk(i)) }); err != nil {
			t.Fatalf("Put of %d bytes: %v", len(chunk(i)), err)
		}
	}

	var got []string
	err = s.View(func(tx state.Tx) error {
		return tx.ForEach("small", func(k string, v []byte) error {
			if string(v) != k {
				return fmt.Errorf("value of %q = %q", k, v)
			}
			got = append(got, k)
			return nil
		})
	})
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ForEach over %d small values: %d keys in order %v, err %v", small, len(got), slices.Equal(got, want), err)
	}

	seen := 0
	err = s.View(func(tx state.Tx) error {
		return tx.ForEach("spool.data", func(k string, v []byte) error {
			if k != fmt.Sprint(seen) || !bytes.Equal(v, chunk(seen)) {
				return fmt.Errorf("chunk %q: %d bytes, want chunk %d", k, len(v), seen)
			}
			seen++
			return nil
		})
	})
	if err != nil || seen != large {
		t.Errorf("ForEach over large values: %d seen, err %v", seen, err)
	}

	stop := errors.New("stop")
	visited := 0
	err = s.View(func(tx state.Tx) error {
		return tx.ForEach("small", func(string, []byte) error {
			if visited++; visited == 700 {
				return stop
			}
			return nil
		})
	})
	if !errors.Is(err, stop) || visited != 700 {
		t.Errorf("stopped walk: %d visited, err %v; want 700, stop", visited, err)
	}
}

// Operators find the data as documented: one hash per bucket.
func TestRedisKeyLayout(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv.URL(3))
	if err := s.Update(func(tx state.Tx) error { return tx.Put("fs.nodes", "id1", []byte("report.docx")) }); err != nil {
		t.Fatal(err)
	}
	opt, err := redis.ParseURL(srv.URL(3))
	if err != nil {
		t.Fatal(err)
	}
	raw := redis.NewClient(opt)
	defer raw.Close()
	got, err := raw.HGet(context.Background(), state.RedisKeyPrefix+"fs.nodes", "id1").Result()
	if err != nil || got != "report.docx" {
		t.Errorf("HGET %sfs.nodes id1 = %q, %v; want report.docx", state.RedisKeyPrefix, got, err)
	}
}

func TestOpenRedisErrors(t *testing.T) {
	const password = "s3cret-Pa55"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := ln.Addr().String()
	ln.Close() // nothing listens there now
	auth := redistest.Start(t, "--requirepass", password)

	tests := []struct {
		name, url string
		want      []string
	}{
		{"unreachable", "redis://" + nobody + "/0", []string{"WOPIBRIDGE_STATE", "cannot reach Redis", nobody}},
		{"unreachable with password", "redis://user:" + password + "@" + nobody + "/0", []string{"WOPIBRIDGE_STATE", nobody, "xxxxx"}},
		{"wrong password", "redis://:wrong-" + password + "@" + auth.Addr + "/0", []string{"WOPIBRIDGE_STATE", auth.Addr}},
		{"no password", auth.URL(0), []string{"WOPIBRIDGE_STATE", "NOAUTH"}},
		{"bad database", "redis://:" + password + "@" + auth.Addr + "/x", []string{"WOPIBRIDGE_STATE", "database"}},
		{"unparsable", "redis://:" + password + "%zz@" + auth.Addr + "/0", []string{"WOPIBRIDGE_STATE", "redis URL"}},
		{"unknown option", "redis://:" + password + "@" + auth.Addr + "/0?colour=blue", []string{"WOPIBRIDGE_STATE", "colour"}},
		{"not redis", "http://" + auth.Addr, []string{"WOPIBRIDGE_STATE", "scheme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := state.OpenRedis(tt.url)
			if err == nil {
				s.Close()
				t.Fatal("OpenRedis succeeded, want an error")
			}
			msg := err.Error()
			for _, want := range tt.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			if strings.Contains(msg, password) {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}

	s := openRedis(t, "redis://:"+password+"@"+auth.Addr+"/0")
	if err := s.Update(func(tx state.Tx) error { return tx.Put("b", "k", []byte("v")) }); err != nil {
		t.Errorf("with the right password: %v", err)
	}
}

func TestRedisServerGone(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv.URL(0))
	srv.Stop(t)
	err := s.Update(func(tx state.Tx) error { return tx.Put("b", "k", []byte("v")) })
	if err == nil || !strings.Contains(err.Error(), "WOPIBRIDGE_STATE") {
		t.Errorf("Update with the server gone = %v, want an error naming WOPIBRIDGE_STATE", err)
	}
	err = s.View(func(tx state.Tx) error { _, err := tx.Get("b", "k"); return err })
	if err == nil || !strings.Contains(err.Error(), "WOPIBRIDGE_STATE") {
		t.Errorf("View with the server gone = %v, want an error naming WOPIBRIDGE_STATE", err)
	}
}

func TestRedisTxOutlivesTransaction(t *testing.T) {
	s := openRedis(t, redistest.Start(t).URL(0))
	var kept state.Tx
	if err := s.Update(func(tx state.Tx) error { kept = tx; return tx.Put("b", "k", []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := kept.Put("b", "k", []byte("late")); err == nil {
		t.Error("Put through a Tx after its Update returned succeeded, want an error")
	}
	if _, err := kept.Get("b", "k"); err == nil {
		t.Error("Get through a Tx after its Update returned succeeded, want an error")
	}
}

// In a Cluster the store's hashes share one slot (the hash tag), so that a transaction
// spanning several of them is allowed; the conformance suite runs on a real one.
func TestRedisClusterConformance(t *testing.T) {
	srv := redistest.StartCluster(t) // one for all: a Cluster takes seconds to form
	statetest.Run(t, func(t *testing.T) state.Store {
		srv.Flush(t)
		s := openRedis(t, "redis-cluster://"+srv.Addr+"?wait=0")
		if err := s.Update(func(tx state.Tx) error {
			if err := tx.Put("one", "k", []byte("1")); err != nil {
				return err
			}
			return tx.Put("two", "k", []byte("2"))
		}); err != nil {
			t.Fatalf("a transaction over two buckets: %v", err)
		}
		raw := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr}})
		defer raw.Close()
		if got, err := raw.HGet(context.Background(), state.RedisClusterKeyPrefix+"two", "k").Result(); err != nil || got != "2" {
			t.Fatalf("HGET %stwo k = %q, %v; want 2", state.RedisClusterKeyPrefix, got, err)
		}
		if err := s.Update(func(tx state.Tx) error {
			if err := tx.Delete("one", "k"); err != nil {
				return err
			}
			return tx.Delete("two", "k")
		}); err != nil {
			t.Fatal(err)
		}
		return s
	})
}
