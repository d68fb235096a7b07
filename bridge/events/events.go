// Package events is the per-document timeline: every step of either style that touches
// a file (opens, editors joining and leaving, locks, saves, refusals, session ends) as
// an Event. The faces report events through a Recorder; this package owns the event
// type, its storage in the state store and its live stream.
//
// An event never carries a token, a JWT, a proof or a lock's secret part: the faces put
// in it what a person reading the timeline needs (who, what, when, how it ended), and
// nothing that would let a reader act for someone.
package events

import "time"

// Styles.
const (
	StyleDocs = "docs" // the Docs API face (DS editor config, callbacks, downloads)
	StyleWOPI = "wopi" // the WOPI face (CheckFileInfo, locks, PutFile)
)

// Kinds of events.
const (
	KindOpened       = "opened"        // an editor was given the file: Style, User, Mode, Reason (view mode)
	KindJoined       = "joined"        // an editor joined: DS status 1 user, or a WOPI Lock
	KindLeft         = "left"          // an editor left: DS status 1/4 action, or a WOPI Unlock
	KindLock         = "lock"          // WOPI Lock / RefreshLock / Unlock / GetLock answers: Op, Status
	KindLockConflict = "lock_conflict" // a lock was refused because another session holds the file: Holder
	KindSave         = "save"          // a save: Bytes, VersionBefore/After, DurationMS, Outcome, ConflictCopy
	KindForcesave    = "forcesave"     // a forcesave request and DS's answer: Status, Outcome
	KindRefused      = "refused"       // a callback or proof refused for the file: Reason, Status
	KindEnded        = "ended"         // a session ended (DS status 2/4, last WOPI Unlock)
	KindKeyChanged   = "key_changed"   // the file's document key changed: Session (old), NewSession
)

// Reasons an open was in view mode.
const (
	ReasonLocked      = "locked"        // another session holds the file: Holder says which
	ReasonNoEditRight = "no_edit_right" // the user may not edit this file
	ReasonViewAction  = "view_action"   // the view action or mode was asked for
)

// Save outcomes.
const (
	OutcomeSaved     = "saved"     // the bytes are in storage
	OutcomeSpooled   = "spooled"   // storage refused or was down: the bytes wait in the state store
	OutcomeReplayed  = "replayed"  // a waiting save reached storage
	OutcomeConflict  = "conflict"  // written to a conflict copy (ConflictCopy names it)
	OutcomeRepeated  = "repeated"  // DS sent a save already written: nothing written again
	OutcomeRefused   = "refused"   // the save was refused (bad callback, lost lock, too large)
	OutcomeRecovered = "recovered" // moved to the recovery area after storage kept refusing
)

// Holder is a session holding a file's lock.
type Holder struct {
	Style   string    `json:"style"`
	Session string    `json:"session,omitempty"` // DS document key, or a short digest of the WOPI lock
	User    string    `json:"user,omitempty"`
	Since   time.Time `json:"since,omitzero"`
}

// Event is one step on a file's timeline. Seq orders the events of one file across
// every replica; it is given by the log when the event is stored (0 before).
type Event struct {
	Seq           uint64    `json:"seq"`
	Time          time.Time `json:"time"`
	FileID        string    `json:"file"`
	Kind          string    `json:"kind"`
	Style         string    `json:"style"`
	User          string    `json:"user,omitempty"`
	UserName      string    `json:"user_name,omitempty"`
	Mode          string    `json:"mode,omitempty"` // edit or view, for opened
	Reason        string    `json:"reason,omitempty"`
	Holder        *Holder   `json:"holder,omitempty"`
	Session       string    `json:"session,omitempty"` // DS document key, or a short digest of the WOPI lock
	NewSession    string    `json:"new_session,omitempty"`
	Op            string    `json:"op,omitempty"`     // WOPI operation (LOCK, REFRESH_LOCK, UNLOCK, GET_LOCK, PUT, ...) or DS status
	Status        int       `json:"status,omitempty"` // HTTP status answered, or DS callback status
	Bytes         int64     `json:"bytes,omitempty"`
	VersionBefore string    `json:"version_before,omitempty"`
	VersionAfter  string    `json:"version_after,omitempty"`
	DurationMS    float64   `json:"duration_ms,omitempty"` // save: DS's request (or PutFile's) to bytes safe
	Outcome       string    `json:"outcome,omitempty"`
	ConflictCopy  string    `json:"conflict_copy,omitempty"`
	RequestID     string    `json:"request_id,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"` // DS's, where DS sent one
	Detail        string    `json:"detail,omitempty"`
}

// Recorder takes events from the faces. Record never blocks on storage and never
// fails: a full or unavailable log drops the event and counts it.
type Recorder interface {
	Record(e Event)
}

// Nop drops every event.
type Nop struct{}

// Record does nothing.
func (Nop) Record(Event) {}
