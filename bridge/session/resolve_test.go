package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// upstreamLike is the faulty fs backend behaving as a real WOPI host does under faults:
// a PutFile naming a lock on a file that is not locked answers 500 (OpenCloud: "aborted:
// not locked", mapped to storage.ErrUnavailable) rather than 409; PutRelativeFile may be
// unsupported (cs3org/wopiserver answers 501 for every token); Unlock may fail.
type upstreamLike struct {
	*faulty
	notLocked500 atomic.Bool
	noCopies     atomic.Bool
	refreshes    atomic.Int32
	// lockedThen409: Lock takes the lock, then fails as the wopi backend does when the
	// CheckFileInfo after the upstream's Lock is answered 409.
	lockedThen409 atomic.Bool
}

func (u *upstreamLike) Lock(ctx context.Context, id, lockID string) (storage.File, error) {
	f, err := u.faulty.Lock(ctx, id, lockID)
	if err == nil && u.lockedThen409.Load() {
		return storage.File{}, &storage.LockConflictError{Reason: "injected failure"}
	}
	return f, err
}

func (u *upstreamLike) Put(ctx context.Context, id, lockID string, body io.Reader, limit int64) (storage.File, error) {
	if u.notLocked500.Load() && lockID != "" {
		if cur, err := u.faulty.GetLock(ctx, id); err == nil && cur == "" {
			return storage.File{}, fmt.Errorf("%w: upstream answered 500: aborted: not locked", storage.ErrUnavailable)
		}
	}
	return u.faulty.Put(ctx, id, lockID, body, limit)
}

func (u *upstreamLike) Create(ctx context.Context, folderID, name string, body io.Reader, overwrite bool, limit int64) (storage.File, error) {
	if u.noCopies.Load() {
		return storage.File{}, fmt.Errorf("%w: upstream answered 501", storage.ErrUnsupported)
	}
	return u.faulty.Create(ctx, folderID, name, body, overwrite, limit)
}

func (u *upstreamLike) RefreshLock(ctx context.Context, id, lockID string) (storage.File, error) {
	u.refreshes.Add(1)
	return u.faulty.RefreshLock(ctx, id, lockID)
}

// upstreamLike makes e's manager work over an upstreamLike storage.
func (e *env) upstreamLike() *upstreamLike {
	e.t.Helper()
	u := &upstreamLike{faulty: e.store}
	m, err := New(Options{Storage: u, State: e.st, KeyPrefix: "t", Now: e.clock, ChunkSize: 4,
		OnEvent: func(ev Event) { e.mu.Lock(); e.events = append(e.events, ev); e.mu.Unlock() }})
	if err != nil {
		e.t.Fatal(err)
	}
	e.m = m
	return u
}

func (e *env) keyState(key string) string {
	e.t.Helper()
	k, err := e.m.keyOf(key)
	if err != nil {
		e.t.Fatal(err)
	}
	return k.State
}

// The final save is written but the Unlock fails: the key is finished at once, the
// lock is not refreshed any more, no config hands the key out again (nor edit mode
// while the lock is held), and the release is retried until storage takes it.
func TestFinalSaveWrittenUnlockFails(t *testing.T) {
	e := newEnv(t)
	u := e.upstreamLike()
	ctx := context.Background()
	o := e.openKey()
	if err := e.m.Editing(ctx, o.Key, []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	e.store.failUnlock.Store(true)
	fetch, _ := bytesFetch("final")
	if out, err := e.m.Save(ctx, o.Key, fetch, true, "alice"); err != nil || out != Saved {
		t.Fatalf("final save with a failing Unlock: %v %v", out, err)
	}
	if got := string(e.content(e.fileID)); got != "final" {
		t.Fatalf("content %q", got)
	}
	if st := e.keyState(o.Key); st != keySaved {
		t.Fatalf("key state after the final save = %q, want %q", st, keySaved)
	}
	if n := e.count(EventReleaseFail); n != 1 {
		t.Errorf("%d release_failed events, want 1", n)
	}
	for range 3 {
		next := e.openKey()
		if next.Key == o.Key || next.Edit || !next.Releasing {
			t.Fatalf("open while the release waits: %+v (finished key %q)", next, o.Key)
		}
	}
	if err := e.m.Editing(ctx, o.Key, []string{"alice"}); err != nil {
		t.Fatalf("late status 1 of the finished key: %v", err)
	}
	e.advance(11 * time.Minute)
	e.m.RefreshLocks(ctx)
	if n := u.refreshes.Load(); n != 0 {
		t.Errorf("the finished session's lock was refreshed %d times", n)
	}
	e.m.RetryReleases(ctx)
	if l := e.lock(); l != LockID(o.Key) {
		t.Fatalf("lock while Unlock still fails = %q", l)
	}
	e.store.failUnlock.Store(false)
	e.m.RetryReleases(ctx)
	if l := e.lock(); l != "" {
		t.Fatalf("lock after the release was retried = %q", l)
	}
	if next := e.openKey(); next.Key == o.Key || !next.Edit || next.Releasing {
		t.Fatalf("open after the release: %+v", next)
	}
	if n := e.count(EventReleased); n != 1 {
		t.Errorf("%d released events, want 1", n)
	}
}

// A spooled final save lands but its release fails: the session does not stay closing.
func TestSpooledFinalSaveLandsReleaseFails(t *testing.T) {
	e := newEnv(t)
	e.upstreamLike()
	ctx := context.Background()
	o := e.openKey()
	e.m.Editing(ctx, o.Key, []string{"alice"})
	e.store.failPut.Store(true)
	fetch, _ := bytesFetch("spooled final")
	if out, err := e.m.Save(ctx, o.Key, fetch, true, "alice"); err != nil || out != Spooled {
		t.Fatalf("save: %v %v", out, err)
	}
	e.store.failPut.Store(false)
	e.store.failUnlock.Store(true)
	if err := e.m.Replay(ctx); err != nil {
		t.Fatalf("replay whose release fails: %v", err)
	}
	if got := string(e.content(e.fileID)); got != "spooled final" || e.m.Waiting(e.fileID) {
		t.Fatalf("content %q, waiting %v", got, e.m.Waiting(e.fileID))
	}
	next, err := e.m.Open(ctx, e.fileID)
	if err != nil || next.Key == o.Key || next.Edit {
		t.Fatalf("open while the release waits: %+v %v", next, err)
	}
	e.store.failUnlock.Store(false)
	if next, err = e.m.Open(ctx, e.fileID); err != nil || !next.Edit || e.lock() != "" {
		t.Fatalf("open once storage takes the release: %+v %v, lock %q", next, err, e.lock())
	}
}

// A WOPI save spooled while the host was down; when it is back, DS's lock has lapsed and
// the host answers the PutFile with 500 (OpenCloud). After ResolveAfter failures the
// bridge asks GetLock, sees the lock gone, and writes a conflict copy.
func TestStuckSaveLockGoneGoesToConflictCopy(t *testing.T) {
	e := newEnv(t)
	u := e.upstreamLike()
	ctx := context.Background()
	base := e.wopiSession()
	e.spoolPut("kept through the outage", base, true)
	e.advance(time.Hour) // DS's lock lapses
	u.notLocked500.Store(true)
	for i := 1; i < 3; i++ {
		if err := e.m.Flush(ctx, e.fileID); !errors.Is(err, ErrSavePending) {
			t.Fatalf("flush %d: %v", i, err)
		}
	}
	if len(e.conflictCopies()) != 0 {
		t.Fatal("a copy before the save was retried enough")
	}
	if err := e.m.Flush(ctx, e.fileID); err != nil {
		t.Fatalf("third flush: %v", err)
	}
	copies := e.conflictCopies()
	if len(copies) != 1 || string(e.content(e.idOf(copies[0]))) != "kept through the outage" {
		t.Fatalf("conflict copies %v", copies)
	}
	if got := string(e.content(e.fileID)); got != "v1" || e.m.Waiting(e.fileID) {
		t.Fatalf("file %q, waiting %v", got, e.m.Waiting(e.fileID))
	}
	if saves, _ := e.m.Saves(); len(saves) != 0 {
		t.Fatalf("saves left: %+v", saves)
	}
}

// As above, but the host takes no conflict copy either (PutRelativeFile unsupported):
// the bytes go to the recovery area, the file is released, and the operator exports,
// retries and drops the save.
func TestStuckSaveNoCopyGoesToRecovery(t *testing.T) {
	e := newEnv(t)
	u := e.upstreamLike()
	ctx := context.Background()
	o := e.openKey()
	e.m.Editing(ctx, o.Key, []string{"alice"})
	e.store.failPut.Store(true)
	fetch, _ := bytesFetch("docs save through the outage")
	if out, err := e.m.Save(ctx, o.Key, fetch, true, "alice"); err != nil || out != Spooled {
		t.Fatalf("save: %v %v", out, err)
	}
	e.store.failPut.Store(false)
	e.advance(time.Hour) // the session's lock lapses
	u.notLocked500.Store(true)
	u.noCopies.Store(true)
	for range 3 {
		e.m.Replay(ctx)
	}
	if e.m.Waiting(e.fileID) || e.count(EventRecovered) != 1 {
		t.Fatalf("waiting %v, recovered events %d", e.m.Waiting(e.fileID), e.count(EventRecovered))
	}
	if got := string(e.content(e.fileID)); got != "v1" || e.lock() != "" {
		t.Fatalf("file %q locked %q", got, e.lock())
	}
	if st := e.keyState(o.Key); st != keySaved {
		t.Fatalf("key state %q", st)
	}
	next, err := e.m.Open(ctx, e.fileID)
	if err != nil || !next.Edit || next.Key == o.Key {
		t.Fatalf("open after recovery: %+v %v", next, err)
	}
	saves, err := e.m.Saves()
	if err != nil || len(saves) != 1 {
		t.Fatalf("saves %+v %v", saves, err)
	}
	s := saves[0]
	if s.State != SaveRecovered || s.FileID != e.fileID || s.Face != "docs" || s.Name != "report.docx" ||
		s.Size != int64(len("docs save through the outage")) || !strings.Contains(s.Reason, "no conflict copy") || s.Exported {
		t.Fatalf("recovered save %+v", s)
	}
	if err := e.m.DropSave(s.ID); !errors.Is(err, ErrNotExported) {
		t.Fatalf("drop before export: %v", err)
	}
	if saves, _ := e.m.Saves(); len(saves) != 1 {
		t.Fatal("a refused drop dropped the save")
	}
	var buf bytes.Buffer
	if n, err := e.m.ExportSave(s.ID, &buf); err != nil || n != s.Size || buf.String() != "docs save through the outage" {
		t.Fatalf("export: %d %v %q", n, err, buf.String())
	}
	// Retried once the host takes copies: it goes through the spool again.
	u.noCopies.Store(false)
	if si, err := e.m.RetrySave(s.ID); err != nil || si.State != SaveWaiting {
		t.Fatalf("retry: %+v %v", si, err)
	}
	for range 3 {
		e.m.Replay(ctx)
	}
	if copies := e.conflictCopies(); len(copies) != 1 || string(e.content(e.idOf(copies[0]))) != "docs save through the outage" {
		t.Fatalf("after the retry: copies %v", copies)
	}
	if saves, _ := e.m.Saves(); len(saves) != 0 {
		t.Fatalf("saves after the retry landed: %+v", saves)
	}
	if err := e.m.DropSave(s.ID); !errors.Is(err, ErrNoSuchSave) {
		t.Fatalf("drop of a landed save: %v", err)
	}
}

// A save whose lock is still held keeps waiting, however often it fails: storage
// refuses for a reason a person must fix, and nothing is released around it.
func TestStuckSaveWithItsLockKeepsWaiting(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base := e.wopiSession()
	e.spoolPut("final", base, true)
	e.store.failPut.Store(true)
	for range 6 {
		if err := e.m.Flush(ctx, e.fileID); !errors.Is(err, ErrSavePending) {
			t.Fatal(err)
		}
	}
	if !e.m.Waiting(e.fileID) || e.lock() != dsLock || len(e.conflictCopies()) != 0 {
		t.Fatalf("waiting %v lock %q copies %v", e.m.Waiting(e.fileID), e.lock(), e.conflictCopies())
	}
	saves, _ := e.m.Saves()
	if len(saves) != 1 || saves[0].State != SaveWaiting || saves[0].Failures != 6 || !strings.Contains(saves[0].LastError, "disk full") {
		t.Fatalf("saves %+v", saves)
	}
}

// A Lock that storage took but reported failed (the call describing the file after it
// failed) is still the session's: a lost status 1 followed by the final save neither
// leaves the lock behind nor sends the save to a conflict copy.
func TestLockTakenButReportedFailed(t *testing.T) {
	e := newEnv(t)
	u := e.upstreamLike()
	ctx := context.Background()
	o := e.openKey()
	u.lockedThen409.Store(true)
	if err := e.m.Editing(ctx, o.Key, []string{"alice"}); err != nil {
		t.Fatalf("status 1: %v", err)
	}
	fetch, _ := bytesFetch("final")
	if out, err := e.m.Save(ctx, o.Key, fetch, true, "alice"); err != nil || out != Saved {
		t.Fatalf("final save: %v %v", out, err)
	}
	if got := string(e.content(e.fileID)); got != "final" || e.lock() != "" || len(e.conflictCopies()) != 0 {
		t.Fatalf("content %q, lock %q, copies %v", got, e.lock(), e.conflictCopies())
	}

	// The same with status 1 lost: the save takes the lock itself.
	o = e.openKey()
	fetch, _ = bytesFetch("second")
	if out, err := e.m.Save(ctx, o.Key, fetch, true, "alice"); err != nil || out != Saved {
		t.Fatalf("final save without status 1: %v %v", out, err)
	}
	if got := string(e.content(e.fileID)); got != "second" || e.lock() != "" || len(e.conflictCopies()) != 0 {
		t.Fatalf("content %q, lock %q, copies %v", got, e.lock(), e.conflictCopies())
	}
}
