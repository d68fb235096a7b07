package fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/bridge/storage/storagetest"
)

// env is a backend over a temp directory with its bolt state next to it, reopenable.
type env struct {
	t     *testing.T
	dir   string
	db    string
	clock *clock
	store *state.Bolt
	fs    *FS
}

func newEnv(t *testing.T) *env {
	t.Helper()
	base := t.TempDir()
	e := &env{
		t:     t,
		dir:   filepath.Join(base, "data"),
		db:    filepath.Join(base, "state", "wopibridge.db"),
		clock: &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)},
	}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	e.t.Helper()
	store, err := state.OpenBolt(e.db)
	if err != nil {
		e.t.Fatal(err)
	}
	fs, err := New(Options{Root: e.dir, State: store, Now: e.clock.Now})
	if err != nil {
		store.Close()
		e.t.Fatal(err)
	}
	e.store, e.fs = store, fs
}

func (e *env) close() {
	if e.fs != nil {
		e.fs.Close()
		e.store.Close()
		e.fs, e.store = nil, nil
	}
}

func (e *env) reopen() {
	e.t.Helper()
	e.close()
	e.open()
}

func (e *env) root() storage.Folder {
	e.t.Helper()
	r, err := e.fs.Root(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) create(name, content string) storage.File {
	e.t.Helper()
	f, err := e.fs.Create(e.t.Context(), e.root().ID, name, strings.NewReader(content), false, 0)
	if err != nil {
		e.t.Fatalf("Create(%q): %v", name, err)
	}
	return f
}

func (e *env) content(id string) (string, storage.File) {
	e.t.Helper()
	rc, f, err := e.fs.Open(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("Open(%s): %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b), f
}

// onDisk lists the raw directory, hidden entries included.
func (e *env) onDisk(rel string) []string {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.dir, rel))
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	return names
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return newEnv(t).fs })
}

var (
	idPattern      = regexp.MustCompile(`^[0-9a-z]{20}$`)
	versionPattern = regexp.MustCompile(`^[0-9a-zA-Z._=-]{1,40}$`)
)

func TestIDAndVersionShape(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	root := e.root()
	sub, err := e.fs.CreateFolder(ctx, root.ID, "sub")
	if err != nil {
		t.Fatal(err)
	}
	f := e.create("a.docx", "x")
	for _, id := range []string{root.ID, sub.ID, f.ID} {
		if !idPattern.MatchString(id) {
			t.Errorf("id %q does not match %s", id, idPattern)
		}
	}
	if !versionPattern.MatchString(f.Version) {
		t.Errorf("version %q does not match %s", f.Version, versionPattern)
	}
	// The longest version the format can make still fits.
	longest := strings.Repeat("z", 13) + "-" + strings.Repeat("z", 13)
	if !versionPattern.MatchString(longest) {
		t.Errorf("the longest version %q does not match %s", longest, versionPattern)
	}
	if root.Name != "data" || root.ParentID != "" {
		t.Errorf("root = %+v, want the directory's name and no parent", root)
	}
}

func TestDroppedFilesGetIDs(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	root := e.root()
	known := e.create("known.docx", "k")
	if err := os.WriteFile(filepath.Join(e.dir, "dropped.xlsx"), []byte("by hand"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(e.dir, "inbox", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "inbox", "note.docx"), []byte("note"), 0o644); err != nil {
		t.Fatal(err)
	}

	files, folders, err := e.fs.List(ctx, root.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Name != "dropped.xlsx" || files[1].Name != "known.docx" {
		t.Fatalf("files = %+v, want dropped.xlsx and known.docx", files)
	}
	if len(folders) != 1 || folders[0].Name != "inbox" || folders[0].ParentID != root.ID {
		t.Fatalf("folders = %+v, want inbox", folders)
	}
	dropped, inbox := files[0], folders[0]
	if files[1].ID != known.ID {
		t.Errorf("known file's id changed from %s to %s", known.ID, files[1].ID)
	}
	if !idPattern.MatchString(dropped.ID) || dropped.ID == known.ID || dropped.Version == "" {
		t.Errorf("dropped file = %+v, want a new id and a version", dropped)
	}
	if got, _ := e.content(dropped.ID); got != "by hand" {
		t.Errorf("dropped file content %q", got)
	}

	inFiles, inFolders, err := e.fs.List(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(inFiles) != 1 || inFiles[0].Name != "note.docx" || inFiles[0].FolderID != inbox.ID {
		t.Errorf("files in inbox = %+v", inFiles)
	}
	if len(inFolders) != 1 || inFolders[0].Name != "deeper" {
		t.Errorf("folders in inbox = %+v", inFolders)
	}

	// Listing again gives the same ids and versions.
	again, againFolders, err := e.fs.List(ctx, root.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again, files) || !slices.Equal(againFolders, folders) {
		t.Errorf("second List = %+v %+v, want %+v %+v", again, againFolders, files, folders)
	}
}

func TestIDsSurviveRestart(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	root := e.root()
	sub, err := e.fs.CreateFolder(ctx, root.ID, "sub")
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.fs.Create(ctx, sub.ID, "a.docx", strings.NewReader("content"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.Lock(ctx, f.ID, "L1"); err != nil {
		t.Fatal(err)
	}
	if f, err = e.fs.Rename(ctx, f.ID, "L1", "b.docx"); err != nil {
		t.Fatal(err)
	}
	if f, err = e.fs.Put(ctx, f.ID, "L1", strings.NewReader("edited"), 0); err != nil {
		t.Fatal(err)
	}

	e.reopen()

	if got := e.root(); got != root {
		t.Errorf("root after restart = %+v, want %+v", got, root)
	}
	got, err := e.fs.Stat(ctx, f.ID)
	if err != nil {
		t.Fatalf("Stat after restart: %v", err)
	}
	if got != f {
		t.Errorf("Stat after restart = %+v, want %+v", got, f)
	}
	if lock, err := e.fs.GetLock(ctx, f.ID); err != nil || lock != "L1" {
		t.Errorf("lock after restart = %q, %v; want L1", lock, err)
	}
	if c, _ := e.content(f.ID); c != "edited" {
		t.Errorf("content after restart %q", c)
	}
	_, folders, err := e.fs.List(ctx, root.ID)
	if err != nil || len(folders) != 1 || folders[0].ID != sub.ID {
		t.Errorf("folders after restart = %+v, %v; want sub with id %s", folders, err, sub.ID)
	}
	// The version counter goes on; versions never come back.
	next, err := e.fs.Put(ctx, f.ID, "L1", strings.NewReader("again"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if next.Version == f.Version {
		t.Errorf("Put after restart reused version %q", f.Version)
	}
}

func TestOutsideChangeGetsNewVersion(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	f := e.create("a.docx", "original")
	path := filepath.Join(e.dir, "a.docx")

	// Rewritten in place, with a different size.
	if err := os.WriteFile(path, []byte("changed by hand"), 0o640); err != nil {
		t.Fatal(err)
	}
	st, err := e.fs.Stat(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version == f.Version || st.Size != int64(len("changed by hand")) {
		t.Errorf("after an outside write Stat = %+v; want a new version and the new size", st)
	}
	if c, opened := e.content(f.ID); c != "changed by hand" || opened.Version != st.Version {
		t.Errorf("Open = %q version %q; want the new content and version %q", c, opened.Version, st.Version)
	}

	// Same size, only the mtime moves.
	if err := os.WriteFile(path, []byte("CHANGED BY HAND"), 0o640); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	files, _, err := e.fs.List(ctx, e.root().ID)
	if err != nil || len(files) != 1 {
		t.Fatalf("List = %+v, %v", files, err)
	}
	if files[0].ID != f.ID || files[0].Version == st.Version || files[0].Version == f.Version {
		t.Errorf("after a same-size outside write List = %+v; want id %s and a third version", files[0], f.ID)
	}
	if again, _ := e.fs.Stat(ctx, f.ID); again.Version != files[0].Version {
		t.Errorf("Stat version %q after List gave %q: the change must be counted once", again.Version, files[0].Version)
	}

	// An editor that saves by writing a new file and renaming it over keeps the id.
	tmp := filepath.Join(e.dir, ".save.tmp")
	if err := os.WriteFile(tmp, []byte("saved by another editor"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	replaced, err := e.fs.Stat(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if replaced.Version == files[0].Version || replaced.Size != int64(len("saved by another editor")) {
		t.Errorf("after a replace by rename Stat = %+v", replaced)
	}
}

func TestRenameKeepsVersion(t *testing.T) {
	e := newEnv(t)
	f := e.create("a.docx", "x")
	got, err := e.fs.Rename(t.Context(), f.ID, "", "b.docx")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != f.Version {
		t.Errorf("Rename changed the version from %q to %q", f.Version, got.Version)
	}
	if names := e.onDisk("."); !slices.Equal(names, []string{"b.docx"}) {
		t.Errorf("directory holds %q, want [b.docx]", names)
	}
}

func TestSymlinksDoNotLeaveRoot(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	root := e.root()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.docx")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Links dropped in are not documents or folders.
	if err := os.Symlink(secret, filepath.Join(e.dir, "link.docx")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(e.dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	files, folders, err := e.fs.List(ctx, root.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(files)+len(folders) != 0 {
		t.Errorf("List shows symlinks: %+v %+v", files, folders)
	}
	// Their names are taken all the same.
	_, err = e.fs.Create(ctx, root.ID, "link.docx", strings.NewReader("x"), true, 0)
	if !errors.Is(err, storage.ErrExists) {
		t.Errorf("Create over a symlink: %v, want ErrExists", err)
	}

	// A known file replaced by a link to the outside.
	f := e.create("a.docx", "inside")
	if _, err := e.fs.Lock(ctx, f.ID, "L1"); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(e.dir, "a.docx"))
	if err := os.Symlink(secret, filepath.Join(e.dir, "a.docx")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.fs.Open(ctx, f.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open through a symlink: %v, want ErrNotFound", err)
	}
	if _, err := e.fs.Put(ctx, f.ID, "L1", strings.NewReader("overwrite"), 0); err == nil {
		t.Error("Put through a symlink succeeded")
	}

	// A known folder replaced by a link to the outside.
	sub, err := e.fs.CreateFolder(ctx, root.ID, "sub")
	if err != nil {
		t.Fatal(err)
	}
	inner, err := e.fs.Create(ctx, sub.ID, "secret.docx", strings.NewReader("inner"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.Lock(ctx, inner.ID, "L1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.dir, "sub"), filepath.Join(e.dir, "sub.moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(e.dir, "sub")); err != nil {
		t.Fatal(err)
	}
	if rc, _, err := e.fs.Open(ctx, inner.ID); err == nil {
		b, _ := io.ReadAll(rc)
		rc.Close()
		t.Errorf("Open through a symlinked folder succeeded and read %q", b)
	}
	if _, err := e.fs.Put(ctx, inner.ID, "L1", strings.NewReader("overwrite"), 0); err == nil {
		t.Error("Put through a symlinked folder succeeded")
	}
	if _, err := e.fs.Create(ctx, sub.ID, "new.docx", strings.NewReader("x"), false, 0); err == nil {
		t.Error("Create through a symlinked folder succeeded")
	}
	if _, _, err := e.fs.List(ctx, sub.ID); err == nil {
		t.Error("List through a symlinked folder succeeded")
	}
	if b, _ := os.ReadFile(secret); string(b) != "secret" {
		t.Errorf("the file outside the root now holds %q", b)
	}
	if names, _ := os.ReadDir(outside); len(names) != 1 {
		t.Errorf("the directory outside the root now holds %d entries", len(names))
	}
}

// failingReader gives some bytes, then fails, like a client that disconnects.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), r.n)
	for i := range n {
		p[i] = 'x'
	}
	r.n -= n
	return n, nil
}

func TestFailedWritesLeaveNoTrace(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	f := e.create("a.docx", "original")
	if _, err := e.fs.Lock(ctx, f.ID, "L1"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		put  func() error
		want error
	}{
		{"limit exceeded", func() error {
			_, err := e.fs.Put(ctx, f.ID, "L1", strings.NewReader(strings.Repeat("y", 100)), 50)
			return err
		}, storage.ErrTooLarge},
		{"body fails", func() error {
			_, err := e.fs.Put(ctx, f.ID, "L1", &failingReader{n: 1 << 20}, 0)
			return err
		}, nil},
		{"create over limit", func() error {
			_, err := e.fs.Create(ctx, e.root().ID, "new.docx", strings.NewReader(strings.Repeat("y", 100)), false, 50)
			return err
		}, storage.ErrTooLarge},
		{"overwrite with failing body", func() error {
			_, err := e.fs.Create(ctx, e.root().ID, "b.docx", &failingReader{n: 100}, true, 0)
			return err
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.put()
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("error %v, want failure %v", err, tc.want)
			}
			if c, got := e.content(f.ID); c != "original" || got.Version != f.Version {
				t.Errorf("after the failed write: %q version %q, want %q version %q", c, got.Version, "original", f.Version)
			}
			if names := e.onDisk("."); !slices.Equal(names, []string{"a.docx"}) {
				t.Errorf("directory holds %q, want only a.docx", names)
			}
		})
	}
}

func TestCancelledWrite(t *testing.T) {
	e := newEnv(t)
	f := e.create("a.docx", "")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := e.fs.Put(ctx, f.ID, "", strings.NewReader("new"), 0)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: %v, want context.Canceled", err)
	}
	if c, _ := e.content(f.ID); c != "" {
		t.Errorf("content after a cancelled Put = %q", c)
	}
	if names := e.onDisk("."); !slices.Equal(names, []string{"a.docx"}) {
		t.Errorf("directory holds %q", names)
	}
}

func TestLocksExpire(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	f := e.create("a.docx", "x")
	if _, err := e.fs.Lock(ctx, f.ID, "L1"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(20 * time.Minute)
	if _, err := e.fs.RefreshLock(ctx, f.ID, "L1"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(20 * time.Minute) // 40 minutes after Lock, 20 after the refresh
	if got, _ := e.fs.GetLock(ctx, f.ID); got != "L1" {
		t.Fatalf("a refreshed lock expired early: GetLock = %q", got)
	}
	e.clock.Advance(storage.LockDuration)
	if got, _ := e.fs.GetLock(ctx, f.ID); got != "" {
		t.Errorf("GetLock after expiry = %q, want none", got)
	}
	_, err := e.fs.Put(ctx, f.ID, "L1", strings.NewReader("late"), 0)
	var lc *storage.LockConflictError
	if !errors.As(err, &lc) || lc.Current != "" {
		t.Errorf("Put with an expired lock: %v, want a conflict with no current lock", err)
	}
	if _, err := e.fs.Lock(ctx, f.ID, "L2"); err != nil {
		t.Errorf("Lock after expiry: %v", err)
	}
	if err := e.fs.Delete(ctx, f.ID); !errors.As(err, &lc) || lc.Current != "L2" {
		t.Errorf("Delete of a freshly locked file: %v", err)
	}
}

func TestModes(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	sub, err := e.fs.CreateFolder(ctx, e.root().ID, "sub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.Create(ctx, sub.ID, "a.docx", strings.NewReader(""), false, 0); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		filepath.Join(e.dir, "sub"):           dirMode,
		filepath.Join(e.dir, "sub", "a.docx"): fileMode,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		// The umask may take bits away, never add them.
		if got := fi.Mode().Perm(); got&^want != 0 || got&0o002 != 0 {
			t.Errorf("%s mode %v, want at most %v", path, got, want)
		}
	}
}

func TestExcludedAndHiddenNames(t *testing.T) {
	base := t.TempDir()
	store, err := state.OpenBolt(filepath.Join(base, "wopibridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	fs, err := New(Options{Root: base, State: store, Exclude: []string{"wopibridge.db"}})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ctx := t.Context()
	root, err := fs.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(base, ".hidden.docx"), []byte("h"), 0o600)
	os.Mkdir(filepath.Join(base, ".git"), 0o700)
	files, folders, err := fs.List(ctx, root.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(files)+len(folders) != 0 {
		t.Errorf("List shows %+v %+v, want nothing", files, folders)
	}
	for _, name := range []string{"wopibridge.db", ".hidden.docx", ".git"} {
		if _, err := fs.Create(ctx, root.ID, name, strings.NewReader("x"), true, 0); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Create(%q): %v, want ErrInvalidName", name, err)
		}
	}
	sub, err := fs.CreateFolder(ctx, root.ID, "sub")
	if err != nil {
		t.Fatal(err)
	}
	// The reserved name is only reserved in the root.
	if _, err := fs.Create(ctx, sub.ID, "wopibridge.db", strings.NewReader("x"), false, 0); err != nil {
		t.Errorf("Create of the state file's name in a subfolder: %v", err)
	}
	if _, err := New(Options{Root: base, State: store, Exclude: []string{"a/b"}}); err == nil {
		t.Error("New accepted an exclude with a separator")
	}
}

func TestInvalidNames(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{`a\b`, ".hidden", "tab\tname", "bell\a", "del\x7f", string([]byte{0xff, 0xfe}), strings.Repeat("n", 256)} {
		_, err := e.fs.Create(t.Context(), e.root().ID, name, strings.NewReader("x"), false, 0)
		if !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Create(%q): %v, want ErrInvalidName", name, err)
		}
	}
	if _, err := e.fs.Create(t.Context(), e.root().ID, strings.Repeat("n", 255), strings.NewReader("x"), false, 0); err != nil {
		t.Errorf("Create with a 255-byte name: %v", err)
	}
}

func TestOpenGivesSeekableFile(t *testing.T) {
	e := newEnv(t)
	f := e.create("a.docx", "0123456789")
	rc, _, err := e.fs.Open(t.Context(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, ok := rc.(*os.File); !ok {
		t.Errorf("Open returned %T, want *os.File", rc)
	}
	// A Put while the file is open does not change what the reader sees.
	if _, err := e.fs.Put(t.Context(), f.ID, "", strings.NewReader("new"), 0); err == nil {
		t.Fatal("Put without a lock on a non-empty file succeeded")
	}
	if _, err := e.fs.Lock(t.Context(), f.ID, "L"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.Put(t.Context(), f.ID, "L", strings.NewReader("new"), 0); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	if string(b) != "0123456789" {
		t.Errorf("an open reader saw %q after a Put, want the opened version", b)
	}
}

func TestStaleTempFilesRemoved(t *testing.T) {
	e := newEnv(t)
	stale := filepath.Join(e.dir, tempPrefix+"crashed.tmp")
	fresh := filepath.Join(e.dir, tempPrefix+"writing.tmp")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := e.clock.Now().Add(-2 * staleTempAge)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if err := os.Chtimes(fresh, now, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.fs.List(t.Context(), e.root().ID); err != nil {
		t.Fatal(err)
	}
	if names := e.onDisk("."); !slices.Equal(names, []string{filepath.Base(fresh)}) {
		t.Errorf("directory holds %q, want only the fresh temp file", names)
	}
}

func TestCheck(t *testing.T) {
	e := newEnv(t)
	if err := e.fs.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if names := e.onDisk("."); len(names) != 0 {
		t.Errorf("Check left %q behind", names)
	}
	t.Run("read-only directory", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes to read-only directories")
		}
		if err := os.Chmod(e.dir, 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(e.dir, 0o750)
		if err := e.fs.Check(t.Context()); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Check of a read-only directory: %v, want ErrUnavailable", err)
		}
	})
	t.Run("directory removed", func(t *testing.T) {
		if err := os.RemoveAll(e.dir); err != nil {
			t.Fatal(err)
		}
		if err := e.fs.Check(t.Context()); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Check of a removed directory: %v, want ErrUnavailable", err)
		}
	})
}

func TestDeletedByHand(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	f := e.create("a.docx", "x")
	if err := os.Remove(filepath.Join(e.dir, "a.docx")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.Stat(ctx, f.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat of a file deleted by hand: %v, want ErrNotFound", err)
	}
	if err := e.fs.Delete(ctx, f.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Delete of a file deleted by hand: %v, want ErrNotFound", err)
	}
	// A folder removed by hand, with its files.
	sub, err := e.fs.CreateFolder(ctx, e.root().ID, "sub")
	if err != nil {
		t.Fatal(err)
	}
	inner, err := e.fs.Create(ctx, sub.ID, "b.docx", strings.NewReader("y"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(e.dir, "sub")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.Stat(ctx, inner.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat of a file in a folder deleted by hand: %v, want ErrNotFound", err)
	}
	if _, _, err := e.fs.List(ctx, sub.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("List of a folder deleted by hand: %v, want ErrNotFound", err)
	}
}

func TestStateKeepsNoPaths(t *testing.T) {
	// Renaming a folder rewrites one record: what is inside keeps working without a
	// rescan, even after a restart.
	e := newEnv(t)
	ctx := t.Context()
	a, _ := e.fs.CreateFolder(ctx, e.root().ID, "a")
	b, _ := e.fs.CreateFolder(ctx, a.ID, "b")
	f, err := e.fs.Create(ctx, b.ID, "f.docx", strings.NewReader("deep"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.RenameFolder(ctx, a.ID, "A"); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if c, _ := e.content(f.ID); c != "deep" {
		t.Errorf("content after folder rename and restart = %q", c)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "A", "b", "f.docx")); err != nil {
		t.Error(err)
	}
}

// FuzzConfine checks that any name the backend accepts is one element inside the root,
// and that paths built from accepted names never leave it.
func FuzzConfine(f *testing.F) {
	for _, seed := range []string{
		"report.docx", "", ".", "..", "../x", "a/b", "/abs", "a\x00b", `a\b`, `..\..\x`,
		".hidden", "x/..", "C:", "C:\\x", "~", "~user", "a..b", "...", " ", "é.docx",
		"\u202e.docx", "con", "NUL", "\xff", strings.Repeat("a", 256), "a\nb", "a/./b",
	} {
		f.Add(seed, "b.docx")
	}
	const root = "/srv/wopibridge/data"
	f.Fuzz(func(t *testing.T, name, second string) {
		if err := checkName(name); err != nil {
			if !errors.Is(err, storage.ErrInvalidName) {
				t.Fatalf("checkName(%q) = %v, want ErrInvalidName", name, err)
			}
		} else {
			if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") ||
				filepath.IsAbs(name) || !filepath.IsLocal(name) || !utf8.ValidString(name) || len(name) > maxNameLength {
				t.Fatalf("checkName accepted %q", name)
			}
			joined := filepath.Join(root, name)
			if filepath.Dir(joined) != root || filepath.Base(joined) != name {
				t.Fatalf("accepted %q joins to %q, not one element under the root", name, joined)
			}
		}
		rel, err := relPath([]string{name, second})
		if err != nil {
			return
		}
		if checkName(name) != nil || checkName(second) != nil {
			t.Fatalf("relPath accepted %q, %q with an invalid element", name, second)
		}
		if !filepath.IsLocal(rel) || rel != name+string(filepath.Separator)+second {
			t.Fatalf("relPath(%q, %q) = %q", name, second, rel)
		}
		if !strings.HasPrefix(filepath.Join(root, rel), root+string(filepath.Separator)) {
			t.Fatalf("relPath(%q, %q) = %q leaves the root", name, second, rel)
		}
	})
}

// FuzzCreateName creates files under fuzzed names in a real directory: an accepted name
// lands as exactly that entry in the folder, and nothing appears anywhere else.
func FuzzCreateName(f *testing.F) {
	for _, seed := range []string{"report.docx", "../escape.docx", "a/b", "/abs", "..", ".x", "x\x00y", "ü.txt", `..\x`} {
		f.Add(seed)
	}
	base := f.TempDir()
	store, err := state.OpenBolt(filepath.Join(base, "state.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	dataDir := filepath.Join(base, "data")
	backend, err := New(Options{Root: dataDir, State: store})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { backend.Close() })
	root, err := backend.Root(f.Context())
	if err != nil {
		f.Fatal(err)
	}
	sub, err := backend.CreateFolder(f.Context(), root.ID, "sub")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ctx := t.Context()
		file, err := backend.Create(ctx, sub.ID, name, bytes.NewReader([]byte("fuzz")), true, 0)
		if err != nil {
			if checkName(name) == nil && !errors.Is(err, storage.ErrExists) {
				t.Fatalf("Create(%q) of a valid name: %v", name, err)
			}
		} else {
			if checkName(name) != nil {
				t.Fatalf("Create accepted invalid name %q", name)
			}
			if _, err := os.Lstat(filepath.Join(dataDir, "sub", name)); err != nil || file.Name != name {
				t.Fatalf("Create(%q) = %+v, entry: %v", name, file, err)
			}
			if err := backend.Delete(ctx, file.ID); err != nil {
				t.Fatalf("Delete(%q): %v", name, err)
			}
		}
		top, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		var topNames []string
		for _, e := range top {
			topNames = append(topNames, e.Name())
		}
		if !slices.Equal(topNames, []string{"data", "state.db"}) {
			t.Fatalf("after Create(%q) the parent of the root holds %q", name, topNames)
		}
		inRoot, err := os.ReadDir(dataDir)
		if err != nil || len(inRoot) != 1 || inRoot[0].Name() != "sub" {
			t.Fatalf("after Create(%q) the root holds %v (%v)", name, inRoot, err)
		}
	})
}

// TestInvisibleNames: the backend refuses names with bidi controls, other format
// characters and C1 controls, and does not list files dropped in with such names.
func TestInvisibleNames(t *testing.T) {
	e := newEnv(t)
	root := e.root()
	for _, name := range []string{"invoice\u202excod.docx", "a\u2066b.docx", "a\u200bb.docx", "a\u0085b.docx"} {
		_, err := e.fs.Create(t.Context(), root.ID, name, strings.NewReader("x"), false, 0)
		if !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Create(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(e.dir, "gpj\u202edocx.exe"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	files, _, err := e.fs.List(t.Context(), root.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 0 {
		t.Errorf("listed %+v", files)
	}
}
