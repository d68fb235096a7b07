package fs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// State buckets. A node is a file or folder known by id; it records its parent and name
// rather than a path, so renaming a folder touches one record. The names bucket is the
// reverse index (parent id + "/" + name → id).
const (
	bucketNodes = "fs.nodes" // id → node (JSON)
	bucketNames = "fs.names" // parent id "/" name → id
	bucketLocks = "fs.locks" // file id → lockRecord (JSON)
	bucketMeta  = "fs.meta"  // "root" → root folder id; "seq" → version counter; "tree" → folder tree generation
)

const (
	metaRoot = "root"
	metaSeq  = "seq"
	metaTree = "tree"
)

// maxDepth bounds the walk from a node to the root, so that a damaged store with a
// cycle fails instead of looping.
const maxDepth = 1024

type node struct {
	Parent  string `json:"parent,omitempty"` // empty for the root
	Name    string `json:"name,omitempty"`   // empty for the root
	Dir     bool   `json:"dir,omitempty"`
	Size    int64  `json:"size,omitempty"`    // files: size when Version was given
	MTime   int64  `json:"mtime,omitempty"`   // files: mtime (ns) when Version was given
	Version string `json:"version,omitempty"` // files
}

// lockRecord is a WOPI lock. The lock id is opaque bytes, so it is kept as []byte
// (base64 in JSON) to survive any content.
type lockRecord struct {
	Lock    []byte    `json:"lock"`
	Expires time.Time `json:"expires"`
}

func nameKey(parent, name string) string { return parent + "/" + name }

func getNode(tx state.Tx, id string) (node, bool, error) {
	if id == "" {
		return node{}, false, nil
	}
	raw, err := tx.Get(bucketNodes, id)
	if err != nil || raw == nil {
		return node{}, false, err
	}
	n, err := decodeNode(id, raw)
	return n, err == nil, err
}

func decodeNode(id string, raw []byte) (node, error) {
	var n node
	if err := json.Unmarshal(raw, &n); err != nil {
		return node{}, fmt.Errorf("fs: state record of %s: %w", id, err)
	}
	return n, nil
}

func putNode(tx state.Tx, id string, n node) error {
	raw, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return tx.Put(bucketNodes, id, raw)
}

// lookup returns the id bound to a name in a folder, if any.
func lookup(tx state.Tx, parent, name string) (string, error) {
	raw, err := tx.Get(bucketNames, nameKey(parent, name))
	return string(raw), err
}

// resolve finds a node and its path relative to the storage root.
func resolve(tx state.Tx, id string) (node, string, error) {
	n, ok, err := getNode(tx, id)
	if err != nil {
		return node{}, "", err
	}
	if !ok {
		return node{}, "", notFound(id)
	}
	_, names, err := ancestry(tx, id, n)
	if err != nil {
		return node{}, "", err
	}
	rel, err := nodePath(id, n, names)
	return n, rel, err
}

// ancestry returns the folders holding node id (record n), from the root down to its
// parent: their ids, and their names (the root's is empty). Both are empty for the root.
func ancestry(tx state.Tx, id string, n node) (ids, names []string, err error) {
	for depth, cur := 0, n; cur.Parent != ""; depth++ {
		if depth == maxDepth {
			return nil, nil, fmt.Errorf("fs: state record of %s: folder chain longer than %d", id, maxDepth)
		}
		parent, ok, err := getNode(tx, cur.Parent)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, notFound(id)
		}
		ids = append(ids, cur.Parent)
		names = append(names, parent.Name)
		cur = parent
	}
	slices.Reverse(ids)
	slices.Reverse(names)
	return ids, names, nil
}

// nodePath is the path of node id (record n) relative to the storage root, given the
// names ancestry returned.
func nodePath(id string, n node, names []string) (string, error) {
	if n.Parent == "" {
		return ".", nil
	}
	rel, err := relPath(append(slices.Clip(names[1:]), n.Name))
	if err != nil {
		return "", fmt.Errorf("fs: state record of %s: %w", id, err)
	}
	return rel, nil
}

// bind returns the id of a name found on disk, making one when the name is new or its
// record is of the other kind. A file that reappears under a known name (an editor that
// saves by replacing the file) keeps its id; its version changes with its size or mtime.
func bind(tx state.Tx, parent, name string, dir bool) (string, node, error) {
	id, err := lookup(tx, parent, name)
	if err != nil {
		return "", node{}, err
	}
	if id != "" {
		n, ok, err := getNode(tx, id)
		if err != nil {
			return "", node{}, err
		}
		if ok && n.Dir == dir && n.Parent == parent && n.Name == name {
			return id, n, nil
		}
	}
	return bindNew(tx, parent, name, dir)
}

// bindNew gives a name a fresh id, dropping whatever a stale entry said.
func bindNew(tx state.Tx, parent, name string, dir bool) (string, node, error) {
	if err := unbind(tx, parent, name); err != nil {
		return "", node{}, err
	}
	id := newID()
	n := node{Parent: parent, Name: name, Dir: dir}
	if err := putNode(tx, id, n); err != nil {
		return "", node{}, err
	}
	return id, n, tx.Put(bucketNames, nameKey(parent, name), []byte(id))
}

// unbind forgets the id bound to a name, with its record and lock.
func unbind(tx state.Tx, parent, name string) error {
	id, err := lookup(tx, parent, name)
	if err != nil || id == "" {
		return err
	}
	return forget(tx, id, parent, name)
}

func forget(tx state.Tx, id, parent, name string) error {
	if n, ok, err := getNode(tx, id); err != nil {
		return err
	} else if ok && n.Dir {
		if err := bumpTree(tx); err != nil {
			return err
		}
	}
	if err := tx.Delete(bucketNames, nameKey(parent, name)); err != nil {
		return err
	}
	if err := tx.Delete(bucketLocks, id); err != nil {
		return err
	}
	return tx.Delete(bucketNodes, id)
}

// forgetChildren drops the index entries still pointing into a removed folder (files
// and folders deleted by hand before it).
func forgetChildren(tx state.Tx, parent string) error {
	prefix := parent + "/"
	type entry struct{ key, id string }
	var stale []entry
	err := tx.ForEach(bucketNames, func(k string, v []byte) error {
		if strings.HasPrefix(k, prefix) {
			stale = append(stale, entry{k, string(v)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range stale {
		n, ok, err := getNode(tx, e.id)
		if err != nil {
			return err
		}
		if err := forget(tx, e.id, parent, strings.TrimPrefix(e.key, prefix)); err != nil {
			return err
		}
		if ok && n.Dir {
			if err := forgetChildren(tx, e.id); err != nil {
				return err
			}
		}
	}
	return nil
}

// rebind moves a node to a new name in the same folder.
func rebind(tx state.Tx, id string, n node, name string) (node, error) {
	if err := tx.Delete(bucketNames, nameKey(n.Parent, n.Name)); err != nil {
		return node{}, err
	}
	// A stale entry under the new name belongs to something gone from disk.
	if err := unbind(tx, n.Parent, name); err != nil {
		return node{}, err
	}
	n.Name = name
	if n.Dir {
		if err := bumpTree(tx); err != nil {
			return node{}, err
		}
	}
	if err := putNode(tx, id, n); err != nil {
		return node{}, err
	}
	return n, tx.Put(bucketNames, nameKey(n.Parent, name), []byte(id))
}

// treeGen is the folder tree generation: a counter that every transaction renaming or
// forgetting a folder increments (bumpTree), so that a folder path read at one
// generation still holds while the generation is the same. Missing counts as 0.
func treeGen(tx state.Tx) (uint64, error) {
	raw, err := tx.Get(bucketMeta, metaTree)
	if err != nil || raw == nil {
		return 0, err
	}
	gen, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("fs: folder tree generation: %w", err)
	}
	return gen, nil
}

func bumpTree(tx state.Tx) error {
	gen, err := treeGen(tx)
	if err != nil {
		return err
	}
	return tx.Put(bucketMeta, metaTree, strconv.AppendUint(nil, gen+1, 10))
}

// nextVersion gives content a version that no other content of any file had: a counter
// kept in the store, joined with the file's mtime in nanoseconds so that versions stay
// unique even if the store were replaced (the counter restarts, the clock does not).
// Lowercase base36, at most 27 characters of [0-9a-z-].
func nextVersion(tx state.Tx, mtime int64) (string, error) {
	raw, err := tx.Get(bucketMeta, metaSeq)
	if err != nil {
		return "", err
	}
	var seq uint64
	if raw != nil {
		if seq, err = strconv.ParseUint(string(raw), 10, 64); err != nil {
			return "", fmt.Errorf("fs: version counter: %w", err)
		}
	}
	seq++
	if err := tx.Put(bucketMeta, metaSeq, strconv.AppendUint(nil, seq, 10)); err != nil {
		return "", err
	}
	return strconv.FormatUint(seq, 36) + "-" + strconv.FormatUint(uint64(mtime), 36), nil
}

// currentLock returns the lock a file holds at now; an expired lock is no lock.
func currentLock(tx state.Tx, id string, now time.Time) (string, error) {
	raw, err := tx.Get(bucketLocks, id)
	if err != nil || raw == nil {
		return "", err
	}
	var l lockRecord
	if err := json.Unmarshal(raw, &l); err != nil {
		return "", fmt.Errorf("fs: lock record of %s: %w", id, err)
	}
	if !now.Before(l.Expires) {
		return "", nil
	}
	return string(l.Lock), nil
}

func putLock(tx state.Tx, id, lockID string, expires time.Time) error {
	raw, err := json.Marshal(lockRecord{Lock: []byte(lockID), Expires: expires})
	if err != nil {
		return err
	}
	return tx.Put(bucketLocks, id, raw)
}

func notFound(id string) error {
	return fmt.Errorf("%w: no file or folder with id %q", storage.ErrNotFound, id)
}
