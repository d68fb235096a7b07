package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/state/redistest"
	"github.com/wopibridge/wopibridge/bridge/storage"
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
	clock := r.clock
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

func (r *replicas) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
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

// editing opens the file on x for editing and has user join it (DS's status 1).
func (r *replicas) editing(x *replica, user string) Opened {
	r.t.Helper()
	ctx := context.Background()
	o, err := x.m.Open(ctx, r.fileID)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := x.m.Editing(ctx, o.Key, []string{user}); err != nil {
		r.t.Fatal(err)
	}
	return o
}

// wantEnded checks, on x, that the session of key old ended with the file's content
// want: no session record, no lock, and the next open gets a new key for editing.
func (r *replicas) wantEnded(x *replica, old, want string) {
	r.t.Helper()
	ctx := context.Background()
	if got := r.content(x); got != want {
		r.t.Errorf("content = %q, want %q", got, want)
	}
	if s, err := x.m.session(r.fileID); err != nil || s != nil {
		r.t.Errorf("session record after the final save = %+v %v, want none", s, err)
	}
	if l, err := x.store.GetLock(ctx, r.fileID); err != nil || l != "" {
		r.t.Errorf("lock after the final save = %q %v, want none", l, err)
	}
	o, err := x.m.Open(ctx, r.fileID)
	if err != nil {
		r.t.Fatal(err)
	}
	if o.Key == old || !o.Edit {
		r.t.Errorf("open after the final save = key %q edit %v, want a new key for editing (old %q)", o.Key, o.Edit, old)
	}
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

// heldPut holds the first Put until released: a slow write to storage.
type heldPut struct {
	storage.Backend
	once    sync.Once
	entered chan struct{}
	release chan struct{}
	// readFirst: the body is read whole before the hold (the bytes are sent, the
	// write has yet to land).
	readFirst bool
}

func (h *heldPut) Put(ctx context.Context, id, lockID string, body io.Reader, limit int64) (storage.File, error) {
	if h.readFirst {
		b, err := io.ReadAll(body)
		if err != nil {
			return storage.File{}, err
		}
		body = bytes.NewReader(b)
	}
	h.once.Do(func() {
		close(h.entered)
		<-h.release
	})
	return h.Backend.Put(ctx, id, lockID, body, limit)
}

// TestOneReplayOfAFileAcrossReplicas: while one replica replays a file's waiting saves
// (its write to storage held), another replica's replay must write none of them: not
// the later save before the earlier one, not a save twice, and the session must end
// (its lock released) only once, after its last save landed.
func TestOneReplayOfAFileAcrossReplicas(t *testing.T) {
	r := newReplicas(t)
	a := r.replica()
	ctx := context.Background()
	o := r.editing(a, "u1")
	a.store.failPut.Store(true)
	first, _ := bytesFetch("first save")
	if out, err := a.m.Save(ctx, o.Key, first, false); err != nil || out != Spooled {
		t.Fatalf("first save = %v %v, want spooled", out, err)
	}
	last, _ := bytesFetch("last save")
	if out, err := a.m.Save(ctx, o.Key, last, true); err != nil || out != Spooled {
		t.Fatalf("last save = %v %v, want spooled", out, err)
	}
	a.store.failPut.Store(false)
	hold := &heldPut{Backend: a.store.Backend, entered: make(chan struct{}), release: make(chan struct{})}
	a.store.Backend = hold
	a.store.puts.Store(0)

	replayed := make(chan error, 1)
	go func() { replayed <- a.m.Replay(ctx) }()
	select {
	case <-hold.entered:
	case err := <-replayed:
		t.Fatalf("replay ended before writing: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("replay never reached storage")
	}

	b := r.replica()
	berr := b.m.Replay(ctx) // while a's write is held
	if n := b.store.puts.Load(); n != 0 {
		t.Errorf("the second replica wrote %d saves while the first replayed them", n)
	}
	close(hold.release)
	if err := <-replayed; err != nil {
		t.Fatalf("replay: %v", err)
	}
	if berr != nil {
		t.Logf("second replica's replay: %v", berr)
	}
	if err := b.m.Replay(ctx); err != nil {
		t.Fatalf("replay after: %v", err)
	}
	if got := r.content(b); got != "last save" {
		t.Errorf("content = %q, want the last save", got)
	}
	files, _, err := b.store.List(ctx, mustRoot(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		var names []string
		for _, f := range files {
			names = append(names, f.Name)
		}
		t.Errorf("files = %q, want the document alone (no conflict copy)", names)
	}
	if n := a.store.puts.Load() + b.store.puts.Load(); n != 2 {
		t.Errorf("%d writes to storage, want 2 (each save once)", n)
	}
	if l, err := b.store.GetLock(ctx, r.fileID); err != nil || l != "" {
		t.Errorf("lock after the last save = %q %v, want none", l, err)
	}
	if n, err := b.m.Pending(); err != nil || n != 0 {
		t.Errorf("pending = %d %v", n, err)
	}
	if s, err := b.m.session(r.fileID); err != nil || s != nil {
		t.Errorf("session record after the last save = %+v %v, want none", s, err)
	}
	if k, err := b.m.keyOf(o.Key); err != nil || k == nil || k.State != keySaved {
		t.Errorf("key after the last save = %+v %v, want saved", k, err)
	}
}

func mustRoot(t *testing.T, x *replica) string {
	t.Helper()
	root, err := x.store.Root(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return root.ID
}

// TestReplayLeaseOfADeadReplicaExpires: a replica that died while replaying a file
// holds its lease no longer than replayLease; then another replays the file's saves.
func TestReplayLeaseOfADeadReplicaExpires(t *testing.T) {
	r := newReplicas(t)
	a := r.replica()
	ctx := context.Background()
	o := r.editing(a, "u1")
	a.store.failPut.Store(true)
	fetch, _ := bytesFetch("saved while storage failed")
	if out, err := a.m.Save(ctx, o.Key, fetch, true); err != nil || out != Spooled {
		t.Fatalf("save = %v %v, want spooled", out, err)
	}
	// a dies in the middle of a replay of the file.
	if err := a.st.Update(func(tx state.Tx) error {
		return putJSON(tx, bucketReplaying, r.fileID, replayLeaseRec{Owner: "dead-replica", Expires: r.clock().Add(replayLease)})
	}); err != nil {
		t.Fatal(err)
	}
	b := r.replica()
	if err := b.m.Replay(ctx); err != nil {
		t.Fatalf("replay while another replica's lease lives: %v", err)
	}
	if got := r.content(b); got != "v1" || b.store.puts.Load() != 0 {
		t.Fatalf("content = %q after %d writes while another replica's lease lived", got, b.store.puts.Load())
	}
	if n, err := b.m.Pending(); err != nil || n != 1 {
		t.Fatalf("pending = %d %v, want 1", n, err)
	}
	r.advance(replayLease)
	if err := b.m.Replay(ctx); err != nil {
		t.Fatalf("replay once the lease expired: %v", err)
	}
	if got := r.content(b); got != "saved while storage failed" {
		t.Fatalf("content after the lease expired = %q", got)
	}
	if n, err := b.m.Pending(); err != nil || n != 0 {
		t.Fatalf("pending = %d %v, want 0", n, err)
	}
	if l, err := b.store.GetLock(ctx, r.fileID); err != nil || l != "" {
		t.Fatalf("lock = %q %v, want none", l, err)
	}
}

// TestCoEditorJoiningOnOneReplicaDoesNotReviveASavedSession: a co-editor's status 1,
// handled by one replica, reads the session record; the final status 2, handled by
// another, saves and ends the session before the first writes the record back. The
// ended session must stay ended: no record, the key saved, a new key for the next open.
func TestCoEditorJoiningOnOneReplicaDoesNotReviveASavedSession(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	ctx := context.Background()
	o := r.editing(a, "u1")
	release, joined := holdAtSessionWrite(t, a.m, "status 1", func() error { return a.m.Editing(ctx, o.Key, []string{"u1", "u2"}) })
	fetch, _ := bytesFetch("final save")
	if out, err := b.m.Save(ctx, o.Key, fetch, true, "u1", "u2"); err != nil || out != Saved {
		t.Fatalf("final save on the other replica = %v %v, want saved", out, err)
	}
	release()
	if err := <-joined; err != nil {
		t.Fatalf("the co-editor's status 1: %v", err)
	}
	if k, err := b.m.keyOf(o.Key); err != nil || k.State != keySaved {
		t.Errorf("key after the final save = %+v %v, want saved", k, err)
	}
	r.wantEnded(b, o.Key, "final save")
}

// TestSessionClosedOnOneReplicaWhileAnotherReplaysItsLastSave: status 4 on one replica
// reads a session whose forcesave waits in the spool; another replica replays that
// save before the first writes the session back as closing. The session must still
// end: its lock released, not held for a save that already landed.
func TestSessionClosedOnOneReplicaWhileAnotherReplaysItsLastSave(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	ctx := context.Background()
	o := r.editing(a, "u1")
	a.store.failPut.Store(true)
	fetch, _ := bytesFetch("forcesaved")
	if out, err := a.m.Save(ctx, o.Key, fetch, false); err != nil || out != Spooled {
		t.Fatalf("forcesave = %v %v, want spooled", out, err)
	}
	a.store.failPut.Store(false)
	release, ended := holdAtSessionWrite(t, a.m, "status 4", func() error { return a.m.Ended(ctx, o.Key) })
	b.m.loadPending()
	if err := b.m.Replay(ctx); err != nil {
		t.Fatalf("replay on the other replica: %v", err)
	}
	release()
	if err := <-ended; err != nil {
		t.Fatalf("status 4: %v", err)
	}
	b.m.Replay(ctx) // anything left waiting would land now
	if got := r.content(b); got != "forcesaved" {
		t.Errorf("content = %q", got)
	}
	if l, err := b.store.GetLock(ctx, r.fileID); err != nil || l != "" {
		t.Errorf("lock after the session closed and its save landed = %q %v, want none", l, err)
	}
	if s, err := b.m.session(r.fileID); err != nil || s != nil {
		t.Errorf("session record = %+v %v, want none", s, err)
	}
	if o2, err := b.m.Open(ctx, r.fileID); err != nil || !o2.Edit {
		t.Errorf("open after = %+v %v, want editable", o2, err)
	}
}

// TestLockRefreshOnOneReplicaDoesNotReviveASavedSession: a replica refreshing a
// session's lock reads its record; the final save on another replica ends the session
// before the first writes the refresh time back. The session must stay ended.
func TestLockRefreshOnOneReplicaDoesNotReviveASavedSession(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	ctx := context.Background()
	o := r.editing(a, "u1")
	r.advance(a.m.o.RefreshEvery)
	release, refreshed := holdAtSessionWrite(t, a.m, "the refresh", func() error { a.m.RefreshLocks(ctx); return nil })
	fetch, _ := bytesFetch("final save")
	if out, err := b.m.Save(ctx, o.Key, fetch, true); err != nil || out != Saved {
		t.Fatalf("final save on the other replica = %v %v, want saved", out, err)
	}
	release()
	<-refreshed
	r.wantEnded(b, o.Key, "final save")
}

// holdAtSessionWrite runs op on m and holds it, the first time it reaches a session
// write (beforeSessionWrite), until the returned release is called; done then yields
// op's error. It fails the test if op ends, or does not get there, first.
func holdAtSessionWrite(t *testing.T, m *Manager, what string, op func() error) (release func(), done <-chan error) {
	t.Helper()
	entered, hold := make(chan struct{}), make(chan struct{})
	var once sync.Once
	m.beforeSessionWrite = func() {
		once.Do(func() {
			close(entered)
			<-hold
		})
	}
	result := make(chan error, 1)
	go func() { result <- op() }()
	select {
	case <-entered:
	case err := <-result:
		t.Fatalf("%s ended before writing the session back: %v", what, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never reached the session write", what)
	}
	return func() { close(hold) }, result
}

// spoolForcesave opens a session on a, and spools one forcesave of it (storage failing).
func (r *replicas) spoolForcesave(a *replica, content string) string {
	r.t.Helper()
	ctx := context.Background()
	o, err := a.m.Open(ctx, r.fileID)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := a.m.Editing(ctx, o.Key, []string{"u1"}); err != nil {
		r.t.Fatal(err)
	}
	a.store.failPut.Store(true)
	fetch, _ := bytesFetch(content)
	if out, err := a.m.Save(ctx, o.Key, fetch, false); err != nil || out != Spooled {
		r.t.Fatalf("forcesave = %v %v, want spooled", out, err)
	}
	a.store.failPut.Store(false)
	return o.Key
}

// holdReplayWrite starts a replay on a and holds it at its write to storage until
// release is called; done yields the replay's error.
func holdReplayWrite(t *testing.T, a *replica) (release func(), done <-chan error) {
	t.Helper()
	hold := &heldPut{Backend: a.store.Backend, entered: make(chan struct{}), release: make(chan struct{}), readFirst: true}
	a.store.Backend = hold
	replayed := make(chan error, 1)
	go func() { replayed <- a.m.Replay(context.Background()) }()
	select {
	case <-hold.entered:
	case err := <-replayed:
		t.Fatalf("replay ended before writing: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("replay never reached storage")
	}
	return func() { close(hold.release) }, replayed
}

// TestLateReplayPastItsLeaseChangesNothing: a replay whose lease expired while its write
// stalled (its replica lost the state store, so no heartbeat renewed it) is taken over
// by another replica, which writes the save; a newer save lands after it. The late
// write must then land nowhere: not over the newer save, not settled twice, and the
// count of waiting saves stays exact.
func TestLateReplayPastItsLeaseChangesNothing(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	ctx := context.Background()
	a.m.heartbeat = time.Hour // a's heartbeat never beats in this test
	key := r.spoolForcesave(a, "first")
	release, replayed := holdReplayWrite(t, a)

	r.advance(replayLease + time.Minute)
	b.m.loadPending()
	if err := b.m.Replay(ctx); err != nil {
		t.Fatalf("replay on the replica taking over: %v", err)
	}
	if got := r.content(b); got != "first" {
		t.Fatalf("content after the takeover = %q, want the spooled save", got)
	}
	second, _ := bytesFetch("second")
	if out, err := b.m.Save(ctx, key, second, false, "u1"); err != nil || out != Saved {
		t.Fatalf("newer forcesave = %v %v, want saved", out, err)
	}

	release()
	if err := <-replayed; !errors.Is(err, errReplayLeaseLost) {
		t.Errorf("late replay = %v, want its lease lost", err)
	}
	if got := r.content(b); got != "second" {
		t.Errorf("content after the late replay = %q, want the newer save", got)
	}
	for _, x := range []*replica{a, b} {
		if n, err := x.m.Pending(); err != nil || n != 0 {
			t.Errorf("waiting saves = %d %v, want 0", n, err)
		}
	}
	s, err := b.m.session(r.fileID)
	if err != nil || s == nil || s.Pending != 0 || s.Closing {
		t.Fatalf("session = %+v %v, want open with nothing pending", s, err)
	}
	third, _ := bytesFetch("third")
	if out, err := a.m.Save(ctx, key, third, true, "u1"); err != nil || out != Saved {
		t.Errorf("final save after = %v %v, want saved over the newer save (no conflict copy)", out, err)
	}
	if got := r.content(b); got != "third" {
		t.Errorf("content after the final save = %q", got)
	}
}

// TestHeartbeatKeepsASlowReplaysLease: a replay whose write to storage takes longer
// than replayLease keeps its lease while its heartbeat renews it: another replica
// writes nothing meanwhile.
func TestHeartbeatKeepsASlowReplaysLease(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	ctx := context.Background()
	a.m.heartbeat = 5 * time.Millisecond
	r.spoolForcesave(a, "slow")
	release, replayed := holdReplayWrite(t, a)

	r.advance(replayLease + time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var cur replayLeaseRec
		a.st.View(func(tx state.Tx) error { _, err := getJSON(tx, bucketReplaying, r.fileID, &cur); return err })
		if cur.Expires.After(r.clock()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the heartbeat never renewed the lease: %+v", cur)
		}
		time.Sleep(time.Millisecond)
	}
	b.m.loadPending()
	b.m.Replay(ctx)
	if n := b.store.puts.Load(); n != 0 {
		t.Errorf("the other replica wrote %d saves during the slow replay", n)
	}
	release()
	if err := <-replayed; err != nil {
		t.Fatalf("slow replay: %v", err)
	}
	if got := r.content(b); got != "slow" {
		t.Errorf("content = %q", got)
	}
	if n, err := b.m.Pending(); err != nil || n != 0 {
		t.Errorf("waiting saves = %d %v, want 0", n, err)
	}
}

// TestForcesaveOnOneReplicaDoesNotReviveASavedSession: a forcesave on one replica has
// written its bytes and reads the session to note their version; the final save
// reaches another replica meanwhile. It waits for the forcesave's turn to end (so it
// sees the version the forcesave wrote and saves over it), and the session it ends
// stays ended.
func TestForcesaveOnOneReplicaDoesNotReviveASavedSession(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	ctx := context.Background()
	o := r.editing(a, "u1")
	forced, _ := bytesFetch("forcesaved")
	release, saved := holdAtSessionWrite(t, a.m, "the forcesave", func() error {
		out, err := a.m.Save(ctx, o.Key, forced, false, "u1")
		if err == nil && out != Saved {
			err = errors.New(string(out))
		}
		return err
	})
	busy := make(chan struct{})
	var once sync.Once
	b.m.turnBusy = func(string) { once.Do(func() { close(busy) }) }
	final, _ := bytesFetch("final save")
	finalDone := make(chan error, 1)
	go func() {
		out, err := b.m.Save(ctx, o.Key, final, true, "u1")
		if err == nil && out != Saved {
			err = errors.New(string(out))
		}
		finalDone <- err
	}()
	select {
	case <-busy:
	case err := <-finalDone:
		t.Fatalf("the final save ended while the forcesave was in flight: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the final save never met the forcesave's turn")
	}
	release()
	if err := <-saved; err != nil {
		t.Fatalf("the forcesave: %v", err)
	}
	if err := <-finalDone; err != nil {
		t.Fatalf("final save on the other replica: %v, want saved over the forcesave", err)
	}
	r.wantEnded(b, o.Key, "final save")
}

// TestRefusedReleaseOnOneReplicaDoesNotReviveAnEndedSession: one replica ends a
// session and storage refuses its Unlock, so it marks the session's release to be
// retried; another replica ends the same session meanwhile, its Unlock taken. The
// mark must not bring the ended session back (the file would open view-only).
func TestRefusedReleaseOnOneReplicaDoesNotReviveAnEndedSession(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	ctx := context.Background()
	o := r.editing(a, "u1")
	a.store.failUnlock.Store(true)
	release, ended := holdAtSessionWrite(t, a.m, "the release mark", func() error { return a.m.Ended(ctx, o.Key) })
	if err := b.m.Ended(ctx, o.Key); err != nil {
		t.Fatalf("status 4 on the other replica: %v", err)
	}
	release()
	if err := <-ended; err != nil {
		t.Fatalf("status 4: %v", err)
	}
	if s, err := b.m.session(r.fileID); err != nil || s != nil {
		t.Errorf("session record = %+v %v, want none", s, err)
	}
	if rel, err := b.m.Releasing(r.fileID); err != nil || rel {
		t.Errorf("releasing = %v %v, want false", rel, err)
	}
}

// TestTwoReplicasStartingOneSessionKeepItsCount: two status 1 of one key on two
// replicas both find no session and start it; the second's write must join the
// session the first started (and a save spooled in it since), not reset its count of
// waiting saves (the session would end with a save still waiting).
func TestTwoReplicasStartingOneSessionKeepItsCount(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	ctx := context.Background()
	o, err := a.m.Open(ctx, r.fileID)
	if err != nil {
		t.Fatal(err)
	}
	release, joined := holdAtSessionWrite(t, a.m, "status 1", func() error { return a.m.Editing(ctx, o.Key, []string{"u2"}) })
	if err := b.m.Editing(ctx, o.Key, []string{"u1"}); err != nil {
		t.Fatal(err)
	}
	b.store.failPut.Store(true)
	fetch, _ := bytesFetch("spooled forcesave")
	if out, err := b.m.Save(ctx, o.Key, fetch, false, "u1"); err != nil || out != Spooled {
		t.Fatalf("forcesave = %v %v, want spooled", out, err)
	}
	b.store.failPut.Store(false)
	release()
	if err := <-joined; err != nil {
		t.Fatalf("the other status 1: %v", err)
	}
	s, err := b.m.session(r.fileID)
	if err != nil || s == nil || s.Pending != 1 {
		t.Fatalf("session = %+v %v, want one save counted", s, err)
	}
	if err := b.m.Ended(ctx, o.Key); err != nil {
		t.Fatal(err)
	}
	if l, err := b.store.GetLock(ctx, r.fileID); err != nil || l != LockID(o.Key) {
		t.Errorf("lock while the save waits = %q %v, want the session's", l, err)
	}
	if err := b.m.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.content(b); got != "spooled forcesave" {
		t.Errorf("content = %q", got)
	}
	if l, err := b.store.GetLock(ctx, r.fileID); err != nil || l != "" {
		t.Errorf("lock after the save landed = %q %v, want none", l, err)
	}
}

// putInTurn is a PutFile of content on x through PutInTurn, written to x's storage
// by put (nil: straight to it).
func (r *replicas) putInTurn(x *replica, content string, put func(context.Context, io.Reader) (storage.File, error)) (bool, error) {
	if put == nil {
		put = func(ctx context.Context, body io.Reader) (storage.File, error) {
			return x.store.Put(ctx, r.fileID, "ds-lock", body, 0)
		}
	}
	_, spooled, err := x.m.PutInTurn(context.Background(), r.fileID, "ds-lock", "u1", "", strings.NewReader(content), false, nil, put)
	return spooled, err
}

// TestSaveOnAnotherReplicaQueuesBehindAWaitingSave: a PutFile spooled on one replica
// (storage refused it) waits; the next PutFile of the file reaches another replica,
// which has not heard of it, while storage is back. It must go to the spool behind
// the waiting save, and both land in order.
func TestSaveOnAnotherReplicaQueuesBehindAWaitingSave(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	ctx := context.Background()
	if _, err := a.store.Lock(ctx, r.fileID, "ds-lock"); err != nil {
		t.Fatal(err)
	}
	refused := func(ctx context.Context, body io.Reader) (storage.File, error) {
		return storage.File{}, storage.ErrUnavailable // the upstream is down
	}
	if spooled, err := r.putInTurn(a, "earlier", refused); err != nil || !spooled {
		t.Fatalf("earlier save = spooled %v %v, want spooled", spooled, err)
	}
	if b.m.Waiting(r.fileID) {
		t.Fatal("the other replica already counts the waiting save: the test needs it not to")
	}
	if spooled, err := r.putInTurn(b, "later", nil); err != nil || !spooled {
		t.Errorf("later save on the other replica = spooled %v %v, want spooled behind the earlier", spooled, err)
	}
	if got := r.content(b); got != "v1" {
		t.Errorf("content before the replay = %q, want v1 (nothing overtook the waiting save)", got)
	}
	if err := b.m.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.content(b); got != "later" {
		t.Errorf("content after the replay = %q, want the later save last", got)
	}
}

// TestSaveWaitsForAnotherReplicasWriteInFlight: a PutFile's direct write on one
// replica is in flight (a slow storage); the next PutFile of the file reaches another
// replica meanwhile. It must wait for that write's outcome: when the write fails and
// the first save goes to the spool, the second goes behind it, never before.
func TestSaveWaitsForAnotherReplicasWriteInFlight(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	ctx := context.Background()
	if _, err := a.store.Lock(ctx, r.fileID, "ds-lock"); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	slowThenDown := func(ctx context.Context, body io.Reader) (storage.File, error) {
		close(entered)
		<-release
		return storage.File{}, storage.ErrUnavailable
	}
	first := make(chan error, 1)
	go func() {
		spooled, err := r.putInTurn(a, "earlier", slowThenDown)
		if err == nil && !spooled {
			err = errors.New("not spooled")
		}
		first <- err
	}()
	<-entered
	busy := make(chan struct{})
	var once sync.Once
	b.m.turnBusy = func(string) { once.Do(func() { close(busy) }) }
	var bPuts atomic.Int32
	second := make(chan error, 1)
	go func() {
		spooled, err := r.putInTurn(b, "later", func(ctx context.Context, body io.Reader) (storage.File, error) {
			bPuts.Add(1)
			return b.store.Put(ctx, r.fileID, "ds-lock", body, 0)
		})
		if err == nil && !spooled {
			err = errors.New("written directly")
		}
		second <- err
	}()
	select {
	case <-busy:
	case err := <-second:
		t.Fatalf("the later save finished while the earlier was in flight: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the later save never met the earlier's write")
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("earlier save: %v", err)
	}
	if err := <-second; err != nil {
		t.Errorf("later save: %v, want spooled behind the earlier", err)
	}
	if n := bPuts.Load(); n != 0 {
		t.Errorf("the later save was written %d times before the earlier landed", n)
	}
	if err := b.m.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.content(b); got != "later" {
		t.Errorf("content after the replay = %q, want the later save last", got)
	}
}

// TestReplicaReplaysAnotherReplicasSaveOnItsNotice: with the replay tick an hour
// away, a replica hears of the save another one spooled and writes it at once.
func TestReplicaReplaysAnotherReplicasSaveOnItsNotice(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.m.o.RetryEvery = time.Hour
	ran := make(chan struct{})
	go func() { defer close(ran); b.m.Run(ctx) }()
	defer func() { cancel(); <-ran }()
	admin := redis.NewClient(&redis.Options{Addr: r.srv.Addr})
	defer admin.Close()
	channel := state.RedisKeyPrefix + noticeChannel
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		subs, err := admin.PubSubNumSub(ctx, channel).Result()
		if err == nil && subs[channel] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica never listened for notices: %v %v", subs, err)
		}
	}

	key := r.spoolForcesave(a, "heard of at once")
	for deadline := time.Now().Add(20 * time.Second); r.content(b) != "heard of at once"; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("content = %q: the other replica never wrote the waiting save", r.content(b))
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		s, err := a.m.session(r.fileID)
		n, perr := a.m.Pending()
		if err == nil && perr == nil && s != nil && s.Key == key && s.Pending == 0 && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the replay: session %+v %v, %d waiting %v", s, err, n, perr)
		}
	}
	if n := a.store.puts.Load() + b.store.puts.Load(); n != 2 {
		t.Errorf("%d writes to storage, want 2 (the refused one, the replay)", n)
	}
}

// stallThenFail holds the first Put (its body read) until released, then fails it as
// a storage in trouble does.
type stallThenFail struct {
	storage.Backend
	entered chan struct{}
	release chan struct{}
}

func (s *stallThenFail) Put(ctx context.Context, id, lockID string, body io.Reader, limit int64) (storage.File, error) {
	io.Copy(io.Discard, body)
	close(s.entered)
	<-s.release
	return storage.File{}, errDiskFull
}

// TestDocsSaveWaitsForAnotherReplicasWriteInFlight: a forcesave's write on one
// replica is in flight (a slow storage) when the next save of the key reaches another
// replica (DS retrying, say). It must wait for that write: when the write fails and
// the first save goes to the spool, the second goes behind it, and the file ends with
// the second.
func TestDocsSaveWaitsForAnotherReplicasWriteInFlight(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	ctx := context.Background()
	o := r.editing(a, "u1")
	stall := &stallThenFail{Backend: a.store.Backend, entered: make(chan struct{}), release: make(chan struct{})}
	a.store.Backend = stall
	first := make(chan error, 1)
	go func() {
		fetch, _ := bytesFetch("first")
		out, err := a.m.Save(ctx, o.Key, fetch, false, "u1")
		if err == nil && out != Spooled {
			err = errors.New(string(out))
		}
		first <- err
	}()
	<-stall.entered
	busy := make(chan struct{})
	var once sync.Once
	b.m.turnBusy = func(string) { once.Do(func() { close(busy) }) }
	second := make(chan error, 1)
	go func() {
		fetch, _ := bytesFetch("second")
		out, err := b.m.Save(ctx, o.Key, fetch, false, "u1")
		if err == nil && out != Spooled {
			err = errors.New(string(out))
		}
		second <- err
	}()
	select {
	case <-busy:
	case err := <-second:
		t.Fatalf("the second save ended while the first was in flight: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the second save never met the first's write")
	}
	close(stall.release)
	if err := <-first; err != nil {
		t.Fatalf("first save: %v, want spooled", err)
	}
	if err := <-second; err != nil {
		t.Errorf("second save: %v, want spooled behind the first", err)
	}
	if err := b.m.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.content(b); got != "second" {
		t.Errorf("content = %q, want the second save last", got)
	}
	if s, err := b.m.session(r.fileID); err != nil || s == nil || s.Pending != 0 {
		t.Errorf("session = %+v %v, want nothing pending", s, err)
	}
}
