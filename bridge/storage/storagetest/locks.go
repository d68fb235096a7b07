package storagetest

import (
	"strings"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// lockTests: the WOPI lock operations and the conflicts they report.
var lockTests = []test{
	{"LockAndGetLock", func(f *fixture) {
		file := f.create("a.docx", "x")
		f.wantLock(file.ID, "")
		got, err := f.b.Lock(f.ctx, file.ID, "L1")
		if err != nil {
			f.t.Fatalf("Lock: %v", err)
		}
		if got.ID != file.ID || got.Version != file.Version {
			f.t.Errorf("Lock returned %+v; want id %s and unchanged version %q", got, file.ID, file.Version)
		}
		f.wantLock(file.ID, "L1")
		if v := f.stat(file.ID).Version; v != file.Version {
			f.t.Errorf("Lock changed the version from %q to %q", file.Version, v)
		}
	}},
	{"LockSameIDRefreshes", func(f *fixture) {
		file := f.create("a.docx", "x")
		f.lock(file.ID, "L1")
		if _, err := f.b.Lock(f.ctx, file.ID, "L1"); err != nil {
			f.t.Errorf("Lock with the held id: %v, want success (refresh)", err)
		}
		f.wantLock(file.ID, "L1")
	}},
	{"LockConflict", func(f *fixture) {
		file := f.create("a.docx", "x")
		f.lock(file.ID, "L1")
		_, err := f.b.Lock(f.ctx, file.ID, "L2")
		wantConflict(f.t, "Lock with another id", err, "L1")
		f.wantLock(file.ID, "L1")
	}},
	{"Unlock", func(f *fixture) {
		file := f.create("a.docx", "x")
		f.lock(file.ID, "L1")
		got, err := f.b.Unlock(f.ctx, file.ID, "L1")
		if err != nil {
			f.t.Fatalf("Unlock: %v", err)
		}
		if got.Version != file.Version {
			f.t.Errorf("Unlock changed the version from %q to %q", file.Version, got.Version)
		}
		f.wantLock(file.ID, "")
		// Unlocked, anyone may lock again.
		f.lock(file.ID, "L2")
		f.wantLock(file.ID, "L2")
	}},
	{"UnlockWrongID", func(f *fixture) {
		file := f.create("a.docx", "x")
		f.lock(file.ID, "L1")
		_, err := f.b.Unlock(f.ctx, file.ID, "L2")
		wantConflict(f.t, "Unlock with another id", err, "L1")
		f.wantLock(file.ID, "L1")
	}},
	{"UnlockUnlocked", func(f *fixture) {
		file := f.create("a.docx", "x")
		_, err := f.b.Unlock(f.ctx, file.ID, "L1")
		wantConflict(f.t, "Unlock of an unlocked file", err, "")
		f.wantLock(file.ID, "")
	}},
	{"RefreshLock", func(f *fixture) {
		file := f.create("a.docx", "x")
		_, err := f.b.RefreshLock(f.ctx, file.ID, "L1")
		wantConflict(f.t, "RefreshLock of an unlocked file", err, "")
		f.lock(file.ID, "L1")
		got, err := f.b.RefreshLock(f.ctx, file.ID, "L1")
		if err != nil {
			f.t.Errorf("RefreshLock with the held id: %v", err)
		} else if got.Version != file.Version {
			f.t.Errorf("RefreshLock changed the version from %q to %q", file.Version, got.Version)
		}
		_, err = f.b.RefreshLock(f.ctx, file.ID, "L2")
		wantConflict(f.t, "RefreshLock with another id", err, "L1")
		f.wantLock(file.ID, "L1")
	}},
	{"UnlockAndRelock", func(f *fixture) {
		file := f.create("a.docx", "x")
		_, err := f.b.UnlockAndRelock(f.ctx, file.ID, "L1", "L2")
		wantConflict(f.t, "UnlockAndRelock of an unlocked file", err, "")
		f.wantLock(file.ID, "")

		f.lock(file.ID, "L1")
		got, err := f.b.UnlockAndRelock(f.ctx, file.ID, "L1", "L2")
		if err != nil {
			f.t.Fatalf("UnlockAndRelock: %v", err)
		}
		if got.Version != file.Version {
			f.t.Errorf("UnlockAndRelock changed the version from %q to %q", file.Version, got.Version)
		}
		f.wantLock(file.ID, "L2")

		_, err = f.b.UnlockAndRelock(f.ctx, file.ID, "L1", "L3")
		wantConflict(f.t, "UnlockAndRelock with a stale old lock", err, "L2")
		f.wantLock(file.ID, "L2")
	}},
	{"LockIDLength", func(f *fixture) {
		file := f.create("a.docx", "x")
		longest := strings.Repeat("L", storage.MaxLockLength)
		f.lock(file.ID, longest)
		f.wantLock(file.ID, longest)
		if _, err := f.b.Unlock(f.ctx, file.ID, longest); err != nil {
			f.t.Fatalf("Unlock with a %d-byte lock: %v", storage.MaxLockLength, err)
		}
		_, err := f.b.Lock(f.ctx, file.ID, longest+"L")
		wantConflict(f.t, "Lock with a too long id", err, "")
		_, err = f.b.Lock(f.ctx, file.ID, "")
		wantConflict(f.t, "Lock with an empty id", err, "")
		f.wantLock(file.ID, "")
	}},
	{"LockIDIsOpaque", func(f *fixture) {
		file := f.create("a.docx", "x")
		// Office locks are JSON; others carry spaces, quotes and non-ASCII text.
		id := `{"S":"0136ad16-9725-43c3-9ea0-5e01d2dbc162","E":2,"M":"DE99 7C5A","P":"é\"ü"}`
		f.lock(file.ID, id)
		f.wantLock(file.ID, id)
		_, err := f.b.Lock(f.ctx, file.ID, strings.ToLower(id))
		wantConflict(f.t, "Lock with an id differing in case", err, id)
		if _, err := f.b.Unlock(f.ctx, file.ID, id); err != nil {
			f.t.Errorf("Unlock with the JSON lock: %v", err)
		}
	}},
	{"LocksArePerFile", func(f *fixture) {
		a := f.create("a.docx", "x")
		b := f.create("b.docx", "y")
		f.lock(a.ID, "L1")
		f.wantLock(b.ID, "")
		f.lock(b.ID, "L2")
		f.wantLock(a.ID, "L1")
		f.wantLock(b.ID, "L2")
	}},
}
