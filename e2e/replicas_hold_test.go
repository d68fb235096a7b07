package e2e

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/wopibridge/wopibridge/e2e/docserver"
	"github.com/wopibridge/wopibridge/internal/testhold"
)

// Interleavings of several replicas forced across real processes: the bridges are
// built with the tag wopibridge_testhooks, and hold points (package testhold) stop a
// replica at a chosen step until the test lets it go.

const holdTags = "wopibridge_testhooks"

// holds drives the hold points of a cluster's replicas through their directory.
type holds struct {
	t   *testing.T
	dir string
}

// newHolds makes the hold directory with every point released, and returns the
// environment that arms points in the replicas.
func newHolds(t *testing.T, points ...string) (*holds, string) {
	t.Helper()
	h := &holds{t: t, dir: t.TempDir()}
	for _, p := range points {
		h.release(p)
	}
	return h, testhold.EnvVar + "=" + strings.Join(points, ",") + "," + h.dir
}

// arm makes the next replica that reaches point hold there.
func (h *holds) arm(point string) {
	h.t.Helper()
	for _, f := range []string{point + ".go", point + ".held"} {
		if err := os.Remove(filepath.Join(h.dir, f)); err != nil && !os.IsNotExist(err) {
			h.t.Fatal(err)
		}
	}
}

// release lets every replica held at point go on (and all that reach it later).
func (h *holds) release(point string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, point+".go"), nil, 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// held lists the process ids that reached point since it was armed.
func (h *holds) held(point string) []int {
	b, _ := os.ReadFile(filepath.Join(h.dir, point+".held"))
	var pids []int
	for _, l := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(l); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// awaitHeld waits until a replica holds at point and returns its index.
func (h *holds) awaitHeld(c *cluster, point string) int {
	h.t.Helper()
	waitFor(h.t, "a replica to hold at "+point, func() bool { return len(h.held(point)) > 0 })
	return c.replicaOf(h.held(point)[0])
}

// replicaOf is the index of the replica whose process is pid.
func (c *cluster) replicaOf(pid int) int {
	c.t.Helper()
	for i, p := range c.Procs {
		if p.cmd != nil && p.cmd.Process != nil && p.cmd.Process.Pid == pid {
			return i
		}
	}
	c.t.Fatalf("no replica has process id %d", pid)
	return -1
}

// TestReplicasHoldCoEditorStatus1AcrossAFinalSave is the first interleaving across
// processes: a co-editor's status 1, handled by one replica, has read the session
// record when the final status 2, handled by another, saves and ends the session.
// The ended session must stay ended: the next editor gets a new key, for editing.
func TestReplicasHoldCoEditorStatus1AcrossAFinalSave(t *testing.T) {
	h, env := newHolds(t, testhold.SessionWriteStatus1)
	c := startCluster(t, clusterOptions{Tags: holdTags, Env: []string{env}})
	e := c.Env()
	f := e.upload("coedit.docx", "v1")
	a := e.open("alice", f.ID)
	e.reply(a.Key(), docserver.StatusEditing)

	h.arm(testhold.SessionWriteStatus1)
	b := e.open("bob", f.ID) // its status 1 holds at the session write
	i := h.awaitHeld(c, testhold.SessionWriteStatus1)
	c.Proxy.setUp(i, false) // everything else goes to the other replicas
	a.Edit([]byte("final by alice and bob"))
	a.Close()
	b.Close()
	if got := replyBody(e.reply(a.Key(), docserver.StatusMustSave)); got != `{"error":0}` {
		t.Fatalf("reply to status 2 = %s", got)
	}
	h.release(testhold.SessionWriteStatus1)
	c.Proxy.setUp(i, true)
	e.replies(a.Key(), docserver.StatusEditing, 2) // the held status 1 is answered
	if got := string(e.p.read("coedit.docx")); got != "final by alice and bob" {
		t.Fatalf("content = %q", got)
	}
	for range c.Procs { // a config from every replica
		key, mode := configKey(t, e.config("dave", f.ID))
		if key == a.Key() || mode != "edit" {
			t.Fatalf("after the final save: key %q (saved %q) mode %s, want a new key for editing", key, a.Key(), mode)
		}
	}
}

// TestReplicasHoldOneReplayOfAWaitingSave is the second interleaving: a save waits in
// the spool and one replica replays it, held after taking the file's replay lease.
// Every other replica, asked for the file, must leave the save to it (no second
// replay, no write), and the save must land once, in the file.
func TestReplicasHoldOneReplayOfAWaitingSave(t *testing.T) {
	h, env := newHolds(t, testhold.ReplayWrite)
	c := startCluster(t, clusterOptions{Tags: holdTags, Env: []string{env}})
	e := c.Env()
	f := e.upload("waiting.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	h.arm(testhold.ReplayWrite)
	freeze(t, c.Data) // the disk refuses writes: the save is spooled
	ed.Edit([]byte("spooled, replayed once"))
	ed.Close()
	if got := replyBody(e.reply(ed.Key(), docserver.StatusMustSave)); got != `{"error":0}` {
		t.Fatalf("reply to status 2 = %s", got)
	}
	i := h.awaitHeld(c, testhold.ReplayWrite)
	thaw(t, c.Data)

	// Every other replica is asked for the file while the replay is held (the holder
	// itself is busy with the file): each must answer that a save is pending, not
	// replay it too (a second replay would hold as well).
	c.Proxy.setUp(i, false)
	others := len(c.Procs) - 1
	var answered atomic.Int32
	statuses := make(chan int, others)
	for range others {
		go func() {
			status, _ := e.p.api(http.MethodPost, "/api/v1/docs/config?file="+f.ID, launchToken(t, "dave", nil), nil)
			answered.Add(1)
			statuses <- status
		}()
	}
	waitFor(t, "every replica to answer while the replay is held", func() bool {
		return int(answered.Load()) == others || len(h.held(testhold.ReplayWrite)) > 1
	})
	if n := len(h.held(testhold.ReplayWrite)); n != 1 {
		t.Fatalf("%d replays of the save reached its write at once, want 1", n)
	}
	for range others {
		if s := <-statuses; s == http.StatusOK {
			t.Errorf("a config was given while the save waits: status %d", s)
		}
	}
	if got := string(e.p.read("waiting.docx")); got != "v1" {
		t.Fatalf("content while the replay is held = %q", got)
	}
	h.release(testhold.ReplayWrite)
	c.Proxy.setUp(i, true)
	waitFor(t, "the save to land", func() bool {
		b, _ := os.ReadFile(filepath.Join(c.Data, "waiting.docx"))
		return string(b) == "spooled, replayed once"
	})
	entries, err := os.ReadDir(c.Data)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	if !slices.Equal(names, []string{"waiting.docx"}) {
		t.Errorf("data directory = %q, want the document alone (no conflict copy)", names)
	}
	waitFor(t, "the file to open for editing", func() bool {
		status, body := e.p.api(http.MethodPost, "/api/v1/docs/config?file="+f.ID, launchToken(t, "dave", nil), nil)
		return status == http.StatusOK && bytes.Contains(body, []byte(`"mode":"edit"`))
	})
}

// TestReplicasHoldStartupCleanupBesideASpoolWrite is the third interleaving: a replica
// spooling a save (the disk refuses it) holds after its first chunk, before the save's
// record; another replica starts meanwhile and cleans up the spool's orphaned chunks.
// It must leave those alone: the save is acknowledged at its first try and lands.
func TestReplicasHoldStartupCleanupBesideASpoolWrite(t *testing.T) {
	h, env := newHolds(t, testhold.SpoolChunks, testhold.StartupCleaned)
	c := startCluster(t, clusterOptions{Tags: holdTags, Env: []string{env}})
	e := c.Env()
	f := e.upload("spooling.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	freeze(t, c.Data)
	h.arm(testhold.SpoolChunks)
	ed.Edit([]byte("acknowledged once, kept whole"))
	ed.Close()
	i := h.awaitHeld(c, testhold.SpoolChunks)

	j := (i + 1) % len(c.Procs)
	h.arm(testhold.StartupCleaned)
	c.Restart(j, syscall.SIGTERM)
	if got := h.awaitHeld(c, testhold.StartupCleaned); got != j {
		t.Fatalf("replica %d cleaned up, want the restarted %d", got, j)
	}
	h.release(testhold.StartupCleaned)
	h.release(testhold.SpoolChunks)

	if got := replyBody(e.reply(ed.Key(), docserver.StatusMustSave)); got != `{"error":0}` {
		t.Fatalf("reply to status 2 = %s", got)
	}
	refused := c.DS.Find(func(ev docserver.Event) bool {
		return ev.Type == docserver.Reply && ev.Op == docserver.OpCallback && ev.Key == ed.Key() && ev.Status == docserver.StatusMustSave && !ev.OK()
	})
	if len(refused) != 0 {
		t.Errorf("the save was refused %d times before it was acknowledged: %v", len(refused), refused)
	}
	thaw(t, c.Data)
	waitFor(t, "the save to land", func() bool {
		b, _ := os.ReadFile(filepath.Join(c.Data, "spooling.docx"))
		return string(b) == "acknowledged once, kept whole"
	})
}

// TestDefaultBuildHasNoHoldPoints: the hold points exist only in the tagged build.
func TestDefaultBuildHasNoHoldPoints(t *testing.T) {
	for _, b := range []struct {
		tags string
		want bool
	}{{"", false}, {holdTags, true}} {
		raw, err := os.ReadFile(wopibridgeBinaryTags(t, b.tags))
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(raw, []byte(testhold.EnvVar)); got != b.want {
			t.Errorf("binary built with tags %q mentions %s: %v, want %v", b.tags, testhold.EnvVar, got, b.want)
		}
	}
}
