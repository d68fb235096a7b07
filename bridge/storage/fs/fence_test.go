package fs

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/state/redistest"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

var errFenced = errors.New("fenced")

// TestPutFenceRefusesTheWrite: a write whose fence fails, checked right before the
// rename, changes nothing: not the content, not the version, no temp file left.
func TestPutFenceRefusesTheWrite(t *testing.T) {
	e := newEnv(t)
	f := e.create("a.docx", "")
	ctx := e.t.Context()
	if _, err := e.fs.Lock(ctx, f.ID, "L"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.Put(ctx, f.ID, "L", strings.NewReader("first"), 0); err != nil {
		t.Fatal(err)
	}
	_, before := e.content(f.ID)
	checked := 0
	fctx := storage.WithFence(ctx, storage.Fence{Store: e.store, Check: func(tx state.Tx) error {
		checked++
		if _, err := tx.Get("any", "key"); err != nil {
			return err
		}
		return errFenced
	}})
	if _, err := e.fs.Put(fctx, f.ID, "L", strings.NewReader("late"), 0); !errors.Is(err, errFenced) {
		t.Fatalf("fenced Put = %v, want the fence's error", err)
	}
	if checked == 0 {
		t.Fatal("the fence was never checked")
	}
	got, after := e.content(f.ID)
	if got != "first" || after.Version != before.Version {
		t.Errorf("after the fenced Put: %q version %s, want %q version %s", got, after.Version, "first", before.Version)
	}
	if names := e.onDisk(""); !slices.Equal(names, []string{"a.docx"}) {
		t.Errorf("on disk = %q, want the file alone", names)
	}
}

// TestPutFenceOfAnotherStoreIsIgnored: a fence kept in another state store cannot be
// checked with this backend's records, and is not.
func TestPutFenceOfAnotherStoreIsIgnored(t *testing.T) {
	e := newEnv(t)
	f := e.create("a.docx", "")
	ctx := e.t.Context()
	if _, err := e.fs.Lock(ctx, f.ID, "L"); err != nil {
		t.Fatal(err)
	}
	other := &state.Bolt{}
	fctx := storage.WithFence(ctx, storage.Fence{Store: other, Check: func(state.Tx) error { return errFenced }})
	if _, err := e.fs.Put(fctx, f.ID, "L", strings.NewReader("lands"), 0); err != nil {
		t.Fatalf("Put with another store's fence = %v", err)
	}
	if got, _ := e.content(f.ID); got != "lands" {
		t.Errorf("content = %q", got)
	}
}

// BenchmarkPutLockWindow measures the window the fs backend leaves between its lock
// check (one state transaction, with any fence) and the rename that makes a write the
// file's: a lock another replica takes inside it does not stop the write. Reported as
// window-ns (mean) and window-max-ns, for 1 MiB writes, on the embedded state and on
// Redis (where another replica could take the lock).
func BenchmarkPutLockWindow(b *testing.B) {
	b.Run("bolt", func(b *testing.B) {
		st, err := state.OpenBolt(filepath.Join(b.TempDir(), "state.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchWindow(b, st)
	})
	b.Run("redis", func(b *testing.B) {
		st, err := state.OpenRedis(redistest.Start(b).URL(0))
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchWindow(b, st)
	})
}

func benchWindow(b *testing.B, st state.Store) {
	s, err := New(Options{Root: filepath.Join(b.TempDir(), "data"), State: st})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	root, err := s.Root(ctx)
	if err != nil {
		b.Fatal(err)
	}
	f, err := s.Create(ctx, root.ID, "a.docx", strings.NewReader(""), false, 0)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Lock(ctx, f.ID, "L"); err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 1<<20)
	var total, longest time.Duration
	n := 0
	s.onWindow = func(d time.Duration) {
		total += d
		longest = max(longest, d)
		n++
	}
	for b.Loop() {
		if _, err := s.Put(ctx, f.ID, "L", bytes.NewReader(body), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(n), "window-ns")
	b.ReportMetric(float64(longest.Nanoseconds()), "window-max-ns")
}

// TestLockWaitsForAWriteLandingOnAnotherReplica: two backends share one Redis state
// and one directory, as two replicas do. A Put on the first has checked its lock and
// is about to rename; the lock holder's Unlock, then another client's Lock and read,
// reach the second meanwhile. The new holder must read the write that was allowed
// before its lock, not the content under it (its next save would undo that write).
func TestLockWaitsForAWriteLandingOnAnotherReplica(t *testing.T) {
	srv := redistest.Start(t)
	dir := filepath.Join(t.TempDir(), "data")
	replica := func() *FS {
		st, err := state.OpenRedis(srv.URL(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s, err := New(Options{Root: dir, State: st})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := replica(), replica()
	ctx := t.Context()
	root, err := a.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.Create(ctx, root.ID, "a.docx", strings.NewReader(""), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lock(ctx, f.ID, "L"); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	a.beforeRename = func() { close(entered); <-release }
	put := make(chan error, 1)
	go func() {
		_, err := a.Put(ctx, f.ID, "L", strings.NewReader("allowed under L"), 0)
		put <- err
	}()
	<-entered

	busy := make(chan struct{})
	var once sync.Once
	b.landingBusy = func() { once.Do(func() { close(busy) }) }
	read := make(chan string, 1)
	go func() {
		if _, err := b.Unlock(ctx, f.ID, "L"); err != nil {
			read <- "unlock: " + err.Error()
			return
		}
		if _, err := b.Lock(ctx, f.ID, "M"); err != nil {
			read <- "lock: " + err.Error()
			return
		}
		rc, _, err := b.Open(ctx, f.ID)
		if err != nil {
			read <- "open: " + err.Error()
			return
		}
		defer rc.Close()
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		read <- buf.String()
	}()
	select {
	case <-busy:
	case got := <-read:
		t.Fatalf("the other replica unlocked, locked and read %q while the write was landing", got)
	case <-time.After(10 * time.Second):
		t.Fatal("the other replica's unlock never met the landing write")
	}
	close(release)
	if err := <-put; err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got := <-read; got != "allowed under L" {
		t.Errorf("the new holder read %q, want the write allowed before its lock", got)
	}
}
