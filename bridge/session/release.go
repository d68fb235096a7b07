package session

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// Ending a session under a failing storage. Once a session's final save is safe its key
// is finished, whatever storage answers to the Unlock: no config hands it out again. An
// Unlock that storage refuses leaves the session record marked Release: the lock is no
// longer refreshed (it would lapse by itself on a host that expires locks), the file
// opens only for view, and the release is tried again in the background and before the
// file opens, until storage takes it.

// finish releases the session's lock and forgets it; a refused Unlock is kept to be
// retried (never an error for the caller: the release is durable once recorded). It is
// called with the file's mutex held.
func (m *Manager) finish(ctx context.Context, fileID string, sess *sessionRec, editors []string) error {
	if len(editors) == 0 {
		editors = m.sessionEditors(sess)
	}
	err := m.releaseOrGone(ctx, fileID, sess, editors)
	m.emit(Event{Kind: EventEnded, FileID: fileID, Key: sess.Key, Ctx: ctx, Err: err})
	if err == nil {
		return nil
	}
	sess.Release, sess.Closing = true, false
	if perr := m.putSession(fileID, sess); perr != nil {
		return perr
	}
	m.emit(Event{Kind: EventReleaseFail, FileID: fileID, Key: sess.Key, Err: err})
	return nil
}

// releaseOrGone releases the session's lock, acting for one of editors. When storage
// refuses the Unlock but answers GetLock with another lock or none, nothing of the
// session's is left to release (a host may answer an Unlock of a lapsed lock with 500).
func (m *Manager) releaseOrGone(ctx context.Context, fileID string, sess *sessionRec, editors []string) error {
	_, err := m.asEditors(ctx, editors, func(c context.Context) error { return m.release(c, fileID, sess) })
	if err == nil {
		return nil
	}
	if lock, gerr := m.o.Storage.GetLock(m.asEditor(ctx, editors), fileID); gerr == nil && lock != sess.LockID {
		return m.o.State.Update(func(tx state.Tx) error { return tx.Delete(bucketSessions, fileID) })
	}
	return err
}

// retryRelease tries again the release of fileID's finished session, if one waits. It
// returns the session still waiting (nil once released). Called with the file's mutex
// held.
func (m *Manager) retryRelease(ctx context.Context, fileID string) (*sessionRec, error) {
	sess, err := m.session(fileID)
	if err != nil || sess == nil || !sess.Release {
		return sess, err
	}
	if err := m.releaseOrGone(ctx, fileID, sess, m.sessionEditors(sess)); err != nil {
		m.emit(Event{Kind: EventReleaseFail, FileID: fileID, Key: sess.Key, Err: err})
		return sess, nil
	}
	m.emit(Event{Kind: EventReleased, FileID: fileID, Key: sess.Key})
	return nil, nil
}

// RetryReleases tries every release that storage refused before.
func (m *Manager) RetryReleases(ctx context.Context) {
	var files []string
	m.o.State.View(func(tx state.Tx) error {
		return tx.ForEach(bucketSessions, func(k string, v []byte) error {
			var s sessionRec
			if json.Unmarshal(v, &s) == nil && s.Release {
				files = append(files, k)
			}
			return nil
		})
	})
	for _, fileID := range files {
		if ctx.Err() != nil {
			return
		}
		unlock := m.files.Lock(fileID)
		m.retryRelease(ctx, fileID)
		unlock()
	}
}

// Releasing says whether the lock of fileID's last session waits for its release.
func (m *Manager) Releasing(fileID string) (bool, error) {
	sess, err := m.session(fileID)
	return sess != nil && sess.Release, err
}

// lock takes lockID on fileID. A Lock that storage reports failed may still have been
// taken (an upstream that locked the file, then failed the call that describes it): when
// GetLock then shows lockID, the lock is ours and the Lock succeeded. Otherwise a lock
// left behind would outlive the session that never knew it held it.
func (m *Manager) lock(ctx context.Context, fileID, lockID string) error {
	_, err := m.o.Storage.Lock(ctx, fileID, lockID)
	if err == nil || errors.Is(err, storage.ErrUnauthorized) {
		return err
	}
	if cur, gerr := m.o.Storage.GetLock(ctx, fileID); gerr == nil && cur == lockID {
		return nil
	}
	return err
}
