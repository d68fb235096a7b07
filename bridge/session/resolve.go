package session

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// No save waits for ever. A spooled save whose replay fails ResolveAfter times in a row
// is looked at again: storage is asked for the file's lock (GetLock). When storage does
// not answer, or the lock is still the save's, the save keeps waiting: storage is down,
// or refuses for a reason a person must fix (and the file stays closed meanwhile). When
// the lock is gone (it lapsed, or a host answered a PutFile without it with a 500), the
// save goes the conflict-copy way: its bytes go next to the file. When storage takes no
// copy either (PutRelativeFile unsupported or refused), the bytes stay in the state
// store as a recovered save, the recovery area: the file is released, and an operator
// lists, exports, retries or drops it (wopibridge saves). A save whose users have no
// credential storage accepts (ErrNoEditor) waits for one of them to come back instead.

// resolve notes a failed replay of the save seq and resolves it once it has failed
// ResolveAfter times while storage answers. nil means resolved (copied or recovered);
// otherwise cause. A copy that storage refuses outright (unsupported, forbidden, a
// conflict) sends the save to the recovery area at once; one that fails as a host in
// trouble fails is tried again, up to 3*ResolveAfter failures. Called with the file's
// mutex held.
func (m *Manager) resolve(ctx context.Context, seq string, cause error) error {
	var rec spoolRec
	var ok bool
	err := m.o.State.Update(func(tx state.Tx) error {
		var err error
		if ok, err = getJSON(tx, bucketSpool, seq, &rec); err != nil || !ok || rec.Recovered {
			return err
		}
		rec.Failures++
		rec.LastError = cause.Error()
		return putJSON(tx, bucketSpool, seq, rec)
	})
	switch {
	case err != nil:
		return errors.Join(cause, err)
	case !ok || rec.Recovered:
		return nil
	case rec.Failures < m.o.ResolveAfter, errors.Is(cause, ErrNoEditor), errors.Is(cause, ErrNotSafe):
		return cause
	}
	users := rec.Users
	if rec.WOPI {
		users = []string{rec.User}
	}
	wctx := m.asEditor(ctx, users)
	lock, err := m.o.Storage.GetLock(wctx, rec.FileID)
	if err != nil || (rec.LockID != "" && lock == rec.LockID) {
		return cause // storage does not answer, or the lock is still the save's
	}
	if rec.WOPI && rec.Landed {
		return m.forget(ctx, seq, rec, Saved, "", nil) // only DS's release was left, and its lock is gone
	}
	open := func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(&chunkReader{st: m.o.State, seq: seq, chunks: rec.Chunks}), nil
	}
	cctx, cerr := m.asEditors(ctx, users, func(c context.Context) error { return m.copyFromSpool(c, rec, open) })
	switch {
	case cerr == nil && rec.WOPI:
		return m.forget(cctx, seq, rec, ConflictCopy, "", nil)
	case cerr == nil:
		return m.settleDocs(cctx, seq, rec, ConflictCopy, storage.File{})
	case errors.Is(cerr, ErrNoEditor):
		return cause // nobody may write: wait for an editor
	case errors.Is(cerr, storage.ErrUnavailable) && (rec.Failures < 3*m.o.ResolveAfter || !answers(m, wctx, rec.FileID)):
		// The copy failed the way a host in trouble fails (5xx, no reply): try again
		// later, and give up on copies only once they keep failing while it answers.
		return cause
	}
	held := "no lock"
	if lock != "" {
		held = "another lock"
	}
	reason := fmt.Sprintf("storage refused the save %d times (last: %v); the file has %s now, and storage took no conflict copy either (%v)",
		rec.Failures, cause, held, cerr)
	return m.recover(ctx, seq, rec, reason)
}

// answers says whether storage answers a GetLock of fileID.
func answers(m *Manager, ctx context.Context, fileID string) bool {
	_, err := m.o.Storage.GetLock(ctx, fileID)
	return err == nil
}

// recover moves the save seq to the recovery area and releases the file: the session
// counts it no more, and a closing session whose last save it was ends.
func (m *Manager) recover(ctx context.Context, seq string, rec spoolRec, reason string) error {
	rec.Recovered, rec.RecoveredAt, rec.Reason = true, m.now(), reason
	var gone bool
	if err := m.o.State.Update(func(tx state.Tx) error {
		if err := m.checkReplayLease(tx, rec.FileID); err != nil {
			return err
		}
		// Settled by another replica meanwhile: nothing to keep, nothing to count.
		var was spoolRec
		ok, err := getJSON(tx, bucketSpool, seq, &was)
		if gone = err == nil && (!ok || was.Recovered); err != nil || gone {
			return err
		}
		if err := putJSON(tx, bucketSpool, seq, rec); err != nil || rec.WOPI {
			return err
		}
		cur, err := getSession(tx, rec.FileID)
		if err != nil || cur == nil || cur.Key != rec.Key {
			return err
		}
		if cur.Pending > 0 {
			cur.Pending--
		}
		return putJSON(tx, bucketSessions, rec.FileID, cur)
	}); err != nil || gone {
		return err
	}
	m.addPending(rec.FileID, -1)
	m.emit(Event{Kind: EventRecovered, FileID: rec.FileID, Key: rec.Key, Err: errors.New(reason), Ctx: ctx, WOPI: rec.WOPI,
		Lock: rec.LockID, Final: rec.Final, User: rec.saver(), Bytes: rec.Size, VersionBefore: rec.Base, Since: rec.Created})
	if rec.WOPI {
		return nil
	}
	sess, err := m.session(rec.FileID)
	if err == nil && sess != nil && sess.Key == rec.Key && sess.Closing && sess.Pending == 0 {
		if err := m.finish(ctx, rec.FileID, sess, rec.Users); err != nil {
			return err
		}
		return m.setKeyState(sess.Key, keyIssued, keyEnded)
	}
	return err
}
