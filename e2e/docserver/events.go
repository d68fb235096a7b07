package docserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// EventType says what an Event records.
type EventType string

const (
	// Request: the server sent a request (a callback, a download, a WOPI call).
	Request EventType = "request"
	// Reply: the server got the answer to a Request, or a transport error.
	Reply EventType = "reply"
	// Served: the server answered a request made to it.
	Served EventType = "served"
	// Forgotten: a save result could not be delivered and is kept in the forgotten store.
	Forgotten EventType = "forgotten"
	// ViewFallback: a WOPI LOCK failed and the session was reopened in view mode.
	ViewFallback EventType = "view-fallback"
	// Connected: an editor joined a document (Detail: the WOPI session id,
	// or the user id in Docs API mode).
	Connected EventType = "editor-connected"
	// EditorConfig: api.js was given a config by a page (DocsAPI.DocEditor).
	EditorConfig EventType = "editor-config"
	// Abandoned: a WOPI host page was rendered (and the file LOCKed) but its
	// editor never connected (Detail: the WOPI session id).
	Abandoned EventType = "open-abandoned"
	// Dropped: the command service's drop disconnected an editor (Detail:
	// the user id).
	Dropped EventType = "editor-dropped"
)

// Op names the protocol operation behind a Request or Reply.
type Op string

const (
	OpCallback        Op = "callback"         // POST callbackUrl
	OpDownload        Op = "download"         // GET document.url
	OpConvertDownload Op = "convert-download" // GET url of a ConvertService request
	OpCheckFileInfo   Op = "CheckFileInfo"
	OpGetFile         Op = "GetFile"
	OpFileURL         Op = "FileUrl" // GET of CheckFileInfo FileUrl or TemplateSource
	OpPutFile         Op = "PutFile"
	OpLock            Op = "LOCK"
	OpRefreshLock     Op = "REFRESH_LOCK"
	OpUnlock          Op = "UNLOCK"
)

// HeaderField is one header line, with the name in wire case.
type HeaderField struct {
	Name, Value string
}

// RequestInfo is a request as it went over the wire. For requests the
// server sent, Header is in wire order and case; for requests it served,
// Header is sorted by name.
type RequestInfo struct {
	Method string
	URL    string
	Header []HeaderField
	Body   []byte
}

// Get returns the first value of the named header, case-insensitively.
func (r *RequestInfo) Get(name string) string {
	v, _ := r.Lookup(name)
	return v
}

// Lookup returns the first value of the named header and whether it was present.
func (r *RequestInfo) Lookup(name string) (string, bool) {
	if r == nil {
		return "", false
	}
	for _, h := range r.Header {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// Names returns the header names in order.
func (r *RequestInfo) Names() []string {
	out := make([]string, len(r.Header))
	for i, h := range r.Header {
		out[i] = h.Name
	}
	return out
}

// ReplyInfo is an HTTP answer.
type ReplyInfo struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Event is one entry of the server's log.
type Event struct {
	Seq     int
	Time    time.Time
	Type    EventType
	Op      Op
	Key     string // document key, when known
	Status  int    // callback status, for OpCallback
	Attempt int    // 1-based attempt number, for retried operations
	Request *RequestInfo
	Reply   *ReplyInfo // nil on a transport error
	Err     string     // transport or protocol error
	Detail  string
}

// Decode unmarshals the JSON body of the event's request into v.
func (e Event) Decode(v any) error {
	if e.Request == nil {
		return json.Unmarshal(nil, v)
	}
	return json.Unmarshal(e.Request.Body, v)
}

// OK reports whether a Reply event carries a 2xx answer.
func (e Event) OK() bool {
	return e.Reply != nil && e.Reply.StatusCode >= 200 && e.Reply.StatusCode < 300
}

// eventLog is an append-only log with a broadcast on every append.
type eventLog struct {
	mu      sync.Mutex
	events  []Event
	changed chan struct{}
}

func (l *eventLog) add(e Event) Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Seq = len(l.events) + 1
	l.events = append(l.events, e)
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	return e
}

func (l *eventLog) snapshot() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// waitN returns once n events match pred, in log order.
func (l *eventLog) waitN(ctx context.Context, n int, pred func(Event) bool) ([]Event, error) {
	for {
		l.mu.Lock()
		var got []Event
		for _, e := range l.events {
			if pred(e) {
				got = append(got, e)
				if len(got) == n {
					l.mu.Unlock()
					return got, nil
				}
			}
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return got, ctx.Err()
		}
	}
}

// Events returns a copy of the log.
func (s *Server) Events() []Event { return s.log.snapshot() }

// Find returns the logged events that match pred.
func (s *Server) Find(pred func(Event) bool) []Event {
	var out []Event
	for _, e := range s.log.snapshot() {
		if pred(e) {
			out = append(out, e)
		}
	}
	return out
}

// WaitFor blocks until an event matching pred is in the log (it may already
// be) and returns the first such event.
func (s *Server) WaitFor(ctx context.Context, pred func(Event) bool) (Event, error) {
	got, err := s.log.waitN(ctx, 1, pred)
	if err != nil {
		return Event{}, err
	}
	return got[0], nil
}

// WaitForN blocks until n events match pred and returns the first n of them.
// On a timeout it returns the matches so far with the context's error.
func (s *Server) WaitForN(ctx context.Context, n int, pred func(Event) bool) ([]Event, error) {
	return s.log.waitN(ctx, n, pred)
}

// Match builds a predicate over the common fields; zero fields match anything.
type Match struct {
	Type   EventType
	Op     Op
	Key    string
	Status int
}

// Fn returns the predicate.
func (m Match) Fn() func(Event) bool {
	return func(e Event) bool {
		return (m.Type == "" || e.Type == m.Type) &&
			(m.Op == "" || e.Op == m.Op) &&
			(m.Key == "" || e.Key == m.Key) &&
			(m.Status == 0 || e.Status == m.Status)
	}
}
