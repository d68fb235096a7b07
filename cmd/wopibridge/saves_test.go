package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/session"
	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/bridge/storage/fs"
)

// refusing is fs storage that refuses every write, copies included.
type refusing struct{ storage.Backend }

func (refusing) Put(context.Context, string, string, io.Reader, int64) (storage.File, error) {
	return storage.File{}, errors.New("disk full")
}

func (refusing) Create(context.Context, string, string, io.Reader, bool, int64) (storage.File, error) {
	return storage.File{}, storage.ErrUnsupported
}

// spoolOne leaves one Docs API save in the state store of dir (data in dir/data, state
// dir/data/wopibridge.db, as the server's defaults have it): waiting, or, when
// recovered, kept in the recovery area after its lock lapsed.
func spoolOne(t *testing.T, dir, content string, recovered bool) {
	t.Helper()
	st, err := state.OpenBolt(filepath.Join(dir, "data", "wopibridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	clock := func() time.Time { return now }
	backend, err := fs.New(fs.Options{Root: filepath.Join(dir, "data"), State: st, Exclude: []string{"wopibridge.db"}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	root, _ := backend.Root(ctx)
	f, err := backend.Create(ctx, root.ID, "report.docx", strings.NewReader("v1"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(session.Options{Storage: refusing{backend}, State: st})
	if err != nil {
		t.Fatal(err)
	}
	o, err := m.Open(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(content)), nil }
	if out, err := m.Save(ctx, o.Key, fetch, true, "alice"); err != nil || out != session.Spooled {
		t.Fatalf("save: %v %v", out, err)
	}
	if !recovered {
		return
	}
	now = now.Add(time.Hour) // the lock lapses
	for range 3 {
		m.Replay(ctx)
	}
	if list, _ := m.Saves(); len(list) != 1 || list[0].State != session.SaveRecovered {
		t.Fatalf("saves %+v", list)
	}
}

func runSavesCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"saves"}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func savesEnv(dir string) map[string]string {
	return map[string]string{"WOPIBRIDGE_STORAGE": "fs:" + filepath.Join(dir, "data"), "WOPIBRIDGE_LISTEN": "127.0.0.1:0"}
}

// The operator's commands on the state store, no server running: list, a drop refused
// before export (nothing changed), export to a file, drop.
func TestSavesCommandsOnTheStateStore(t *testing.T) {
	dir := t.TempDir()
	spoolOne(t, dir, "kept bytes", false)
	env := savesEnv(dir)

	code, out, errOut := runSavesCmd(t, env, "list", "--json")
	var list []session.SaveInfo
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 {
		t.Fatalf("list: %d %q %q", code, out, errOut)
	}
	s := list[0]
	if s.State != session.SaveWaiting || s.Face != "docs" || s.Name != "report.docx" || s.Size != 10 || s.Exported {
		t.Fatalf("listed %+v", s)
	}
	if code, out, _ := runSavesCmd(t, env, "list"); code != 0 || !strings.Contains(out, "report.docx") || !strings.Contains(out, "waiting") {
		t.Fatalf("list as text: %d %q", code, out)
	}
	code, _, errOut = runSavesCmd(t, env, "drop", s.ID)
	if code != 1 || !strings.Contains(errOut, "never exported; export it first") {
		t.Fatalf("drop before export: %d %q", code, errOut)
	}
	if code, out, _ := runSavesCmd(t, env, "list", "--json"); code != 0 || !strings.Contains(out, `"id": "`+s.ID+`"`) {
		t.Fatalf("the refused drop changed the list: %q", out)
	}
	file := filepath.Join(dir, "exported.docx")
	if code, out, errOut := runSavesCmd(t, env, "export", s.ID, "-o", file); code != 0 || !strings.Contains(out, "10 bytes written") {
		t.Fatalf("export: %d %q %q", code, out, errOut)
	}
	if b, _ := os.ReadFile(file); string(b) != "kept bytes" {
		t.Fatalf("exported %q", b)
	}
	if code, out, errOut := runSavesCmd(t, env, "drop", s.ID); code != 0 || !strings.Contains(out, "dropped") {
		t.Fatalf("drop after export: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runSavesCmd(t, env, "list"); code != 0 || !strings.Contains(out, "no saves wait") {
		t.Fatalf("list after drop: %q", out)
	}
	if code, _, errOut := runSavesCmd(t, env, "export", "99", "-o", file); code != 1 || !strings.Contains(errOut, "no save 99") {
		t.Fatalf("export of an unknown save: %d %q", code, errOut)
	}
	if code, _, _ := runSavesCmd(t, env, "frobnicate"); code != 2 {
		t.Fatalf("unknown subcommand: %d", code)
	}
}

// With the server running, its bolt state file is locked: the commands go through its
// admin routes.
func TestSavesCommandsWhileTheServerRuns(t *testing.T) {
	dir := t.TempDir()
	spoolOne(t, dir, "kept while serving", true)
	env := savesEnv(dir)
	admin, stop := serveWithAdmin(t, env, dir)
	if fi, _ := os.Stat(admin); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin file mode %v", fi.Mode().Perm())
	}
	// The admin file sits beside the default state file, in the storage directory: like
	// the state file, it is never one of the documents.
	var ai adminInfo
	if data, err := os.ReadFile(admin); err != nil || json.Unmarshal(data, &ai) != nil {
		t.Fatalf("admin file: %v %q", err, data)
	}
	resp, err := http.Get(ai.URL + "/api/v1/files")
	if err != nil {
		t.Fatal(err)
	}
	listing, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(listing), "wopibridge.db") {
		t.Fatalf("documents while serving: %d %s", resp.StatusCode, listing)
	}
	code, out, errOut := runSavesCmd(t, env, "list", "--json")
	var list []session.SaveInfo
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 {
		t.Fatalf("list while serving: %d %q %q", code, out, errOut)
	}
	id := list[0].ID
	if list[0].State != session.SaveRecovered || !strings.Contains(list[0].Reason, "no conflict copy") {
		t.Fatalf("listed %+v", list[0])
	}
	if code, _, errOut := runSavesCmd(t, env, "drop", id); code != 1 || !strings.Contains(errOut, "export it first") {
		t.Fatalf("drop before export while serving: %d %q", code, errOut)
	}
	file := filepath.Join(dir, "out.docx")
	if code, _, errOut := runSavesCmd(t, env, "export", id, "-o", file); code != 0 {
		t.Fatalf("export while serving: %d %q", code, errOut)
	}
	if b, _ := os.ReadFile(file); string(b) != "kept while serving" {
		t.Fatalf("exported %q", b)
	}
	if code, _, errOut := runSavesCmd(t, env, "drop", id); code != 0 {
		t.Fatalf("drop while serving: %d %q", code, errOut)
	}
	if code, out, _ := runSavesCmd(t, env, "list", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("list after drop while serving: %q", out)
	}
	stop()
	if _, err := os.Stat(admin); !os.IsNotExist(err) {
		t.Errorf("admin file left after the server stopped: %v", err)
	}
}

// serveWithAdmin runs `wopibridge serve` with env until the test ends, and waits for
// the admin file it writes beside its bolt state file under dir: its path.
func serveWithAdmin(t *testing.T, env map[string]string, dir string) (admin string, stop func()) {
	t.Helper()
	stop = startServing(t, env)
	admin = filepath.Join(dir, "data", "wopibridge.db.admin")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(admin); err == nil {
			return admin, stop
		}
		if time.Now().After(deadline) {
			t.Fatal("no admin file from the server")
		}
	}
}
