package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wopibridge/wopibridge/bridge"
	"github.com/wopibridge/wopibridge/bridge/events"
	"github.com/wopibridge/wopibridge/e2e/docserver"
)

// The timeline page in a browser: what it draws of a file's stored events, served by the
// real events API, and what it adds from the live stream without a reload.

// startBridgeWithEvents serves a bridge in this process whose timeline is an events.Log
// over its state store; the test records events straight into it.
func startBridgeWithEvents(t *testing.T) (*bridgeUnderTest, *events.Log) {
	t.Helper()
	var log *events.Log
	b := startBridge(t, func(o *bridge.Options) {
		log = events.NewLog(o.State, events.LogOptions{})
		t.Cleanup(func() { _ = log.Close() })
		o.Events = log
	})
	return b, log
}

// storedEvents waits until the events API lists n events of file id.
func (b *bridgeUnderTest) storedEvents(t *testing.T, launch, id string, n int) {
	t.Helper()
	waitFor(t, strconv.Itoa(n)+" events stored", func() bool {
		var got struct{ Events []events.Event }
		b.apiCall(t, http.MethodGet, "/api/v1/files/"+id+"/events?limit=1000", launch, nil, http.StatusOK, &got)
		return len(got.Events) == n
	})
}

// timelineState is what the page shows, read in the browser.
type timelineState struct {
	State   string            `json:"state"`
	Holder  string            `json:"holder"`
	Count   int               `json:"count"`
	Rows    map[string]string `json:"rows"`    // seq -> the row's text
	Bad     []string          `json:"bad"`     // seqs of the rows drawn as failures
	Marks   map[string]string `json:"marks"`   // seq -> the mark's class
	Widths  map[string]int    `json:"widths"`  // seq -> a save mark's width in pixels
	Spans   []string          `json:"spans"`   // style:session, "+" when still held
	Reloads int               `json:"reloads"` // page loads since the test marked the window
}

const readTimeline = `(function () {
  var root = document.querySelector(".wb-timeline");
  var out = {state: root.dataset.state || "", holder: root.querySelector(".wb-holder").textContent,
    count: +(root.dataset.count || 0), rows: {}, bad: [], marks: {}, widths: {}, spans: [],
    reloads: window.__timelineMarked ? 0 : 1};
  root.querySelectorAll("tbody tr[data-seq]").forEach(function (tr) {
    out.rows[tr.dataset.seq] = tr.textContent;
    if (tr.classList.contains("wb-bad")) { out.bad.push(tr.dataset.seq); }
  });
  root.querySelectorAll("svg .wb-mark[data-seq]").forEach(function (m) {
    out.marks[m.dataset.seq] = m.getAttribute("class") + " fill:" + getComputedStyle(m).fill + " stroke:" + getComputedStyle(m).stroke;
    if (m.tagName === "rect") { out.widths[m.dataset.seq] = Math.round(m.getBBox().width); }
  });
  root.querySelectorAll(".wb-chart svg g.wb-span").forEach(function (g) {
    out.spans.push(g.dataset.style + ":" + g.dataset.session + (g.classList.contains("wb-open") ? "+" : ""));
  });
  return out;
})()`

func readTimelineState(t *testing.T, ctx context.Context) timelineState {
	t.Helper()
	raw := eval[json.RawMessage](t, ctx, `JSON.stringify(`+readTimeline+`)`)
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("timeline state %s: %v", raw, err)
	}
	var st timelineState
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		t.Fatalf("timeline state %s: %v", s, err)
	}
	return st
}

// waitTimeline waits until the page shows cond, logging what it showed last if it never does.
func waitTimeline(t *testing.T, ctx context.Context, what string, cond func(timelineState) bool) timelineState {
	t.Helper()
	var st timelineState
	defer func() {
		if t.Failed() {
			t.Logf("the timeline shows %+v", st)
		}
	}()
	waitFor(t, "the timeline to show "+what, func() bool {
		st = readTimelineState(t, ctx)
		return cond(st)
	})
	return st
}

const red = "rgb(207, 34, 46)"

func TestBrowserTimelineDrawsStoredEventsAndLiveOnes(t *testing.T) {
	b, log := startBridgeWithEvents(t)
	launch := launchToken(t, "alice", nil)
	var f apiFile
	b.apiCall(t, http.MethodPost, "/api/v1/files?name=report.docx", launch, strings.NewReader("hello"), http.StatusCreated, &f)

	// A Docs API session of alice and carol, which a WOPI editor (dave) finds holding the
	// file; then bob's WOPI session, which holds it now.
	base := time.Now().Add(-45 * time.Second).Truncate(time.Millisecond)
	at := func(s float64) time.Time { return base.Add(time.Duration(s * float64(time.Second))) }
	key := "K1a2b3c4d5e6f7"
	lock := "bob's WOPI lock"
	digest := events.LockDigest(lock)
	docsHolder := &events.Holder{Style: events.StyleDocs, Session: key, User: "alice", Since: at(1)}
	fixture := []events.Event{
		{Time: at(0), Kind: events.KindOpened, Style: events.StyleDocs, User: "alice", UserName: "Alice Doe", Mode: "edit"},
		{Time: at(1), Kind: events.KindJoined, Style: events.StyleDocs, User: "alice", Session: key, Op: "1"},
		{Time: at(3), Kind: events.KindJoined, Style: events.StyleDocs, User: "carol", Session: key, Op: "1"},
		{Time: at(5), Kind: events.KindOpened, Style: events.StyleWOPI, User: "dave", Mode: "view", Reason: events.ReasonLocked, Holder: docsHolder},
		{Time: at(5.3), Kind: events.KindLockConflict, Style: events.StyleWOPI, User: "dave", Op: "LOCK", Status: 409, Holder: docsHolder},
		{Time: at(8), Kind: events.KindForcesave, Style: events.StyleDocs, User: "alice", Session: key, Outcome: "requested", Status: 0},
		{Time: at(10), Kind: events.KindSave, Style: events.StyleDocs, User: "alice", Session: key, Bytes: 48213, VersionBefore: "v1", VersionAfter: "v2", DurationMS: 4000, Outcome: events.OutcomeSaved, RequestID: "req-7"},
		{Time: at(14), Kind: events.KindSave, Style: events.StyleDocs, User: "alice", Session: key, Bytes: 48300, DurationMS: 400, Outcome: events.OutcomeRefused, Reason: "the lock was lost"},
		{Time: at(16), Kind: events.KindLeft, Style: events.StyleDocs, User: "carol", Session: key},
		{Time: at(18), Kind: events.KindLeft, Style: events.StyleDocs, User: "alice", Session: key},
		{Time: at(18.5), Kind: events.KindEnded, Style: events.StyleDocs, Session: key},
		{Time: at(22), Kind: events.KindOpened, Style: events.StyleWOPI, User: "bob", Mode: "edit"},
		{Time: at(22.5), Kind: events.KindJoined, Style: events.StyleWOPI, User: "bob", Session: digest, Op: "LOCK", Status: 200},
		{Time: at(30), Kind: events.KindSave, Style: events.StyleWOPI, User: "bob", Session: digest, Bytes: 50000, VersionBefore: "v2", VersionAfter: "v3", DurationMS: 800, Outcome: events.OutcomeSaved},
	}
	for _, e := range fixture {
		e.FileID = f.ID
		log.Record(e)
	}
	b.storedEvents(t, launch, f.ID, len(fixture))
	if _, err := b.Storage.Lock(context.Background(), f.ID, lock); err != nil {
		t.Fatal(err)
	}

	ctx := newBrowser(t)
	inBrowser(t, ctx, "open the timeline page",
		chromedp.Navigate(pageURL(b.URL, "/files/"+f.ID+"/timeline", url.Values{"launch": {launch}})))
	inBrowser(t, ctx, "mark the window", chromedp.Evaluate[chromedp.Void](`window.__timelineMarked = true`))
	st := waitTimeline(t, ctx, "the stored events, live", func(s timelineState) bool {
		return s.State == "live" && s.Count == len(fixture)
	})

	// The line on top: bob holds the file in WOPI style, since his LOCK.
	if want := "Held by bob (WOPI, session " + digest + ") since "; !strings.HasPrefix(st.Holder, want) {
		t.Errorf("holder line %q, want it to start with %q", st.Holder, want)
	}
	// One row per event, newest first; dave's read-only open says why.
	if len(st.Rows) != len(fixture) {
		t.Errorf("%d rows, want %d", len(st.Rows), len(fixture))
	}
	for seq, want := range map[string][]string{
		"4":  {"WOPI", "opened read-only", "dave", "held by alice (Docs API, session K1a2b3c4d5e6f7) since "},
		"5":  {"lock conflict", "status 409"},
		"7":  {"save saved", "47 KB", "took 4.00 s", "version v1 → v2", "request req-7"},
		"8":  {"save refused", "the lock was lost"},
		"13": {"WOPI", "joined", "bob"},
	} {
		for _, w := range want {
			if !strings.Contains(st.Rows[seq], w) {
				t.Errorf("row %s = %q: lacks %q", seq, st.Rows[seq], w)
			}
		}
	}
	if got := strings.Join(st.Bad, ","); got != "8,5" {
		t.Errorf("rows drawn as failures: %s, want 8,5 (the refused save, the lock conflict)", got)
	}
	// Every event has its mark; failures in red.
	if len(st.Marks) != len(fixture) {
		t.Errorf("%d marks, want %d: %v", len(st.Marks), len(fixture), st.Marks)
	}
	if m := st.Marks["8"]; !strings.Contains(m, "fill:"+red) {
		t.Errorf("the refused save's mark: %s, want fill %s", m, red)
	}
	if m := st.Marks["5"]; !strings.Contains(m, "stroke:"+red) {
		t.Errorf("the lock conflict's mark: %s, want stroke %s", m, red)
	}
	if m := st.Marks["7"]; strings.Contains(m, red) {
		t.Errorf("a good save drawn in red: %s", m)
	}
	// Saves are as wide as they took: 4 s against 0.4 s.
	if long, short := st.Widths["7"], st.Widths["8"]; long < 5*short || short < 5 {
		t.Errorf("save widths %d px (4 s) and %d px (0.4 s)", long, short)
	}
	// Lock spans: the Docs API session, ended; bob's WOPI lock, still held.
	if got, want := strings.Join(st.Spans, " "), "docs:"+key+" wopi:"+digest+"+"; got != want {
		t.Errorf("lock spans %q, want %q", got, want)
	}
	screenshot(t, ctx, "timeline")

	// Live: a save while the page is open appears without a reload, and so does the
	// file becoming free.
	log.Record(events.Event{FileID: f.ID, Kind: events.KindSave, Style: events.StyleWOPI, User: "bob", Session: digest, Bytes: 50100, DurationMS: 1200, Outcome: events.OutcomeSpooled})
	next := strconv.Itoa(len(fixture) + 1)
	st = waitTimeline(t, ctx, "the new save", func(s timelineState) bool { return s.Marks[next] != "" && s.Rows[next] != "" })
	if !strings.Contains(st.Rows[next], "save spooled") || !strings.Contains(st.Marks[next], "wb-outcome-spooled") {
		t.Errorf("new save: row %q, mark %q", st.Rows[next], st.Marks[next])
	}
	if _, err := b.Storage.Unlock(context.Background(), f.ID, lock); err != nil {
		t.Fatal(err)
	}
	// The holder line changes at once, the drawing on its next turn: bob's span ends.
	st = waitTimeline(t, ctx, "the file free, bob's span ended", func(s timelineState) bool {
		return strings.HasPrefix(s.Holder, "Free") && strings.Join(s.Spans, " ") == "docs:"+key+" wopi:"+digest
	})
	if st.Reloads != 0 {
		t.Error("the page reloaded")
	}
	screenshot(t, ctx, "timeline-live")
}

// rowWith is the seq of the first row (oldest first) whose text holds every one of parts.
func (s timelineState) rowWith(parts ...string) string {
	for seq := 1; seq <= len(s.Rows)+64; seq++ {
		row, ok := s.Rows[strconv.Itoa(seq)]
		if !ok {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(row, p)
		}
		if all {
			return strconv.Itoa(seq)
		}
	}
	return ""
}

// The timeline page of a real run: a Docs API session with the DS simulator, a WOPI
// editor that finds the file held and opens read-only, then DS saving while the page is
// open.
func TestBrowserTimelinePageOfARun(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("run.docx", "v1")
	ed := e.open("alice", f.ID)
	e.reply(ed.Key(), docserver.StatusEditing)
	view := e.openWOPI(e.session("bob", f.ID, "edit"))
	if view.Mode() != "view" {
		t.Fatalf("the WOPI editor opened in %s mode while the Docs API session holds the file", view.Mode())
	}
	key := ed.Key()
	short := key[:18] + "…"

	ctx := newBrowser(t)
	inBrowser(t, ctx, "open the timeline page",
		chromedp.Navigate(pageURL(e.p.URL, "/files/"+f.ID+"/timeline", url.Values{"launch": {launchToken(t, "owner", nil)}})),
		chromedp.Evaluate[chromedp.Void](`window.__timelineMarked = true`))
	st := waitTimeline(t, ctx, "the run so far, live", func(s timelineState) bool {
		return s.State == "live" && s.rowWith("WOPI", "lock conflict") != ""
	})
	if want := "Held by alice (Docs API, session " + short + ") since "; !strings.HasPrefix(st.Holder, want) {
		t.Errorf("holder line %q, want it to start with %q", st.Holder, want)
	}
	for _, row := range [][]string{
		{"Docs API", "opened for editing", "alice"},
		{"Docs API", "joined", "alice", "DS status 1"},
		{"WOPI", "opened", "bob"},
	} {
		if st.rowWith(row...) == "" {
			t.Errorf("no row with %q in %v", row, st.Rows)
		}
	}
	conflict := st.rowWith("WOPI", "lock conflict", "bob", "held by alice (Docs API, session "+short+")")
	if conflict == "" || !slices.Contains(st.Bad, conflict) || !strings.Contains(st.Marks[conflict], "stroke:"+red) {
		t.Errorf("the lock conflict: row %q of %v, drawn %q; want it in red and naming alice's session", conflict, st.Rows, st.Marks[conflict])
	}
	if got := strings.Join(st.Spans, " "); got != "docs:"+key+"+" {
		t.Errorf("lock spans %q, want alice's session, still held", got)
	}
	screenshot(t, ctx, "timeline-run")

	// DS saves while the page is open: a forcesave, then the save when alice closes.
	ed.Edit([]byte("v2"))
	if err := ed.Forcesave(); err != nil {
		t.Fatal(err)
	}
	e.reply(key, docserver.StatusForceSave)
	st = waitTimeline(t, ctx, "the forcesave's save", func(s timelineState) bool {
		return s.rowWith("Docs API", "save saved", "DS status 6") != ""
	})
	if seq := st.rowWith("save saved", "DS status 6"); !strings.Contains(st.Marks[seq], "wb-outcome-saved") || st.Widths[seq] < 5 {
		t.Errorf("the forcesave's mark: %q, %d px wide", st.Marks[seq], st.Widths[seq])
	}
	ed.Edit([]byte("v3"))
	ed.Close()
	e.reply(key, docserver.StatusMustSave)
	st = waitTimeline(t, ctx, "the closing save, the session's end and the file free", func(s timelineState) bool {
		return s.rowWith("save saved", "DS status 2") != "" && s.rowWith("Docs API", "session ended") != "" &&
			strings.HasPrefix(s.Holder, "Free") && strings.Join(s.Spans, " ") == "docs:"+key
	})
	if st.Reloads != 0 {
		t.Error("the page reloaded")
	}
	screenshot(t, ctx, "timeline-run-live")
}

// A timeline of hours can be narrowed to its last stretch; the table keeps every event.
func TestBrowserTimelineRange(t *testing.T) {
	b, log := startBridgeWithEvents(t)
	launch := launchToken(t, "alice", nil)
	var f apiFile
	b.apiCall(t, http.MethodPost, "/api/v1/files?name=long.docx", launch, strings.NewReader("hello"), http.StatusCreated, &f)
	log.Record(events.Event{FileID: f.ID, Time: time.Now().Add(-2 * time.Hour), Kind: events.KindOpened, Style: events.StyleDocs, User: "alice", Mode: "edit"})
	log.Record(events.Event{FileID: f.ID, Kind: events.KindSave, Style: events.StyleWOPI, User: "bob", DurationMS: 300, Outcome: events.OutcomeSaved})
	b.storedEvents(t, launch, f.ID, 2)

	ctx := newBrowser(t)
	inBrowser(t, ctx, "open the timeline page",
		chromedp.Navigate(pageURL(b.URL, "/files/"+f.ID+"/timeline", url.Values{"launch": {launch}})))
	st := waitTimeline(t, ctx, "both events", func(s timelineState) bool { return s.State == "live" && len(s.Marks) == 2 })
	shown := func() string { return eval[string](t, ctx, `document.querySelector(".wb-timeline").dataset.shown`) }
	if got := shown(); got != "2" {
		t.Errorf("data-shown = %s with the whole range", got)
	}
	inBrowser(t, ctx, "show the last 15 minutes", chromedp.Click(chromedp.CSS(`.wb-range button[data-range="900000"]`)))
	st = waitTimeline(t, ctx, "the last 15 minutes", func(s timelineState) bool { return len(s.Marks) == 1 })
	if st.Marks["2"] == "" || len(st.Rows) != 2 || shown() != "1" {
		t.Errorf("last 15 minutes: marks %v, %d rows, data-shown %s; want the save only, both rows", st.Marks, len(st.Rows), shown())
	}
	inBrowser(t, ctx, "show everything again", chromedp.Click(chromedp.CSS(`.wb-range button[data-range="0"]`)))
	waitTimeline(t, ctx, "both events again", func(s timelineState) bool { return len(s.Marks) == 2 })
}
