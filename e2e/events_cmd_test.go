package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/events"
)

// sseFrame is one Server-Sent Event of the events stream, by field.
type sseFrame map[string]string

// eventStream follows a file's events stream (the launch token as ?launch=, as a
// browser's EventSource sends it) and yields its frames; the channel closes when the
// stream ends.
func eventStream(t *testing.T, p *proc, fileID, launch string) <-chan sseFrame {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/files/"+fileID+"/events?launch="+url.QueryEscape(launch), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("events stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	frames := make(chan sseFrame, 64)
	go func() {
		defer close(frames)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		f := sseFrame{}
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				frames <- f
				f = sseFrame{}
			case strings.HasPrefix(line, ":"):
				f["comment"] = line
			default:
				k, v, _ := strings.Cut(line, ":")
				f[k] = strings.TrimPrefix(v, " ")
			}
		}
	}()
	return frames
}

// nextTimeline returns the next timeline event of the stream, and the holder frames
// seen before it (their data).
func nextTimeline(t *testing.T, frames <-chan sseFrame) (events.Event, []string) {
	t.Helper()
	var holders []string
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatal("the events stream ended")
			}
			switch f["event"] {
			case "holder":
				holders = append(holders, f["data"])
			case "timeline":
				var ev events.Event
				if err := json.Unmarshal([]byte(f["data"]), &ev); err != nil || f["id"] == "" {
					t.Fatalf("timeline frame %v: %v", f, err)
				}
				return ev, holders
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no timeline event within 30s")
		}
	}
}

// wopiLockOp sends a WOPI lock operation (LOCK, UNLOCK) for a session's file.
func wopiLockOp(t *testing.T, s wopiSession, override, lock string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.WopiSrc+"?access_token="+url.QueryEscape(s.AccessToken), nil)
	req.Header.Set("X-WOPI-Override", override)
	req.Header.Set("X-WOPI-Lock", lock)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestEventsCommandAndStream: a Docs API open and a WOPI client's Lock, refused Lock
// and Unlock, as the running server records them, come live on the events stream with
// the holder's changes, and "wopibridge events" prints them oldest first (through the
// server, which holds the bolt state file). Stopping the server ends the stream, and
// the stream does not hold up the stop.
func TestEventsCommandAndStream(t *testing.T) {
	e := newDocsEnv(t, "WOPIBRIDGE_SHUTDOWN_TIMEOUT=120s")
	f := e.upload("timeline.docx", "v1")
	auditor := launchToken(t, "auditor", nil)
	frames := eventStream(t, e.p, f.ID, auditor)

	e.config("alice", f.ID)
	ev, holders := nextTimeline(t, frames)
	if ev.Kind != events.KindOpened || ev.Style != events.StyleDocs || ev.User != "alice" || ev.Mode != "edit" || ev.Seq != 1 {
		t.Fatalf("first event %+v, want alice's Docs API open", ev)
	}
	if len(holders) != 1 || holders[0] != "null" {
		t.Fatalf("holders before the first event %q, want null", holders)
	}

	bob := e.session("bob", f.ID, "edit")
	const lock, other = "bob-lock-e2e", "someone-else"
	if code := wopiLockOp(t, bob, "LOCK", lock); code != http.StatusOK {
		t.Fatalf("LOCK: %d", code)
	}
	ev, _ = nextTimeline(t, frames)
	if ev.Kind != events.KindJoined || ev.Style != events.StyleWOPI || ev.User != "bob" || ev.Op != "LOCK" || ev.Session != events.LockDigest(lock) {
		t.Fatalf("after LOCK: %+v, want bob joining with the lock", ev)
	}
	if code := wopiLockOp(t, bob, "LOCK", other); code != http.StatusConflict {
		t.Fatalf("LOCK with another lock: %d, want 409", code)
	}
	ev, holders = nextTimeline(t, frames)
	if ev.Kind != events.KindLockConflict || ev.Holder == nil || ev.Holder.Session != events.LockDigest(lock) {
		t.Fatalf("after the refused LOCK: %+v, want a conflict naming bob's lock", ev)
	}
	if len(holders) != 1 || !strings.Contains(holders[0], `"session":"`+events.LockDigest(lock)+`"`) || !strings.Contains(holders[0], `"user":"bob"`) {
		t.Fatalf("holder changes %q, want bob's lock", holders)
	}
	if code := wopiLockOp(t, bob, "UNLOCK", lock); code != http.StatusOK {
		t.Fatalf("UNLOCK: %d", code)
	}
	if ev, _ = nextTimeline(t, frames); ev.Kind != events.KindLeft || ev.Op != "UNLOCK" {
		t.Fatalf("after UNLOCK: %+v, want bob leaving", ev)
	}
	ev, _ = nextTimeline(t, frames)
	if ev.Kind != events.KindEnded || ev.Style != events.StyleWOPI {
		t.Fatalf("after UNLOCK: %+v, want the WOPI session's end", ev)
	}
	lastSeq := ev.Seq

	cmd := exec.Command(wopibridgeBinary(t), "events", f.ID)
	cmd.Env = e.p.env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("wopibridge events: %v", err)
	}
	text := string(out)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) < 2 || lines[0] != "file "+f.ID || !strings.HasPrefix(lines[1], "SEQ") {
		t.Fatalf("wopibridge events printed:\n%s", text)
	}
	rows := lines[2:]
	want := [][]string{
		{"1 ", "Docs API", "opened", "alice", "mode=edit"},
		{"WOPI", "joined", "bob", "session=" + events.LockDigest(lock), "op=LOCK", "status=200"},
		{"WOPI", "lock_conflict", "bob", "holder=WOPI/" + events.LockDigest(lock), "status=409"},
		{"WOPI", "left", "bob", "op=UNLOCK"},
		{"WOPI", "ended", "bob"},
	}
	if len(rows) != len(want) || uint64(len(rows)) != lastSeq {
		t.Fatalf("wopibridge events printed %d rows, want %d (seq 1 to %d):\n%s", len(rows), len(want), lastSeq, text)
	}
	for i, parts := range want {
		for _, p := range parts {
			if !strings.Contains(rows[i], p) {
				t.Errorf("row %d %q lacks %q", i+1, rows[i], p)
			}
		}
	}
	for _, secret := range []string{lock, other, bob.AccessToken, auditor} {
		if strings.Contains(text, secret) {
			t.Errorf("wopibridge events shows %q", secret)
		}
	}

	// A graceful stop ends the stream rather than waiting for the client (up to the
	// shutdown timeout, 120 s here).
	if err := e.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second) // keepalives must not push it back
	for ended := false; !ended; {
		select {
		case _, ok := <-frames:
			ended = !ok
		case <-deadline:
			t.Fatal("the events stream is still open 20s after SIGTERM")
		}
	}
	select {
	case <-e.p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the server still runs 20s after SIGTERM")
	}
	if st := e.p.cmd.ProcessState; !st.Success() {
		t.Fatalf("the server stopped with %v", st)
	}
}
