package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// Saves in WOPI mode. ONLYOFFICE Docs never retries a PutFile: a save that fails goes
// to its "forgotten" store and the user's work is out of reach. So a PutFile that
// storage refuses because it is unavailable (an upstream WOPI host that is down) is
// kept in the same spool as Docs API saves, acknowledged, and written when storage is
// back: with DS's lock, as the user who saved. Until then every operation on the file
// first tries to write its spooled saves (Flush), so that nothing reads or writes the
// file around them.

// SpoolPut keeps the bytes of a PutFile that storage refused (cause), behind any
// earlier spooled save of the file. lockID is DS's lock, user the token's user, base
// the file's version before the save as the bridge last saw it ("" when unknown), and
// unlock asks for DS's lock to be released once the bytes have landed (DS's last save
// of a session, or an Unlock that arrived meanwhile).
func (m *Manager) SpoolPut(ctx context.Context, fileID, lockID, user, base string, body io.Reader, unlock bool, cause error) error {
	unlockFile := m.files.Lock(fileID)
	defer unlockFile()
	rec := spoolRec{FileID: fileID, LockID: lockID, Final: unlock, WOPI: true, User: user, Base: base, Unlock: unlock}
	return m.keep(ctx, rec, body, cause, nil)
}

// UnlockWhenSaved asks for lockID to be released on fileID once its spooled saves have
// landed: DS unlocked while they were waiting. False when no save of the file waits
// under that lock.
func (m *Manager) UnlockWhenSaved(fileID, lockID string) (bool, error) {
	unlock := m.files.Lock(fileID) // the file's spool entries change only under it
	defer unlock()
	entries, err := m.spooled(fileID)
	if err != nil || len(entries) == 0 {
		return false, err
	}
	last := entries[len(entries)-1]
	if !last.rec.WOPI || last.rec.LockID != lockID {
		return false, nil
	}
	last.rec.Unlock = true
	return true, m.o.State.Update(func(tx state.Tx) error { return putJSON(tx, bucketSpool, last.seq, last.rec) })
}

// Waiting says whether saves of fileID wait in the spool, as this process last saw it
// (Run reloads it from the state store, so saves spooled by other replicas count too).
func (m *Manager) Waiting(fileID string) bool {
	if m.waiting.Load() == 0 {
		return false
	}
	m.pmu.Lock()
	defer m.pmu.Unlock()
	return m.pending[fileID] > 0
}

// WaitingTotal is the number of spooled saves, as this process last saw the spool.
func (m *Manager) WaitingTotal() int { return int(m.waiting.Load()) }

// Flush writes the spooled saves of fileID to storage, oldest first, and stops at the
// first that storage still refuses (its error). Nothing waiting is nil.
func (m *Manager) Flush(ctx context.Context, fileID string) error {
	if !m.Waiting(fileID) {
		return nil
	}
	entries, err := m.spooled(fileID)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := m.underReplayLease(fileID, func() error {
			if err := m.replayOne(ctx, e.seq, e.rec); err != nil {
				return m.replayFailed(ctx, e, err)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("%w: %w", ErrSavePending, err)
		}
	}
	return nil
}

type spoolEntry struct {
	seq string
	rec spoolRec
}

// spooled lists the saves waiting in the spool, oldest first: every one, or those of
// fileID. Recovered saves no longer wait.
func (m *Manager) spooled(fileID string) ([]spoolEntry, error) {
	var entries []spoolEntry
	err := m.o.State.View(func(tx state.Tx) error {
		return tx.ForEach(bucketSpool, func(k string, v []byte) error {
			var rec spoolRec
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			if !rec.Recovered && (fileID == "" || rec.FileID == fileID) {
				entries = append(entries, spoolEntry{k, rec})
			}
			return nil
		})
	})
	return entries, err
}

// replayPut writes a spooled PutFile with DS's lock, as the user who saved, never with
// another user's credential: when storage refuses theirs, the save waits for them
// (ErrNoEditor).
func (m *Manager) replayPut(ctx context.Context, seq string, rec spoolRec) (storage.File, Outcome, error) {
	open := func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(&chunkReader{st: m.o.State, seq: seq, chunks: rec.Chunks}), nil
	}
	if rec.Landed {
		return storage.File{}, Saved, nil // only the unlock was left
	}
	var f storage.File
	uctx, err := m.asEditors(ctx, users(rec.User), func(c context.Context) error {
		var err error
		f, err = m.putFetched(c, rec.FileID, rec.LockID, open)
		return err
	})
	var lc *storage.LockConflictError
	switch {
	case err == nil:
		return f, Saved, nil
	case errors.As(err, &lc) && lc.Current == "":
		// DS's lock lapsed (or its Unlock went through) while storage was down: take
		// it back only if nobody wrote since. (A save without a lock, DS's blank
		// template into an empty file, meets this when the file is no longer empty.)
		cur, serr := m.o.Storage.Stat(uctx, rec.FileID)
		if serr != nil {
			return storage.File{}, "", serr
		}
		if rec.LockID == "" || rec.Base == "" || cur.Version != rec.Base {
			return storage.File{}, ConflictCopy, m.copyFromSpool(uctx, rec, open)
		}
		if err := m.lock(uctx, rec.FileID, rec.LockID); err != nil {
			return storage.File{}, "", err
		}
		// The lock stays taken unless DS asked for its release: its session may go on.
		f, err = m.putFetched(uctx, rec.FileID, rec.LockID, open)
		if err != nil {
			return storage.File{}, "", err
		}
		return f, Saved, nil
	case errors.As(err, &lc), errors.Is(err, storage.ErrNotFound):
		return storage.File{}, ConflictCopy, m.copyFromSpool(uctx, rec, open)
	}
	return storage.File{}, "", err
}

// settlePut ends a replayed PutFile: its bytes are in storage (or in a copy); DS's lock
// is released when asked (as the user who saved). A lock that is gone, or no longer DS's, needs no release. A failed release
// keeps the record, marked landed, so that only the release is tried again.
func (m *Manager) settlePut(ctx context.Context, seq string, rec spoolRec, outcome Outcome) error {
	if !rec.Unlock || outcome != Saved {
		return nil
	}
	_, err := m.asEditors(ctx, users(rec.User), func(c context.Context) error {
		_, err := m.o.Storage.Unlock(c, rec.FileID, rec.LockID)
		return err
	})
	var lc *storage.LockConflictError
	if err == nil || errors.As(err, &lc) || errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	rec.Landed = true
	if perr := m.o.State.Update(func(tx state.Tx) error { return putJSON(tx, bucketSpool, seq, rec) }); perr != nil {
		return perr
	}
	return err
}

// users is the one user of a WOPI save, none when unknown.
func users(user string) []string {
	if user == "" {
		return nil
	}
	return []string{user}
}
