package docsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// CallbackStatus is the status of a callback DS posts to callbackUrl.
type CallbackStatus int

// Callback statuses. 5 (mail merge) is internal to DS and never reaches a
// callbackUrl.
const (
	StatusEditing         CallbackStatus = 1 // editors joined or left
	StatusMustSave        CallbackStatus = 2 // session over with changes: save url
	StatusSaveError       CallbackStatus = 3 // session over, saving failed (url present if corrupted)
	StatusClosedUnchanged CallbackStatus = 4 // session over, no changes
	StatusForcesaved      CallbackStatus = 6 // session goes on, current state at url
	StatusForcesaveError  CallbackStatus = 7 // forcesave failed
)

// Known reports whether s is a status DS sends to a callbackUrl.
func (s CallbackStatus) Known() bool {
	switch s {
	case StatusEditing, StatusMustSave, StatusSaveError, StatusClosedUnchanged,
		StatusForcesaved, StatusForcesaveError:
		return true
	}
	return false
}

func (s CallbackStatus) String() string {
	switch s {
	case StatusEditing:
		return "editing"
	case StatusMustSave:
		return "must save"
	case StatusSaveError:
		return "save error"
	case StatusClosedUnchanged:
		return "closed unchanged"
	case StatusForcesaved:
		return "forcesaved"
	case StatusForcesaveError:
		return "forcesave error"
	}
	return "status " + strconv.Itoa(int(s))
}

// ActionType is Action.Type.
type ActionType int

// Action types.
const (
	ActionLeft      ActionType = 0 // user disconnected
	ActionJoined    ActionType = 1 // user connected
	ActionForcesave ActionType = 2 // user pressed Save (or submitted a form)
)

func (a ActionType) String() string {
	switch a {
	case ActionLeft:
		return "left"
	case ActionJoined:
		return "joined"
	case ActionForcesave:
		return "forcesave"
	}
	return "action " + strconv.Itoa(int(a))
}

// ForcesaveType is Callback.ForcesaveType: what started a forcesave.
type ForcesaveType int

// Forcesave types.
const (
	ForcesaveCommand ForcesaveType = 0 // command service "forcesave"
	ForcesaveButton  ForcesaveType = 1 // Save button (customization.forcesave)
	ForcesaveTimer   ForcesaveType = 2 // DS autoAssembly timer
	ForcesaveForm    ForcesaveType = 3 // form submitted
)

func (f ForcesaveType) String() string {
	switch f {
	case ForcesaveCommand:
		return "command"
	case ForcesaveButton:
		return "button"
	case ForcesaveTimer:
		return "timer"
	case ForcesaveForm:
		return "form"
	}
	return "forcesave type " + strconv.Itoa(int(f))
}

// Callback is the body of a DS callback. Fields DS leaves out are zero.
type Callback struct {
	Key         string          `json:"key"`
	Status      CallbackStatus  `json:"status"`
	URL         string          `json:"url,omitempty"`        // result file, on DS's cache (2, 6; 3 if corrupted)
	ChangesURL  string          `json:"changesurl,omitempty"` // zip of changes
	History     json.RawMessage `json:"history,omitempty"`    // see ParseHistory; kept raw so its shape never blocks a save
	Users       []string        `json:"users,omitempty"`
	Actions     []Action        `json:"actions,omitempty"`
	UserData    string          `json:"userdata,omitempty"`
	LastSave    string          `json:"lastsave,omitempty"` // ISO 8601; see LastSaveTime
	NotModified bool            `json:"notmodified,omitempty"`
	// ForcesaveType is set on status 6 and 7 only; 0 is meaningful.
	ForcesaveType *ForcesaveType `json:"forcesavetype,omitempty"`
	FileType      string         `json:"filetype,omitempty"` // extension of URL, without the dot
	FormsDataURL  string         `json:"formsdataurl,omitempty"`
	Encrypted     bool           `json:"encrypted,omitempty"`
	// Token is the body token, for encoding a callback as DS sends it.
	// ParseCallback never fills it in, so a parsed callback is safe to log.
	Token string `json:"token,omitempty"`
}

// Action is one element of Callback.Actions.
type Action struct {
	Type   ActionType `json:"type"`
	UserID string     `json:"userid"`
}

// History is Callback.History as DS sends it on status 2 and 3.
type History struct {
	ServerVersion string          `json:"serverVersion"`
	Changes       []HistoryChange `json:"changes"`
}

// HistoryChange is one change in History.
type HistoryChange struct {
	DocumentSHA256 string `json:"documentSha256"`
	Created        string `json:"created"` // "YYYY-MM-DD HH:MM:SS", UTC
	User           struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"user"`
}

// ParseHistory decodes History; it returns nil, nil when there is none.
func (c *Callback) ParseHistory() (*History, error) {
	if len(c.History) == 0 || string(c.History) == "null" {
		return nil, nil
	}
	var h History
	if err := json.Unmarshal(c.History, &h); err != nil {
		return nil, fmt.Errorf("docsapi: callback history: %w", err)
	}
	return &h, nil
}

// LastSaveTime parses LastSave; it returns the zero time when there is none.
func (c *Callback) LastSaveTime() (time.Time, error) {
	if c.LastSave == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, c.LastSave)
	if err != nil {
		return time.Time{}, fmt.Errorf("docsapi: callback lastsave: %w", err)
	}
	return t, nil
}

// Callback errors. Token problems are reported with the token errors
// (ErrNoToken, ErrBadToken ...).
var (
	ErrBadCallback      = errors.New("docsapi: malformed callback")
	ErrCallbackTooLarge = fmt.Errorf("%w: body too large", ErrBadCallback)
)

// DefaultMaxCallbackBytes bounds a callback body when ParseCallback is given
// no limit. Bodies carry the history twice (plain and in the token).
const DefaultMaxCallbackBytes = 4 << 20

// ParseCallback reads a DS callback body from r. header is the value of the
// configured JWT header (empty if absent); maxBytes bounds the body
// (DefaultMaxCallbackBytes if ≤ 0).
//
// With a secret, only signed data is used: the claims of the body token
// (flat, as DS signs them, with any nested payload merged over them) when
// the body has one, else the payload of the header token. The
// plain body fields are ignored, whatever they say. A request with no
// token is refused with ErrNoToken, and a bad body token is not replaced
// by the header token. DS drops changesurl and history from the header
// token when it grows large, never from the body token.
//
// Without a secret, the plain body is used and tokens are ignored.
//
// The result always has a Key and a non-zero Status.
func ParseCallback(r io.Reader, header string, secret []byte, maxBytes int64) (*Callback, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxCallbackBytes
	}
	body, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("docsapi: read callback: %w", err)
	}
	if int64(len(body)) > maxBytes {
		return nil, ErrCallbackTooLarge
	}

	if !isObject(body) {
		return nil, fmt.Errorf("%w: body is not a JSON object", ErrBadCallback)
	}

	var cb *Callback
	if len(secret) > 0 {
		// Only the token is read from the body: plain fields can neither
		// supply data nor make a signed callback fail.
		var t struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(body, &t); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadCallback, err)
		}
		if cb, err = signedCallback(t.Token, header, secret); err != nil {
			return nil, err
		}
	} else {
		cb = new(Callback)
		if err := json.Unmarshal(body, cb); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadCallback, err)
		}
	}
	cb.Token = ""

	if cb.Key == "" || cb.Status == 0 {
		return nil, fmt.Errorf("%w: key and status are required", ErrBadCallback)
	}
	return cb, nil
}

func signedCallback(bodyToken, header string, secret []byte) (*Callback, error) {
	var claims json.RawMessage
	var err error
	switch {
	case bodyToken != "":
		claims, err = VerifyBody(bodyToken, secret)
	case header != "":
		claims, err = VerifyHeader(header, secret)
	default:
		return nil, ErrNoToken
	}
	if err != nil {
		return nil, err
	}
	var cb Callback
	if err := json.Unmarshal(claims, &cb); err != nil {
		return nil, fmt.Errorf("%w: signed claims: %w", ErrBadCallback, err)
	}
	// DS signs body tokens flat, but merges a nested payload over the flat
	// claims of the tokens it receives; a body token shaped like a header
	// token is read the same way.
	var nested struct {
		Payload json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(claims, &nested) == nil && isObject(nested.Payload) {
		if err := json.Unmarshal(nested.Payload, &cb); err != nil {
			return nil, fmt.Errorf("%w: signed claims: %w", ErrBadCallback, err)
		}
	}
	return &cb, nil
}
