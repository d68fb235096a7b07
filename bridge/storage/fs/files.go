package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// lookupFile resolves a file id to its record, its path and its current lock.
func (s *FS) lookupFile(id string) (n node, rel, held string, err error) {
	if !validID(id) {
		return node{}, "", "", notFound(id)
	}
	err = s.state.View(func(tx state.Tx) error {
		var err error
		if n, rel, err = resolve(tx, id); err != nil {
			return err
		}
		if n.Dir {
			return notFound(id)
		}
		held, err = currentLock(tx, id, s.now())
		return err
	})
	return n, rel, held, err
}

// lookupFolder resolves a folder id to its record and path.
func (s *FS) lookupFolder(id string) (n node, rel string, err error) {
	if !validID(id) {
		return node{}, "", notFound(id)
	}
	err = s.state.View(func(tx state.Tx) error {
		var err error
		if n, rel, err = resolve(tx, id); err != nil {
			return err
		}
		if !n.Dir {
			return notFound(id)
		}
		return nil
	})
	if err != nil {
		return node{}, "", err
	}
	if _, err := s.lstatDir(id, rel); err != nil {
		return node{}, "", err
	}
	return n, rel, nil
}

// Stat describes a file.
func (s *FS) Stat(ctx context.Context, id string) (storage.File, error) {
	if !validID(id) {
		return storage.File{}, notFound(id)
	}
	s.ns.RLock()
	defer s.ns.RUnlock()
	// A hit writes nothing, so it needs no file mutex: a write under way has either not
	// replaced the file yet (this is the version before it) or has, and is a miss.
	if n, _, fi, ok := s.cachedFile(id); ok {
		return s.fileInfo(id, n, fi), nil
	}
	defer s.files.Lock(id)()
	return s.stat(id)
}

// stat is Stat for a caller holding the file's mutex.
func (s *FS) stat(id string) (storage.File, error) {
	loc, err := s.findFile(id)
	if err != nil {
		return storage.File{}, err
	}
	fi, err := s.lstatFile(id, loc.rel)
	if err != nil {
		return storage.File{}, err
	}
	s.remember(id, loc, fi)
	return s.describe(id, loc.n, fi)
}

// Open returns the file's content as an *os.File (an io.ReadSeeker, for
// http.ServeContent) and its description at the moment of opening. A later Put
// replaces the file by rename, so what is read stays the described version.
func (s *FS) Open(ctx context.Context, id string) (io.ReadCloser, storage.File, error) {
	if !validID(id) {
		return nil, storage.File{}, notFound(id)
	}
	s.ns.RLock()
	defer s.ns.RUnlock()
	if f, file, ok := s.openCached(id); ok {
		return f, file, nil
	}
	defer s.files.Lock(id)()
	loc, err := s.findFile(id)
	if err != nil {
		return nil, storage.File{}, err
	}
	lfi, err := s.lstatFile(id, loc.rel)
	if err != nil {
		return nil, storage.File{}, err
	}
	f, err := s.root.Open(loc.rel)
	if err != nil {
		return nil, storage.File{}, s.pathErr(id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, storage.File{}, fmt.Errorf("fs: %w", err)
	}
	if !os.SameFile(lfi, fi) { // replaced between the two looks
		f.Close()
		return nil, storage.File{}, fmt.Errorf("%w: %q changed while being opened, try again", storage.ErrUnavailable, id)
	}
	s.remember(id, loc, fi)
	file, err := s.describe(id, loc.n, fi)
	if err != nil {
		f.Close()
		return nil, storage.File{}, err
	}
	return f, file, nil
}

// Put replaces a file's content under the lock rules. The body streams into a temp file
// before any lock is held; the lock is checked before (to refuse early) and again right
// before the rename, in one state transaction with the fence of ctx (storage.WithFence)
// when it is kept in this backend's state store.
func (s *FS) Put(ctx context.Context, id, lockID string, body io.Reader, limit int64) (storage.File, error) {
	parent, perm, err := s.preparePut(id, lockID)
	if err != nil {
		return storage.File{}, err
	}
	parentRel, err := s.folderPath(parent)
	if err != nil {
		return storage.File{}, err
	}
	tmp, err := s.writeTemp(ctx, parentRel, body, limit, perm)
	if err != nil {
		return storage.File{}, err
	}

	s.ns.RLock()
	defer s.ns.RUnlock()
	defer s.files.Lock(id)()
	// The folder may have been renamed meanwhile; the temp file moved with it.
	if parentRel, err = s.folderPath(parent); err != nil {
		return storage.File{}, err
	}
	tmpRel := filepath.Join(parentRel, tmp)
	file, err := s.commitPut(ctx, id, lockID, tmpRel)
	if err != nil {
		s.root.Remove(tmpRel)
	}
	return file, err
}

func (s *FS) preparePut(id, lockID string) (parent string, perm os.FileMode, err error) {
	s.ns.RLock()
	defer s.ns.RUnlock()
	defer s.files.Lock(id)()
	n, rel, held, err := s.lookupFile(id)
	if err != nil {
		return "", 0, err
	}
	fi, err := s.lstatFile(id, rel)
	if err != nil {
		return "", 0, err
	}
	if err := checkPut(held, lockID, fi.Size()); err != nil {
		return "", 0, err
	}
	return n.Parent, keepPerm(fi), nil
}

// commitPut checks the lock (and the fence of ctx) in one transaction, then renames.
// That transaction also marks the write as landing (bucketLanding) until the rename
// and its record are done: a lock change on another replica sharing the state store
// waits for it (see changeLock), so no lock is granted between the check and the
// rename (onWindow measures how long that is). The new version is recorded after the rename, so that the version Put
// returns is the file's even if another replica looked at it in between.
func (s *FS) commitPut(ctx context.Context, id, lockID, tmpRel string) (storage.File, error) {
	n, rel, _, err := s.lookupFile(id)
	if err != nil {
		return storage.File{}, err
	}
	fi, err := s.lstatFile(id, rel)
	if err != nil {
		return storage.File{}, err
	}
	if filepath.Dir(rel) != filepath.Dir(tmpRel) {
		return storage.File{}, fmt.Errorf("%w: %q moved during the write, try again", storage.ErrUnavailable, id)
	}
	fence, fenced := storage.FenceFrom(ctx)
	fenced = fenced && fence.Store == s.state
	now := s.now()
	mark := landingMark(now)
	err = s.state.Update(func(tx state.Tx) error {
		held, err := currentLock(tx, id, now)
		if err != nil {
			return err
		}
		if err := checkPut(held, lockID, fi.Size()); err != nil {
			return err
		}
		if fenced {
			if err := fence.Check(tx); err != nil {
				return err
			}
		}
		return tx.Put(bucketLanding, id, mark)
	})
	if err != nil {
		return storage.File{}, err
	}
	defer s.state.Update(func(tx state.Tx) error { return dropLanding(tx, id, mark) })
	checked := time.Now()
	if s.beforeRename != nil {
		s.beforeRename()
	}
	if err := s.root.Rename(tmpRel, rel); err != nil {
		return storage.File{}, fmt.Errorf("fs: replace %s: %w", rel, err)
	}
	if s.onWindow != nil {
		s.onWindow(time.Since(checked))
	}
	return s.recordReplaced(id, n, rel)
}

// replace renames a written temp file over rel and records the new version.
func (s *FS) replace(id string, n node, tmpRel, rel string) (storage.File, error) {
	if err := s.root.Rename(tmpRel, rel); err != nil {
		return storage.File{}, fmt.Errorf("fs: replace %s: %w", rel, err)
	}
	return s.recordReplaced(id, n, rel)
}

// recordReplaced records the new version of a file just renamed into place.
func (s *FS) recordReplaced(id string, n node, rel string) (storage.File, error) {
	if err := s.syncDir(filepath.Dir(rel)); err != nil {
		return storage.File{}, err
	}
	fi, err := s.root.Lstat(rel)
	if err != nil {
		return storage.File{}, s.pathErr(id, err)
	}
	err = s.state.Update(func(tx state.Tx) error {
		cur, ok, err := getNode(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			cur = n
		}
		cur.Size, cur.MTime = fi.Size(), fi.ModTime().UnixNano()
		if cur.Version, err = nextVersion(tx, cur.MTime); err != nil {
			return err
		}
		n = cur
		return putNode(tx, id, cur)
	})
	if err != nil {
		// The bytes are in place; the next look at the file sees its size or mtime moved
		// and gives it a version then.
		return storage.File{}, fmt.Errorf("fs: record the new version of %s: %w", rel, err)
	}
	return s.fileInfo(id, n, fi), nil
}

// folderPath resolves a folder id to its path.
func (s *FS) folderPath(id string) (string, error) {
	var rel string
	err := s.state.View(func(tx state.Tx) error {
		n, r, err := resolve(tx, id)
		if err != nil {
			return err
		}
		if !n.Dir {
			return notFound(id)
		}
		rel = r
		return nil
	})
	return rel, err
}

// Create makes a new file, or replaces an unlocked one when overwrite is set.
func (s *FS) Create(ctx context.Context, folderID, name string, body io.Reader, overwrite bool, limit int64) (storage.File, error) {
	if _, _, err := s.lookupFolder(folderID); err != nil {
		return storage.File{}, err
	}
	if err := s.checkNameIn(folderID, name); err != nil {
		return storage.File{}, err
	}
	// Refuse early what would be refused after the upload.
	s.ns.RLock()
	perm, err := s.prepareCreate(folderID, name, overwrite)
	s.ns.RUnlock()
	if err != nil {
		return storage.File{}, err
	}
	parentRel, err := s.folderPath(folderID)
	if err != nil {
		return storage.File{}, err
	}
	tmp, err := s.writeTemp(ctx, parentRel, body, limit, perm)
	if err != nil {
		return storage.File{}, err
	}

	s.ns.Lock()
	defer s.ns.Unlock()
	if parentRel, err = s.folderPath(folderID); err != nil {
		return storage.File{}, err
	}
	tmpRel := filepath.Join(parentRel, tmp)
	file, err := s.commitCreate(folderID, name, overwrite, parentRel, tmpRel)
	if err != nil {
		s.root.Remove(tmpRel)
	}
	return file, err
}

// prepareCreate checks whether name may be (re)written in a folder and returns the mode
// the file will have. The caller holds ns.
func (s *FS) prepareCreate(folderID, name string, overwrite bool) (os.FileMode, error) {
	parentRel, err := s.folderPath(folderID)
	if err != nil {
		return 0, err
	}
	fi, err := s.root.Lstat(filepath.Join(parentRel, name))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fileMode, nil
	case err != nil:
		return 0, fmt.Errorf("fs: %w", err)
	case !overwrite || !fi.Mode().IsRegular():
		return 0, fmt.Errorf("%w: %q is taken in this folder", storage.ErrExists, name)
	}
	var held string
	err = s.state.View(func(tx state.Tx) error {
		id, err := lookup(tx, folderID, name)
		if err != nil || id == "" {
			return err
		}
		held, err = currentLock(tx, id, s.now())
		return err
	})
	if err != nil {
		return 0, err
	}
	if held != "" {
		return 0, &storage.LockConflictError{Current: held, Reason: "the file to overwrite is locked"}
	}
	return keepPerm(fi), nil
}

// commitCreate moves the written temp file to its name. The caller holds ns exclusively,
// so no file operation runs meanwhile.
func (s *FS) commitCreate(folderID, name string, overwrite bool, parentRel, tmpRel string) (storage.File, error) {
	if _, err := s.prepareCreate(folderID, name, overwrite); err != nil {
		return storage.File{}, err
	}
	rel := filepath.Join(parentRel, name)
	_, statErr := s.root.Lstat(rel)
	existed := statErr == nil

	var id string
	var n node
	err := s.state.Update(func(tx state.Tx) error {
		var err error
		if existed {
			id, n, err = bind(tx, folderID, name, false)
		} else {
			id, n, err = bindNew(tx, folderID, name, false)
		}
		return err
	})
	if err != nil {
		return storage.File{}, err
	}
	file, err := s.replace(id, n, tmpRel, rel)
	if err != nil && !existed {
		s.state.Update(func(tx state.Tx) error { return unbind(tx, folderID, name) })
	}
	return file, err
}

// Rename gives a file a new name in its folder under the lock rules.
func (s *FS) Rename(ctx context.Context, id, lockID, name string) (storage.File, error) {
	s.ns.Lock()
	defer s.ns.Unlock()
	n, rel, held, err := s.lookupFile(id)
	if err != nil {
		return storage.File{}, err
	}
	fi, err := s.lstatFile(id, rel)
	if err != nil {
		return storage.File{}, err
	}
	if err := s.checkNameIn(n.Parent, name); err != nil {
		return storage.File{}, err
	}
	if err := checkLock(held, lockID); err != nil {
		return storage.File{}, err
	}
	if name == n.Name {
		return s.describe(id, n, fi)
	}
	target := filepath.Join(filepath.Dir(rel), name)
	if tfi, err := s.root.Lstat(target); err == nil && !os.SameFile(fi, tfi) {
		return storage.File{}, fmt.Errorf("%w: %q is taken in this folder", storage.ErrExists, name)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return storage.File{}, fmt.Errorf("fs: %w", err)
	}
	if err := s.root.Rename(rel, target); err != nil {
		return storage.File{}, fmt.Errorf("fs: rename %s: %w", rel, err)
	}
	if err := s.syncDir(filepath.Dir(rel)); err != nil {
		return storage.File{}, err
	}
	err = s.state.Update(func(tx state.Tx) error {
		var err error
		n, err = rebind(tx, id, n, name)
		return err
	})
	if err != nil {
		// Put the name back so that the id still leads to the file.
		s.root.Rename(target, rel)
		return storage.File{}, fmt.Errorf("fs: record the rename of %s: %w", rel, err)
	}
	return s.describe(id, n, fi)
}

// Delete removes an unlocked file.
func (s *FS) Delete(ctx context.Context, id string) error {
	s.ns.Lock()
	defer s.ns.Unlock()
	n, rel, held, err := s.lookupFile(id)
	if err != nil {
		return err
	}
	if held != "" {
		return &storage.LockConflictError{Current: held, Reason: "the file is locked"}
	}
	if _, err := s.lstatFile(id, rel); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			s.state.Update(func(tx state.Tx) error { return forget(tx, id, n.Parent, n.Name) })
		}
		return err
	}
	if err := s.root.Remove(rel); err != nil {
		return s.pathErr(id, err)
	}
	if err := s.syncDir(filepath.Dir(rel)); err != nil {
		return err
	}
	return s.state.Update(func(tx state.Tx) error { return forget(tx, id, n.Parent, n.Name) })
}

// keepPerm is the mode a rewritten file keeps: its own, minus any write bit for others.
func keepPerm(fi os.FileInfo) os.FileMode {
	return fi.Mode().Perm() &^ 0o002
}
