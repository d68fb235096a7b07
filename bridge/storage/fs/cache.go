package fs

import (
	"container/list"
	"os"
	"sync"
)

// What Stat and Open keep between calls, and why a hit is never stale.
//
// Uncached, finding a file reads the records of the file and of every folder above it
// (a JSON decode each), and os.Root walks the path, opening and closing every folder on
// the way. The cache keeps two things instead, both bounded (least recently used goes):
//
//   - Decoded file records, each with the bytes it was decoded from. A lookup still
//     reads the file's record from the state store, and uses the decoded copy only when
//     the bytes are equal, so the record used is always the store's current one,
//     whoever wrote it: this process, another replica sharing the store, or a run
//     before a restart. No write path needs to invalidate it.
//   - Open handles (*os.Root) on folders, each opened from its parent's handle with
//     O_NOFOLLOW and tagged with the folder tree generation (treeGen) of the state store
//     when their path was read. Every transaction that renames or forgets a folder
//     increments the generation, and a lookup reads it with the file's record, so a
//     folder renamed or deleted through any bridge sharing the store is a miss. What
//     others do on disk is checked on every use: each folder on the way must still be
//     the directory its handle holds (same device and inode, not a symbolic link), one
//     fstatat per level against the parent's handle, and the file is then looked at
//     with one fstatat in its folder's handle. A folder moved, deleted or replaced (by
//     a link or another directory) is a miss. An inode cannot be reused while a handle
//     holds it open.
//
// A miss takes the uncached path, which decides, and caches what it found only when it
// found the plain case: a regular file, its version current, real directories on the
// way. So a hit answers what the uncached path would, and everything unusual (links
// inside the root, which os.Root follows; a changed size or mtime; a closed handle)
// is left to it.
//
// The folder handles of this process are also dropped at once when it renames or
// deletes a folder, so that a removed directory is not kept open.

// Bounds of the cache: a decoded record is a few hundred bytes; a folder handle holds a
// file descriptor.
const (
	maxCachedFiles   = 4096
	maxCachedFolders = 256
)

type cache struct {
	top *folderHandle // the storage root, never closed here

	mu      sync.Mutex
	files   *lru[fileEntry]
	folders *lru[*folderHandle]
	tree    uint64 // the folder tree generation the handles in folders belong to
	closed  bool
}

// fileEntry is a file record decoded from raw, and the file it described when cached.
type fileEntry struct {
	raw string
	n   node
	fi  os.FileInfo
}

// folderHandle is an open folder of the storage tree.
type folderHandle struct {
	id     string
	name   string        // its name in parent
	parent *folderHandle // nil for the storage root
	root   *os.Root
	fi     os.FileInfo // the directory root holds, for os.SameFile
}

func newCache(rootID string, root *os.Root, maxFiles, maxFolders int) *cache {
	return &cache{
		top:     &folderHandle{id: rootID, root: root},
		files:   newLRU[fileEntry](maxFiles, nil),
		folders: newLRU(maxFolders, func(h *folderHandle) { h.root.Close() }),
	}
}

// lookup returns the entry of file id when raw is what it was decoded from, and the
// handle of its folder when that belongs to tree generation tree.
func (c *cache) lookup(id string, raw []byte, tree uint64) (fileEntry, *folderHandle, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.files.get(id)
	if !ok || e.raw != string(raw) {
		return fileEntry{}, nil, false
	}
	if e.n.Parent == c.top.id {
		return e, c.top, true
	}
	if tree != c.tree {
		return fileEntry{}, nil, false
	}
	h, ok := c.folders.get(e.n.Parent)
	return e, h, ok
}

// remember caches a file record found at tree generation tree with the file it
// describes, and handles on the folders holding it: ids and names from the root down,
// as ancestry returns them.
func (c *cache) remember(id string, raw []byte, n node, fi os.FileInfo, tree uint64, ids, names []string) {
	if len(ids) == 0 || ids[0] != c.top.id || ids[len(ids)-1] != n.Parent || len(ids)-1 > c.folders.max {
		return
	}
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return
	case tree > c.tree:
		c.folders.clear()
		c.tree = tree
	}
	c.files.put(id, fileEntry{raw: string(raw), n: n, fi: fi})
	c.mu.Unlock()

	h := c.top
	for i := 1; i < len(ids) && h != nil; i++ {
		h = c.folder(h, ids[i], names[i], tree)
	}
}

// folder returns the cached handle of folder id, name in parent, opening one when
// there is none or the one there no longer holds what is at the name. Nil when the
// entry is not a plain directory or the generation moved on.
func (c *cache) folder(parent *folderHandle, id, name string, tree uint64) *folderHandle {
	c.mu.Lock()
	h, ok := c.folders.get(id)
	stale := tree != c.tree
	c.mu.Unlock()
	if stale {
		return nil
	}
	if ok && h.parent == parent && h.name == name && h.holds() {
		return h
	}
	// Opened and checked without the lock: it takes system calls.
	h = openFolder(parent, id, name)
	if h == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || tree != c.tree {
		h.root.Close()
		return nil
	}
	c.folders.put(id, h)
	return h
}

// openFolder opens folder name in parent's handle; nil unless it is a directory, not a
// link, and still the one at name after it was opened.
func openFolder(parent *folderHandle, id, name string) *folderHandle {
	r, err := parent.root.OpenRoot(name)
	if err != nil {
		return nil
	}
	h := &folderHandle{id: id, name: name, parent: parent, root: r}
	if h.fi, err = r.Stat("."); err != nil || !h.holds() {
		r.Close()
		return nil
	}
	return h
}

// holds reports whether the entry at h's name in its parent is the directory h holds.
func (h *folderHandle) holds() bool {
	fi, err := h.parent.root.Lstat(h.name)
	return err == nil && fi.IsDir() && os.SameFile(fi, h.fi)
}

// valid reports whether every folder from the root down to h is still at its name.
func (h *folderHandle) valid() bool {
	var chain [16]*folderHandle
	up := chain[:0]
	for p := h; p.parent != nil; p = p.parent {
		up = append(up, p)
	}
	for i := len(up) - 1; i >= 0; i-- { // from the top, as a walk would
		if !up[i].holds() {
			return false
		}
	}
	return true
}

// dropFolders closes every folder handle: a folder was renamed or deleted.
func (c *cache) dropFolders() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.folders.clear()
}

// close releases the folder handles for good.
func (c *cache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.folders.clear()
	c.files.clear()
}

// lru is a map bounded to max entries that drops the least recently used; evicted, when
// set, is called with every value dropped or replaced. Not safe for concurrent use.
type lru[V any] struct {
	max     int
	order   *list.List // of *lruEntry[V], most recent first
	m       map[string]*list.Element
	evicted func(V)
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](max int, evicted func(V)) *lru[V] {
	return &lru[V]{max: max, order: list.New(), m: map[string]*list.Element{}, evicted: evicted}
}

func (l *lru[V]) get(key string) (V, bool) {
	el, ok := l.m[key]
	if !ok {
		var zero V
		return zero, false
	}
	l.order.MoveToFront(el)
	return el.Value.(*lruEntry[V]).val, true
}

func (l *lru[V]) put(key string, val V) {
	if l.max <= 0 {
		if l.evicted != nil {
			l.evicted(val)
		}
		return
	}
	if el, ok := l.m[key]; ok {
		e := el.Value.(*lruEntry[V])
		if l.evicted != nil {
			l.evicted(e.val)
		}
		e.val = val
		l.order.MoveToFront(el)
		return
	}
	l.m[key] = l.order.PushFront(&lruEntry[V]{key, val})
	for l.order.Len() > l.max {
		l.remove(l.order.Back())
	}
}

func (l *lru[V]) remove(el *list.Element) {
	e := l.order.Remove(el).(*lruEntry[V])
	delete(l.m, e.key)
	if l.evicted != nil {
		l.evicted(e.val)
	}
}

func (l *lru[V]) clear() {
	for l.order.Len() > 0 {
		l.remove(l.order.Back())
	}
}

func (l *lru[V]) len() int { return l.order.Len() }
