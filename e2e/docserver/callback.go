package docserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Callback statuses.
const (
	StatusEditing        = 1
	StatusMustSave       = 2
	StatusCorrupted      = 3
	StatusClosed         = 4
	StatusForceSave      = 6
	StatusForceSaveError = 7
)

// Forcesave types.
const (
	ForceSaveCommand = 0
	ForceSaveButton  = 1
	ForceSaveTimer   = 2
)

// User actions in callbacks.
const (
	ActionOut       = 0
	ActionIn        = 1
	ActionForceSave = 2
)

type action struct {
	Type   int    `json:"type"`
	UserID string `json:"userid"`
}

type historyUser struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type historyChange struct {
	DocumentSha256 string      `json:"documentSha256"`
	Created        string      `json:"created"`
	User           historyUser `json:"user"`
}

type history struct {
	ServerVersion string          `json:"serverVersion,omitempty"`
	Changes       []historyChange `json:"changes,omitempty"`
}

// callbackBody is DS's OutputSfcData: fields in its declaration order,
// undefined ones left out; filetype is added after the constructor, so it
// follows token.
type callbackBody struct {
	Key           string    `json:"key"`
	Status        int       `json:"status"`
	URL           string    `json:"url,omitempty"`
	ChangesURL    string    `json:"changesurl,omitempty"`
	History       *history  `json:"history,omitempty"`
	Users         *[]string `json:"users,omitempty"`
	Actions       []action  `json:"actions,omitempty"`
	UserData      any       `json:"userdata,omitempty"`
	LastSave      string    `json:"lastsave,omitempty"`
	NotModified   *bool     `json:"notmodified,omitempty"`
	ForceSaveType *int      `json:"forcesavetype,omitempty"`
	Token         string    `json:"token,omitempty"`
	FileType      string    `json:"filetype,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// callbackRequest builds the POST DS sends to a callback URL. With JWT on it
// carries both forms, signed from the same data: the header token
// {payload: body} and the flat body `token` (sendServerRequest).
func (s *Server) callbackRequest(url string, body callbackBody, attempt int) outbound {
	body.Token = ""
	plain := jsonCompact(body)
	header := []HeaderField{
		{"Accept", hdrAccept},
		{"Content-Type", "application/json"},
		{"User-Agent", hdrUserAgent},
		{"Connection", hdrConnection},
	}
	if s.jwtOn() {
		header = append(header, HeaderField{s.opts.JWTHeader, bearerPrefix + s.headerToken(plain)})
		body.Token = s.bodyToken(plain)
	}
	header = append(header,
		HeaderField{"Content-Length", ""},
		HeaderField{"Accept-Encoding", hdrAcceptEncoding},
		HeaderField{"Host", ""},
	)
	return outbound{
		op: OpCallback, key: body.Key, status: body.Status, attempt: attempt,
		method: "POST", url: url, header: header, body: jsonCompact(body),
		timeout: s.opts.CallbackTimeout, limit: 1 << 20,
		filtered: !s.jwtOn(), callback: true,
	}
}

// sendCallback makes one attempt.
func (s *Server) sendCallback(ctx context.Context, url string, body callbackBody, attempt int) exchange {
	return s.sendHeld(ctx, url, body, attempt, s.holdCallback())
}

// sendHeld makes one attempt, first waiting for its release when h is a
// held callback (DeliverOutOfOrder).
func (s *Server) sendHeld(ctx context.Context, url string, body callbackBody, attempt int, h *heldCallback) exchange {
	if h != nil {
		select {
		case <-h.release:
		case <-ctx.Done():
			h.markWritten()
			return exchange{err: ctx.Err()}
		}
		ctx = context.WithValue(ctx, wroteKey{}, h.markWritten)
		defer h.markWritten()
	}
	return s.do(ctx, s.callbackRequest(url, body, attempt))
}

// callbackVerdict reads a callback answer as DS does: only HTTP 200 or 204
// with a JSON body whose error is loosely == 0 is a success; 429, 5xx and
// network errors or timeouts may be retried; anything else is final.
func callbackVerdict(x exchange) (ok, retryable bool, why string) {
	if x.reply == nil || x.err != nil {
		return false, true, fmt.Sprintf("network error: %v", x.err)
	}
	code := x.reply.StatusCode
	if code == 429 || code >= 500 && code <= 599 {
		return false, true, fmt.Sprintf("HTTP %d", code)
	}
	if code != 200 && code != 204 {
		return false, false, fmt.Sprintf("HTTP %d", code)
	}
	var reply map[string]any
	if err := json.Unmarshal(x.reply.Body, &reply); err != nil {
		return false, false, fmt.Sprintf("reply is not a JSON object: %q", truncate(x.reply.Body))
	}
	if !looseZero(reply["error"]) {
		return false, false, fmt.Sprintf("reply error %v", reply["error"])
	}
	return true, false, ""
}

// looseZero is JavaScript's `v == 0`.
func looseZero(v any) bool {
	switch v := v.(type) {
	case float64:
		return v == 0
	case bool:
		return !v
	case string:
		t := strings.TrimSpace(v)
		if t == "" {
			return true
		}
		f, err := strconv.ParseFloat(t, 64)
		return err == nil && f == 0
	}
	return false
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// deliverSave sends a status 2 or 3 callback with DS's backoff: retried
// 1, 2, 4 × RetryBase later on a network error, a timeout, 429 or 5xx, so
// at most 4 tries; any other failure is final. It returns whether DS got
// {"error":0} and why not.
func (s *Server) deliverSave(url string, body callbackBody) (bool, string, int) {
	const maxAttempts = 4
	var why string
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		x := s.sendCallback(s.ctx, url, body, attempt)
		ok, retryable, reason := callbackVerdict(x)
		if ok {
			return true, "", attempt
		}
		why = reason
		if !retryable || attempt == maxAttempts {
			return false, why, attempt
		}
		if !s.sleep(s.opts.RetryBase * time.Duration(1<<(attempt-1))) {
			return false, "server closed", attempt
		}
	}
	return false, why, maxAttempts
}
