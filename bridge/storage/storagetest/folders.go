package storagetest

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// folderTests: the root, subfolders, listing order, folder rename and delete.
var folderTests = []test{
	{"Root", func(f *fixture) {
		if f.root.ID == "" || f.root.ParentID != "" {
			f.t.Errorf("Root = %+v, want an id and no parent", f.root)
		}
		again, err := f.b.Root(f.ctx)
		if err != nil || again != f.root {
			f.t.Errorf("second Root = %+v, %v; want %+v", again, err, f.root)
		}
		got, err := f.b.Folder(f.ctx, f.root.ID)
		if err != nil || got != f.root {
			f.t.Errorf("Folder(root) = %+v, %v; want %+v", got, err, f.root)
		}
	}},
	{"CreateAndList", func(f *fixture) {
		sub, err := f.b.CreateFolder(f.ctx, f.root.ID, "sub")
		if err != nil {
			f.t.Fatalf("CreateFolder: %v", err)
		}
		if sub.ID == "" || sub.Name != "sub" || sub.ParentID != f.root.ID || sub.ID == f.root.ID {
			f.t.Errorf("CreateFolder = %+v; want a new id, name sub, parent %s", sub, f.root.ID)
		}
		if got, err := f.b.Folder(f.ctx, sub.ID); err != nil || got != sub {
			f.t.Errorf("Folder(sub) = %+v, %v; want %+v", got, err, sub)
		}
		for _, name := range []string{"c.docx", "a.docx", "b.xlsx"} {
			f.create(name, name)
		}
		inner := f.createIn(sub.ID, "inner.docx", "inner")
		for _, name := range []string{"zeta", "alpha"} {
			if _, err := f.b.CreateFolder(f.ctx, f.root.ID, name); err != nil {
				f.t.Fatal(err)
			}
		}
		files, folders := f.list(f.root.ID)
		if want := []string{"a.docx", "b.xlsx", "c.docx"}; !slices.Equal(files, want) {
			f.t.Errorf("files = %q, want %q", files, want)
		}
		if want := []string{"alpha", "sub", "zeta"}; !slices.Equal(folders, want) {
			f.t.Errorf("folders = %q, want %q", folders, want)
		}
		f.wantFiles(sub.ID, "inner.docx")
		if st := f.stat(inner.ID); st.FolderID != sub.ID {
			f.t.Errorf("file in sub has FolderID %q, want %q", st.FolderID, sub.ID)
		}
		// List reports the same ids and versions as Stat.
		listed, _, err := f.b.List(f.ctx, f.root.ID)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, file := range listed {
			if st := f.stat(file.ID); st != file {
				f.t.Errorf("List gave %+v, Stat gives %+v", file, st)
			}
		}
		// Same name in another folder is fine.
		f.createIn(sub.ID, "a.docx", "another a")
	}},
	{"CreateExists", func(f *fixture) {
		if _, err := f.b.CreateFolder(f.ctx, f.root.ID, "sub"); err != nil {
			f.t.Fatal(err)
		}
		_, err := f.b.CreateFolder(f.ctx, f.root.ID, "sub")
		wantErr(f.t, "CreateFolder onto a folder", err, storage.ErrExists)
		f.create("a.docx", "x")
		_, err = f.b.CreateFolder(f.ctx, f.root.ID, "a.docx")
		wantErr(f.t, "CreateFolder onto a file", err, storage.ErrExists)
	}},
	{"Nested", func(f *fixture) {
		a, err := f.b.CreateFolder(f.ctx, f.root.ID, "a")
		if err != nil {
			f.t.Fatal(err)
		}
		b, err := f.b.CreateFolder(f.ctx, a.ID, "b")
		if err != nil {
			f.t.Fatal(err)
		}
		if b.ParentID != a.ID {
			f.t.Errorf("nested folder parent %q, want %q", b.ParentID, a.ID)
		}
		file := f.createIn(b.ID, "deep.docx", "deep")
		f.wantContent(file.ID, "deep")
		_, folders := f.list(a.ID)
		if !slices.Equal(folders, []string{"b"}) {
			f.t.Errorf("folders in a = %q, want [b]", folders)
		}
	}},
	{"Rename", func(f *fixture) {
		sub, err := f.b.CreateFolder(f.ctx, f.root.ID, "sub")
		if err != nil {
			f.t.Fatal(err)
		}
		child, err := f.b.CreateFolder(f.ctx, sub.ID, "child")
		if err != nil {
			f.t.Fatal(err)
		}
		file := f.createIn(sub.ID, "a.docx", "in sub")
		deep := f.createIn(child.ID, "d.docx", "in child")
		f.lock(file.ID, "L1")

		got, err := f.b.RenameFolder(f.ctx, sub.ID, "renamed")
		if err != nil {
			f.t.Fatalf("RenameFolder: %v", err)
		}
		if got.ID != sub.ID || got.Name != "renamed" || got.ParentID != f.root.ID {
			f.t.Errorf("RenameFolder = %+v; want id %s, name renamed", got, sub.ID)
		}
		_, folders := f.list(f.root.ID)
		if !slices.Equal(folders, []string{"renamed"}) {
			f.t.Errorf("folders = %q, want [renamed]", folders)
		}
		f.wantContent(file.ID, "in sub")
		f.wantContent(deep.ID, "in child")
		f.wantLock(file.ID, "L1")
		if st := f.stat(file.ID); st.FolderID != sub.ID {
			f.t.Errorf("file's folder after RenameFolder = %q, want %q", st.FolderID, sub.ID)
		}
		if _, err := f.b.Put(f.ctx, file.ID, "L1", strings.NewReader("edited"), 0); err != nil {
			f.t.Errorf("Put after RenameFolder: %v", err)
		}
		f.wantContent(file.ID, "edited")
		f.wantFiles(sub.ID, "a.docx")

		if _, err := f.b.CreateFolder(f.ctx, f.root.ID, "other"); err != nil {
			f.t.Fatal(err)
		}
		_, err = f.b.RenameFolder(f.ctx, sub.ID, "other")
		wantErr(f.t, "RenameFolder onto a taken name", err, storage.ErrExists)
		f.create("file.docx", "x")
		_, err = f.b.RenameFolder(f.ctx, sub.ID, "file.docx")
		wantErr(f.t, "RenameFolder onto a file name", err, storage.ErrExists)
		_, err = f.b.RenameFolder(f.ctx, f.root.ID, "newroot")
		wantErr(f.t, "RenameFolder of the root", err, storage.ErrUnsupported)
	}},
	{"Delete", func(f *fixture) {
		sub, err := f.b.CreateFolder(f.ctx, f.root.ID, "sub")
		if err != nil {
			f.t.Fatal(err)
		}
		file := f.createIn(sub.ID, "a.docx", "x")
		wantErr(f.t, "DeleteFolder of a folder with a file", f.b.DeleteFolder(f.ctx, sub.ID), storage.ErrNotEmpty)
		f.wantContent(file.ID, "x")
		if err := f.b.Delete(f.ctx, file.ID); err != nil {
			f.t.Fatal(err)
		}
		child, err := f.b.CreateFolder(f.ctx, sub.ID, "child")
		if err != nil {
			f.t.Fatal(err)
		}
		wantErr(f.t, "DeleteFolder of a folder with a folder", f.b.DeleteFolder(f.ctx, sub.ID), storage.ErrNotEmpty)
		if err := f.b.DeleteFolder(f.ctx, child.ID); err != nil {
			f.t.Fatalf("DeleteFolder(child): %v", err)
		}
		if err := f.b.DeleteFolder(f.ctx, sub.ID); err != nil {
			f.t.Fatalf("DeleteFolder of an empty folder: %v", err)
		}
		_, err = f.b.Folder(f.ctx, sub.ID)
		wantErr(f.t, "Folder after DeleteFolder", err, storage.ErrNotFound)
		_, _, err = f.b.List(f.ctx, sub.ID)
		wantErr(f.t, "List after DeleteFolder", err, storage.ErrNotFound)
		wantErr(f.t, "DeleteFolder again", f.b.DeleteFolder(f.ctx, sub.ID), storage.ErrNotFound)
		_, folders := f.list(f.root.ID)
		if len(folders) != 0 {
			f.t.Errorf("folders after DeleteFolder = %q, want none", folders)
		}
		again, err := f.b.CreateFolder(f.ctx, f.root.ID, "sub")
		if err != nil {
			f.t.Fatalf("CreateFolder of a deleted folder's name: %v", err)
		}
		f.wantFiles(again.ID)
	}},
	{"DeleteRoot", func(f *fixture) {
		f.create("a.docx", "x")
		wantErr(f.t, "DeleteFolder of the root", f.b.DeleteFolder(f.ctx, f.root.ID), storage.ErrUnsupported)
		if got, err := f.b.Folder(f.ctx, f.root.ID); err != nil || got != f.root {
			f.t.Errorf("root after DeleteFolder = %+v, %v", got, err)
		}
		f.wantFiles(f.root.ID, "a.docx")
	}},
	{"KindsAreSeparate", func(f *fixture) {
		file := f.create("a.docx", "x")
		sub, err := f.b.CreateFolder(f.ctx, f.root.ID, "sub")
		if err != nil {
			f.t.Fatal(err)
		}
		_, err = f.b.Folder(f.ctx, file.ID)
		wantErr(f.t, "Folder(file id)", err, storage.ErrNotFound)
		_, _, err = f.b.List(f.ctx, file.ID)
		wantErr(f.t, "List(file id)", err, storage.ErrNotFound)
		_, err = f.b.Stat(f.ctx, sub.ID)
		wantErr(f.t, "Stat(folder id)", err, storage.ErrNotFound)
		_, _, err = f.b.Open(f.ctx, sub.ID)
		wantErr(f.t, "Open(folder id)", err, storage.ErrNotFound)
		wantErr(f.t, "Delete(folder id)", f.b.Delete(f.ctx, sub.ID), storage.ErrNotFound)
		wantErr(f.t, "DeleteFolder(file id)", f.b.DeleteFolder(f.ctx, file.ID), storage.ErrNotFound)
		_, err = f.b.Create(f.ctx, file.ID, "x.docx", strings.NewReader("x"), false, 0)
		wantErr(f.t, "Create in a file", err, storage.ErrNotFound)
		_, err = f.b.Lock(f.ctx, sub.ID, "L1")
		wantErr(f.t, "Lock(folder id)", err, storage.ErrNotFound)
	}},
}

// notFoundTests: every operation on an unknown, deleted or malformed id is ErrNotFound.
var notFoundTests = []test{
	{"UnknownIDs", func(f *fixture) {
		gone := f.create("gone.docx", "x")
		if err := f.b.Delete(f.ctx, gone.ID); err != nil {
			f.t.Fatal(err)
		}
		ids := []string{gone.ID, "no-such-id", "", "../../etc/passwd", "a/b", "x\x00y"}
		if !f.opts.NoFolders {
			goneFolder, err := f.b.CreateFolder(f.ctx, f.root.ID, "gone")
			if err != nil {
				f.t.Fatal(err)
			}
			if err := f.b.DeleteFolder(f.ctx, goneFolder.ID); err != nil {
				f.t.Fatal(err)
			}
			ids = append(ids, goneFolder.ID)
		}
		body := func() io.Reader { return strings.NewReader("x") }
		for _, id := range ids {
			ops := map[string]error{}
			_, ops["Stat"] = f.b.Stat(f.ctx, id)
			_, _, ops["Open"] = f.b.Open(f.ctx, id)
			_, ops["Put"] = f.b.Put(f.ctx, id, "L1", body(), 0)
			_, ops["Rename"] = f.b.Rename(f.ctx, id, "", "new.docx")
			ops["Delete"] = f.b.Delete(f.ctx, id)
			_, ops["Lock"] = f.b.Lock(f.ctx, id, "L1")
			_, ops["Unlock"] = f.b.Unlock(f.ctx, id, "L1")
			_, ops["RefreshLock"] = f.b.RefreshLock(f.ctx, id, "L1")
			_, ops["UnlockAndRelock"] = f.b.UnlockAndRelock(f.ctx, id, "L1", "L2")
			_, ops["GetLock"] = f.b.GetLock(f.ctx, id)
			_, ops["Folder"] = f.b.Folder(f.ctx, id)
			_, _, ops["List"] = f.b.List(f.ctx, id)
			_, ops["Create"] = f.b.Create(f.ctx, id, "new.docx", body(), false, 0)
			_, ops["CreateFolder"] = f.b.CreateFolder(f.ctx, id, "new")
			_, ops["RenameFolder"] = f.b.RenameFolder(f.ctx, id, "new")
			ops["DeleteFolder"] = f.b.DeleteFolder(f.ctx, id)
			for op, err := range ops {
				wantErr(f.t, fmt.Sprintf("%s(%q)", op, id), err, storage.ErrNotFound)
			}
		}
		files, folders := f.list(f.root.ID)
		if len(files)+len(folders) != 0 {
			f.t.Errorf("operations on unknown ids left files %q and folders %q", files, folders)
		}
	}},
}
