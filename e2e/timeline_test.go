package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/wopibridge/wopibridge/bridge/events"
	"github.com/wopibridge/wopibridge/bridge/state/redistest"
	"github.com/wopibridge/wopibridge/e2e/docserver"
)

// The timeline of one file that both styles use, read back through the events API and
// through "wopibridge events".

// timeline is the events API's answer.
type timeline struct {
	File   string          `json:"file"`
	Holder *events.Holder  `json:"holder"`
	Events []events.Event  `json:"events"`
	Raw    json.RawMessage `json:"-"`
}

// apiTimeline reads fileID's timeline through the API, oldest first.
func (p *proc) apiTimeline(fileID string) timeline {
	p.t.Helper()
	status, body := p.api(http.MethodGet, "/api/v1/files/"+fileID+"/events?limit=1000", launchToken(p.t, "auditor", nil), nil)
	if status != http.StatusOK {
		p.t.Fatalf("events API: %d %s", status, body)
	}
	var tl timeline
	if err := json.Unmarshal(body, &tl); err != nil {
		p.t.Fatalf("events API: %v\n%s", err, body)
	}
	tl.Raw = body
	slices.Reverse(tl.Events)
	return tl
}

// cliTimeline reads fileID's timeline with "wopibridge events --json", oldest first.
func (p *proc) cliTimeline(fileID string) timeline {
	p.t.Helper()
	cmd := exec.Command(wopibridgeBinary(p.t), "events", fileID, "--json", "--limit", "1000")
	cmd.Env = p.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		p.t.Fatalf("wopibridge events: %v\n%s", err, stderr.String())
	}
	var tl timeline
	if err := json.Unmarshal(out, &tl); err != nil {
		p.t.Fatalf("wopibridge events --json: %v\n%s", err, out)
	}
	tl.Raw = out
	slices.Reverse(tl.Events)
	return tl
}

// stepOf is what the scenario says of an event: kind, style, op or outcome, user.
func stepOf(e events.Event) string {
	what := e.Op
	if e.Outcome != "" {
		what += "/" + e.Outcome
	}
	return strings.Join(strings.Fields(fmt.Sprintf("%s %s %s %s", e.Kind, e.Style, what, e.User)), " ")
}

func stepsOf(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, stepOf(e))
	}
	return out
}

// wantTimeline compares the steps of evs with want, and checks that Seq increases.
func wantTimeline(t *testing.T, how string, evs []events.Event, want []string) {
	t.Helper()
	if got := stepsOf(evs); !slices.Equal(got, want) {
		t.Fatalf("%s: events\n  %s\nwant\n  %s", how, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			t.Fatalf("%s: seq %d after %d", how, evs[i].Seq, evs[i-1].Seq)
		}
	}
}

// A Docs API session and a WOPI session on one file: two Docs API editors, a WOPI
// client refused the lock, a forcesave, a final save while the disk refuses writes, a
// restart, the replay, then the WOPI client editing and saving. The timeline holds
// exactly these steps, in order, with their fields, through the API and the command.
func TestTimelineBothStyles(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("timeline.docx", "v1")

	alice := e.open("alice", f.ID)
	key := alice.Key()
	e.reply(key, docserver.StatusEditing)
	bob := e.open("bob", f.ID)
	if bob.Key() != key {
		t.Fatalf("bob's key %s, alice's %s", bob.Key(), key)
	}
	if _, err := e.ds.WaitForN(e.ctx(), 2, docserver.Match{Type: docserver.Reply, Op: docserver.OpCallback, Key: key, Status: docserver.StatusEditing}.Fn()); err != nil {
		t.Fatal(err)
	}

	// A WOPI client meets the Docs API session's lock and opens for view.
	carolView := e.openWOPI(e.session("carol", f.ID, "edit"))
	if !carolView.ForcedView() {
		t.Fatal("the WOPI client got the lock of a file the Docs API session holds")
	}
	carolView.Close()

	// A forcesave asked through the bridge.
	alice.Edit([]byte("v2 by alice"))
	if status, body := e.p.api(http.MethodPost, "/api/v1/docs/forcesave?file="+f.ID, launchToken(t, "alice", nil), nil); status != http.StatusAccepted {
		t.Fatalf("forcesave: %d %s", status, body)
	}
	e.reply(key, docserver.StatusForceSave)

	// alice leaves; bob's final save meets a disk that refuses writes.
	alice.Close()
	if _, err := e.ds.WaitForN(e.ctx(), 3, docserver.Match{Type: docserver.Reply, Op: docserver.OpCallback, Key: key, Status: docserver.StatusEditing}.Fn()); err != nil {
		t.Fatal(err)
	}
	freeze(t, e.p.Data)
	bob.Edit([]byte("v3 by bob"))
	bob.Close()
	if got := replyBody(e.reply(key, docserver.StatusMustSave)); got != `{"error":0}` {
		t.Fatalf("final save with the disk refusing: %s", got)
	}
	e.p.restart(syscall.SIGTERM)
	thaw(t, e.p.Data)
	waitFor(t, "the spooled save to land", func() bool {
		b, _ := os.ReadFile(filepath.Join(e.p.Data, "timeline.docx"))
		return string(b) == "v3 by bob"
	})
	waitFor(t, "the Docs API session to end", func() bool {
		tl := e.p.apiTimeline(f.ID)
		return len(tl.Events) > 0 && tl.Events[len(tl.Events)-1].Kind == events.KindEnded
	})

	// Now the WOPI client edits and saves.
	carolSession := e.session("carol", f.ID, "edit")
	carol := e.openWOPI(carolSession)
	if carol.Mode() != "edit" || carol.ForcedView() {
		t.Fatalf("carol opened in %s mode", carol.Mode())
	}
	if err := carol.Save([]byte("v4 by carol"), true); err != nil {
		t.Fatal(err)
	}

	want := []string{
		"opened docs alice",
		"joined docs 1 alice",
		"opened docs bob",
		"joined docs 1 bob",
		"opened wopi carol",
		"lock_conflict wopi LOCK carol",
		"forcesave docs forcesave/requested alice",
		"save docs 6/saved alice",
		"left docs 1 alice",
		"save docs 2/spooled bob",
		"left docs 2 bob",
		"save docs 2/replayed bob",
		"ended docs",
		"opened wopi carol",
		"joined wopi LOCK carol",
		"save wopi PUT/saved carol",
		"left wopi UNLOCK carol",
		"ended wopi UNLOCK carol",
	}
	var api timeline
	waitFor(t, "the WOPI session's end on the timeline", func() bool {
		api = e.p.apiTimeline(f.ID)
		return len(api.Events) >= len(want)
	})
	wantTimeline(t, "API", api.Events, want)
	cli := e.p.cliTimeline(f.ID)
	wantTimeline(t, "wopibridge events", cli.Events, want)
	for i := range want {
		if a, c := api.Events[i], cli.Events[i]; a.Seq != c.Seq || !a.Time.Equal(c.Time) || a.RequestID != c.RequestID {
			t.Errorf("event %d: API %+v, command %+v", i, a, c)
		}
	}

	evs := api.Events
	for i, ev := range evs {
		if ev.FileID != f.ID || ev.Time.IsZero() || ev.Seq == 0 {
			t.Errorf("%d %s: file %q time %v seq %d", i, stepOf(ev), ev.FileID, ev.Time, ev.Seq)
		}
		// Every step is a request's, but the replay and the end it brings (background).
		if bg := i == 11 || i == 12; (ev.RequestID == "") != bg {
			t.Errorf("%d %s: request id %q", i, stepOf(ev), ev.RequestID)
		}
		if ev.Style == events.StyleDocs && ev.Kind != events.KindOpened && ev.Session != key {
			t.Errorf("%d %s: session %q, want the key %s", i, stepOf(ev), ev.Session, key)
		}
	}
	if o := evs[0]; o.Mode != "edit" || o.Reason != "" {
		t.Errorf("alice's open: %+v", o)
	}
	if o := evs[4]; o.Mode != "view" || o.Reason != events.ReasonLocked || o.Holder == nil || o.Holder.Style != events.StyleDocs || o.Holder.Session != key {
		t.Errorf("carol's open while the Docs API session edits: %+v holder %+v", o, o.Holder)
	}
	if c := evs[5]; c.Status != http.StatusConflict || c.Holder == nil || c.Holder.Style != events.StyleDocs || c.Holder.Session != key || c.Holder.User != "alice" {
		t.Errorf("lock conflict: %+v holder %+v", c, c.Holder)
	}
	if s := evs[7]; s.Bytes != int64(len("v2 by alice")) || s.VersionBefore == "" || s.VersionAfter == "" || s.VersionBefore == s.VersionAfter {
		t.Errorf("forcesave's save: %+v", s)
	}
	if s, r := evs[9], evs[11]; s.Bytes != int64(len("v3 by bob")) || r.Bytes != s.Bytes || r.VersionAfter == "" || s.Detail == "" {
		t.Errorf("spooled %+v, replayed %+v", s, r)
	}
	for _, i := range []int{7, 9, 15} {
		if evs[i].DurationMS <= 0 {
			t.Errorf("%s: no duration", stepOf(evs[i]))
		}
	}
	wopiSession := events.LockDigest(f.ID) // DS in WOPI mode locks with the file id
	for _, i := range []int{14, 15, 16, 17} {
		if evs[i].Session != wopiSession || evs[i].CorrelationID == "" {
			t.Errorf("%s: session %q correlation %q, want %q", stepOf(evs[i]), evs[i].Session, evs[i].CorrelationID, wopiSession)
		}
	}
	if api.Holder != nil {
		t.Errorf("holder after every session ended: %+v", api.Holder)
	}
	for _, secret := range []string{dsSecret, string(testLaunchSecret), carolSession.AccessToken, `"session":"` + f.ID + `"`} {
		if bytes.Contains(api.Raw, []byte(secret)) || bytes.Contains(cli.Raw, []byte(secret)) {
			t.Errorf("the timeline carries %q", secret)
		}
	}
}

// startReplica starts a second wopibridge beside p: the same storage directory and
// settings, its own address.
func startReplica(t *testing.T, p *proc) *proc {
	t.Helper()
	r := &proc{t: t, addr: freeAddr(t), Data: p.Data, logs: &lockedBuffer{}}
	r.URL = "http://" + r.addr
	for _, kv := range p.env {
		if !strings.HasPrefix(kv, "WOPIBRIDGE_LISTEN=") {
			r.env = append(r.env, kv)
		}
	}
	r.env = append(r.env, "WOPIBRIDGE_LISTEN="+r.addr)
	r.start()
	t.Cleanup(func() {
		r.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("replica log:\n%s", r.logs.String())
		}
	})
	return r
}

// With the state in Redis, two bridge processes write one timeline: the Docs API
// session on one, the WOPI client on the other, one Seq order, the same answer from
// either process and from the command.
func TestTimelineTwoReplicasOneRedis(t *testing.T) {
	rds := redistest.Start(t)
	e := newDocsEnv(t, "WOPIBRIDGE_STATE="+rds.URL(0))
	p1, p2 := e.p, startReplica(t, e.p)
	f := e.upload("shared.docx", "v1")
	// Each step waits until the timeline holds it: the processes store their events
	// on their own, and the scenario's order is that of the steps.
	seen := func(n int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%d events on the timeline", n), func() bool { return len(p1.apiTimeline(f.ID).Events) >= n })
	}

	alice := e.open("alice", f.ID) // through p1
	e.reply(alice.Key(), docserver.StatusEditing)
	seen(2)
	e.p = p2
	carolView := e.openWOPI(e.session("carol", f.ID, "edit"))
	if !carolView.ForcedView() {
		t.Fatal("the WOPI client on the second process got the lock of the Docs API session on the first")
	}
	carolView.Close()
	seen(4)
	alice.Edit([]byte("v2 by alice"))
	alice.Close()
	e.reply(alice.Key(), docserver.StatusMustSave)
	seen(7)
	carol := e.openWOPI(e.session("carol", f.ID, "edit"))
	if err := carol.Save([]byte("v3 by carol"), true); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"opened docs alice",
		"joined docs 1 alice",
		"opened wopi carol",
		"lock_conflict wopi LOCK carol",
		"save docs 2/saved alice",
		"ended docs",
		"left docs 2 alice",
		"opened wopi carol",
		"joined wopi LOCK carol",
		"save wopi PUT/saved carol",
		"left wopi UNLOCK carol",
		"ended wopi UNLOCK carol",
	}
	seen(len(want))
	one, two, cli := p1.apiTimeline(f.ID), p2.apiTimeline(f.ID), p1.cliTimeline(f.ID)
	wantTimeline(t, "first process", one.Events, want)
	wantTimeline(t, "second process", two.Events, want)
	wantTimeline(t, "wopibridge events", cli.Events, want)
	for i := range want {
		if a, b, c := one.Events[i], two.Events[i], cli.Events[i]; a.Seq != b.Seq || a.Seq != c.Seq || a.RequestID != b.RequestID || a.RequestID != c.RequestID {
			t.Errorf("event %d: %+v / %+v / %+v", i, a, b, c)
		}
	}
	// The steps came from both processes: their request ids carry each one's prefix.
	prefix := func(id string) string { return id[:strings.LastIndexByte(id, '-')+1] }
	docsFrom, wopiFrom := prefix(one.Events[1].RequestID), prefix(one.Events[3].RequestID)
	if docsFrom == "" || wopiFrom == "" || docsFrom == wopiFrom {
		t.Errorf("request ids %q and %q: not from two processes", one.Events[1].RequestID, one.Events[3].RequestID)
	}
}
