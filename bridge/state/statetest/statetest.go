// Package statetest is the conformance suite every state.Store implementation passes.
package statetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/wopibridge/wopibridge/bridge/state"
)

// Run checks the Store contract. open returns a new, empty store each time it is called;
// the suite closes what it opens (open may also register its own cleanup).
func Run(t *testing.T, open func(t *testing.T) state.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s state.Store)
	}{
		{"GetAbsent", testGetAbsent},
		{"PutGet", testPutGet},
		{"EmptyValue", testEmptyValue},
		{"EmptyKey", testEmptyKey},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"BucketsAreSeparate", testBucketsSeparate},
		{"ValuesAreCopies", testValuesAreCopies},
		{"RollbackOnError", testRollback},
		{"ViewIsReadOnly", testViewReadOnly},
		{"ViewSeesCommitted", testViewSeesCommitted},
		{"ForEachOrder", testForEachOrder},
		{"ForEachStops", testForEachStops},
		{"ForEachMissingBucket", testForEachMissingBucket},
		{"LargeValue", testLargeValue},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

func put(t *testing.T, s state.Store, bucket, key string, value []byte) {
	t.Helper()
	if err := s.Update(func(tx state.Tx) error { return tx.Put(bucket, key, value) }); err != nil {
		t.Fatalf("Put(%q, %q): %v", bucket, key, err)
	}
}

func get(t *testing.T, s state.Store, bucket, key string) []byte {
	t.Helper()
	var v []byte
	if err := s.View(func(tx state.Tx) error {
		var err error
		v, err = tx.Get(bucket, key)
		return err
	}); err != nil {
		t.Fatalf("Get(%q, %q): %v", bucket, key, err)
	}
	return v
}

func keys(t *testing.T, s state.Store, bucket string) []string {
	t.Helper()
	var got []string
	if err := s.View(func(tx state.Tx) error {
		return tx.ForEach(bucket, func(k string, _ []byte) error {
			got = append(got, k)
			return nil
		})
	}); err != nil {
		t.Fatalf("ForEach(%q): %v", bucket, err)
	}
	return got
}

func testGetAbsent(t *testing.T, s state.Store) {
	if v := get(t, s, "never.written", "k"); v != nil {
		t.Errorf("Get in a missing bucket = %q, want nil", v)
	}
	put(t, s, "b", "k", []byte("v"))
	if v := get(t, s, "b", "other"); v != nil {
		t.Errorf("Get of a missing key = %q, want nil", v)
	}
	err := s.Update(func(tx state.Tx) error {
		v, err := tx.Get("never.written.either", "k")
		if err != nil {
			return err
		}
		if v != nil {
			return fmt.Errorf("Get in Update of a missing bucket = %q, want nil", v)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

func testPutGet(t *testing.T, s state.Store) {
	cases := map[string][]byte{
		"plain":            []byte("value"),
		"with/slash":       []byte("x"),
		"with:colon space": []byte("y"),
		"unicode-é":        []byte("z"),
		"binary":           {0, 1, 2, 0xff, 0},
	}
	for k, v := range cases {
		put(t, s, "fs.nodes", k, v)
	}
	for k, want := range cases {
		if got := get(t, s, "fs.nodes", k); !bytes.Equal(got, want) {
			t.Errorf("Get(%q) = %q, want %q", k, got, want)
		}
	}
}

func testEmptyValue(t *testing.T, s state.Store) {
	put(t, s, "b", "empty", []byte{})
	got := get(t, s, "b", "empty")
	if got == nil || len(got) != 0 {
		t.Errorf("Get of an empty value = %#v, want a non-nil empty slice", got)
	}
}

func testEmptyKey(t *testing.T, s state.Store) {
	err := s.Update(func(tx state.Tx) error { return tx.Put("b", "", []byte("v")) })
	if err == nil {
		t.Error("Put with an empty key succeeded, want an error")
	}
}

func testOverwrite(t *testing.T, s state.Store) {
	put(t, s, "b", "k", []byte("first, and longer"))
	put(t, s, "b", "k", []byte("second"))
	if got, want := get(t, s, "b", "k"), []byte("second"); !bytes.Equal(got, want) {
		t.Errorf("Get after overwrite = %q, want %q", got, want)
	}
	if got := keys(t, s, "b"); !slices.Equal(got, []string{"k"}) {
		t.Errorf("keys after overwrite = %q, want [k]", got)
	}
}

func testDelete(t *testing.T, s state.Store) {
	put(t, s, "b", "k", []byte("v"))
	put(t, s, "b", "keep", []byte("v"))
	if err := s.Update(func(tx state.Tx) error { return tx.Delete("b", "k") }); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if v := get(t, s, "b", "k"); v != nil {
		t.Errorf("Get after Delete = %q, want nil", v)
	}
	if v := get(t, s, "b", "keep"); !bytes.Equal(v, []byte("v")) {
		t.Errorf("Delete removed a neighbour: Get(keep) = %q", v)
	}
	if err := s.Update(func(tx state.Tx) error { return tx.Delete("b", "k") }); err != nil {
		t.Errorf("Delete of an absent key: %v, want nil", err)
	}
	if err := s.Update(func(tx state.Tx) error { return tx.Delete("never.written", "k") }); err != nil {
		t.Errorf("Delete in a missing bucket: %v, want nil", err)
	}
}

func testBucketsSeparate(t *testing.T, s state.Store) {
	put(t, s, "one", "k", []byte("1"))
	put(t, s, "two", "k", []byte("2"))
	put(t, s, "one.sub", "k", []byte("3"))
	for bucket, want := range map[string]string{"one": "1", "two": "2", "one.sub": "3"} {
		if got := get(t, s, bucket, "k"); string(got) != want {
			t.Errorf("Get(%q, k) = %q, want %q", bucket, got, want)
		}
	}
	if got := keys(t, s, "one"); !slices.Equal(got, []string{"k"}) {
		t.Errorf("keys(one) = %q, want [k]", got)
	}
}

func testValuesAreCopies(t *testing.T, s state.Store) {
	in := []byte("original")
	err := s.Update(func(tx state.Tx) error {
		if err := tx.Put("b", "k", in); err != nil {
			return err
		}
		copy(in, "MUTATED!") // the caller reuses its buffer before commit
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	got := get(t, s, "b", "k")
	if string(got) != "original" {
		t.Fatalf("stored value = %q, want %q (Put must copy)", got, "original")
	}
	got[0] = 'X'
	if again := get(t, s, "b", "k"); string(again) != "original" {
		t.Errorf("mutating a Get result changed the store: %q", again)
	}

	var seen []byte
	err = s.View(func(tx state.Tx) error {
		return tx.ForEach("b", func(_ string, v []byte) error {
			seen = v
			return nil
		})
	})
	if err != nil {
		t.Fatalf("ForEach: %v", err)
	}
	put(t, s, "b", "k", []byte("replaced"))
	if string(seen) != "original" {
		t.Errorf("ForEach value kept after the transaction = %q, want %q", seen, "original")
	}
}

func testRollback(t *testing.T, s state.Store) {
	put(t, s, "a", "k", []byte("before"))
	boom := errors.New("boom")
	err := s.Update(func(tx state.Tx) error {
		if err := tx.Put("a", "k", []byte("after")); err != nil {
			return err
		}
		if err := tx.Put("b", "new", []byte("x")); err != nil {
			return err
		}
		if err := tx.Delete("a", "k"); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want fn's error", err)
	}
	if got := get(t, s, "a", "k"); string(got) != "before" {
		t.Errorf("after rollback Get(a, k) = %q, want %q", got, "before")
	}
	if got := get(t, s, "b", "new"); got != nil {
		t.Errorf("after rollback Get(b, new) = %q, want nil", got)
	}
}

func testViewReadOnly(t *testing.T, s state.Store) {
	put(t, s, "b", "k", []byte("v"))
	if err := s.View(func(tx state.Tx) error { return tx.Put("b", "k", []byte("w")) }); err == nil {
		t.Error("Put inside View succeeded, want an error")
	}
	if err := s.View(func(tx state.Tx) error { return tx.Delete("b", "k") }); err == nil {
		t.Error("Delete inside View succeeded, want an error")
	}
	if got := get(t, s, "b", "k"); string(got) != "v" {
		t.Errorf("after writes in View Get = %q, want %q", got, "v")
	}
	boom := errors.New("boom")
	if err := s.View(func(state.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("View error = %v, want fn's error", err)
	}
}

func testViewSeesCommitted(t *testing.T, s state.Store) {
	for i := range 5 {
		put(t, s, "b", "n", []byte{byte(i)})
		if got := get(t, s, "b", "n"); !bytes.Equal(got, []byte{byte(i)}) {
			t.Fatalf("View after commit %d = %v", i, got)
		}
	}
}

func testForEachOrder(t *testing.T, s state.Store) {
	want := []string{"A", "B", "a", "a\x00", "aa", "ab", "b", "z", "é"}
	shuffled := []string{"z", "a", "é", "B", "ab", "A", "b", "a\x00", "aa"}
	err := s.Update(func(tx state.Tx) error {
		for _, k := range shuffled {
			if err := tx.Put("order", k, []byte("v-"+k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	var got []string
	err = s.View(func(tx state.Tx) error {
		return tx.ForEach("order", func(k string, v []byte) error {
			if string(v) != "v-"+k {
				return fmt.Errorf("value of %q = %q", k, v)
			}
			got = append(got, k)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("ForEach: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ForEach order = %q, want %q", got, want)
	}
	// The same walk inside a read-write transaction.
	got = nil
	err = s.Update(func(tx state.Tx) error {
		got = got[:0]
		return tx.ForEach("order", func(k string, _ []byte) error {
			got = append(got, k)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("ForEach in Update: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ForEach order in Update = %q, want %q", got, want)
	}
}

func testForEachStops(t *testing.T, s state.Store) {
	for _, k := range []string{"1", "2", "3", "4"} {
		put(t, s, "b", k, []byte(k))
	}
	stop := errors.New("stop")
	var visited []string
	err := s.View(func(tx state.Tx) error {
		return tx.ForEach("b", func(k string, _ []byte) error {
			visited = append(visited, k)
			if k == "2" {
				return stop
			}
			return nil
		})
	})
	if !errors.Is(err, stop) {
		t.Errorf("ForEach error = %v, want fn's error", err)
	}
	if !slices.Equal(visited, []string{"1", "2"}) {
		t.Errorf("visited %q, want [1 2]", visited)
	}
}

func testForEachMissingBucket(t *testing.T, s state.Store) {
	calls := 0
	err := s.View(func(tx state.Tx) error {
		return tx.ForEach("never.written", func(string, []byte) error {
			calls++
			return nil
		})
	})
	if err != nil || calls != 0 {
		t.Errorf("ForEach on a missing bucket: err %v, %d calls; want nil, 0", err, calls)
	}
}

func testLargeValue(t *testing.T, s state.Store) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	put(t, s, "spool", "big", big)
	if got := get(t, s, "spool", "big"); !bytes.Equal(got, big) {
		t.Errorf("large value: got %d bytes, want %d identical bytes", len(got), len(big))
	}
}

func testConcurrentUpdates(t *testing.T, s state.Store) {
	const workers, rounds = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds+rounds)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				errs <- s.Update(func(tx state.Tx) error {
					v, err := tx.Get("counter", "n")
					if err != nil {
						return err
					}
					n := 0
					if v != nil {
						if n, err = strconv.Atoi(string(v)); err != nil {
							return err
						}
					}
					if err := tx.Put("counter", "n", fmt.Appendf(nil, "%d", n+1)); err != nil {
						return err
					}
					return tx.Put("seen", fmt.Sprintf("%02d-%02d", w, r), nil)
				})
			}
		})
	}
	wg.Go(func() { // readers alongside the writers
		for range rounds {
			errs <- s.View(func(tx state.Tx) error {
				_, err := tx.Get("counter", "n")
				return err
			})
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Update: %v", err)
		}
	}
	if got, want := string(get(t, s, "counter", "n")), fmt.Sprint(workers*rounds); got != want {
		t.Errorf("counter after %d concurrent increments = %s, want %s", workers*rounds, got, want)
	}
	if got := len(keys(t, s, "seen")); got != workers*rounds {
		t.Errorf("%d keys written, want %d", got, workers*rounds)
	}
}

func testClosed(t *testing.T, s state.Store) {
	put(t, s, "b", "k", []byte("v"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	called := false
	if err := s.Update(func(state.Tx) error { called = true; return nil }); !errors.Is(err, state.ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
	if err := s.View(func(state.Tx) error { called = true; return nil }); !errors.Is(err, state.ErrClosed) {
		t.Errorf("View after Close = %v, want ErrClosed", err)
	}
	if called {
		t.Error("fn ran on a closed store")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}
