// Package fs is the storage backend over a directory: its files are the documents and
// its subfolders the folders. Ids, versions and locks live in the state store, so ids
// survive renames, edits and restarts; files dropped into the directory by hand get ids
// when their folder is listed.
//
// Every path is opened through an os.Root, so neither a name nor a symbolic link leads
// outside the directory. Writes go to a hidden temp file in the target's folder, which
// is synced and renamed over the target; the folder is synced after. Stat and Open find
// files through a bounded cache of records and open folder handles that is checked
// against the state store and the disk on every use (cache.go).
package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/wopibridge/wopibridge/bridge/internal/keymutex"
	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// Permissions of what the backend creates: readable by the group (a web server or backup
// user), never by the world, never world-writable.
const (
	fileMode = 0o640
	dirMode  = 0o750
	tempMode = 0o600
)

// tempPrefix starts the names of temp files; the leading dot hides them.
const tempPrefix = ".~wopibridge-"

// staleTempAge is when a leftover temp file (from a crash) is removed by List. A temp
// file being written has a fresh mtime.
const staleTempAge = 24 * time.Hour

// Options configure New.
type Options struct {
	Root    string           // the documents directory, created if missing
	State   state.Store      // where ids, versions and locks are kept
	Now     func() time.Time // clock for lock expiry; time.Now when nil
	Exclude []string         // base names in Root to hide, such as the state file
}

// FS is the directory backend.
type FS struct {
	dir     string   // absolute path of the root, for messages
	root    *os.Root // every file system access goes through it
	state   state.Store
	now     func() time.Time
	exclude map[string]bool
	rootID  string

	// ns guards the namespace: operations that add, remove or rename entries hold it
	// exclusively; operations on one file's content or lock hold it shared and, inside,
	// that file's mutex, so a lock check and the write it allows are one step.
	ns    sync.RWMutex
	files keymutex.Map

	cache *cache // what Stat and Open need to find a file, checked on every use

	// Set by tests: beforeRename runs in Put between the lock check and the rename;
	// onWindow is told how long that window lasted.
	beforeRename func()
	onWindow     func(time.Duration)
	// landingBusy, set by tests, runs when a lock change waits for a write landing.
	landingBusy func()
}

var (
	_ storage.Backend = (*FS)(nil)
	_ storage.Checker = (*FS)(nil)
)

// New opens the backend over opts.Root.
func New(opts Options) (*FS, error) {
	if opts.Root == "" {
		return nil, errors.New("fs: no storage directory given")
	}
	if opts.State == nil {
		return nil, errors.New("fs: no state store given")
	}
	dir, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("fs: storage directory %s: %w", opts.Root, err)
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("fs: create storage directory %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("fs: open storage directory %s: %w", dir, err)
	}
	s := &FS{
		dir:     dir,
		root:    root,
		state:   opts.State,
		now:     opts.Now,
		exclude: map[string]bool{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, name := range opts.Exclude {
		if name != filepath.Base(name) {
			root.Close()
			return nil, fmt.Errorf("fs: exclude %q: want a base name in the storage directory", name)
		}
		s.exclude[name] = true
	}
	err = s.state.Update(func(tx state.Tx) error {
		raw, err := tx.Get(bucketMeta, metaRoot)
		if err != nil {
			return err
		}
		if raw != nil {
			s.rootID = string(raw)
			return nil
		}
		s.rootID = newID()
		if err := putNode(tx, s.rootID, node{Dir: true}); err != nil {
			return err
		}
		return tx.Put(bucketMeta, metaRoot, []byte(s.rootID))
	})
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("fs: read the root folder from the state store: %w", err)
	}
	s.cache = newCache(s.rootID, root, maxCachedFiles, maxCachedFolders)
	return s, nil
}

// Close releases the directory. The state store belongs to the caller.
func (s *FS) Close() error {
	s.cache.close()
	return s.root.Close()
}

// Dir is the absolute path of the storage directory.
func (s *FS) Dir() string { return s.dir }

// Check reports whether the directory is there and writable.
func (s *FS) Check(ctx context.Context) error {
	fi, err := s.root.Stat(".")
	if err != nil {
		return fmt.Errorf("%w: storage directory %s: %v", storage.ErrUnavailable, s.dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: storage directory %s is not a directory", storage.ErrUnavailable, s.dir)
	}
	probe := tempPrefix + "check-" + newID()
	f, err := s.root.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, tempMode)
	if err != nil {
		return fmt.Errorf("%w: storage directory %s is not writable (check its owner and permissions): %v",
			storage.ErrUnavailable, s.dir, err)
	}
	_, werr := f.Write([]byte("ok"))
	cerr := f.Close()
	rerr := s.root.Remove(probe)
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return fmt.Errorf("%w: storage directory %s: write test: %v", storage.ErrUnavailable, s.dir, err)
	}
	return nil
}

// hidden reports whether a directory entry is invisible to clients.
func (s *FS) hidden(parent, name string) bool {
	return name == "" || name[0] == '.' || (parent == s.rootID && s.exclude[name]) || checkName(name) != nil
}

// checkNameIn is checkName plus the names reserved in the root.
func (s *FS) checkNameIn(parent, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if parent == s.rootID && s.exclude[name] {
		return invalidName(name, "the name is reserved for the bridge's own files")
	}
	return nil
}

// fileInfo makes the File for a node from what the disk says, with the recorded
// version. It does not say whether the record is current: see fresh.
func (s *FS) fileInfo(id string, n node, fi os.FileInfo) storage.File {
	return storage.File{
		ID:       id,
		Name:     n.Name,
		FolderID: n.Parent,
		Size:     fi.Size(),
		Version:  n.Version,
		ModTime:  fi.ModTime(),
	}
}

// fresh reports whether the recorded version still describes the content on disk.
func fresh(n node, fi os.FileInfo) bool {
	return n.Version != "" && n.Size == fi.Size() && n.MTime == fi.ModTime().UnixNano()
}

// describe returns the File for an on-disk file, giving it a new version when its size
// or mtime moved since the version was recorded (someone changed it outside the bridge).
// The caller holds the file's mutex.
func (s *FS) describe(id string, n node, fi os.FileInfo) (storage.File, error) {
	if fresh(n, fi) {
		return s.fileInfo(id, n, fi), nil
	}
	err := s.state.Update(func(tx state.Tx) error {
		cur, ok, err := getNode(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return notFound(id)
		}
		if fresh(cur, fi) {
			n = cur
			return nil
		}
		cur.Size, cur.MTime = fi.Size(), fi.ModTime().UnixNano()
		if cur.Version, err = nextVersion(tx, cur.MTime); err != nil {
			return err
		}
		n = cur
		return putNode(tx, id, cur)
	})
	if err != nil {
		return storage.File{}, err
	}
	return s.fileInfo(id, n, fi), nil
}

// lstatFile returns the entry at rel if it is a regular file. Symbolic links are not
// documents: following them would give one content two ids and two locks.
func (s *FS) lstatFile(id, rel string) (os.FileInfo, error) {
	fi, err := s.root.Lstat(rel)
	if err != nil {
		return nil, s.pathErr(id, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notFound(id)
	}
	return fi, nil
}

func (s *FS) lstatDir(id, rel string) (os.FileInfo, error) {
	fi, err := s.root.Lstat(rel)
	if err != nil {
		return nil, s.pathErr(id, err)
	}
	if !fi.IsDir() {
		return nil, notFound(id)
	}
	return fi, nil
}

// pathErr turns a file system error on a known id into the storage vocabulary.
func (s *FS) pathErr(id string, err error) error {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %q is gone from the storage directory", storage.ErrNotFound, id)
	}
	return fmt.Errorf("fs: %s: %w", s.dir, err)
}

// syncDir makes a folder's entries (a rename, a new or removed name) durable.
func (s *FS) syncDir(rel string) error {
	d, err := s.root.Open(rel)
	if err != nil {
		return fmt.Errorf("fs: sync folder %s: %w", rel, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("fs: sync folder %s: %w", rel, err)
	}
	return nil
}

// writeTemp streams body into a new hidden temp file in folder dirRel, at most limit
// bytes when limit > 0, and syncs it. It returns the temp file's base name; on error
// nothing is left behind.
func (s *FS) writeTemp(ctx context.Context, dirRel string, body io.Reader, limit int64, perm os.FileMode) (string, error) {
	name := tempPrefix + newID() + ".tmp"
	rel := filepath.Join(dirRel, name)
	f, err := s.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, tempMode)
	if err != nil {
		return "", fmt.Errorf("fs: create temp file in %s: %w", s.dir, err)
	}
	fail := func(err error) (string, error) {
		f.Close()
		s.root.Remove(rel)
		return "", err
	}
	r := io.Reader(ctxReader{ctx, body})
	if limit > 0 {
		r = io.LimitReader(r, limit+1)
	}
	n, err := io.Copy(f, r)
	if err != nil {
		return fail(fmt.Errorf("fs: write: %w", err))
	}
	if limit > 0 && n > limit {
		return fail(fmt.Errorf("%w: the content is larger than %d bytes", storage.ErrTooLarge, limit))
	}
	if err := f.Chmod(perm); err != nil {
		return fail(fmt.Errorf("fs: write: %w", err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("fs: write: %w", err))
	}
	if err := f.Close(); err != nil {
		s.root.Remove(rel)
		return "", fmt.Errorf("fs: write: %w", err)
	}
	return name, nil
}

// ctxReader stops a copy when the request is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
