package session

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// DS reuses a key for as long as its content has not changed: an editor that reconnects
// after every editor left (status 4) sends status 1 with the same key, and the session
// must open again and take the lock, or a WOPI client could lock and edit the same file.
func TestStatus1AfterStatus4ReopensTheSession(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.openKey()
	if err := e.m.Editing(ctx, o.Key, []string{"u1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Ended(ctx, o.Key); err != nil {
		t.Fatal(err)
	}
	if l := e.lock(); l != "" {
		t.Fatalf("lock after status 4 = %q", l)
	}
	if err := e.m.Editing(ctx, o.Key, []string{"u1"}); err != nil {
		t.Fatalf("status 1 of a reconnect: %v", err)
	}
	if l := e.lock(); l != LockID(o.Key) {
		t.Fatalf("lock after the reconnect = %q, want %q", l, LockID(o.Key))
	}
	if key, ok, err := e.m.SessionKey(e.fileID); err != nil || !ok || key != o.Key {
		t.Fatalf("session after the reconnect: %q %v %v", key, ok, err)
	}
	// The reopened session ends, and saves, as any other.
	fetch, _ := bytesFetch("after the reconnect")
	if out, err := e.m.Save(ctx, o.Key, fetch, true); err != nil || out != Saved {
		t.Fatal(out, err)
	}
	if got := string(e.content(e.fileID)); got != "after the reconnect" || e.lock() != "" {
		t.Fatalf("content %q lock %q after the final save", got, e.lock())
	}
}

// A reconnect while another session holds the lock is refused (the caller then ends
// DS's editing of the key) and the other lock stays.
func TestStatus1AfterStatus4WhileWOPIHoldsTheLock(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.openKey()
	e.m.Editing(ctx, o.Key, []string{"u1"})
	e.m.Ended(ctx, o.Key)
	if _, err := e.store.Lock(ctx, e.fileID, e.fileID); err != nil { // DS in WOPI mode
		t.Fatal(err)
	}
	if err := e.m.Editing(ctx, o.Key, []string{"u1"}); !errors.Is(err, ErrLockedElsewhere) {
		t.Fatalf("status 1 of a reconnect on a WOPI-locked file: %v", err)
	}
	if l := e.lock(); l != e.fileID {
		t.Fatalf("WOPI lock replaced by %q", l)
	}
	if _, ok, _ := e.m.SessionKey(e.fileID); ok {
		t.Fatal("a session opened without the lock")
	}
}

// A key whose content changed since is never served again: its status 1 takes no lock.
func TestStatus1OfAKeyWhoseFileChanged(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.openKey()
	e.m.Editing(ctx, o.Key, []string{"u1"})
	e.m.Ended(ctx, o.Key)
	// A WOPI client saves: lock, PutFile, unlock.
	if _, err := e.store.Lock(ctx, e.fileID, "wopi"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Put(ctx, e.fileID, "wopi", strings.NewReader("changed in storage"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Unlock(ctx, e.fileID, "wopi"); err != nil {
		t.Fatal(err)
	}
	err := e.m.Editing(ctx, o.Key, []string{"u1"})
	if !errors.Is(err, ErrKeyOutdated) {
		t.Fatalf("status 1 of an outdated key: %v", err)
	}
	if l := e.lock(); l != "" {
		t.Fatalf("outdated key took the lock %q", l)
	}
	if n := e.openKey(); n.Key == o.Key || !n.Edit {
		t.Fatalf("next open: key %q edit %v", n.Key, n.Edit)
	}
}
