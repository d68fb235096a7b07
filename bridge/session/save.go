package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/wopibridge/wopibridge/bridge/state"
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
	if sess != nil && sess.Key != key {
		// Another Docs API session holds the file: never write over it.
		return m.conflictCopy(ctx, key, fileID, fetch, final, editors, nil)
	}
	if sess == nil {
		// No session: status 1 was lost (DS does not retry it) or the bridge restarted
		// without state. Take the lock now if the content is still what DS started from.
		sess = &sessionRec{Key: key, LockID: LockID(key), Version: k.Version, Users: users, Started: m.now()}
		if _, err = m.asEditors(ctx, editors, func(c context.Context) error {
			return m.lock(c, fileID, sess.LockID)
		}); err != nil {
			var lc *storage.LockConflictError
			if errors.As(err, &lc) {
				return m.conflictCopy(ctx, key, fileID, fetch, final, editors, nil)
			}
			return m.spoolSave(ctx, key, fileID, sess, fetch, final, editors, err)
		}
		sess.Refreshed, sess.Active = m.now(), m.now()
		if sess, err = m.startSession(fileID, sess); err != nil {
			return "", err
		}
	}
	var out Outcome
	err = m.inTurn(ctx, fileID, func(ctx context.Context, waiting bool) error {
		var err error
		if waiting || sess.Pending > 0 {
			// Earlier saves wait in the spool: keep the order, this one waits too.
			out, err = m.spoolSave(ctx, key, fileID, sess, fetch, final, editors, errors.New("earlier saves are still spooled"))
			return err
		}
		// Read again in the file's turn: a write of the file that another replica
		// just ended moved the version the session is at.
		if cur, err := m.session(fileID); err != nil {
			return err
		} else if cur != nil && cur.Key == key {
			sess = cur
		}
		out, err = m.saveDirect(ctx, key, fileID, sess, fetch, final, editors, users)
		return err
	})
	return out, err
}

// saveDirect writes a save to storage in the file's turn (see inTurn): over the file
// when its content is still what DS started from, else to a conflict copy; to the
// spool when storage refuses it.
func (m *Manager) saveDirect(ctx context.Context, key, fileID string, sess *sessionRec, fetch Fetcher, final bool, editors, users []string) (Outcome, error) {
	sess.Active = m.now()

	var f storage.File
	wctx, err := m.asEditors(ctx, editors, func(c context.Context) error {
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
	// The forcesave's version goes to the session in one transaction from its read:
	// the final save on another replica may end the session meanwhile, and a record
	// written back would revive it.
	now := m.now()
	return Saved, m.o.State.Update(func(tx state.Tx) error {
		cur, err := getSession(tx, fileID)
		if err != nil || cur == nil || cur.Key != key {
			return err
		}
		if m.beforeSessionWrite != nil {
			m.beforeSessionWrite()
		}
		cur.Version, cur.Active = nf.Version, now
		if len(users) > 0 {
			cur.Users = users
		}
		return putJSON(tx, bucketSessions, fileID, cur)
	})
}

// startSession records sess, a session the save of a key starts (its status 1 was
// lost), unless a session of that key was recorded meanwhile (then that one is
// returned, its users joined).
func (m *Manager) startSession(fileID string, sess *sessionRec) (*sessionRec, error) {
	out := sess
	err := m.o.State.Update(func(tx state.Tx) error {
		cur, err := getSession(tx, fileID)
		if err != nil {
			return err
		}
		out = sess
		if cur != nil && cur.Key == sess.Key {
			out = cur
			return nil
		}
		if cur != nil {
			return fmt.Errorf("%w: a session of key %s started meanwhile", ErrLockedElsewhere, cur.Key)
		}
		return putJSON(tx, bucketSessions, fileID, sess)
	})
	return out, err
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
