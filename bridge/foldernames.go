package bridge

import (
	"sync"
	"time"
)

// folderNames remembers folder names for CheckFileInfo's BreadcrumbFolderName, which
// WOPI clients only display: looking the folder up on every CheckFileInfo would cost a
// storage round trip for a label. Entries live briefly, and renames through the bridge
// drop them at once.
type folderNames struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]folderNameEntry
}

type folderNameEntry struct {
	name    string
	expires time.Time
}

const (
	folderNameTTL   = 10 * time.Second
	folderNamesSize = 4096
)

func newFolderNames(now func() time.Time) *folderNames {
	return &folderNames{now: now, m: map[string]folderNameEntry{}}
}

func (c *folderNames) get(id string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || !c.now().Before(e.expires) {
		return "", false
	}
	return e.name, true
}

func (c *folderNames) put(id, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= folderNamesSize {
		clear(c.m)
	}
	c.m[id] = folderNameEntry{name: name, expires: c.now().Add(folderNameTTL)}
}

func (c *folderNames) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}
