package fs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// nested creates folders a/b and the file a/b/f.docx, and looks at it once so that the
// cache holds it.
func (e *env) nested(content string) (a, b storage.Folder, f storage.File) {
	e.t.Helper()
	ctx := e.t.Context()
	var err error
	if a, err = e.fs.CreateFolder(ctx, e.root().ID, "a"); err != nil {
		e.t.Fatal(err)
	}
	if b, err = e.fs.CreateFolder(ctx, a.ID, "b"); err != nil {
		e.t.Fatal(err)
	}
	if f, err = e.fs.Create(ctx, b.ID, "f.docx", strings.NewReader(content), false, 0); err != nil {
		e.t.Fatal(err)
	}
	e.warm(f.ID)
	return a, b, f
}

// warm looks at a file and checks that the next look is answered by the cache.
func (e *env) warm(id string) {
	e.t.Helper()
	if _, err := e.fs.Stat(e.t.Context(), id); err != nil {
		e.t.Fatalf("Stat(%s): %v", id, err)
	}
	if _, _, _, ok := e.fs.cachedFile(id); !ok {
		e.t.Fatalf("the cache does not answer for %s after a Stat", id)
	}
}

// cached reports whether the cache answers for id now.
func (e *env) cached(id string) bool {
	_, _, _, ok := e.fs.cachedFile(id)
	return ok
}

func TestCacheAnswers(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	top := e.create("top.docx", "in the root")
	e.warm(top.ID)
	_, _, f := e.nested("deep")

	for _, want := range []storage.File{top, f} {
		got, err := e.fs.Stat(ctx, want.ID)
		if err != nil || got != want {
			t.Errorf("Stat from the cache = %+v, %v; want %+v", got, err, want)
		}
		rc, opened, ok := e.fs.openCached(want.ID)
		if !ok {
			t.Fatalf("Open of %s is not answered by the cache", want.Name)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if opened != want || (string(b) != "in the root" && string(b) != "deep") {
			t.Errorf("Open from the cache = %q %+v; want %+v", b, opened, want)
		}
	}
	// A lock does not touch the record the cache checks.
	if _, err := e.fs.Lock(ctx, f.ID, "L1"); err != nil {
		t.Fatal(err)
	}
	if !e.cached(f.ID) {
		t.Error("a Lock made the cache miss")
	}
}

func TestCacheSeesChangesThroughTheBridge(t *testing.T) {
	ctx := t.Context()
	cases := []struct {
		name   string
		change func(e *env, a, b storage.Folder, f storage.File) (want storage.File, wantErr error)
	}{
		{"file renamed", func(e *env, _, _ storage.Folder, f storage.File) (storage.File, error) {
			return e.fs.Rename(ctx, f.ID, "", "g.docx")
		}},
		{"file written", func(e *env, _, _ storage.Folder, f storage.File) (storage.File, error) {
			if _, err := e.fs.Lock(ctx, f.ID, "L1"); err != nil {
				return storage.File{}, err
			}
			return e.fs.Put(ctx, f.ID, "L1", strings.NewReader("same"), 0) // same size
		}},
		{"file overwritten by Create", func(e *env, _, b storage.Folder, _ storage.File) (storage.File, error) {
			return e.fs.Create(ctx, b.ID, "f.docx", strings.NewReader("over"), true, 0)
		}},
		{"file deleted", func(e *env, _, _ storage.Folder, f storage.File) (storage.File, error) {
			return storage.File{}, e.fs.Delete(ctx, f.ID)
		}},
		{"folder renamed", func(e *env, a, _ storage.Folder, f storage.File) (storage.File, error) {
			if _, err := e.fs.RenameFolder(ctx, a.ID, "A"); err != nil {
				return storage.File{}, err
			}
			return f, nil
		}},
		{"parent folder renamed", func(e *env, _, b storage.Folder, f storage.File) (storage.File, error) {
			if _, err := e.fs.RenameFolder(ctx, b.ID, "B"); err != nil {
				return storage.File{}, err
			}
			return f, nil
		}},
		{"folders renamed and swapped", func(e *env, a, _ storage.Folder, f storage.File) (storage.File, error) {
			// Another folder takes the name a had; the file's path changes.
			other, err := e.fs.CreateFolder(ctx, e.root().ID, "other")
			if err != nil {
				return storage.File{}, err
			}
			if err := os.MkdirAll(filepath.Join(e.dir, "other", "b"), 0o750); err != nil {
				return storage.File{}, err
			}
			if err := os.WriteFile(filepath.Join(e.dir, "other", "b", "f.docx"), []byte("deep"), 0o640); err != nil {
				return storage.File{}, err
			}
			if _, err := e.fs.RenameFolder(ctx, a.ID, "tmp"); err != nil {
				return storage.File{}, err
			}
			if _, err := e.fs.RenameFolder(ctx, other.ID, "a"); err != nil {
				return storage.File{}, err
			}
			return f, nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a, b, f := e.nested("deep")
			want, wantErr := tc.change(e, a, b, f)
			if wantErr == nil && want == (storage.File{}) {
				wantErr = storage.ErrNotFound
			}
			got, err := e.fs.Stat(ctx, f.ID)
			if wantErr != nil {
				if !errors.Is(err, wantErr) {
					t.Fatalf("Stat = %+v, %v; want %v", got, err, wantErr)
				}
				return
			}
			if err != nil || got != want {
				t.Fatalf("Stat = %+v, %v; want %+v", got, err, want)
			}
			if again, err := e.fs.Stat(ctx, f.ID); err != nil || again != want || !e.cached(f.ID) {
				t.Errorf("second Stat = %+v, %v (cached %v); want %+v from the cache", again, err, e.cached(f.ID), want)
			}
			rc, opened, err := e.fs.Open(ctx, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if opened != want {
				t.Errorf("Open = %+v, want %+v", opened, want)
			}
		})
	}
}

func TestCacheSeesChangesOnDisk(t *testing.T) {
	ctx := t.Context()
	later := time.Now().Add(time.Hour)
	cases := []struct {
		name string
		// change works on the directory by hand; found is whether the file is still
		// there for the bridge, newVersion whether its version must change.
		change            func(e *env) error
		found, newVersion bool
	}{
		{"content rewritten in place", func(e *env) error {
			return os.WriteFile(filepath.Join(e.dir, "a", "b", "f.docx"), []byte("longer now"), 0o640)
		}, true, true},
		{"only the mtime moved", func(e *env) error {
			return os.Chtimes(filepath.Join(e.dir, "a", "b", "f.docx"), later, later)
		}, true, true},
		{"replaced by rename", func(e *env) error {
			tmp := filepath.Join(e.dir, "a", "b", ".save")
			if err := os.WriteFile(tmp, []byte("an editor's save"), 0o640); err != nil {
				return err
			}
			return os.Rename(tmp, filepath.Join(e.dir, "a", "b", "f.docx"))
		}, true, true},
		{"file renamed", func(e *env) error {
			return os.Rename(filepath.Join(e.dir, "a", "b", "f.docx"), filepath.Join(e.dir, "a", "b", "g.docx"))
		}, false, false},
		{"file deleted", func(e *env) error {
			return os.Remove(filepath.Join(e.dir, "a", "b", "f.docx"))
		}, false, false},
		{"file replaced by a directory", func(e *env) error {
			p := filepath.Join(e.dir, "a", "b", "f.docx")
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o750)
		}, false, false},
		{"parent folder renamed", func(e *env) error {
			return os.Rename(filepath.Join(e.dir, "a", "b"), filepath.Join(e.dir, "a", "c"))
		}, false, false},
		{"top folder renamed", func(e *env) error {
			return os.Rename(filepath.Join(e.dir, "a"), filepath.Join(e.dir, "z"))
		}, false, false},
		{"folders deleted", func(e *env) error {
			return os.RemoveAll(filepath.Join(e.dir, "a"))
		}, false, false},
		{"top folder moved away and back", func(e *env) error {
			if err := os.Rename(filepath.Join(e.dir, "a"), filepath.Join(e.dir, "z")); err != nil {
				return err
			}
			return os.Rename(filepath.Join(e.dir, "z"), filepath.Join(e.dir, "a"))
		}, true, false},
		{"renamed by the bridge, renamed back by hand", func(e *env) error {
			// The state store says "c", the disk says "a" again: the file is not at its
			// recorded path, whatever handle is still open on the directory.
			a, err := e.fs.Folder(ctx, e.nodeID(t, "", "a"))
			if err != nil {
				return err
			}
			if _, err := e.fs.RenameFolder(ctx, a.ID, "c"); err != nil {
				return err
			}
			e.warmFolders(t, a.ID)
			return os.Rename(filepath.Join(e.dir, "c"), filepath.Join(e.dir, "a"))
		}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, _, f := e.nested("deep")
			if err := tc.change(e); err != nil {
				t.Fatal(err)
			}
			got, err := e.fs.Stat(ctx, f.ID)
			switch {
			case !tc.found:
				if !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("Stat = %+v, %v; want ErrNotFound", got, err)
				}
				if _, _, err := e.fs.Open(ctx, f.ID); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("Open: %v, want ErrNotFound", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			case tc.newVersion == (got.Version == f.Version):
				t.Errorf("Stat = %+v after %s; version was %q, want changed: %v", got, tc.name, f.Version, tc.newVersion)
			}
			rc, opened, err := e.fs.Open(ctx, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			rc.Close()
			if opened != got {
				t.Errorf("Open = %+v, Stat gave %+v", opened, got)
			}
		})
	}
}

// nodeID is the id bound to name in folder parent ("" for the root).
func (e *env) nodeID(t *testing.T, parent, name string) string {
	t.Helper()
	if parent == "" {
		parent = e.root().ID
	}
	var id string
	err := e.store.View(func(tx state.Tx) error {
		var err error
		id, err = lookup(tx, parent, name)
		return err
	})
	if err != nil || id == "" {
		t.Fatalf("no id for %q in %s: %v", name, parent, err)
	}
	return id
}

// warmFolders makes the cache open handles on the folders holding the files of folder
// id, as a Stat of one of them would.
func (e *env) warmFolders(t *testing.T, id string) {
	t.Helper()
	files, folders, err := e.fs.List(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		e.fs.Stat(t.Context(), f.ID)
	}
	for _, sub := range folders {
		e.warmFolders(t, sub.ID)
	}
}

func TestCacheRefusesFolderSwappedForLink(t *testing.T) {
	ctx := t.Context()
	for _, swapped := range []string{"a", filepath.Join("a", "b")} {
		t.Run(swapped, func(t *testing.T) {
			e := newEnv(t)
			_, _, f := e.nested("inside")
			if _, err := e.fs.Lock(ctx, f.ID, "L1"); err != nil {
				t.Fatal(err)
			}
			// Outside the root, the same names with other content.
			outside := t.TempDir()
			below := strings.TrimPrefix(filepath.Join("a", "b", "f.docx"), swapped+string(filepath.Separator))
			secret := filepath.Join(outside, below)
			if err := os.MkdirAll(filepath.Dir(secret), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			later := time.Now().Add(time.Hour)
			os.Chtimes(secret, later, later)

			p := filepath.Join(e.dir, swapped)
			if err := os.Rename(p, p+".moved"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, p); err != nil {
				t.Fatal(err)
			}
			if e.cached(f.ID) {
				t.Error("the cache answers through a folder replaced by a link")
			}
			// Refused as the uncached path refuses it: os.Root reports the escape.
			if got, err := e.fs.Stat(ctx, f.ID); err == nil {
				t.Errorf("Stat through a folder replaced by a link = %+v", got)
			}
			if rc, _, err := e.fs.Open(ctx, f.ID); err == nil {
				b, _ := io.ReadAll(rc)
				rc.Close()
				t.Errorf("Open through a folder replaced by a link read %q", b)
			}
			if _, err := e.fs.Put(ctx, f.ID, "L1", strings.NewReader("overwrite"), 0); err == nil {
				t.Error("Put through a folder replaced by a link succeeded")
			}
			if b, _ := os.ReadFile(secret); string(b) != "secret" {
				t.Errorf("the file outside the root now holds %q", b)
			}
			// Put back, the folder is found again, with the same id and version.
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p+".moved", p); err != nil {
				t.Fatal(err)
			}
			if got, err := e.fs.Stat(ctx, f.ID); err != nil || got != f {
				t.Errorf("Stat after the folder came back = %+v, %v; want %+v", got, err, f)
			}
		})
	}
}

func TestCacheSharedStateStore(t *testing.T) {
	// Two backends over one directory and one state store, as replicas sharing a store
	// would be: what one does, the other sees, though its cache is warm.
	e := newEnv(t)
	ctx := t.Context()
	other, err := New(Options{Root: e.dir, State: e.store, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	a, b, f := e.nested("deep")
	stat := func(t *testing.T, want storage.File, wantErr error) {
		t.Helper()
		got, err := e.fs.Stat(ctx, f.ID)
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("Stat = %+v, %v; want %v", got, err, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("Stat = %+v, %v; want %+v", got, err, want)
		}
		if _, err := e.fs.Stat(ctx, f.ID); err != nil || !e.cached(f.ID) {
			t.Fatalf("the cache does not answer after a Stat: %v", err)
		}
	}

	if _, err := other.Lock(ctx, f.ID, "L1"); err != nil {
		t.Fatal(err)
	}
	put, err := other.Put(ctx, f.ID, "L1", strings.NewReader("more"), 0)
	if err != nil {
		t.Fatal(err)
	}
	stat(t, put, nil)
	if c, _ := e.content(f.ID); c != "more" {
		t.Errorf("content after the other's Put = %q", c)
	}
	renamed, err := other.Rename(ctx, f.ID, "L1", "g.docx")
	if err != nil {
		t.Fatal(err)
	}
	stat(t, renamed, nil)
	if _, err := other.RenameFolder(ctx, a.ID, "A"); err != nil {
		t.Fatal(err)
	}
	stat(t, renamed, nil)
	// Renamed in the store by the other, put back on disk by hand.
	if _, err := other.RenameFolder(ctx, b.ID, "B"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.dir, "A", "B"), filepath.Join(e.dir, "A", "b")); err != nil {
		t.Fatal(err)
	}
	stat(t, storage.File{}, storage.ErrNotFound)
	if err := os.Rename(filepath.Join(e.dir, "A", "b"), filepath.Join(e.dir, "A", "B")); err != nil {
		t.Fatal(err)
	}
	stat(t, renamed, nil)
	if _, err := other.Unlock(ctx, f.ID, "L1"); err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	stat(t, storage.File{}, storage.ErrNotFound)
}

func TestCacheBounded(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var files []storage.File
	for i := range 5 {
		dir, err := e.fs.CreateFolder(ctx, e.root().ID, fmt.Sprintf("d%d", i))
		if err != nil {
			t.Fatal(err)
		}
		sub, err := e.fs.CreateFolder(ctx, dir.ID, "sub")
		if err != nil {
			t.Fatal(err)
		}
		f, err := e.fs.Create(ctx, sub.ID, "f.docx", strings.NewReader(fmt.Sprint(i)), false, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	// A file two folders down needs two handles: with room for one, it is not cached.
	e.fs.cache.close()
	e.fs.cache = newCache(e.fs.rootID, e.fs.root, 3, 1)
	if got, err := e.fs.Stat(ctx, files[0].ID); err != nil || got != files[0] {
		t.Fatalf("Stat = %+v, %v; want %+v", got, err, files[0])
	}
	if e.cached(files[0].ID) || e.fs.cache.folders.len() > 1 {
		t.Errorf("with room for one folder handle, the cache answers for a file two folders down (%d handles)", e.fs.cache.folders.len())
	}
	e.fs.cache.close()
	e.fs.cache = newCache(e.fs.rootID, e.fs.root, 3, 4)
	for range 3 {
		for i, want := range files {
			got, err := e.fs.Stat(ctx, want.ID)
			if err != nil || got != want {
				t.Fatalf("Stat = %+v, %v; want %+v", got, err, want)
			}
			if c, _ := e.content(want.ID); c != fmt.Sprint(i) {
				t.Fatalf("content of %d = %q", i, c)
			}
			e.fs.cache.mu.Lock()
			nf, nd := e.fs.cache.files.len(), e.fs.cache.folders.len()
			e.fs.cache.mu.Unlock()
			if nf > 3 || nd > 4 {
				t.Fatalf("the cache holds %d files and %d folders, bounds 3 and 4", nf, nd)
			}
		}
	}
	if !e.cached(files[4].ID) {
		t.Error("the file looked at last is not cached")
	}
	e.fs.cache.close()
	if n := e.fs.cache.folders.len(); n != 0 {
		t.Errorf("%d folder handles still open after close", n)
	}
	e.fs.Stat(ctx, files[4].ID)
	if n := e.fs.cache.folders.len(); n != 0 {
		t.Errorf("a closed cache opened %d folder handles", n)
	}
}

func TestCacheConcurrent(t *testing.T) {
	// Readers look while the file is written and its folders renamed: every answer is
	// one the bridge gave, and content read matches the version it came with.
	e := newEnv(t)
	ctx := t.Context()
	a, _, f := e.nested("v0")
	if _, err := e.fs.Lock(ctx, f.ID, "L1"); err != nil {
		t.Fatal(err)
	}
	var written sync.Map // version → content
	written.Store(f.Version, "v0")
	type seen struct{ version, content string }
	var mu sync.Mutex
	var observed []seen

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.fs.Stat(ctx, f.ID); err != nil {
					t.Errorf("Stat: %v", err)
					return
				}
				rc, file, err := e.fs.Open(ctx, f.ID)
				if err != nil {
					t.Errorf("Open: %v", err)
					return
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				mu.Lock()
				observed = append(observed, seen{file.Version, string(b)})
				mu.Unlock()
			}
		})
	}
	for i := 1; i <= 30; i++ {
		content := fmt.Sprintf("v%d", i) // the same size for the first nine
		put, err := e.fs.Put(ctx, f.ID, "L1", strings.NewReader(content), 0)
		if err != nil {
			t.Fatal(err)
		}
		written.Store(put.Version, content)
		if _, err := e.fs.RenameFolder(ctx, a.ID, fmt.Sprintf("a%d", i%2)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	readers.Wait()
	for _, s := range observed {
		if c, ok := written.Load(s.version); !ok || c != s.content {
			t.Fatalf("read %q with version %q, which the bridge gave to %q", s.content, s.version, c)
		}
	}
}
