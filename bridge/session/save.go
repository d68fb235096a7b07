package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

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
// the bytes are safe; an error means they are not, and DS should retry. users are the
// callback's users (and actions' users): the save acts for one of them or of the
// session's editors (see editors.go).
func (m *Manager) Save(ctx context.Context, key string, fetch Fetcher, final bool, users ...string) (Outcome, error) {
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
		m.emit(Event{Kind: EventRepeated, FileID: fileID, Key: key, Ctx: ctx, Final: final, User: firstOf(users)})
		return Repeated, nil
	case k.State == keyEnded && !final:
		return Ignored, nil
	}

	sess, err := m.session(fileID)
	if err != nil {
		return "", err
	}
	editors := editorsOf(users, sess, k)
	wctx := m.asEditor(ctx, editors)
	if sess != nil && sess.Key != key {
		// Another Docs API session holds the file: never write over it.
		return m.conflictCopy(ctx, key, fileID, fetch, final, editors, nil)
	}
	if sess == nil {
		// No session: status 1 was lost (DS does not retry it) or the bridge restarted
		// without state. Take the lock now if the content is still what DS started from.
		sess = &sessionRec{Key: key, LockID: LockID(key), Version: k.Version, Users: users, Started: m.now()}
		if wctx, err = m.asEditors(ctx, editors, func(c context.Context) error {
			return m.lock(c, fileID, sess.LockID)
		}); err != nil {
			var lc *storage.LockConflictError
			if errors.As(err, &lc) {
				return m.conflictCopy(ctx, key, fileID, fetch, final, editors, nil)
			}
			return m.spoolSave(ctx, key, fileID, sess, fetch, final, editors, err)
		}
		sess.Refreshed, sess.Active = m.now(), m.now()
		if err := m.putSession(fileID, sess); err != nil {
			return "", err
		}
	}
	if sess.Pending > 0 {
		// Earlier saves wait in the spool: keep the order, this one waits too.
		return m.spoolSave(ctx, key, fileID, sess, fetch, final, editors, errors.New("earlier saves are still spooled"))
	}
	sess.Active = m.now()

	var f storage.File
	wctx, err = m.asEditors(ctx, editors, func(c context.Context) error {
		var err error
		f, err = m.o.Storage.Stat(c, fileID)
		return err
	})
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return m.conflictCopy(ctx, key, fileID, fetch, final, editors, err)
		}
		return m.spoolSave(ctx, key, fileID, sess, fetch, final, editors, err)
	}
	if f.Version != sess.Version {
		// Someone else changed the file since DS loaded it: their work stays.
		return m.conflictCopy(ctx, key, fileID, fetch, final, editors, nil)
	}

	var nf storage.File
	put := func(c context.Context) error {
		var err error
		nf, err = m.putFetched(c, fileID, sess.LockID, fetch)
		return err
	}
	wctx, err = m.asEditors(ctx, editors, put)
	var lc *storage.LockConflictError
	switch {
	case err == nil:
	case errors.Is(err, ErrNotSafe): // the download failed
		return "", err
	case errors.As(err, &lc) && lc.Current == "":
		// Our lock lapsed and nobody took it: take it back and write.
		if lerr := m.lock(wctx, fileID, sess.LockID); lerr != nil {
			return m.conflictCopy(ctx, key, fileID, fetch, final, editors, err)
		}
		if err = put(wctx); err != nil {
			if errors.As(err, &lc) {
				return m.conflictCopy(ctx, key, fileID, fetch, final, editors, err)
			}
			return m.spoolSave(ctx, key, fileID, sess, fetch, final, editors, err)
		}
	case errors.As(err, &lc):
		return m.conflictCopy(ctx, key, fileID, fetch, final, editors, err)
	case errors.Is(err, storage.ErrTooLarge):
		return "", fmt.Errorf("%w: %v", ErrNotSafe, err)
	default:
		return m.spoolSave(ctx, key, fileID, sess, fetch, final, editors, err)
	}
	m.emit(Event{Kind: EventSaved, FileID: fileID, Key: key, Ctx: ctx, Final: final, User: firstOf(editors),
		Bytes: nf.Size, VersionBefore: sess.Version, VersionAfter: nf.Version})
	if final {
		// The bytes are in storage: the key is finished whatever the Unlock answers.
		if err := m.finish(wctx, fileID, sess, editors); err != nil {
			return Saved, err
		}
		return Saved, m.setKeyState(key, "", keySaved)
	}
	sess.Version = nf.Version
	if len(users) > 0 {
		sess.Users = users
	}
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
func (m *Manager) conflictCopy(ctx context.Context, key, fileID string, fetch Fetcher, final bool, editors []string, cause error) (Outcome, error) {
	name, folder, err := m.copyTarget(m.asEditor(ctx, editors), fileID, key)
	if err != nil {
		return "", fmt.Errorf("%w: conflict copy: %v", ErrNotSafe, err)
	}
	var cname string
	wctx, err := m.asEditors(ctx, editors, func(c context.Context) error {
		var err error
		cname, err = m.createCopy(c, folder, name, fetch)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%w: conflict copy of %q: %v", ErrNotSafe, name, err)
	}
	m.emit(Event{Kind: EventConflictCopy, FileID: fileID, Key: key, Name: cname, Err: cause, Ctx: ctx, Final: final, User: firstOf(editors)})
	if final {
		if sess, err := m.session(fileID); err == nil && sess != nil && sess.Key == key {
			if err := m.finish(wctx, fileID, sess, editors); err != nil {
				return ConflictCopy, err
			}
		}
		return ConflictCopy, m.setKeyState(key, "", keySaved)
	}
	return ConflictCopy, nil
}

// createCopy writes the bytes fetch opens next to the file, under a conflict name that
// is free: a taken one (two copies within a millisecond) gets a number.
func (m *Manager) createCopy(ctx context.Context, folder, name string, fetch Fetcher) (string, error) {
	cname := conflictName(name, m.now())
	for n := 2; ; n++ {
		body, err := fetch(ctx)
		if err != nil {
			return "", fmt.Errorf("%w: download: %v", ErrNotSafe, err)
		}
		_, err = m.o.Storage.Create(ctx, folder, cname, body, false, m.o.MaxFileSize)
		body.Close()
		if !errors.Is(err, storage.ErrExists) || n > 9 {
			return cname, err
		}
		cname = numbered(conflictName(name, m.now()), n)
	}
}

// firstOf is the first of users, "" when there is none.
func firstOf(users []string) string {
	if len(users) == 0 {
		return ""
	}
	return users[0]
}

// numbered is name with " n" before its extension.
func numbered(name string, n int) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return fmt.Sprintf("%s %d%s", name[:i], n, name[i:])
	}
	return fmt.Sprintf("%s %d", name, n)
}

// copyTarget finds the name and folder for a conflict copy; a deleted file's copy goes
// to the root under the name the key was issued for.
func (m *Manager) copyTarget(ctx context.Context, fileID, key string) (name, folder string, err error) {
	f, err := m.o.Storage.Stat(ctx, fileID)
	switch {
	case err == nil:
		return f.Name, f.FolderID, nil
	case !errors.Is(err, storage.ErrNotFound):
		return "", "", err // storage failing: not a reason to look elsewhere
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
