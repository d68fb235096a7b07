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

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/bridge/storage/fs"
)

// faulty is the real fs backend with switchable failures: a disk that refuses writes.
type faulty struct {
	storage.Backend
	failPut    atomic.Bool
	failUnlock atomic.Bool
	refuseUser atomic.Value // string: a user whose (upstream) token is refused
	puts       atomic.Int32
	lastUser   atomic.Value // string: the user the last Put acted for ("" none)
}

var errDiskFull = errors.New("disk full")

func (f *faulty) Put(ctx context.Context, id, lockID string, body io.Reader, limit int64) (storage.File, error) {
	f.puts.Add(1)
	u, ok := storage.UserFrom(ctx)
	f.lastUser.Store(u)
	if ok && f.refuseUser.Load() == u {
		return storage.File{}, storage.ErrUnauthorized
	}
	if f.failPut.Load() {
		io.Copy(io.Discard, io.LimitReader(body, 100)) // fail half way
		return storage.File{}, errDiskFull
	}
	return f.Backend.Put(ctx, id, lockID, body, limit)
}

func (f *faulty) Unlock(ctx context.Context, id, lockID string) (storage.File, error) {
	if f.failUnlock.Load() {
		return storage.File{}, errDiskFull
	}
	if u, ok := storage.UserFrom(ctx); ok && f.refuseUser.Load() == u {
		return storage.File{}, storage.ErrUnauthorized
	}
	return f.Backend.Unlock(ctx, id, lockID)
}

type env struct {
	t       *testing.T
	dir     string
	st      state.Store
	store   *faulty
	m       *Manager
	now     time.Time
	mu      sync.Mutex
	events  []Event
	fileID  string
	initial []byte
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	e.open()
	f, err := e.store.Create(context.Background(), e.root(), "report.docx", strings.NewReader("v1"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.fileID, e.initial = f.ID, []byte("v1")
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// open (re)opens state, storage and manager over the same directory: a restart.
func (e *env) open() {
	e.t.Helper()
	st, err := state.OpenBolt(filepath.Join(e.dir, "state.db"))
	if err != nil {
		e.t.Fatal(err)
	}
	backend, err := fs.New(fs.Options{Root: filepath.Join(e.dir, "data"), State: st, Now: e.clock})
	if err != nil {
		e.t.Fatal(err)
	}
	e.st, e.store = st, &faulty{Backend: backend}
	e.m, err = New(Options{Storage: e.store, State: st, KeyPrefix: "t", Now: e.clock, ChunkSize: 4,
		OnEvent: func(ev Event) { e.mu.Lock(); e.events = append(e.events, ev); e.mu.Unlock() }})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
}

func (e *env) restart() {
	e.t.Helper()
	e.st.Close()
	e.open()
}

func (e *env) root() string {
	r, err := e.store.Root(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return r.ID
}

func (e *env) content(id string) []byte {
	e.t.Helper()
	rc, _, err := e.store.Open(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

func (e *env) lock() string {
	e.t.Helper()
	l, err := e.store.GetLock(context.Background(), e.fileID)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func (e *env) names() []string {
	files, _, err := e.store.List(context.Background(), e.root())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return out
}

func bytesFetch(b string) (Fetcher, *atomic.Int32) {
	var n atomic.Int32
	return func(context.Context) (io.ReadCloser, error) {
		n.Add(1)
		return io.NopCloser(strings.NewReader(b)), nil
	}, &n
}

func (e *env) openKey() Opened {
	e.t.Helper()
	o, err := e.m.Open(context.Background(), e.fileID)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

func TestKeyStableWhileSessionLivesAndNewAfterChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.openKey()
	if !a.Edit {
		t.Fatal("first open of an unlocked file must be editable")
	}
	if a2 := e.openKey(); a2.Key != a.Key {
		t.Fatalf("second open before any session: key %q, want %q", a2.Key, a.Key)
	}
	if err := e.m.Editing(ctx, a.Key, []string{"u1"}); err != nil {
		t.Fatal(err)
	}
	if got := e.lock(); got != LockID(a.Key) {
		t.Fatalf("lock = %q, want %q", got, LockID(a.Key))
	}
	fetch, _ := bytesFetch("forcesaved")
	if out, err := e.m.Save(ctx, a.Key, fetch, false); err != nil || out != Saved {
		t.Fatalf("forcesave: %v %v", out, err)
	}
	if b := e.openKey(); b.Key != a.Key || !b.Edit {
		t.Fatalf("open during the session after a forcesave: %+v, want key %q editable", b, a.Key)
	}
	fetch, _ = bytesFetch("final")
	if out, err := e.m.Save(ctx, a.Key, fetch, true); err != nil || out != Saved {
		t.Fatalf("final save: %v %v", out, err)
	}
	if got := string(e.content(e.fileID)); got != "final" {
		t.Fatalf("content = %q", got)
	}
	if got := e.lock(); got != "" {
		t.Fatalf("lock after final save = %q, want none", got)
	}
	c := e.openKey()
	if c.Key == a.Key {
		t.Fatal("content changed but the key was reused")
	}
	// Closing without changes keeps the key for the same content.
	if err := e.m.Editing(ctx, c.Key, []string{"u1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Ended(ctx, c.Key); err != nil {
		t.Fatal(err)
	}
	if d := e.openKey(); d.Key != c.Key {
		t.Fatalf("unchanged content after status 4: key %q, want %q", d.Key, c.Key)
	}
}

func TestRepeatedFinalSaveWritesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.openKey()
	e.m.Editing(ctx, o.Key, []string{"u1"})
	fetch, n := bytesFetch("final")
	if out, err := e.m.Save(ctx, o.Key, fetch, true); err != nil || out != Saved {
		t.Fatal(out, err)
	}
	f1, _ := e.store.Stat(ctx, e.fileID)
	out, err := e.m.Save(ctx, o.Key, fetch, true)
	if err != nil || out != Repeated {
		t.Fatalf("repeat: %v %v, want repeated", out, err)
	}
	f2, _ := e.store.Stat(ctx, e.fileID)
	if f1.Version != f2.Version || n.Load() != 1 {
		t.Fatalf("repeat wrote: versions %s→%s, downloads %d", f1.Version, f2.Version, n.Load())
	}
	// A late status 1 of the ended session changes nothing.
	if err := e.m.Editing(ctx, o.Key, []string{"u1"}); err != nil {
		t.Fatal(err)
	}
	if l := e.lock(); l != "" {
		t.Fatalf("late status 1 took the lock %q", l)
	}
}

func TestWOPILockMakesDocsOpenViewAndStatus1Fail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.store.Lock(ctx, e.fileID, e.fileID); err != nil { // DS in WOPI mode
		t.Fatal(err)
	}
	o := e.openKey()
	if o.Edit {
		t.Fatal("a file locked by WOPI opened for edit")
	}
	if err := e.m.Editing(ctx, o.Key, []string{"u1"}); !errors.Is(err, ErrLockedElsewhere) {
		t.Fatalf("status 1 on a WOPI-locked file: %v", err)
	}
	if l := e.lock(); l != e.fileID {
		t.Fatalf("WOPI lock replaced by %q", l)
	}
}

func TestRestartBetweenStatus1And2StillSaves(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.openKey()
	if err := e.m.Editing(ctx, o.Key, []string{"u1"}); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if l := e.lock(); l != LockID(o.Key) {
		t.Fatalf("lock after restart = %q", l)
	}
	fetch, _ := bytesFetch("after restart")
	if out, err := e.m.Save(ctx, o.Key, fetch, true); err != nil || out != Saved {
		t.Fatal(out, err)
	}
	if got := string(e.content(e.fileID)); got != "after restart" {
		t.Fatalf("content = %q", got)
	}
}

func TestStorageFailureSpoolsAndReplaysAfterRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.openKey()
	e.m.Editing(ctx, o.Key, []string{"u1"})
	e.store.failPut.Store(true)
	fetch, _ := bytesFetch("spooled bytes, longer than a chunk")
	out, err := e.m.Save(ctx, o.Key, fetch, true)
	if err != nil || out != Spooled {
		t.Fatalf("save with failing storage: %v %v, want spooled", out, err)
	}
	if got := string(e.content(e.fileID)); got != "v1" {
		t.Fatalf("content changed while storage failed: %q", got)
	}
	if _, err := e.m.Open(ctx, e.fileID); !errors.Is(err, ErrSavePending) {
		t.Fatalf("open while a save is pending: %v", err)
	}
	if l := e.lock(); l != LockID(o.Key) {
		t.Fatalf("lock while spooled = %q, want the session's", l)
	}
	if err := e.m.Replay(ctx); err == nil {
		t.Fatal("replay succeeded while storage still fails")
	}
	e.restart() // storage recovers with the restart
	if n, _ := e.m.Pending(); n != 1 {
		t.Fatalf("pending after restart = %d", n)
	}
	if err := e.m.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	if got := string(e.content(e.fileID)); got != "spooled bytes, longer than a chunk" {
		t.Fatalf("content after replay = %q", got)
	}
	if l := e.lock(); l != "" {
		t.Fatalf("lock after the final save replayed = %q", l)
	}
	if n, _ := e.m.Pending(); n != 0 {
		t.Fatalf("pending after replay = %d", n)
	}
	var chunks int
	e.st.View(func(tx state.Tx) error {
		return tx.ForEach(bucketSpoolData, func(string, []byte) error { chunks++; return nil })
	})
	if chunks != 0 {
		t.Fatalf("%d spool chunks left behind", chunks)
	}
	if o2 := e.openKey(); o2.Key == o.Key || !o2.Edit {
		t.Fatalf("open after replay: %+v", o2)
	}
}

func TestLostLockGoesToConflictCopy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.openKey()
	e.m.Editing(ctx, o.Key, []string{"u1"})
	// The lock lapses (bridge down for an hour); a WOPI client edits the file.
	e.advance(time.Hour)
	if _, err := e.store.Lock(ctx, e.fileID, "wopi-lock"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Put(ctx, e.fileID, "wopi-lock", strings.NewReader("wopi work"), 0); err != nil {
		t.Fatal(err)
	}
	fetch, _ := bytesFetch("docs work")
	out, err := e.m.Save(ctx, o.Key, fetch, true)
	if err != nil || out != ConflictCopy {
		t.Fatalf("save after losing the lock: %v %v", out, err)
	}
	if got := string(e.content(e.fileID)); got != "wopi work" {
		t.Fatalf("someone else's work overwritten: %q", got)
	}
	var copyName string
	for _, n := range e.names() {
		if strings.HasPrefix(n, "report (conflict ") && strings.HasSuffix(n, ").docx") {
			copyName = n
		}
	}
	if copyName == "" {
		t.Fatalf("no conflict copy among %v", e.names())
	}
	if l := e.lock(); l != "wopi-lock" {
		t.Fatalf("lock = %q", l)
	}
}

func TestLapsedLockUnchangedFileIsRetaken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.openKey()
	e.m.Editing(ctx, o.Key, nil)
	e.advance(time.Hour) // lock expired, nobody else wrote
	fetch, _ := bytesFetch("mine")
	if out, err := e.m.Save(ctx, o.Key, fetch, true); err != nil || out != Saved {
		t.Fatal(out, err)
	}
	if got := string(e.content(e.fileID)); got != "mine" {
		t.Fatalf("content = %q", got)
	}
}

func TestLostStatus1StillSaves(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.openKey()
	fetch, _ := bytesFetch("saved without join")
	if out, err := e.m.Save(ctx, o.Key, fetch, true); err != nil || out != Saved {
		t.Fatal(out, err)
	}
	if got := string(e.content(e.fileID)); got != "saved without join" {
		t.Fatalf("content = %q", got)
	}
	if l := e.lock(); l != "" {
		t.Fatalf("lock = %q", l)
	}
}

func TestConcurrentCallbacksForOneKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.openKey()
	var wg sync.WaitGroup
	outs := make([]Outcome, 8)
	errs := make([]error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 4 {
			case 0:
				errs[i] = e.m.Editing(ctx, o.Key, []string{"u1", "u2"})
			case 1:
				f, _ := bytesFetch("forcesave")
				outs[i], errs[i] = e.m.Save(ctx, o.Key, f, false)
			default:
				f, _ := bytesFetch("final")
				outs[i], errs[i] = e.m.Save(ctx, o.Key, f, true)
			}
		}()
	}
	wg.Wait()
	saves := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("callback %d: %v", i, err)
		}
		if i%4 >= 2 && outs[i] == Saved {
			saves++
		}
	}
	if saves != 1 {
		t.Fatalf("%d final saves wrote, want exactly 1 (outcomes %v)", saves, outs)
	}
	if got := string(e.content(e.fileID)); got != "final" {
		t.Fatalf("content = %q, want the final save", got)
	}
	if l := e.lock(); l != "" {
		t.Fatalf("lock = %q after the final save", l)
	}
}

func TestLockRefreshedWhileSessionLives(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.openKey()
	e.m.Editing(ctx, o.Key, []string{"u1"})
	for range 6 { // an hour of editing with the refresher running every 10 minutes
		e.advance(10 * time.Minute)
		e.m.RefreshLocks(ctx)
	}
	if l := e.lock(); l != LockID(o.Key) {
		t.Fatalf("lock after an hour = %q, want still held", l)
	}
	if _, err := e.store.Lock(ctx, e.fileID, "other"); err == nil {
		t.Fatal("another client took a live session's lock")
	}
}

func TestConflictNameKeepsExtension(t *testing.T) {
	got := conflictName("a.b.docx", time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC))
	if want := "a.b (conflict 2026-01-02 030405.006).docx"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	if got := conflictName("noext", time.Unix(0, 0)); !bytes.HasPrefix([]byte(got), []byte("noext (conflict ")) {
		t.Fatal(got)
	}
}
