// Package storagetest is the conformance suite every storage.Backend passes, in the
// manner of testing/fstest: a backend's own tests call Run with a constructor, and the
// suite checks bytes, errors and state for the whole contract in package storage.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// Run checks the Backend contract. newBackend returns a new backend over empty storage
// each time it is called; it registers its own cleanup with t. A backend that cannot do
// part of the contract says which with RunWith.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	t.Helper()
	RunWith(t, newBackend, Options{})
}

// groups is the whole suite, run by RunWith.
var groups = []struct {
	name  string
	tests []test
}{
	{"Content", contentTests},
	{"Lock", lockTests},
	{"Put", putTests},
	{"Create", createTests},
	{"Rename", renameTests},
	{"Delete", deleteTests},
	{"Names", nameTests},
	{"Folders", folderTests},
	{"NotFound", notFoundTests},
	{"Concurrency", concurrencyTests},
}

type test struct {
	name string
	fn   func(f *fixture)
}

// fixture carries a backend and the helpers every case uses.
type fixture struct {
	t    *testing.T
	b    storage.Backend
	ctx  context.Context
	root storage.Folder // where cases create files: the root, or Options.Home
	opts Options
}

func newFixture(t *testing.T, b storage.Backend, opts Options) *fixture {
	t.Helper()
	f := &fixture{t: t, b: b, ctx: t.Context(), opts: opts}
	if opts.Home != nil {
		f.root = opts.Home(t, b)
		return f
	}
	root, err := b.Root(f.ctx)
	if err != nil {
		t.Fatalf("Root: %v", err)
	}
	f.root = root
	return f
}

// with is the fixture for a subtest.
func (f *fixture) with(t *testing.T) *fixture {
	g := *f
	g.t = t
	return &g
}

// create makes a file in the root and checks what Create reports.
func (f *fixture) create(name, content string) storage.File {
	f.t.Helper()
	return f.createIn(f.root.ID, name, content)
}

func (f *fixture) createIn(folderID, name, content string) storage.File {
	f.t.Helper()
	if f.opts.NoCreate {
		file := f.opts.Seed(f.t, f.b, folderID, name, content)
		if file.ID == "" || file.Name != name || !f.sizeIs(file.Size, len(content)) || file.Version == "" {
			f.t.Fatalf("Seed(%q) = %+v, want id, name, size %d, version", name, file, len(content))
		}
		return file
	}
	file, err := f.b.Create(f.ctx, folderID, name, strings.NewReader(content), false, 0)
	if err != nil {
		f.t.Fatalf("Create(%q): %v", name, err)
	}
	if file.ID == "" || file.Name != name || file.FolderID != folderID ||
		!f.sizeIs(file.Size, len(content)) || file.Version == "" {
		f.t.Fatalf("Create(%q) = %+v, want id, name %q, folder %q, size %d, version",
			name, file, name, folderID, len(content))
	}
	return file
}

func (f *fixture) lock(id, lockID string) {
	f.t.Helper()
	if _, err := f.b.Lock(f.ctx, id, lockID); err != nil {
		f.t.Fatalf("Lock(%q): %v", lockID, err)
	}
}

func (f *fixture) stat(id string) storage.File {
	f.t.Helper()
	file, err := f.b.Stat(f.ctx, id)
	if err != nil {
		f.t.Fatalf("Stat(%s): %v", id, err)
	}
	return file
}

// read opens a file, reads it whole and checks that the description matches the bytes.
func (f *fixture) read(id string) (string, storage.File) {
	f.t.Helper()
	rc, file, err := f.b.Open(f.ctx, id)
	if err != nil {
		f.t.Fatalf("Open(%s): %v", id, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		f.t.Fatalf("reading %s: %v", id, err)
	}
	if !f.sizeIs(file.Size, len(got)) {
		f.t.Fatalf("Open(%s) described %d bytes and gave %d", id, file.Size, len(got))
	}
	return string(got), file
}

// sizeIs reports whether a size a backend reported is n, or unknown where the backend
// may not know it (Options.SizeMayBeUnknown).
func (f *fixture) sizeIs(size int64, n int) bool {
	return size == int64(n) || f.opts.SizeMayBeUnknown && size == storage.SizeUnknown
}

// readAll is read for goroutines other than the test's: it reports instead of failing.
func readAll(ctx context.Context, b storage.Backend, id string) (string, error) {
	rc, file, err := b.Open(ctx, id)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		return "", err
	}
	if int64(len(got)) != file.Size && file.Size != storage.SizeUnknown {
		return "", fmt.Errorf("Open described %d bytes and gave %d", file.Size, len(got))
	}
	return string(got), nil
}

func (f *fixture) wantContent(id, want string) {
	f.t.Helper()
	got, file := f.read(id)
	if got != want {
		f.t.Errorf("content of %s = %s, want %s", id, short(got), short(want))
	}
	if st := f.stat(id); !f.sizeIs(st.Size, len(want)) || st.Version != file.Version {
		f.t.Errorf("Stat(%s) = size %d version %q; Open said size %d version %q",
			id, st.Size, st.Version, file.Size, file.Version)
	}
}

func (f *fixture) wantLock(id, want string) {
	f.t.Helper()
	got, err := f.b.GetLock(f.ctx, id)
	if err != nil {
		f.t.Fatalf("GetLock(%s): %v", id, err)
	}
	if got != want {
		f.t.Errorf("GetLock(%s) = %s, want %s", id, short(got), short(want))
	}
}

func (f *fixture) list(folderID string) ([]string, []string) {
	f.t.Helper()
	if f.opts.NoList {
		if f.opts.Names == nil {
			f.t.Skipf("the backend cannot list folders (Options.NoList) and no Options.Names is given to check with")
		}
		return f.opts.Names(f.t, f.b, folderID), nil
	}
	files, folders, err := f.b.List(f.ctx, folderID)
	if err != nil {
		f.t.Fatalf("List(%s): %v", folderID, err)
	}
	var fileNames, folderNames []string
	for _, file := range files {
		if file.FolderID != folderID {
			f.t.Errorf("List(%s) gave %q with FolderID %q", folderID, file.Name, file.FolderID)
		}
		fileNames = append(fileNames, file.Name)
	}
	for _, folder := range folders {
		if folder.ParentID != folderID {
			f.t.Errorf("List(%s) gave folder %q with ParentID %q", folderID, folder.Name, folder.ParentID)
		}
		folderNames = append(folderNames, folder.Name)
	}
	return fileNames, folderNames
}

func (f *fixture) wantFiles(folderID string, want ...string) {
	f.t.Helper()
	got, _ := f.list(folderID)
	if !slices.Equal(got, want) {
		f.t.Errorf("files in %s = %q, want %q", folderID, got, want)
	}
}

// wantConflict checks err is a *LockConflictError reporting current as the lock.
func wantConflict(t *testing.T, op string, err error, current string) {
	t.Helper()
	var lc *storage.LockConflictError
	if !errors.As(err, &lc) {
		t.Errorf("%s: error %v, want *storage.LockConflictError (current %s)", op, err, short(current))
		return
	}
	if lc.Current != current {
		t.Errorf("%s: conflict reports current lock %s, want %s", op, short(lc.Current), short(current))
	}
}

func wantErr(t *testing.T, op string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", op, err, target)
	}
}

func short(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", s[:40], len(s))
	}
	return fmt.Sprintf("%q", s)
}
