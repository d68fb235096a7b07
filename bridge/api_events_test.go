package bridge

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/bridge/events"
)

// eventsEnv is a test server whose timeline is a real Log over its state store.
func eventsEnv(t *testing.T) (*testEnv, *events.Log) {
	t.Helper()
	var l *events.Log
	e := newEnv(t, withLaunchSecret, func(o *Options) {
		l = events.NewLog(o.State, events.LogOptions{Now: o.Now, Poll: 20 * time.Millisecond})
		o.Events = l
	})
	t.Cleanup(func() { l.Close() })
	return e, l
}

// recordAll records evs and waits until the log holds them.
func recordAll(t *testing.T, l *events.Log, evs ...events.Event) {
	t.Helper()
	want := 0
	if len(evs) > 0 {
		got, err := l.List(evs[0].FileID, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		want = len(got)
	}
	for _, e := range evs {
		l.Record(e)
		want++
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := l.List(evs[0].FileID, 0, 1000)
		if err == nil && len(got) >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log holds %d events, want %d (err %v)", len(got), want, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *testEnv) launchFor(fileID string) string {
	claims := jwt.MapClaims{}
	if fileID != "" {
		claims["file"] = fileID
	}
	return e.launch(jwt.SigningMethodHS256, launchSecret, claims)
}

func TestFileEventsJSON(t *testing.T) {
	e, l := eventsEnv(t)
	id := e.file.ID
	t0 := e.clock.Now()
	recordAll(t, l,
		events.Event{FileID: id, Time: t0, Kind: events.KindOpened, Style: events.StyleWOPI, User: "u-1", Mode: "edit"},
		events.Event{FileID: id, Time: t0.Add(time.Second), Kind: events.KindJoined, Style: events.StyleDocs, User: "u-2"},
		events.Event{FileID: id, Time: t0.Add(2 * time.Second), Kind: events.KindSave, Style: events.StyleDocs, Bytes: 5, Outcome: events.OutcomeSaved},
	)
	tok := e.launchFor("")

	w := e.do(http.MethodGet, "/api/v1/files/"+id+"/events", nil, bearerHdr(tok)...)
	wantStatus(t, w, http.StatusOK)
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	body := w.Body.String()
	if !strings.Contains(body, `"holder":null`) || !strings.Contains(body, `"dropped":0`) || !strings.Contains(body, `"file":"`+id+`"`) {
		t.Errorf("body %s: want file, holder null and dropped 0", body)
	}
	got := decodeJSON[eventsJSON](t, w)
	if s := eventSeqs(got.Events); s != "3 2 1" {
		t.Errorf("seqs = %s, want 3 2 1 (newest first)", s)
	}
	if ev := got.Events[0]; ev.Kind != events.KindSave || ev.Bytes != 5 || ev.Outcome != events.OutcomeSaved || !ev.Time.Equal(t0.Add(2*time.Second)) {
		t.Errorf("newest = %+v, want the save", ev)
	}

	for _, tc := range []struct{ query, want string }{
		{"?since=1", "3 2"},
		{"?since=3", ""},
		{"?limit=1", "3"},
		{"?since=1&limit=1", "3"},
		{"?since=0&limit=1000", "3 2 1"},
	} {
		w := e.do(http.MethodGet, "/api/v1/files/"+id+"/events"+tc.query, nil, bearerHdr(tok)...)
		wantStatus(t, w, http.StatusOK)
		if s := eventSeqs(decodeJSON[eventsJSON](t, w).Events); s != tc.want {
			t.Errorf("%s: seqs = %q, want %q", tc.query, s, tc.want)
		}
		if !strings.Contains(w.Body.String(), `"events":[`) {
			t.Errorf("%s: events is not a list: %s", tc.query, w.Body)
		}
	}

	// The token as ?launch=, as EventSource sends it; it never shows in the answer.
	w = e.do(http.MethodGet, "/api/v1/files/"+id+"/events?launch="+url.QueryEscape(tok), nil)
	wantStatus(t, w, http.StatusOK)
	if s := eventSeqs(decodeJSON[eventsJSON](t, w).Events); s != "3 2 1" {
		t.Errorf("with ?launch=: seqs = %s", s)
	}
	if b := w.Body.String(); strings.Contains(b, tok) || strings.Contains(b, "eyJ") {
		t.Errorf("the answer carries a token: %s", b)
	}
	if strings.Contains(e.logs.String(), tok) {
		t.Error("the launch token was logged")
	}
}

func eventSeqs(evs []events.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, jsonString(e.Seq))
	}
	return strings.Join(s, " ")
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestFileEventsBadQuery(t *testing.T) {
	e, _ := eventsEnv(t)
	tok := e.launchFor("")
	for _, tc := range []struct{ query, param string }{
		{"since=-1", "since"},
		{"since=abc", "since"},
		{"since=", "since"},
		{"since=1&since=2", "since"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=ten", "limit"},
		{"limit=-5", "limit"},
	} {
		w := e.do(http.MethodGet, "/api/v1/files/"+e.file.ID+"/events?"+tc.query, nil, bearerHdr(tok)...)
		wantStatus(t, w, http.StatusBadRequest)
		msg := decodeJSON[struct{ Error string }](t, w).Error
		if !strings.HasPrefix(msg, tc.param+"=") {
			t.Errorf("%s: error %q does not name %s", tc.query, msg, tc.param)
		}
	}
	// A bad Last-Event-ID on the stream is refused the same way.
	w := e.do(http.MethodGet, "/api/v1/files/"+e.file.ID+"/events", nil,
		append(bearerHdr(tok), "Accept", "text/event-stream", "Last-Event-ID", "x")...)
	wantStatus(t, w, http.StatusBadRequest)
	if msg := decodeJSON[struct{ Error string }](t, w).Error; !strings.Contains(msg, "Last-Event-ID") {
		t.Errorf("error %q does not name Last-Event-ID", msg)
	}
}

func TestFileEventsAuth(t *testing.T) {
	e, _ := eventsEnv(t)
	path := "/api/v1/files/" + e.file.ID + "/events"
	wantStatus(t, e.do(http.MethodGet, path, nil), http.StatusUnauthorized)
	wantStatus(t, e.do(http.MethodGet, path+"?launch=not.a.jwt", nil), http.StatusUnauthorized)
	wantStatus(t, e.do(http.MethodGet, path, nil, bearerHdr(e.launch(jwt.SigningMethodHS256, []byte("other"), nil))...), http.StatusUnauthorized)
	wantStatus(t, e.do(http.MethodGet, path, nil, bearerHdr(e.launchFor("other-file"))...), http.StatusForbidden)
	wantStatus(t, e.do(http.MethodGet, path, nil, bearerHdr(e.launchFor(e.file.ID))...), http.StatusOK)
	wantStatus(t, e.do(http.MethodGet, "/api/v1/files/nope/events", nil, bearerHdr(e.launchFor(""))...), http.StatusNotFound)
	// The stream refuses the same way, before any event is sent.
	w := e.do(http.MethodGet, path, nil, "Accept", "text/event-stream")
	wantStatus(t, w, http.StatusUnauthorized)
	if strings.Contains(w.Body.String(), "event:") {
		t.Errorf("refused stream sent events: %s", w.Body)
	}
}

func TestFileEventsWOPIHolder(t *testing.T) {
	e, l := eventsEnv(t)
	id := e.file.ID
	const lock = "lock-secret-4711"
	since := e.clock.Now().Add(-time.Minute)
	digest := events.LockDigest(lock)
	recordAll(t, l, events.Event{FileID: id, Time: since, Kind: events.KindJoined, Style: events.StyleWOPI, User: "u-7", Session: digest})
	wantStatus(t, e.wopi(http.MethodPost, e.filePath(id), e.token, nil, "X-WOPI-Override", "LOCK", "X-WOPI-Lock", lock), http.StatusOK)

	w := e.do(http.MethodGet, "/api/v1/files/"+id+"/events", nil, bearerHdr(e.launchFor(""))...)
	wantStatus(t, w, http.StatusOK)
	got := decodeJSON[eventsJSON](t, w)
	want := events.Holder{Style: events.StyleWOPI, Session: digest, User: "u-7", Since: since}
	if got.Holder == nil || got.Holder.Style != want.Style || got.Holder.Session != want.Session || got.Holder.User != want.User || !got.Holder.Since.Equal(want.Since) {
		t.Errorf("holder = %+v, want %+v", got.Holder, want)
	}
	if strings.Contains(w.Body.String(), lock) {
		t.Errorf("the answer shows the lock itself: %s", w.Body)
	}
}

func TestEventsDroppedMetric(t *testing.T) {
	e, l := eventsEnv(t)
	if err := e.state.Close(); err != nil {
		t.Fatal(err)
	}
	l.Record(events.Event{FileID: e.file.ID, Kind: events.KindOpened})
	l.Record(events.Event{FileID: e.file.ID, Kind: events.KindOpened})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	text := e.do(http.MethodGet, "/metrics", nil).Body.String()
	for _, line := range []string{
		`wopibridge_events_dropped_total{reason="store"} 2`,
		`wopibridge_events_dropped_total{reason="queue_full"} 0`,
		`wopibridge_events_dropped_total{reason="closed"} 0`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
}

// sseFrame is one Server-Sent Event: its fields, or a comment.
type sseFrame map[string]string

// sseStream opens the stream and returns its frames as they come.
func sseStream(t *testing.T, ts *httptest.Server, path string, hdr ...string) (<-chan sseFrame, *http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	frames := make(chan sseFrame, 100)
	go func() {
		defer resp.Body.Close()
		defer close(frames)
		sc := bufio.NewScanner(resp.Body)
		f := sseFrame{}
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				frames <- f
				f = sseFrame{}
				continue
			}
			if c, ok := strings.CutPrefix(line, ":"); ok {
				f["comment"] = strings.TrimSpace(c)
				continue
			}
			k, v, _ := strings.Cut(line, ":")
			f[k] = strings.TrimPrefix(v, " ")
		}
	}()
	return frames, resp, cancel
}

func nextFrame(t *testing.T, frames <-chan sseFrame) sseFrame {
	t.Helper()
	select {
	case f, ok := <-frames:
		if !ok {
			t.Fatal("the stream ended")
		}
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame within 10s")
	}
	return nil
}

// wantTimeline reads a timeline frame and checks its id and event's Seq and kind.
func wantTimeline(t *testing.T, frames <-chan sseFrame, seq, kind string) {
	t.Helper()
	f := nextFrame(t, frames)
	var ev events.Event
	if err := json.Unmarshal([]byte(f["data"]), &ev); err != nil || f["event"] != "timeline" || f["id"] != seq || jsonString(ev.Seq) != seq || ev.Kind != kind {
		t.Fatalf("frame %v, want timeline event %s (%s)", f, seq, kind)
	}
}

func TestFileEventsStream(t *testing.T) {
	e, l := eventsEnv(t)
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close) // after the streams' cleanups: Close waits for their handlers
	id := e.file.ID
	tok := e.launchFor(id)
	recordAll(t, l,
		events.Event{FileID: id, Kind: events.KindOpened, Style: events.StyleDocs},
		events.Event{FileID: id, Kind: events.KindJoined, Style: events.StyleDocs},
	)

	frames, resp, cancel := sseStream(t, ts, "/api/v1/files/"+id+"/events?launch="+url.QueryEscape(tok))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if f := nextFrame(t, frames); f["retry"] != "2000" {
		t.Fatalf("first frame %v, want retry: 2000", f)
	}
	if f := nextFrame(t, frames); f["event"] != "holder" || f["data"] != "null" {
		t.Fatalf("second frame %v, want the holder, null", f)
	}
	wantTimeline(t, frames, "1", events.KindOpened)
	wantTimeline(t, frames, "2", events.KindJoined)

	// Recorded after connecting: it comes live.
	l.Record(events.Event{FileID: id, Kind: events.KindSave, Style: events.StyleDocs})
	wantTimeline(t, frames, "3", events.KindSave)

	// The holder changes: a WOPI client locks the file. The WOPI face puts the lock on
	// the timeline too (seq 4), before or after the holder's frame.
	const lock = "stream-lock-secret"
	wantStatus(t, e.wopi(http.MethodPost, e.filePath(id), e.token, nil, "X-WOPI-Override", "LOCK", "X-WOPI-Lock", lock), http.StatusOK)
	var holderFrame sseFrame
	sawLock := false
	for holderFrame == nil || !sawLock {
		f := nextFrame(t, frames)
		switch {
		case f["event"] == "holder" && holderFrame == nil:
			holderFrame = f
		case f["event"] == "timeline" && f["id"] == "4" && !sawLock:
			sawLock = true
		default:
			t.Fatalf("frame %v, want the WOPI holder and the lock's event 4", f)
		}
	}
	var h events.Holder
	if json.Unmarshal([]byte(holderFrame["data"]), &h) != nil || h.Style != events.StyleWOPI || h.Session != events.LockDigest(lock) {
		t.Fatalf("holder frame %v, want the WOPI holder", holderFrame)
	}
	if strings.Contains(holderFrame["data"], lock) {
		t.Errorf("the holder shows the lock itself: %s", holderFrame["data"])
	}
	cancel()

	// Reconnecting with Last-Event-ID: only what came after.
	l.Record(events.Event{FileID: id, Kind: events.KindLeft, Style: events.StyleDocs})
	frames, _, _ = sseStream(t, ts, "/api/v1/files/"+id+"/events", append(bearerHdr(tok), "Last-Event-ID", "2")...)
	nextFrame(t, frames) // retry
	if f := nextFrame(t, frames); f["event"] != "holder" || !strings.Contains(f["data"], `"style":"wopi"`) {
		t.Fatalf("frame %v, want the WOPI holder", f)
	}
	wantTimeline(t, frames, "3", events.KindSave)
	wantTimeline(t, frames, "4", events.KindJoined)
	wantTimeline(t, frames, "5", events.KindLeft)

	// since= wins over Last-Event-ID; limit bounds the history when neither is given.
	frames, _, _ = sseStream(t, ts, "/api/v1/files/"+id+"/events?since=4", append(bearerHdr(tok), "Last-Event-ID", "1")...)
	nextFrame(t, frames)
	nextFrame(t, frames)
	wantTimeline(t, frames, "5", events.KindLeft)
	frames, _, _ = sseStream(t, ts, "/api/v1/files/"+id+"/events?limit=2", bearerHdr(tok)...)
	nextFrame(t, frames)
	nextFrame(t, frames)
	wantTimeline(t, frames, "4", events.KindJoined)
	wantTimeline(t, frames, "5", events.KindLeft)

	// Shutting down ends every stream.
	e.srv.EndStreams()
	select {
	case _, ok := <-frames:
		if ok {
			t.Fatal("a frame after shutdown")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream is still open 10s after shutdown")
	}
}

func TestFileEventsDocsHolder(t *testing.T) {
	e := newResultEnv(t, "") // demo mode: the launch API acts for the demo user
	key, cb := e.open()
	holderOf := func() *events.Holder {
		t.Helper()
		w := e.do(http.MethodGet, "/api/v1/files/"+e.file.ID+"/events", nil)
		wantStatus(t, w, http.StatusOK)
		return decodeJSON[eventsJSON](t, w).Holder
	}
	if h := holderOf(); h != nil {
		t.Fatalf("holder before any editor joined: %+v", h)
	}
	wantCallback(t, e.callback(cb, jwt.MapClaims{"key": key, "status": 1, "users": []string{"u-9"}}), http.StatusOK, `{"error":0}`)
	h := holderOf()
	if h == nil || h.Style != events.StyleDocs || h.Session != key || h.User != "u-9" || !h.Since.Equal(e.clock.Now()) {
		t.Fatalf("holder = %+v, want the Docs API session %s of u-9 since %v", h, key, e.clock.Now())
	}
	wantCallback(t, e.callback(cb, jwt.MapClaims{"key": key, "status": 4}), http.StatusOK, `{"error":0}`)
	if h := holderOf(); h != nil {
		t.Fatalf("holder after the session ended: %+v", h)
	}
}
