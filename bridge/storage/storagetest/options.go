package storagetest

import (
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// Options tell RunWith what a backend cannot do. The zero value is a backend with the
// whole contract: Run(t, newBackend) is RunWith(t, newBackend, Options{}). Every case
// a missing capability rules out is skipped with the reason, and the suite checks that
// the backend refuses the operations it lacks with storage.ErrUnsupported.
type Options struct {
	// Home returns the folder the suite creates its files in, for a backend whose Root
	// is storage.ErrUnsupported; nil uses Root. It is called once per case, with that
	// case's backend.
	Home func(t *testing.T, b storage.Backend) storage.Folder
	// NoFolders: the backend has no folder tree. Root, CreateFolder, RenameFolder and
	// DeleteFolder are storage.ErrUnsupported, and cases built on subfolders are
	// skipped. Needs Home.
	NoFolders bool
	// NoList: List is storage.ErrUnsupported for the folders the backend knows. Cases
	// check what a folder holds with Names instead; without Names they are skipped.
	NoList bool
	// Names lists the file names in a folder of b as the storage itself holds them,
	// sorted bytewise (for example by asking the upstream directly), for NoList
	// backends.
	Names func(t *testing.T, b storage.Backend, folderID string) []string
	// KeepsExtension: Rename cannot change a file's extension and answers
	// storage.ErrUnsupported when asked to.
	KeepsExtension bool
	// NoCreate: Create is storage.ErrUnsupported (an upstream WOPI host without
	// PutRelativeFile, such as cs3org/wopiserver). Cases make their files with Seed
	// instead, and the cases about Create are skipped. Needs Seed.
	NoCreate bool
	// Seed makes a file named name holding content by other means than Create (for
	// example on the upstream directly, then registered), for NoCreate backends. The
	// file may land in another folder than folderID.
	Seed func(t *testing.T, b storage.Backend, folderID, name, content string) storage.File
	// NoRename: Rename is storage.ErrUnsupported (an upstream that does not announce
	// RenameFile); the cases about Rename are skipped.
	NoRename bool
	// SizeMayBeUnknown: Stat and Open may report storage.SizeUnknown instead of the
	// size (an upstream whose CheckFileInfo has no Size, or whose GetFile is chunked);
	// where the suite checks a size, that passes too. A wrong size never does.
	SizeMayBeUnknown bool
	// OverwriteOnlyEmpty: Create with overwrite refuses an unlocked file that is not
	// empty with a *storage.LockConflictError (current lock empty), as OpenCloud's
	// PutRelativeFile does; the overwrite cases check that instead.
	OverwriteOnlyEmpty bool
	// PicksFreeName: the storage may rename a file onto a taken name by picking another
	// free name itself, as WOPI asks of hosts (an upstream WOPI host). Rename onto a
	// taken name then either is storage.ErrExists or renames to a name that was free,
	// reported in the File returned; either way no file is replaced.
	PicksFreeName bool
}

// RunWith checks the Backend contract like Run, for a backend that lacks what opts
// says.
func RunWith(t *testing.T, newBackend func(t *testing.T) storage.Backend, opts Options) {
	t.Helper()
	if opts.NoFolders && opts.Home == nil {
		t.Fatal("storagetest: Options.NoFolders needs Options.Home: the folder to create files in")
	}
	if opts.NoCreate && opts.Seed == nil {
		t.Fatal("storagetest: Options.NoCreate needs Options.Seed: a way to make files")
	}
	all := groups
	if extra := opts.unsupportedTests(); len(extra) > 0 {
		all = append(all[:len(all):len(all)], group{"Unsupported", extra})
	}
	for _, g := range all {
		t.Run(g.name, func(t *testing.T) {
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) {
					if reason := opts.ruledOut(g.name, tt.name); reason != "" {
						t.Skipf("%s", reason)
					}
					tt.fn(newFixture(t, newBackend(t), opts))
				})
			}
		})
	}
}

// group is the type of the entries of groups.
type group = struct {
	name  string
	tests []test
}

const (
	noFolders      = "the backend has no folder tree (storagetest.Options.NoFolders)"
	noList         = "the backend cannot list folders (storagetest.Options.NoList)"
	keepsExtension = "the backend cannot change a file's extension on rename (storagetest.Options.KeepsExtension)"
	noCreate       = "the backend cannot create files (storagetest.Options.NoCreate)"
	noRename       = "the backend cannot rename files (storagetest.Options.NoRename)"
	overwriteEmpty = "the backend overwrites only empty files (storagetest.Options.OverwriteOnlyEmpty)"
)

// ruledOut is why the case group/name cannot run against the backend, or "".
func (o Options) ruledOut(group, name string) string {
	switch {
	case o.NoFolders && (group == "Folders" || name == "OntoFolderName" || group+"/"+name == "Names/Folders"):
		return noFolders
	case o.NoList && group+"/"+name == "Folders/CreateAndList":
		return noList
	case o.KeepsExtension && group+"/"+name == "Rename/ChangesExtension":
		return keepsExtension
	case o.NoCreate && (group == "Create" || group+"/"+name == "Names/Unusual" || name == "CreatesRace" || name == "NameReusedGetsNewID"):
		return noCreate
	case o.NoRename && (group == "Rename" || name == "ChangesExtension"):
		return noRename
	case o.OverwriteOnlyEmpty && group+"/"+name == "Create/TooLargeOverwriteLeavesContent":
		return overwriteEmpty
	}
	return ""
}

// unsupportedTests check that the operations a backend lacks say so.
func (o Options) unsupportedTests() []test {
	var tests []test
	if o.NoFolders {
		tests = append(tests, test{"Folders", func(f *fixture) {
			_, err := f.b.Root(f.ctx)
			wantErr(f.t, "Root", err, storage.ErrUnsupported)
			_, err = f.b.CreateFolder(f.ctx, f.root.ID, "sub")
			wantErr(f.t, "CreateFolder", err, storage.ErrUnsupported)
			_, err = f.b.RenameFolder(f.ctx, f.root.ID, "renamed")
			wantErr(f.t, "RenameFolder", err, storage.ErrUnsupported)
			wantErr(f.t, "DeleteFolder", f.b.DeleteFolder(f.ctx, f.root.ID), storage.ErrUnsupported)
			if got, err := f.b.Folder(f.ctx, f.root.ID); err == nil && got.ID != f.root.ID {
				f.t.Errorf("Folder(home) = %+v, want id %s", got, f.root.ID)
			} else if err != nil {
				wantErr(f.t, "Folder(home)", err, storage.ErrUnsupported)
			}
			// The home folder stays usable.
			file := f.create("a.docx", "A")
			f.wantContent(file.ID, "A")
		}}, test{"KindsAreSeparate", func(f *fixture) {
			file := f.create("a.docx", "x")
			home := f.root.ID
			_, err := f.b.Stat(f.ctx, home)
			wantErr(f.t, "Stat(folder id)", err, storage.ErrNotFound)
			_, _, err = f.b.Open(f.ctx, home)
			wantErr(f.t, "Open(folder id)", err, storage.ErrNotFound)
			wantErr(f.t, "Delete(folder id)", f.b.Delete(f.ctx, home), storage.ErrNotFound)
			_, err = f.b.Lock(f.ctx, home, "L1")
			wantErr(f.t, "Lock(folder id)", err, storage.ErrNotFound)
			_, err = f.b.Folder(f.ctx, file.ID)
			wantErr(f.t, "Folder(file id)", err, storage.ErrNotFound)
			_, err = f.b.Create(f.ctx, file.ID, "x.docx", strings.NewReader("x"), false, 0)
			wantErr(f.t, "Create in a file", err, storage.ErrNotFound)
			_, err = f.b.CreateFolder(f.ctx, file.ID, "sub")
			wantErr(f.t, "CreateFolder in a file", err, storage.ErrNotFound)
			f.wantContent(file.ID, "x")
		}})
	}
	if o.NoList {
		tests = append(tests, test{"List", func(f *fixture) {
			file := f.create("a.docx", "x")
			_, _, err := f.b.List(f.ctx, f.root.ID)
			wantErr(f.t, "List(home)", err, storage.ErrUnsupported)
			_, _, err = f.b.List(f.ctx, file.ID)
			wantErr(f.t, "List(file id)", err, storage.ErrNotFound)
		}})
	}
	if o.NoCreate {
		tests = append(tests, test{"Create", func(f *fixture) {
			_, err := f.b.Create(f.ctx, f.root.ID, "new.docx", strings.NewReader("x"), false, 0)
			wantErr(f.t, "Create", err, storage.ErrUnsupported)
		}})
	}
	if o.NoRename {
		tests = append(tests, test{"Rename", func(f *fixture) {
			file := f.create("a.docx", "content")
			_, err := f.b.Rename(f.ctx, file.ID, "", "b.docx")
			wantErr(f.t, "Rename", err, storage.ErrUnsupported)
			if st := f.stat(file.ID); st.Name != "a.docx" {
				f.t.Errorf("refused Rename left name %q, want a.docx", st.Name)
			}
			f.wantContent(file.ID, "content")
		}})
	}
	if o.KeepsExtension && !o.NoRename {
		tests = append(tests, test{"ChangesExtension", func(f *fixture) {
			file := f.create("a.docx", "content")
			_, err := f.b.Rename(f.ctx, file.ID, "", "a.txt")
			wantErr(f.t, "Rename to another extension", err, storage.ErrUnsupported)
			if st := f.stat(file.ID); st.Name != "a.docx" {
				f.t.Errorf("refused Rename left name %q, want a.docx", st.Name)
			}
			got, err := f.b.Rename(f.ctx, file.ID, "", "b.docx")
			if err != nil || got.Name != "b.docx" {
				f.t.Errorf("Rename keeping the extension = %+v, %v", got, err)
			}
			f.wantContent(file.ID, "content")
		}})
	}
	return tests
}
