package fs

import (
	"os"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// located is a file as the state store places it.
type located struct {
	n       node
	raw     []byte   // the record n was decoded from
	tree    uint64   // the folder tree generation when it was read
	folders []string // ids of the folders holding it, from the root down
	names   []string // their names
	rel     string   // its path relative to the storage root
}

// findFile resolves a file id through the state store, without its lock.
func (s *FS) findFile(id string) (located, error) {
	if !validID(id) {
		return located{}, notFound(id)
	}
	var loc located
	err := s.state.View(func(tx state.Tx) error {
		var err error
		if loc.tree, err = treeGen(tx); err != nil {
			return err
		}
		if loc.raw, err = tx.Get(bucketNodes, id); err != nil {
			return err
		}
		if loc.raw == nil {
			return notFound(id)
		}
		if loc.n, err = decodeNode(id, loc.raw); err != nil {
			return err
		}
		if loc.n.Dir {
			return notFound(id)
		}
		if loc.folders, loc.names, err = ancestry(tx, id, loc.n); err != nil {
			return err
		}
		loc.rel, err = nodePath(id, loc.n, loc.names)
		return err
	})
	return loc, err
}

// remember caches a file found by findFile whose record describes fi, the file at
// loc.rel.
func (s *FS) remember(id string, loc located, fi os.FileInfo) {
	if fresh(loc.n, fi) {
		s.cache.remember(id, loc.raw, loc.n, fi, loc.tree, loc.folders, loc.names)
	}
}

// cachedFile finds file id through the cache (see cache.go): its current record, its
// folder's handle, and the file as the handle sees it now, which the record describes.
// It reads the state store but writes nothing. ok is false when the cache cannot tell;
// the uncached path decides then.
func (s *FS) cachedFile(id string) (n node, dir *folderHandle, fi os.FileInfo, ok bool) {
	var raw []byte
	var tree uint64
	err := s.state.View(func(tx state.Tx) error {
		var err error
		if tree, err = treeGen(tx); err != nil {
			return err
		}
		raw, err = tx.Get(bucketNodes, id)
		return err
	})
	if err != nil || raw == nil {
		return node{}, nil, nil, false
	}
	e, dir, ok := s.cache.lookup(id, raw, tree)
	if !ok || !dir.valid() {
		return node{}, nil, nil, false
	}
	fi, err = dir.root.Lstat(e.n.Name)
	// The same inode as when cached: a write through the bridge renames a new file in
	// before it records the new version, so a file replaced since is left to the
	// uncached path, which waits for the write under the file's mutex.
	if err != nil || !fi.Mode().IsRegular() || !os.SameFile(fi, e.fi) || !fresh(e.n, fi) {
		return node{}, nil, nil, false
	}
	return e.n, dir, fi, true
}

// openCached is Open through the cache; ok is false when the cache cannot tell.
func (s *FS) openCached(id string) (*os.File, storage.File, bool) {
	n, dir, lfi, ok := s.cachedFile(id)
	if !ok {
		return nil, storage.File{}, false
	}
	f, err := dir.root.Open(n.Name)
	if err != nil {
		return nil, storage.File{}, false
	}
	fi, err := f.Stat()
	if err != nil || !os.SameFile(lfi, fi) || !fresh(n, fi) {
		f.Close()
		return nil, storage.File{}, false
	}
	return f, s.fileInfo(id, n, fi), true
}
