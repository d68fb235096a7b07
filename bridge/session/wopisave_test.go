package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Saves in WOPI mode that storage refused: spooled with DS's lock, written by Flush
// once storage is back, in order, never over someone else's work.

const dsLock = "dslockid"

// wopiSession locks the file as DS does and returns the version it saw.
func (e *env) wopiSession() string {
	e.t.Helper()
	f, err := e.store.Lock(context.Background(), e.fileID, dsLock)
	if err != nil {
		e.t.Fatal(err)
	}
	return f.Version
}

func (e *env) spoolPut(content, base string, unlock bool) {
	e.t.Helper()
	cause := errors.New("upstream down")
	if err := e.m.SpoolPut(context.Background(), e.fileID, dsLock, "alice", base, strings.NewReader(content), unlock, cause); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) conflictCopies() []string {
	var out []string
	for _, n := range e.names() {
		if strings.Contains(n, "(conflict ") {
			out = append(out, n)
		}
	}
	return out
}

func TestSpooledPutsLandInOrderThenUnlock(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base := e.wopiSession()
	e.spoolPut("autosave, longer than one chunk", base, false)
	e.spoolPut("final", base, true)
	if !e.m.Waiting(e.fileID) {
		t.Fatal("nothing waiting after two spooled saves")
	}
	e.store.failPut.Store(true)
	if _, err := e.m.Open(ctx, e.fileID); !errors.Is(err, ErrSavePending) {
		t.Fatalf("Docs API open while saves wait and storage fails: %v", err)
	}
	err := e.m.Flush(ctx, e.fileID)
	if !errors.Is(err, ErrSavePending) || !errors.Is(err, errDiskFull) {
		t.Fatalf("flush with storage still failing: %v", err)
	}
	if got := string(e.content(e.fileID)); got != "v1" || e.lock() != dsLock {
		t.Fatalf("after a failed flush: %q locked %q", got, e.lock())
	}

	e.restart() // storage is back; the spool is read again
	if !e.m.Waiting(e.fileID) {
		t.Fatal("the restarted manager does not see the waiting saves")
	}
	puts := e.store.puts.Load()
	if err := e.m.Flush(ctx, e.fileID); err != nil {
		t.Fatal(err)
	}
	if got := string(e.content(e.fileID)); got != "final" {
		t.Fatalf("content after flush = %q", got)
	}
	if n := e.store.puts.Load() - puts; n != 2 {
		t.Errorf("%d writes, want 2 (one per save, in order)", n)
	}
	if l := e.lock(); l != "" {
		t.Errorf("DS's lock after the final save landed = %q", l)
	}
	if e.m.Waiting(e.fileID) || len(e.conflictCopies()) != 0 {
		t.Errorf("waiting %v, copies %v", e.m.Waiting(e.fileID), e.conflictCopies())
	}
	if n, _ := e.m.Pending(); n != 0 {
		t.Errorf("%d saves left in the spool", n)
	}
	if err := e.m.Flush(ctx, e.fileID); err != nil {
		t.Errorf("flush with nothing waiting: %v", err)
	}
}

// The lock lapsed while storage was down and nobody wrote: DS's lock is taken back and
// the save lands; it stays held for a save that is not the last.
func TestSpooledPutLapsedLockUnchangedFile(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base := e.wopiSession()
	e.spoolPut("mine", base, false)
	e.advance(time.Hour)
	if l := e.lock(); l != "" {
		t.Fatalf("lock after an hour = %q", l)
	}
	if err := e.m.Flush(ctx, e.fileID); err != nil {
		t.Fatal(err)
	}
	if got := string(e.content(e.fileID)); got != "mine" || e.lock() != dsLock || len(e.conflictCopies()) != 0 {
		t.Fatalf("content %q, lock %q, copies %v", got, e.lock(), e.conflictCopies())
	}
}

// The lock lapsed and the file changed since (or its version was never seen): the
// bytes go to a copy next to it.
func TestSpooledPutLapsedLockChangedFile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		base     func(seen string) string
		otherPut bool
	}{
		{"written since", func(seen string) string { return seen }, true},
		{"version never seen", func(string) string { return "" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			seen := e.wopiSession()
			e.spoolPut("mine", tc.base(seen), true)
			e.advance(time.Hour)
			want := "v1"
			if tc.otherPut {
				// Another client locks, writes and unlocks.
				want = "someone else's"
				if _, err := e.store.Lock(ctx, e.fileID, "other"); err != nil {
					t.Fatal(err)
				}
				if _, err := e.store.Put(ctx, e.fileID, "other", strings.NewReader(want), 0); err != nil {
					t.Fatal(err)
				}
				if _, err := e.store.Unlock(ctx, e.fileID, "other"); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.m.Flush(ctx, e.fileID); err != nil {
				t.Fatal(err)
			}
			if got := string(e.content(e.fileID)); got != want {
				t.Fatalf("file = %q, want %q untouched", got, want)
			}
			copies := e.conflictCopies()
			if len(copies) != 1 {
				t.Fatalf("conflict copies %v", copies)
			}
			if got := string(e.content(e.idOf(copies[0]))); got != "mine" {
				t.Fatalf("copy %s holds %q", copies[0], got)
			}
		})
	}
}

// Another client holds the lock now: a copy, and its lock stays.
func TestSpooledPutLockTakenByOther(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base := e.wopiSession()
	e.spoolPut("mine", base, true)
	e.advance(time.Hour)
	if _, err := e.store.Lock(ctx, e.fileID, "other"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Flush(ctx, e.fileID); err != nil {
		t.Fatal(err)
	}
	if got := string(e.content(e.fileID)); got != "v1" || e.lock() != "other" || len(e.conflictCopies()) != 1 {
		t.Fatalf("content %q, lock %q, copies %v", got, e.lock(), e.conflictCopies())
	}
}

// The bytes landed but the release failed: only the release is tried again.
func TestSpooledPutUnlockRetriedAlone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base := e.wopiSession()
	e.spoolPut("final", base, true)
	e.store.failUnlock.Store(true)
	if err := e.m.Flush(ctx, e.fileID); !errors.Is(err, errDiskFull) {
		t.Fatalf("flush with a failing unlock: %v", err)
	}
	if got := string(e.content(e.fileID)); got != "final" || e.lock() != dsLock {
		t.Fatalf("after the failed release: %q locked %q", got, e.lock())
	}
	e.store.failUnlock.Store(false)
	puts := e.store.puts.Load()
	if err := e.m.Flush(ctx, e.fileID); err != nil {
		t.Fatal(err)
	}
	if n := e.store.puts.Load() - puts; n != 0 || e.lock() != "" || len(e.conflictCopies()) != 0 {
		t.Fatalf("second flush: %d writes, lock %q, copies %v", n, e.lock(), e.conflictCopies())
	}
}

func TestUnlockWhenSaved(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if ok, err := e.m.UnlockWhenSaved(e.fileID, dsLock); ok || err != nil {
		t.Fatalf("nothing spooled: %v %v", ok, err)
	}
	base := e.wopiSession()
	e.spoolPut("autosave", base, false)
	if ok, err := e.m.UnlockWhenSaved(e.fileID, "another lock"); ok || err != nil {
		t.Fatalf("another lock: %v %v", ok, err)
	}
	if ok, err := e.m.UnlockWhenSaved(e.fileID, dsLock); !ok || err != nil {
		t.Fatalf("DS's lock: %v %v", ok, err)
	}
	if err := e.m.Flush(ctx, e.fileID); err != nil {
		t.Fatal(err)
	}
	if got := string(e.content(e.fileID)); got != "autosave" || e.lock() != "" {
		t.Fatalf("content %q, lock %q", got, e.lock())
	}
}

// The user's upstream token may have expired while storage was down: the write never
// goes with another user's credential; the save waits for the user, and says so.
func TestSpooledPutWithoutTheUsersToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base := e.wopiSession()
	e.spoolPut("final", base, true)
	e.store.refuseUser.Store("alice")
	for range 5 { // more than ResolveAfter: a missing credential is never resolved away
		if err := e.m.Flush(ctx, e.fileID); !errors.Is(err, ErrSavePending) || !errors.Is(err, ErrNoEditor) {
			t.Fatalf("flush without alice's credential: %v", err)
		}
	}
	if got := string(e.content(e.fileID)); got != "v1" || e.lock() != dsLock || !e.m.Waiting(e.fileID) {
		t.Fatalf("content %q, lock %q, waiting %v", got, e.lock(), e.m.Waiting(e.fileID))
	}
	if u := e.store.lastUser.Load(); u != "alice" {
		t.Errorf("the last write acted for %q, want alice", u)
	}
	if n := e.count(EventNoEditor); n != 5 {
		t.Errorf("%d no_editor events, want 5", n)
	}
	e.store.refuseUser.Store("")
	if err := e.m.Flush(ctx, e.fileID); err != nil {
		t.Fatal(err)
	}
	if got := string(e.content(e.fileID)); got != "final" || e.lock() != "" || e.m.Waiting(e.fileID) {
		t.Fatalf("once alice is back: content %q, lock %q, waiting %v", got, e.lock(), e.m.Waiting(e.fileID))
	}
}

// count is the number of events of kind so far.
func (e *env) count(kind EventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.events {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// idOf is the id of the file named name in the root.
func (e *env) idOf(name string) string {
	e.t.Helper()
	files, _, err := e.store.List(context.Background(), e.root())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range files {
		if f.Name == name {
			return f.ID
		}
	}
	e.t.Fatalf("no file %q", name)
	return ""
}
