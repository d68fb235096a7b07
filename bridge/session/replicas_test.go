package session

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/state/redistest"
	"github.com/wopibridge/wopibridge/bridge/storage/fs"
)

// replicas are bridges sharing one real Redis state and one data directory, as
// several replicas behind a load balancer do. Each has its own Redis client, storage
// backend and Manager; they share only what Redis and the directory hold.
type replicas struct {
	t      *testing.T
	srv    *redistest.Server
	dir    string
	mu     sync.Mutex
	now    time.Time
	fileID string
}

func newReplicas(t *testing.T) *replicas {
	t.Helper()
	r := &replicas{t: t, srv: redistest.Start(t), dir: t.TempDir(), now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	a := r.replica()
	root, err := a.store.Root(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.store.Create(context.Background(), root.ID, "report.docx", strings.NewReader("v1"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.fileID = f.ID
	return r
}

type replica struct {
	st    state.Store
	store *faulty
	m     *Manager
}

// replica starts one more bridge on the shared state; its Manager is made but not
// run (the test calls what Run would).
func (r *replicas) replica() *replica {
	r.t.Helper()
	st, err := state.OpenRedis(r.srv.URL(0))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { st.Close() })
	clock := func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now }
	backend, err := fs.New(fs.Options{Root: filepath.Join(r.dir, "data"), State: st, Now: clock})
	if err != nil {
		r.t.Fatal(err)
	}
	f := &faulty{Backend: backend}
	m, err := New(Options{Storage: f, State: st, KeyPrefix: "t", Now: clock, ChunkSize: 4})
	if err != nil {
		r.t.Fatal(err)
	}
	return &replica{st: st, store: f, m: m}
}

func (r *replicas) advance(d time.Duration) {
	r.mu.Lock()
	r.now = r.now.Add(d)
	r.mu.Unlock()
}

func (r *replicas) content(x *replica) string {
	r.t.Helper()
	rc, _, err := x.store.Open(context.Background(), r.fileID)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

// heldBody gives its first n bytes, then waits for release before giving the rest:
// a download from DS that stalls between two spool chunks.
type heldBody struct {
	r       io.Reader
	n       int
	reached chan struct{}
	release chan struct{}
}

func newHeldBody(s string, n int) *heldBody {
	return &heldBody{r: strings.NewReader(s), n: n, reached: make(chan struct{}), release: make(chan struct{})}
}

func (h *heldBody) Read(p []byte) (int, error) {
	if h.n == 0 {
		close(h.reached)
		<-h.release
		h.n = -1
	}
	if h.n > 0 && len(p) > h.n {
		p = p[:h.n]
	}
	k, err := h.r.Read(p)
	if h.n > 0 {
		h.n -= k
	}
	return k, err
}

func (h *heldBody) Close() error { return nil }

// TestStartingReplicaKeepsChunksAnotherIsSpooling: a replica that starts while another
// is in the middle of spooling a save (some chunks written, its record not yet) must
// leave those chunks alone: the save is acknowledged and must replay whole.
func TestStartingReplicaKeepsChunksAnotherIsSpooling(t *testing.T) {
	r := newReplicas(t)
	a := r.replica()
	ctx := context.Background()
	const lock = "ds-lock"
	if _, err := a.store.Lock(ctx, r.fileID, lock); err != nil {
		t.Fatal(err)
	}
	const saved = "the whole document, many chunks long"
	body := newHeldBody(saved, 8) // two chunks of 4, then the body stalls
	done := make(chan error, 1)
	go func() { done <- a.m.SpoolPut(ctx, r.fileID, lock, "u1", "", body, false, errDiskFull) }()
	select {
	case <-body.reached:
	case err := <-done:
		t.Fatalf("spooling ended before its body stalled: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("spooling never reached the stall")
	}
	// The first two chunks are written before the third read.
	deadline := time.Now().Add(10 * time.Second)
	for chunks := 0; chunks < 2; {
		chunks = 0
		a.st.View(func(tx state.Tx) error {
			return tx.ForEach(bucketSpoolData, func(string, []byte) error { chunks++; return nil })
		})
		if time.Now().After(deadline) {
			t.Fatalf("%d chunks spooled before the stall, want 2", chunks)
		}
	}

	b := r.replica() // another replica starts, a minute later
	r.advance(time.Minute)
	b.m.dropOrphanChunks()

	close(body.release)
	if err := <-done; err != nil {
		t.Fatalf("spooling the save: %v", err)
	}
	if err := b.m.Replay(ctx); err != nil {
		t.Fatalf("replaying the acknowledged save: %v", err)
	}
	if got := r.content(b); got != saved {
		t.Fatalf("content after replay = %q, want %q", got, saved)
	}
	if n, err := b.m.Pending(); err != nil || n != 0 {
		t.Fatalf("pending after replay = %d %v", n, err)
	}
	if l, err := b.store.GetLock(ctx, r.fileID); err != nil || l != lock {
		t.Fatalf("lock after replay = %q %v, want DS's %q still", l, err, lock)
	}
}

// TestStalledSpoolWriteLosesItsLeaseAndIsNotAcknowledged: chunks whose writer wrote
// nothing for longer than the write lease are dropped by a starting replica, and the
// writer, when it resumes, fails instead of acknowledging a save it no longer has.
func TestStalledSpoolWriteLosesItsLeaseAndIsNotAcknowledged(t *testing.T) {
	r := newReplicas(t)
	a := r.replica()
	ctx := context.Background()
	body := newHeldBody("bytes that stall for too long", 8)
	done := make(chan error, 1)
	go func() { done <- a.m.SpoolPut(ctx, r.fileID, "ds-lock", "u1", "", body, false, errDiskFull) }()
	<-body.reached
	chunks := func() int {
		n := 0
		a.st.View(func(tx state.Tx) error {
			return tx.ForEach(bucketSpoolData, func(string, []byte) error { n++; return nil })
		})
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for chunks() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d chunks spooled before the stall, want 2", chunks())
		}
	}
	b := r.replica()
	r.advance(writeLease + time.Minute)
	b.m.dropOrphanChunks()
	if n := chunks(); n != 0 {
		t.Fatalf("%d chunks of an expired write left behind", n)
	}
	close(body.release)
	if err := <-done; !errors.Is(err, ErrNotSafe) {
		t.Fatalf("spooling after losing its lease = %v, want ErrNotSafe", err)
	}
	if n, err := b.m.Pending(); err != nil || n != 0 {
		t.Fatalf("pending = %d %v, want 0", n, err)
	}
	if n := chunks(); n != 0 {
		t.Fatalf("%d chunks left behind by the fenced write", n)
	}
}
