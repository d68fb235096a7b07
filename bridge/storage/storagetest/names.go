package storagetest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// invalidNames are refused by every backend: empty, relative, with separators or NUL.
var invalidNames = []string{"", ".", "..", "../x", "a/b", "/abs", "a\x00b", "x/..", "../../etc/passwd"}

// nameTests: names that would leave the folder are refused everywhere; ordinary odd
// names work.
var nameTests = []test{
	{"Create", func(f *fixture) {
		for _, name := range invalidNames {
			for _, overwrite := range []bool{false, true} {
				_, err := f.b.Create(f.ctx, f.root.ID, name, strings.NewReader("x"), overwrite, 0)
				wantErr(f.t, fmt.Sprintf("Create(%q, overwrite %v)", name, overwrite), err, storage.ErrInvalidName)
			}
		}
		files, folders := f.list(f.root.ID)
		if len(files)+len(folders) != 0 {
			f.t.Errorf("invalid names left files %q and folders %q", files, folders)
		}
	}},
	{"Folders", func(f *fixture) {
		sub, err := f.b.CreateFolder(f.ctx, f.root.ID, "sub")
		if err != nil {
			f.t.Fatal(err)
		}
		for _, name := range invalidNames {
			_, err := f.b.CreateFolder(f.ctx, f.root.ID, name)
			wantErr(f.t, fmt.Sprintf("CreateFolder(%q)", name), err, storage.ErrInvalidName)
			_, err = f.b.RenameFolder(f.ctx, sub.ID, name)
			wantErr(f.t, fmt.Sprintf("RenameFolder(%q)", name), err, storage.ErrInvalidName)
		}
		_, folders := f.list(f.root.ID)
		if !slices.Equal(folders, []string{"sub"}) {
			f.t.Errorf("folders = %q, want [sub]", folders)
		}
	}},
	{"Unusual", func(f *fixture) {
		// Names a person may well give: spaces, Unicode, several dots, no extension.
		for _, name := range []string{"Quarterly report (final).docx", "Résumé – 2024.docx", "a.b.c.xlsx", "README", "日本語.pptx", "x..y.docx"} {
			file := f.create(name, name)
			f.wantContent(file.ID, name)
		}
	}},
}
