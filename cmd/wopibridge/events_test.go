package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/events"
	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/state/redistest"
)

// writeEvents stores evs in the default state file of dir, as a server would.
func writeEvents(t *testing.T, dir string, evs ...events.Event) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := state.OpenBolt(filepath.Join(dir, "data", "wopibridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := events.NewLog(st, events.LogOptions{})
	for _, e := range evs {
		l.Record(e)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func runEventsCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"events"}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

var cmdEvents = func() []events.Event {
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	return []events.Event{
		{FileID: "f1", Time: t0, Kind: events.KindOpened, Style: events.StyleDocs, User: "alice", Mode: "edit"},
		{FileID: "f1", Time: t0.Add(time.Second), Kind: events.KindLockConflict, Style: events.StyleWOPI, User: "bob",
			Holder: &events.Holder{Style: events.StyleDocs, Session: "key-1"}, Status: 409},
		{FileID: "f1", Time: t0.Add(2 * time.Second), Kind: events.KindSave, Style: events.StyleDocs, User: "alice",
			Bytes: 2048, VersionBefore: "v1", VersionAfter: "v2", DurationMS: 12.5, Outcome: events.OutcomeSaved},
		{FileID: "other", Time: t0, Kind: events.KindOpened, Style: events.StyleWOPI},
	}
}

// checkTable checks the table's rows, oldest first, and the fields each kind shows.
func checkTable(t *testing.T, out string, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || lines[0] != "file f1" {
		t.Fatalf("output %q", out)
	}
	rows := lines[1:]
	if strings.HasPrefix(rows[len(rows)-1], "(read from the state store") {
		rows = rows[:len(rows)-1]
	}
	if len(rows) != len(want)+1 || !strings.HasPrefix(rows[0], "SEQ") {
		t.Fatalf("rows %q, want a header and %d rows", rows, len(want))
	}
	for i, w := range want {
		if !strings.Contains(squeeze(rows[i+1]), squeeze(w)) {
			t.Errorf("row %d = %q, want it to contain %q", i+1, rows[i+1], w)
		}
	}
}

// squeeze collapses runs of spaces, which tabwriter sizes to the rows shown.
func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }

var (
	rowOpened   = "Docs API  opened         alice  mode=edit"
	rowConflict = "WOPI      lock_conflict  bob    holder=Docs API/key-1 status=409"
	rowSave     = "Docs API  save           alice  bytes=2048 version=v1->v2 took=12.5ms outcome=saved"
)

func TestEventsCommandOnTheStateStore(t *testing.T) {
	dir := t.TempDir()
	writeEvents(t, dir, cmdEvents()...)
	env := savesEnv(dir)

	code, out, errOut := runEventsCmd(t, env, "f1")
	if code != 0 {
		t.Fatalf("events f1: %d %q", code, errOut)
	}
	checkTable(t, out, rowOpened, rowConflict, rowSave)
	if rows := strings.Split(out, "\n"); !strings.HasPrefix(rows[2], "1 ") || !strings.HasPrefix(rows[4], "3 ") {
		t.Errorf("rows not oldest first: %q", out)
	}
	code, out, _ = runEventsCmd(t, env, "f1", "--limit", "1")
	if code != 0 {
		t.Fatal(code)
	}
	checkTable(t, out, rowSave)
	code, out, _ = runEventsCmd(t, env, "f1", "--since=1")
	if code != 0 {
		t.Fatal(code)
	}
	checkTable(t, out, rowConflict, rowSave)

	code, out, _ = runEventsCmd(t, env, "f1", "--json")
	var tl timelineJSON
	if code != 0 || json.Unmarshal([]byte(out), &tl) != nil {
		t.Fatalf("--json: %d %q", code, out)
	}
	if tl.File != "f1" || len(tl.Events) != 3 || tl.Events[0].Seq != 3 || tl.Events[0].Kind != events.KindSave || tl.Events[2].Kind != events.KindOpened {
		t.Errorf("--json: %+v, want 3 events newest first", tl)
	}
	if code, out, _ := runEventsCmd(t, env, "nothing-here"); code != 0 || !strings.Contains(out, "no events") {
		t.Errorf("unknown file: %d %q", code, out)
	}
	for _, args := range [][]string{{}, {"a", "b"}, {"f1", "--limit", "0"}, {"f1", "--limit", "1001"}, {"f1", "--since", "-1"}} {
		if code, _, errOut := runEventsCmd(t, env, args...); code != 2 || errOut == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
}

// With the server running, its bolt state file is locked: the command asks it.
func TestEventsCommandWhileTheServerRuns(t *testing.T) {
	dir := t.TempDir()
	writeEvents(t, dir, cmdEvents()...)
	env := savesEnv(dir)
	serveWithAdmin(t, env, dir)
	code, out, errOut := runEventsCmd(t, env, "f1")
	if code != 0 {
		t.Fatalf("events while serving: %d %q", code, errOut)
	}
	checkTable(t, out, rowOpened, rowConflict, rowSave)
	if strings.Contains(out, "(read from the state store") {
		t.Errorf("while serving, the command read the store itself: %q", out)
	}
	code, out, _ = runEventsCmd(t, env, "f1", "--json", "--since", "2")
	var tl timelineJSON
	if code != 0 || json.Unmarshal([]byte(out), &tl) != nil || len(tl.Events) != 1 || tl.Events[0].Seq != 3 {
		t.Fatalf("--json --since 2 while serving: %d %q", code, out)
	}
	if !strings.Contains(out, `"holder": null`) {
		t.Errorf("the server's answer has no holder field: %s", out)
	}
}

// With Redis state, the command reads the store the servers share.
func TestEventsCommandOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	st, err := state.OpenRedis(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	l := events.NewLog(st, events.LogOptions{})
	for _, e := range cmdEvents() {
		l.Record(e)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	env := savesEnv(t.TempDir())
	env["WOPIBRIDGE_STATE"] = srv.URL(0)
	code, out, errOut := runEventsCmd(t, env, "f1")
	if code != 0 {
		t.Fatalf("events f1 on Redis: %d %q", code, errOut)
	}
	checkTable(t, out, rowOpened, rowConflict, rowSave)
	if !strings.Contains(out, "(read from the state store") {
		t.Errorf("the output does not say the holder is unknown: %q", out)
	}
}
