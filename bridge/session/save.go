package session

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// Fetcher opens the bytes of a save (DS's result URL). It may be called more than
// once: a write that failed half way needs the bytes again for the spool or a copy.
type Fetcher func(ctx context.Context) (io.ReadCloser, error)

// Outcome says where the bytes of a save went.
type Outcome string

// Outcomes of Save.
const (
	Saved        Outcome = "saved"         // written to the file
	Spooled      Outcome = "spooled"       // kept in the state store; written when storage recovers
	ConflictCopy Outcome = "conflict_copy" // the lock was lost: written next to the file
	Repeated     Outcome = "repeated"      // the final save of this key was made already
	Ignored      Outcome = "ignored"       // a forcesave after the session ended: superseded
)

// Save handles status 6 (final false) and status 2 (final true). It returns only once
// the bytes are safe; an error means they are not, and DS should retry.
func (m *Manager) Save(ctx context.Context, key string, fetch Fetcher, final bool) (Outcome, error) {
	k, err := m.keyOf(key)
	if err != nil {
		return "", err
	}
	fileID := k.FileID
	if k.State != keySaved && (k.State != keyEnded || final) {
		// Download before taking the file's turn (checked again below).
		var done func()
		if fetch, done, err = m.prefetch(ctx, fetch); err != nil {
			return "", err
		}
		defer done()
	}
	unlock := m.files.Lock(fileID)
	defer unlock()
	if k, err = m.keyOf(key); err != nil {
		return "", err
	}
	switch {
	case k.State == keySaved:
		m.emit(Event{Kind: EventRepeated, FileID: fileID, Key: key})
		return Repeated, nil
	case k.State == keyEnded && !final:
		return Ignored, nil
	}

	sess, err := m.session(fileID)
	if err != nil {
		return "", err
	}
	if sess != nil && sess.Key != key {
		// Another Docs API session holds the file: never write over it.
		return m.conflictCopy(ctx, key, fileID, fetch, final, nil)
	}
	if sess == nil {
		// No session: status 1 was lost (DS does not retry it) or the bridge restarted
		// without state. Take the lock now if the content is still what DS started from.
		sess = &sessionRec{Key: key, LockID: LockID(key), Version: k.Version, Started: m.now()}
		if _, err := m.o.Storage.Lock(ctx, fileID, sess.LockID); err != nil {
			var lc *storage.LockConflictError
			if errors.As(err, &lc) {
				return m.conflictCopy(ctx, key, fileID, fetch, final, nil)
			}
			return m.spoolSave(ctx, key, fileID, sess, fetch, final, err)
		}
		sess.Refreshed, sess.Active = m.now(), m.now()
		if err := m.putSession(fileID, sess); err != nil {
			return "", err
		}
	}
	if sess.Pending > 0 {
		// Earlier saves wait in the spool: keep the order, this one waits too.
		return m.spoolSave(ctx, key, fileID, sess, fetch, final, errors.New("earlier saves are still spooled"))
	}
	sess.Active = m.now()

	f, err := m.o.Storage.Stat(ctx, fileID)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return m.conflictCopy(ctx, key, fileID, fetch, final, err)
		}
		return m.spoolSave(ctx, key, fileID, sess, fetch, final, err)
	}
	if f.Version != sess.Version {
		// Someone else changed the file since DS loaded it: their work stays.
		return m.conflictCopy(ctx, key, fileID, fetch, final, nil)
	}

	body, err := fetch(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: download: %v", ErrNotSafe, err)
	}
	nf, err := m.o.Storage.Put(ctx, fileID, sess.LockID, body, m.o.MaxFileSize)
	body.Close()
	var lc *storage.LockConflictError
	switch {
	case err == nil:
	case errors.As(err, &lc) && lc.Current == "":
		// Our lock lapsed and nobody took it: take it back and write.
		if _, lerr := m.o.Storage.Lock(ctx, fileID, sess.LockID); lerr != nil {
			return m.conflictCopy(ctx, key, fileID, fetch, final, err)
		}
		if nf, err = m.putFetched(ctx, fileID, sess.LockID, fetch); err != nil {
			if errors.As(err, &lc) {
				return m.conflictCopy(ctx, key, fileID, fetch, final, err)
			}
			return m.spoolSave(ctx, key, fileID, sess, fetch, final, err)
		}
	case errors.As(err, &lc):
		return m.conflictCopy(ctx, key, fileID, fetch, final, err)
	case errors.Is(err, storage.ErrTooLarge):
		return "", fmt.Errorf("%w: %v", ErrNotSafe, err)
	default:
		return m.spoolSave(ctx, key, fileID, sess, fetch, final, err)
	}
	m.emit(Event{Kind: EventSaved, FileID: fileID, Key: key})
	if final {
		if err := m.release(ctx, fileID, sess); err != nil {
			return Saved, nil // the bytes are in storage; the lock lapses by itself
		}
		return Saved, m.setKeyState(key, "", keySaved)
	}
	sess.Version = nf.Version
	return Saved, m.putSession(fileID, sess)
}

func (m *Manager) putFetched(ctx context.Context, fileID, lockID string, fetch Fetcher) (storage.File, error) {
	body, err := fetch(ctx)
	if err != nil {
		return storage.File{}, fmt.Errorf("%w: download: %v", ErrNotSafe, err)
	}
	defer body.Close()
	return m.o.Storage.Put(ctx, fileID, lockID, body, m.o.MaxFileSize)
}

// conflictCopy writes the bytes next to the file, never over someone else's work. If
// storage cannot take the copy either, the bytes go to the spool.
func (m *Manager) conflictCopy(ctx context.Context, key, fileID string, fetch Fetcher, final bool, cause error) (Outcome, error) {
	name, folder, err := m.copyTarget(ctx, fileID, key)
	if err != nil {
		return "", fmt.Errorf("%w: conflict copy: %v", ErrNotSafe, err)
	}
	body, err := fetch(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: download: %v", ErrNotSafe, err)
	}
	defer body.Close()
	cname := conflictName(name, m.now())
	if _, err := m.o.Storage.Create(ctx, folder, cname, body, false, m.o.MaxFileSize); err != nil {
		return "", fmt.Errorf("%w: conflict copy %q: %v", ErrNotSafe, cname, err)
	}
	m.emit(Event{Kind: EventConflictCopy, FileID: fileID, Key: key, Name: cname, Err: cause})
	if final {
		if sess, err := m.session(fileID); err == nil && sess != nil && sess.Key == key {
			m.release(ctx, fileID, sess)
		}
		return ConflictCopy, m.setKeyState(key, "", keySaved)
	}
	return ConflictCopy, nil
}

// copyTarget finds the name and folder for a conflict copy; a deleted file's copy goes
// to the root under the name the key was issued for.
func (m *Manager) copyTarget(ctx context.Context, fileID, key string) (name, folder string, err error) {
	if f, err := m.o.Storage.Stat(ctx, fileID); err == nil {
		return f.Name, f.FolderID, nil
	}
	root, err := m.o.Storage.Root(ctx)
	if err != nil {
		return "", "", err
	}
	name = "document " + fileID
	if k, err := m.keyOf(key); err == nil && k.Name != "" {
		name = k.Name
	}
	return name, root.ID, nil
}
