package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// Root is the storage directory itself, named after it.
func (s *FS) Root(ctx context.Context) (storage.Folder, error) {
	return s.Folder(ctx, s.rootID)
}

// Folder describes a folder.
func (s *FS) Folder(ctx context.Context, id string) (storage.Folder, error) {
	s.ns.RLock()
	defer s.ns.RUnlock()
	n, _, err := s.lookupFolder(id)
	if err != nil {
		return storage.Folder{}, err
	}
	return s.folderInfo(id, n), nil
}

func (s *FS) folderInfo(id string, n node) storage.Folder {
	if id == s.rootID {
		return storage.Folder{ID: id, Name: filepath.Base(s.dir)}
	}
	return storage.Folder{ID: id, Name: n.Name, ParentID: n.Parent}
}

// List returns the documents and subfolders of a folder, sorted by name. Entries new to
// the bridge get ids here; files changed outside the bridge get new versions. Hidden
// entries, excluded names and anything that is neither a regular file nor a directory
// (symbolic links, devices) are left out.
func (s *FS) List(ctx context.Context, folderID string) ([]storage.File, []storage.Folder, error) {
	s.ns.RLock()
	defer s.ns.RUnlock()
	_, rel, err := s.lookupFolder(folderID)
	if err != nil {
		return nil, nil, err
	}
	entries, err := s.readDir(folderID, rel)
	if err != nil {
		return nil, nil, err
	}
	s.removeStaleTemps(rel, entries)

	type seen struct {
		name string
		dir  bool
		fi   os.FileInfo
		id   string
		n    node
	}
	var found []seen
	for _, e := range entries {
		if s.hidden(folderID, e.Name()) || !(e.Type().IsRegular() || e.Type().IsDir()) {
			continue
		}
		fi, err := s.root.Lstat(filepath.Join(rel, e.Name()))
		if err != nil {
			continue // gone since the directory was read
		}
		if !fi.Mode().IsRegular() && !fi.IsDir() {
			continue
		}
		found = append(found, seen{name: e.Name(), dir: fi.IsDir(), fi: fi})
	}

	// Known entries in one read; unknown ones bound in one write.
	var unknown []int
	err = s.state.View(func(tx state.Tx) error {
		for i := range found {
			id, err := lookup(tx, folderID, found[i].name)
			if err != nil {
				return err
			}
			n, ok, err := getNode(tx, id)
			if err != nil {
				return err
			}
			if id == "" || !ok || n.Dir != found[i].dir || n.Parent != folderID || n.Name != found[i].name {
				unknown = append(unknown, i)
				continue
			}
			found[i].id, found[i].n = id, n
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(unknown) > 0 {
		err = s.state.Update(func(tx state.Tx) error {
			for _, i := range unknown {
				id, n, err := bind(tx, folderID, found[i].name, found[i].dir)
				if err != nil {
					return err
				}
				found[i].id, found[i].n = id, n
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}

	var files []storage.File
	var folders []storage.Folder
	for _, e := range found {
		if e.dir {
			folders = append(folders, s.folderInfo(e.id, e.n))
			continue
		}
		if fresh(e.n, e.fi) {
			files = append(files, s.fileInfo(e.id, e.n, e.fi))
			continue
		}
		// New or changed outside the bridge: give it a version under its mutex, so that a
		// write being committed is not taken for an outside change.
		file, err := s.statLocked(e.id)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		files = append(files, file)
	}
	slices.SortFunc(files, func(a, b storage.File) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(folders, func(a, b storage.Folder) int { return strings.Compare(a.Name, b.Name) })
	return files, folders, nil
}

func (s *FS) statLocked(id string) (storage.File, error) {
	defer s.files.Lock(id)()
	return s.stat(id)
}

func (s *FS) readDir(id, rel string) ([]os.DirEntry, error) {
	d, err := s.root.Open(rel)
	if err != nil {
		return nil, s.pathErr(id, err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("fs: list %s: %w", rel, err)
	}
	return entries, nil
}

// removeStaleTemps deletes temp files a crash left behind. Errors do not matter here:
// the next listing tries again.
func (s *FS) removeStaleTemps(rel string, entries []os.DirEntry) {
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(rel, e.Name())
		if fi, err := s.root.Lstat(p); err == nil && s.now().Sub(fi.ModTime()) > staleTempAge {
			s.root.Remove(p)
		}
	}
}

// CreateFolder makes a subfolder.
func (s *FS) CreateFolder(ctx context.Context, parentID, name string) (storage.Folder, error) {
	s.ns.Lock()
	defer s.ns.Unlock()
	_, parentRel, err := s.lookupFolder(parentID)
	if err != nil {
		return storage.Folder{}, err
	}
	if err := s.checkNameIn(parentID, name); err != nil {
		return storage.Folder{}, err
	}
	rel := filepath.Join(parentRel, name)
	if err := s.root.Mkdir(rel, dirMode); errors.Is(err, os.ErrExist) {
		return storage.Folder{}, fmt.Errorf("%w: %q is taken in this folder", storage.ErrExists, name)
	} else if err != nil {
		return storage.Folder{}, fmt.Errorf("fs: create folder %s: %w", rel, err)
	}
	if err := s.syncDir(parentRel); err != nil {
		return storage.Folder{}, err
	}
	var id string
	var n node
	err = s.state.Update(func(tx state.Tx) error {
		var err error
		id, n, err = bindNew(tx, parentID, name, true)
		return err
	})
	if err != nil {
		s.root.Remove(rel)
		return storage.Folder{}, err
	}
	return s.folderInfo(id, n), nil
}

// RenameFolder renames a folder in place; what it holds keeps its ids.
func (s *FS) RenameFolder(ctx context.Context, id, name string) (storage.Folder, error) {
	s.ns.Lock()
	defer s.ns.Unlock()
	n, rel, err := s.lookupFolder(id)
	if err != nil {
		return storage.Folder{}, err
	}
	if id == s.rootID {
		return storage.Folder{}, fmt.Errorf("%w: the root folder is the storage directory and cannot be renamed", storage.ErrUnsupported)
	}
	if err := s.checkNameIn(n.Parent, name); err != nil {
		return storage.Folder{}, err
	}
	if name == n.Name {
		return s.folderInfo(id, n), nil
	}
	target := filepath.Join(filepath.Dir(rel), name)
	fi, err := s.root.Lstat(rel)
	if err != nil {
		return storage.Folder{}, s.pathErr(id, err)
	}
	if tfi, err := s.root.Lstat(target); err == nil && !os.SameFile(fi, tfi) {
		return storage.Folder{}, fmt.Errorf("%w: %q is taken in this folder", storage.ErrExists, name)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return storage.Folder{}, fmt.Errorf("fs: %w", err)
	}
	if err := s.root.Rename(rel, target); err != nil {
		return storage.Folder{}, fmt.Errorf("fs: rename folder %s: %w", rel, err)
	}
	if err := s.syncDir(filepath.Dir(rel)); err != nil {
		return storage.Folder{}, err
	}
	s.cache.dropFolders()
	err = s.state.Update(func(tx state.Tx) error {
		var err error
		n, err = rebind(tx, id, n, name)
		return err
	})
	if err != nil {
		s.root.Rename(target, rel)
		return storage.Folder{}, fmt.Errorf("fs: record the rename of %s: %w", rel, err)
	}
	return s.folderInfo(id, n), nil
}

// DeleteFolder removes an empty folder. A folder holding only hidden files is not empty:
// they may be someone's.
func (s *FS) DeleteFolder(ctx context.Context, id string) error {
	s.ns.Lock()
	defer s.ns.Unlock()
	n, rel, err := s.lookupFolder(id)
	if err != nil {
		return err
	}
	if id == s.rootID {
		return fmt.Errorf("%w: the root folder is the storage directory and cannot be deleted", storage.ErrUnsupported)
	}
	d, err := s.root.Open(rel)
	if err != nil {
		return s.pathErr(id, err)
	}
	names, err := d.Readdirnames(1)
	d.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("fs: list %s: %w", rel, err)
	}
	if len(names) > 0 {
		return notEmpty(n.Name)
	}
	if err := s.root.Remove(rel); errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
		return notEmpty(n.Name)
	} else if err != nil {
		return s.pathErr(id, err)
	}
	s.cache.dropFolders()
	if err := s.syncDir(filepath.Dir(rel)); err != nil {
		return err
	}
	return s.state.Update(func(tx state.Tx) error {
		if err := forget(tx, id, n.Parent, n.Name); err != nil {
			return err
		}
		return forgetChildren(tx, id)
	})
}

func notEmpty(name string) error {
	return fmt.Errorf("%w: %q holds files or folders (hidden ones count too)", storage.ErrNotEmpty, name)
}
