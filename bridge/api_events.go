package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/wopibridge/wopibridge/bridge/events"
	"github.com/wopibridge/wopibridge/bridge/session"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// A file's timeline: GET /api/v1/files/{id}/events, as JSON or, with Accept:
// text/event-stream, as Server-Sent Events that go on while the client listens.

const (
	eventsDefaultLimit = 100
	eventsMaxLimit     = 1000
	// eventsRetryMS is what the stream tells EventSource to wait before reconnecting.
	eventsRetryMS = 2000
	// eventsKeepalive keeps proxies from closing a quiet stream.
	eventsKeepalive = 15 * time.Second
	// eventsHolderPoll is how often a stream looks whether the file's holder changed
	// (it also looks after each event, and every lock taken or let go through the
	// bridge is one) ...
	eventsHolderPoll = time.Second
	// ... and eventsHolderPollUpstream how often with an upstream WOPI host, where each
	// look is a GetLock call to the host, for as long as the page stays open.
	eventsHolderPollUpstream = 15 * time.Second
)

// holderPoll is how often a stream of this server looks for a new holder.
func (s *Server) holderPoll() time.Duration {
	if _, upstream := s.store.(storage.Registrar); upstream {
		return eventsHolderPollUpstream
	}
	return eventsHolderPoll
}

// eventLog is where the API reads the timeline from: an events.Log. A Recorder that
// keeps nothing (events.Nop) shows an empty timeline.
type eventLog interface {
	List(fileID string, since uint64, limit int) ([]events.Event, error)
	Watch(ctx context.Context, fileID string, since uint64) <-chan events.Event
	DroppedFor(fileID string) uint64
}

var _ eventLog = (*events.Log)(nil)

// eventsJSON is the JSON answer.
type eventsJSON struct {
	File    string         `json:"file"`
	Holder  *events.Holder `json:"holder"`
	Dropped uint64         `json:"dropped"`
	Events  []events.Event `json:"events"`
}

// eventsQuery is a request's since and limit; sinceSet tells since=0 from no since.
type eventsQuery struct {
	since    uint64
	sinceSet bool
	limit    int
}

func parseEventsQuery(r *http.Request) (eventsQuery, error) {
	q := eventsQuery{limit: eventsDefaultLimit}
	v := r.URL.Query()
	if s, ok := v["since"]; ok {
		n, err := strconv.ParseUint(s[0], 10, 64)
		if err != nil || len(s) > 1 {
			return q, userErr(errBadRequest, "since=%q: want one whole number, the Seq of the last event seen (0 for all)", strings.Join(s, ","))
		}
		q.since, q.sinceSet = n, true
	}
	if s, ok := v["limit"]; ok {
		n, err := strconv.Atoi(s[0])
		if err != nil || len(s) > 1 || n < 1 || n > eventsMaxLimit {
			return q, userErr(errBadRequest, "limit=%q: want one whole number from 1 to %d", strings.Join(s, ","), eventsMaxLimit)
		}
		q.limit = n
	}
	return q, nil
}

// withLaunchQuery lets the launch API take its token as ?launch=, for EventSource,
// which cannot set an Authorization header.
func withLaunchQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bearer(r) == "" {
			if t := r.URL.Query().Get("launch"); t != "" {
				r = r.Clone(r.Context())
				r.Header.Set("Authorization", "Bearer "+t)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// eventsAPI authorises the events API like the rest of the launch API, and also with
// a page link for the file (?link=, see hostlink.go): with an upstream storage, the
// pages carry such a link instead of the launch token, and their script reads the
// timeline with it.
func (s *Server) eventsAPI(op string, fn apiFunc) http.Handler {
	api := withLaunchQuery(s.api(op, fn))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		link := r.URL.Query().Get("link")
		if link == "" || bearer(r) != "" || r.URL.Query().Has("launch") {
			api.ServeHTTP(w, r)
			return
		}
		ri := info(r.Context())
		ri.face, ri.op = faceAPI, op
		u, err := s.links.user(link, mux.Vars(r)["id"])
		if err == nil {
			r = r.WithContext(storage.WithUser(r.Context(), u.Sub))
			err = fn(w, r, u)
		}
		if err != nil {
			s.apiError(w, r, err)
		}
	})
}

func (s *Server) fileEvents(w http.ResponseWriter, r *http.Request, u launchUser) error {
	id := mux.Vars(r)["id"]
	info(r.Context()).fileID = id
	if u.File != "" && u.File != id {
		return userErr(errForbidden, "this launch token is for another file")
	}
	q, err := parseEventsQuery(r)
	if err != nil {
		return err
	}
	if _, err := s.store.Stat(r.Context(), id); err != nil {
		return s.launchStorageError(err, id)
	}
	if acceptsEventStream(r) {
		return s.streamEvents(w, r, id, q)
	}
	out, err := s.timeline(id, q)
	if err != nil {
		return err
	}
	if out.Holder, err = s.holder(r.Context(), id); err != nil {
		return s.launchStorageError(err, id)
	}
	return s.writeJSON(w, http.StatusOK, out)
}

// timeline is the JSON answer for file id, but for the holder.
func (s *Server) timeline(id string, q eventsQuery) (eventsJSON, error) {
	out := eventsJSON{File: id, Events: []events.Event{}}
	if l, ok := s.events.(eventLog); ok {
		evs, err := l.List(id, q.since, q.limit)
		if err != nil {
			return out, fmt.Errorf("read the events of file %s: %w", id, err)
		}
		if evs != nil {
			out.Events = evs
		}
		out.Dropped = l.DroppedFor(id)
	}
	return out, nil
}

func acceptsEventStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
				return true
			}
		}
	}
	return false
}

// holder is who holds file id now: the Docs API session whose lock it carries, or the
// WOPI client that locked it (its user and since when, from the timeline); nil when
// the file is not locked.
func (s *Server) holder(ctx context.Context, id string) (*events.Holder, error) {
	lockID, err := s.store.GetLock(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.describeHolder(id, lockID)
}

// docsHolder is the Docs API session hs as a holder: its key, first user and start.
func docsHolder(hs session.Holding) *events.Holder {
	h := &events.Holder{Style: events.StyleDocs, Session: hs.Key, Since: hs.Started}
	if len(hs.Users) > 0 {
		h.User = hs.Users[0]
	}
	return h
}

// describeHolder describes the holder of lockID on file id; nil for no lock.
func (s *Server) describeHolder(id, lockID string) (*events.Holder, error) {
	if lockID == "" {
		return nil, nil
	}
	if key, ok := strings.CutPrefix(lockID, session.LockPrefix); ok {
		hs, ok, err := s.docs.sessions.Holding(id)
		if err != nil {
			return nil, err
		}
		if !ok || hs.Key != key {
			return &events.Holder{Style: events.StyleDocs, Session: key}, nil
		}
		return docsHolder(hs), nil
	}
	h := &events.Holder{Style: events.StyleWOPI, Session: events.LockDigest(lockID)}
	if l, ok := s.events.(eventLog); ok {
		evs, err := l.List(id, 0, eventsMaxLimit)
		if err != nil {
			return h, nil // the holder is known; who and since when are not
		}
		// Newest first: the holding began at the oldest take of this lock after the
		// last time it was let go.
		for _, e := range evs {
			if e.Style != events.StyleWOPI || e.Session != h.Session {
				continue
			}
			if e.Kind == events.KindLeft || e.Kind == events.KindEnded {
				break
			}
			if e.Kind == events.KindJoined || e.Kind == events.KindLock && e.Op == "LOCK" && e.Status == http.StatusOK {
				h.Since, h.User = e.Time, e.User
			}
		}
	}
	return h, nil
}

// streamEvents answers Server-Sent Events: the holder, the stored events after since
// (or Last-Event-ID, or else the newest limit) oldest first, then each new event as
// any replica stores it and each change of holder, until the client goes or the
// server shuts down.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, id string, q eventsQuery) error {
	since, sinceSet := q.since, q.sinceSet
	if v := r.Header.Get("Last-Event-ID"); v != "" && !sinceSet {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return userErr(errBadRequest, "Last-Event-ID %q: want the Seq of an event", v)
		}
		since, sinceSet = n, true
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	lockID, err := s.store.GetLock(ctx, id)
	if err != nil {
		return s.launchStorageError(err, id)
	}
	holder, err := s.describeHolder(id, lockID)
	if err != nil {
		return err
	}
	l, _ := s.events.(eventLog)
	var history []events.Event
	if l != nil && !sinceSet {
		if history, err = l.List(id, 0, q.limit); err != nil {
			return fmt.Errorf("read the events of file %s: %w", id, err)
		}
		slices.Reverse(history)
		if n := len(history); n > 0 {
			since = history[n-1].Seq
		}
	}

	// The stream outlives any write deadline a server sets for ordinary answers.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	w.WriteHeader(http.StatusOK)

	sse := &sseWriter{w: w, rc: rc}
	sse.printf("retry: %d\n\n", eventsRetryMS)
	shown := sse.holder(holder)
	for _, e := range history {
		sse.event(e)
	}
	if !sse.flush() {
		return nil
	}
	var live <-chan events.Event
	if l != nil {
		live = l.Watch(ctx, id, since)
	}
	keepalive := time.NewTicker(eventsKeepalive)
	defer keepalive.Stop()
	poll := time.NewTicker(s.holderPoll())
	defer poll.Stop()
	// checkHolder sends the holder when it changed. Who and since when come partly from
	// the timeline, so after an event the holder is described again even when the
	// lock is the same; otherwise only a new lock is.
	checkHolder := func(afterEvent bool) {
		cur, err := s.store.GetLock(ctx, id)
		if err != nil || cur == lockID && !afterEvent {
			return
		}
		lockID = cur
		if h, err := s.describeHolder(id, cur); err == nil && !bytes.Equal(holderJSON(h), shown) {
			shown = sse.holder(h)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.streamsDone:
			return nil
		case e, ok := <-live:
			if !ok {
				return nil // the log closed: the server is stopping
			}
			sse.event(e)
			checkHolder(true)
		case <-poll.C:
			checkHolder(false)
		case <-keepalive.C:
			sse.printf(": keepalive\n\n")
		}
		if !sse.flush() {
			return nil
		}
	}
}

func holderJSON(h *events.Holder) []byte {
	b, _ := json.Marshal(h) // nil: null
	return b
}

// sseWriter writes a stream's frames; after a failed write it writes nothing more.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

func (s *sseWriter) printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

// holder sends the holder and returns its JSON.
func (s *sseWriter) holder(h *events.Holder) []byte {
	b := holderJSON(h)
	s.printf("event: holder\ndata: %s\n\n", b)
	return b
}

func (s *sseWriter) event(e events.Event) {
	b, err := json.Marshal(e) // one line: JSON strings escape every newline
	if err != nil {
		return
	}
	s.printf("id: %d\nevent: timeline\ndata: %s\n\n", e.Seq, b)
}

// flush sends what was written; false when the client is gone.
func (s *sseWriter) flush() bool {
	if s.err == nil {
		s.err = s.rc.Flush()
	}
	return s.err == nil
}

// EndStreams ends the event streams now open, so that a graceful shutdown need not
// wait for their clients (http.Server.RegisterOnShutdown). Close calls it too.
func (s *Server) EndStreams() {
	s.endStreams.Do(func() { close(s.streamsDone) })
}
