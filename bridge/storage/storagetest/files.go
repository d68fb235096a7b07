package storagetest

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// contentTests: bytes go in with Create and come out of Open and Stat unchanged.
var contentTests = []test{
	{"CreateStatOpen", func(f *fixture) {
		created := f.create("report.docx", "hello, world")
		st := f.stat(created.ID)
		if st != created {
			f.t.Errorf("Stat = %+v, want what Create returned %+v", st, created)
		}
		got, opened := f.read(created.ID)
		if got != "hello, world" {
			f.t.Errorf("Open gave %q, want %q", got, "hello, world")
		}
		if opened.ID != created.ID || opened.Version != created.Version || opened.Name != "report.docx" {
			f.t.Errorf("Open described %+v, want %+v", opened, created)
		}
	}},
	{"EmptyFile", func(f *fixture) {
		created := f.create("empty.xlsx", "")
		f.wantContent(created.ID, "")
	}},
	{"Over512Bytes", func(f *fixture) {
		// Hosts change how they frame a reply at 512 bytes (OpenCloud chunks from there).
		for _, n := range []int{511, 512, 600} {
			content := strings.Repeat("x", n)
			created := f.create(fmt.Sprintf("f%d.docx", n), content)
			f.wantContent(created.ID, content)
		}
	}},
	{"LargeFile", func(f *fixture) {
		big := strings.Repeat("0123456789abcdef", 3<<16) + "tail" // a little over 3 MiB
		created := f.create("big.pptx", big)
		f.wantContent(created.ID, big)
	}},
	{"OpenSeeks", func(f *fixture) {
		created := f.create("seek.docx", "0123456789")
		rc, _, err := f.b.Open(f.ctx, created.ID)
		if err != nil {
			f.t.Fatal(err)
		}
		defer rc.Close()
		rs, ok := rc.(io.ReadSeeker)
		if !ok {
			f.t.Skip("backend does not seek")
		}
		if _, err := rs.Seek(6, io.SeekStart); err != nil {
			f.t.Fatal(err)
		}
		got, err := io.ReadAll(rs)
		if err != nil || string(got) != "6789" {
			f.t.Errorf("after Seek(6) read %q, %v; want %q", got, err, "6789")
		}
	}},
	{"BinaryContent", func(f *fixture) {
		var b strings.Builder
		for i := range 4096 {
			b.WriteByte(byte(i))
		}
		created := f.create("binary.pdf", b.String())
		f.wantContent(created.ID, b.String())
	}},
}

// putTests: Put replaces content whole, gives a new version, and follows the lock rules.
var putTests = []test{
	{"ReplacesContentAndVersion", func(f *fixture) {
		file := f.create("a.docx", "first")
		f.lock(file.ID, "L1")
		seen := map[string]string{file.Version: "first"}
		for _, content := range []string{"second, longer content", "", "first", "second, longer content"} {
			got, err := f.b.Put(f.ctx, file.ID, "L1", strings.NewReader(content), 0)
			if err != nil {
				f.t.Fatalf("Put(%q): %v", content, err)
			}
			if got.ID != file.ID || got.Name != file.Name || got.Size != int64(len(content)) {
				f.t.Errorf("Put returned %+v; want id %s, name %q, size %d", got, file.ID, file.Name, len(content))
			}
			if prev, ok := seen[got.Version]; ok {
				f.t.Errorf("Put(%q) reused version %q of content %q", content, got.Version, prev)
			}
			seen[got.Version] = content
			f.wantContent(file.ID, content)
			if v := f.stat(file.ID).Version; v != got.Version {
				f.t.Errorf("Stat version %q, Put returned %q", v, got.Version)
			}
		}
	}},
	{"TooLargeLeavesContent", func(f *fixture) {
		file := f.create("a.docx", "original")
		f.lock(file.ID, "L1")
		_, err := f.b.Put(f.ctx, file.ID, "L1", strings.NewReader("01234567890"), 10)
		wantErr(f.t, "Put over the limit", err, storage.ErrTooLarge)
		f.wantContent(file.ID, "original")
		if v := f.stat(file.ID).Version; v != file.Version {
			f.t.Errorf("refused Put changed the version from %q to %q", file.Version, v)
		}
		if _, err := f.b.Put(f.ctx, file.ID, "L1", strings.NewReader("0123456789"), 10); err != nil {
			f.t.Errorf("Put of exactly the limit: %v", err)
		}
		f.wantContent(file.ID, "0123456789")
	}},
	{"LockRules", func(f *fixture) {
		cases := []struct {
			name     string
			initial  string
			held     string // lock on the file before the Put; "" for unlocked
			lockID   string // lock given to Put
			ok       bool
			conflict string // current lock reported when refused
		}{
			{"matching lock", "old", "L1", "L1", true, ""},
			{"wrong lock", "old", "L1", "L2", false, "L1"},
			{"no lock on a locked file", "old", "L1", "", false, "L1"},
			{"lock on an unlocked file", "old", "", "L1", false, ""},
			{"no lock on an unlocked non-empty file", "old", "", "", false, ""},
			{"no lock on an unlocked empty file", "", "", "", true, ""},
			{"lock on an unlocked empty file", "", "", "L1", false, ""},
		}
		for i, tc := range cases {
			f.t.Run(tc.name, func(t *testing.T) {
				f := f.with(t)
				file := f.create(fmt.Sprintf("put-%d.docx", i), tc.initial)
				if tc.held != "" {
					f.lock(file.ID, tc.held)
				}
				got, err := f.b.Put(f.ctx, file.ID, tc.lockID, strings.NewReader("new"), 0)
				if tc.ok {
					if err != nil {
						t.Fatalf("Put: %v", err)
					}
					if got.Version == file.Version {
						t.Errorf("Put kept version %q", got.Version)
					}
					f.wantContent(file.ID, "new")
				} else {
					wantConflict(t, "Put", err, tc.conflict)
					f.wantContent(file.ID, tc.initial)
					if v := f.stat(file.ID).Version; v != file.Version {
						t.Errorf("refused Put changed the version from %q to %q", file.Version, v)
					}
				}
				f.wantLock(file.ID, tc.held)
			})
		}
	}},
}

// createTests: Create with and without overwrite, limits, and name clashes.
var createTests = []test{
	{"ExistsWithoutOverwrite", func(f *fixture) {
		file := f.create("a.docx", "original")
		_, err := f.b.Create(f.ctx, f.root.ID, "a.docx", strings.NewReader("new"), false, 0)
		wantErr(f.t, "Create onto an existing name", err, storage.ErrExists)
		f.wantContent(file.ID, "original")
		f.wantFiles(f.root.ID, "a.docx")
	}},
	{"Overwrite", func(f *fixture) {
		file := f.create("a.docx", "original")
		if f.opts.OverwriteOnlyEmpty {
			_, err := f.b.Create(f.ctx, f.root.ID, "a.docx", strings.NewReader("replaced"), true, 0)
			wantConflict(f.t, "overwrite of an unlocked non-empty file", err, "")
			f.wantContent(file.ID, "original")
			// An empty one is replaced.
			file = f.create("empty.docx", "")
		}
		got, err := f.b.Create(f.ctx, f.root.ID, file.Name, strings.NewReader("replaced"), true, 0)
		if err != nil {
			f.t.Fatalf("Create with overwrite: %v", err)
		}
		if got.ID != file.ID {
			f.t.Errorf("overwrite gave id %q, want the replaced file's %q", got.ID, file.ID)
		}
		if got.Version == file.Version {
			f.t.Errorf("overwrite kept version %q", got.Version)
		}
		f.wantContent(file.ID, "replaced")
		if !f.opts.OverwriteOnlyEmpty {
			f.wantFiles(f.root.ID, "a.docx")
		}
	}},
	{"OverwriteNewName", func(f *fixture) {
		got, err := f.b.Create(f.ctx, f.root.ID, "new.docx", strings.NewReader("content"), true, 0)
		if err != nil {
			f.t.Fatalf("Create with overwrite of a new name: %v", err)
		}
		f.wantContent(got.ID, "content")
	}},
	{"OverwriteLocked", func(f *fixture) {
		file := f.create("a.docx", "original")
		f.lock(file.ID, "L1")
		_, err := f.b.Create(f.ctx, f.root.ID, "a.docx", strings.NewReader("replaced"), true, 0)
		wantConflict(f.t, "overwrite of a locked file", err, "L1")
		f.wantContent(file.ID, "original")
		f.wantLock(file.ID, "L1")
	}},
	{"OntoFolderName", func(f *fixture) {
		if _, err := f.b.CreateFolder(f.ctx, f.root.ID, "docs"); err != nil {
			f.t.Fatal(err)
		}
		for _, overwrite := range []bool{false, true} {
			_, err := f.b.Create(f.ctx, f.root.ID, "docs", strings.NewReader("x"), overwrite, 0)
			wantErr(f.t, fmt.Sprintf("Create onto a folder name (overwrite %v)", overwrite), err, storage.ErrExists)
		}
		_, folders := f.list(f.root.ID)
		if !slices.Equal(folders, []string{"docs"}) {
			f.t.Errorf("folders = %q, want [docs]", folders)
		}
	}},
	{"TooLargeLeavesNothing", func(f *fixture) {
		_, err := f.b.Create(f.ctx, f.root.ID, "big.docx", strings.NewReader("01234567890"), false, 10)
		wantErr(f.t, "Create over the limit", err, storage.ErrTooLarge)
		f.wantFiles(f.root.ID)
		file := f.create("big.docx", "small")
		f.wantContent(file.ID, "small")
	}},
	{"TooLargeOverwriteLeavesContent", func(f *fixture) {
		file := f.create("a.docx", "original")
		_, err := f.b.Create(f.ctx, f.root.ID, "a.docx", strings.NewReader("01234567890"), true, 10)
		wantErr(f.t, "overwrite over the limit", err, storage.ErrTooLarge)
		f.wantContent(file.ID, "original")
	}},
	{"DistinctIDs", func(f *fixture) {
		ids := map[string]bool{}
		for i := range 10 {
			file := f.create(fmt.Sprintf("f%d.docx", i), "x")
			if ids[file.ID] {
				f.t.Fatalf("id %q given twice", file.ID)
			}
			ids[file.ID] = true
		}
	}},
}

// renameTests: Rename keeps the id and content, refuses taken names, follows the lock rules.
var renameTests = []test{
	{"KeepsIDAndContent", func(f *fixture) {
		file := f.create("a.docx", "content")
		got, err := f.b.Rename(f.ctx, file.ID, "", "b.docx")
		if err != nil {
			f.t.Fatalf("Rename: %v", err)
		}
		if got.ID != file.ID || got.Name != "b.docx" || got.FolderID != f.root.ID {
			f.t.Errorf("Rename returned %+v; want id %s, name b.docx, root folder", got, file.ID)
		}
		if st := f.stat(file.ID); st.Name != "b.docx" {
			f.t.Errorf("Stat after Rename: name %q, want b.docx", st.Name)
		}
		f.wantContent(file.ID, "content")
		f.wantFiles(f.root.ID, "b.docx")
	}},
	{"ChangesExtension", func(f *fixture) {
		file := f.create("a.docx", "content")
		got, err := f.b.Rename(f.ctx, file.ID, "", "a.txt")
		if err != nil {
			f.t.Fatalf("Rename: %v", err)
		}
		if got.Name != "a.txt" {
			f.t.Errorf("renamed to %q, want a.txt (the name as given)", got.Name)
		}
	}},
	{"SameName", func(f *fixture) {
		file := f.create("a.docx", "content")
		got, err := f.b.Rename(f.ctx, file.ID, "", "a.docx")
		if err != nil || got.Name != "a.docx" {
			f.t.Errorf("Rename to its own name = %+v, %v; want success", got, err)
		}
		f.wantFiles(f.root.ID, "a.docx")
	}},
	{"Exists", func(f *fixture) {
		a := f.create("a.docx", "A")
		b := f.create("b.docx", "B")
		got, err := f.b.Rename(f.ctx, a.ID, "", "b.docx")
		picked := f.opts.PicksFreeName && err == nil
		if !picked {
			wantErr(f.t, "Rename onto a taken name", err, storage.ErrExists)
		}
		f.wantContent(a.ID, "A")
		f.wantContent(b.ID, "B")
		if !picked {
			f.wantFiles(f.root.ID, "a.docx", "b.docx")
			return
		}
		// The storage picked a free name: the file carries it, and nothing was replaced.
		if got.ID != a.ID || got.Name == "b.docx" || got.Name == "a.docx" {
			f.t.Errorf("Rename onto a taken name = %+v; want file %s under a name of the storage's choice", got, a.ID)
		}
		if st := f.stat(a.ID); st.Name != got.Name {
			f.t.Errorf("Stat after Rename: name %q, Rename said %q", st.Name, got.Name)
		}
		want := []string{got.Name, "b.docx"}
		slices.Sort(want)
		f.wantFiles(f.root.ID, want...)
	}},
	{"OntoFolderName", func(f *fixture) {
		a := f.create("a.docx", "A")
		if _, err := f.b.CreateFolder(f.ctx, f.root.ID, "dir"); err != nil {
			f.t.Fatal(err)
		}
		_, err := f.b.Rename(f.ctx, a.ID, "", "dir")
		wantErr(f.t, "Rename onto a folder name", err, storage.ErrExists)
	}},
	{"InvalidName", func(f *fixture) {
		file := f.create("a.docx", "A")
		for _, name := range invalidNames {
			_, err := f.b.Rename(f.ctx, file.ID, "", name)
			wantErr(f.t, fmt.Sprintf("Rename to %q", name), err, storage.ErrInvalidName)
		}
		f.wantFiles(f.root.ID, "a.docx")
	}},
	{"LockRules", func(f *fixture) {
		file := f.create("a.docx", "A")
		_, err := f.b.Rename(f.ctx, file.ID, "L1", "b.docx")
		wantConflict(f.t, "Rename with a lock on an unlocked file", err, "")
		f.lock(file.ID, "L1")
		_, err = f.b.Rename(f.ctx, file.ID, "L2", "b.docx")
		wantConflict(f.t, "Rename with another lock", err, "L1")
		_, err = f.b.Rename(f.ctx, file.ID, "", "b.docx")
		wantConflict(f.t, "Rename of a locked file without a lock", err, "L1")
		f.wantFiles(f.root.ID, "a.docx")
		got, err := f.b.Rename(f.ctx, file.ID, "L1", "c.docx")
		if err != nil {
			f.t.Fatalf("Rename with the held lock: %v", err)
		}
		if got.Name != "c.docx" {
			f.t.Errorf("renamed to %q, want c.docx", got.Name)
		}
		f.wantLock(file.ID, "L1")
		f.wantFiles(f.root.ID, "c.docx")
	}},
	{"NameFreedForReuse", func(f *fixture) {
		a := f.create("a.docx", "A")
		if _, err := f.b.Rename(f.ctx, a.ID, "", "b.docx"); err != nil {
			f.t.Fatal(err)
		}
		again := f.create("a.docx", "new A")
		if again.ID == a.ID {
			f.t.Errorf("a new file took the renamed file's id %q", a.ID)
		}
		f.wantContent(a.ID, "A")
		f.wantContent(again.ID, "new A")
	}},
}

// deleteTests: Delete refuses locked files and forgets the id.
var deleteTests = []test{
	{"Locked", func(f *fixture) {
		file := f.create("a.docx", "A")
		f.lock(file.ID, "L1")
		wantConflict(f.t, "Delete of a locked file", f.b.Delete(f.ctx, file.ID), "L1")
		f.wantContent(file.ID, "A")
		f.wantLock(file.ID, "L1")
	}},
	{"Removes", func(f *fixture) {
		file := f.create("a.docx", "A")
		keep := f.create("b.docx", "B")
		f.lock(file.ID, "L1")
		if _, err := f.b.Unlock(f.ctx, file.ID, "L1"); err != nil {
			f.t.Fatal(err)
		}
		if err := f.b.Delete(f.ctx, file.ID); err != nil {
			f.t.Fatalf("Delete: %v", err)
		}
		_, err := f.b.Stat(f.ctx, file.ID)
		wantErr(f.t, "Stat after Delete", err, storage.ErrNotFound)
		_, _, err = f.b.Open(f.ctx, file.ID)
		wantErr(f.t, "Open after Delete", err, storage.ErrNotFound)
		wantErr(f.t, "Delete again", f.b.Delete(f.ctx, file.ID), storage.ErrNotFound)
		f.wantFiles(f.root.ID, "b.docx")
		f.wantContent(keep.ID, "B")
	}},
	{"NameReusedGetsNewID", func(f *fixture) {
		file := f.create("a.docx", "A")
		if err := f.b.Delete(f.ctx, file.ID); err != nil {
			f.t.Fatal(err)
		}
		again := f.create("a.docx", "A again")
		if again.ID == file.ID {
			f.t.Errorf("a new file took the deleted file's id %q", file.ID)
		}
		if again.Version == file.Version {
			f.t.Errorf("a new file took the deleted file's version %q", file.Version)
		}
		f.wantLock(again.ID, "")
	}},
}
