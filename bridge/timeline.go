package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wopibridge/wopibridge/bridge/events"
	"github.com/wopibridge/wopibridge/bridge/session"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/docsapi"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// The faces put every step that touches a file on its timeline (package events)
// through the functions here: record stamps an event with the time and the ids of its
// request, sessionTimeline turns the session model's events into timeline events, and
// recordSave also observes the save's duration. Nothing here may carry a token, a
// JWT, a proof or a raw WOPI lock: a lock is shown by lockSession.

// record puts e on its file's timeline, with the time and the ids of the request ctx
// belongs to (none for background work). It never blocks (events.Recorder).
func (s *Server) record(ctx context.Context, e events.Event) {
	if e.FileID == "" {
		return
	}
	e.Time = s.now()
	if ctx != nil {
		ri := info(ctx)
		e.RequestID, e.CorrelationID = ri.id, ri.correlation
	}
	s.events.Record(e)
}

// recordSave records a save event and observes its duration: from since, or, when
// since is zero, from the arrival of the request ctx belongs to.
func (s *Server) recordSave(ctx context.Context, e events.Event, since time.Time) {
	if since.IsZero() && ctx != nil {
		since = info(ctx).start
	}
	if !since.IsZero() {
		d := s.now().Sub(since)
		e.DurationMS = float64(d.Microseconds()) / 1000
		s.metrics.saveDuration(e.Style, e.Outcome, d)
	}
	e.Kind = events.KindSave
	s.record(ctx, e)
}

// lockSession is how a timeline names the session holding lock: a Docs API session
// by its document key, a WOPI lock by a short digest (the lock itself lets its holder
// write the file).
func lockSession(lock string) string {
	if lock == "" {
		return ""
	}
	if key, ok := strings.CutPrefix(lock, session.LockPrefix); ok {
		return key
	}
	return events.LockDigest(lock)
}

// holderNow is who holds fileID, with the user and since when, when known
// (api_events.go's holder). lock is the lock a refusal or GetLock named, if any: it is
// described as it is, with no second call to storage to ask for it.
func (s *Server) holderNow(ctx context.Context, fileID, lock string) *events.Holder {
	var h *events.Holder
	var err error
	if lock != "" {
		h, err = s.describeHolder(fileID, lock)
	} else {
		h, err = s.holder(ctx, fileID)
	}
	if err != nil || h == nil {
		return holderOf(lock)
	}
	return h
}

// holderOf is the session holding lock, nil when there is none.
func holderOf(lock string) *events.Holder {
	if lock == "" {
		return nil
	}
	style := events.StyleWOPI
	if strings.HasPrefix(lock, session.LockPrefix) {
		style = events.StyleDocs
	}
	return &events.Holder{Style: style, Session: lockSession(lock)}
}

// sessionTimeline turns what the session model reports into timeline events.
func (s *Server) sessionTimeline(e session.Event) {
	ev := events.Event{FileID: e.FileID, Style: events.StyleDocs, User: e.User, Session: e.Key,
		Bytes: e.Bytes, VersionBefore: e.VersionBefore, VersionAfter: e.VersionAfter, Op: "6"}
	if e.Final {
		ev.Op = "2"
	}
	if e.WOPI || e.Key == "" {
		ev.Style, ev.Op = events.StyleWOPI, wopiOpPut
	}
	if e.Lock != "" {
		ev.Session = lockSession(e.Lock)
	}
	var since time.Time
	switch e.Kind {
	case session.EventSaved:
		ev.Outcome = events.OutcomeSaved
	case session.EventSpooled:
		ev.Outcome, ev.Detail = events.OutcomeSpooled, errText(e.Err)
	case session.EventReplayed:
		if e.Outcome == session.ConflictCopy {
			return // reported as the conflict copy
		}
		ev.Outcome, since = events.OutcomeReplayed, e.Since
	case session.EventConflictCopy:
		ev.Outcome, ev.ConflictCopy, since = events.OutcomeConflict, e.Name, e.Since
	case session.EventRepeated:
		ev.Outcome = events.OutcomeRepeated
	case session.EventRecovered:
		ev.Outcome, ev.Detail, since = events.OutcomeRecovered, errText(e.Err), e.Since
	case session.EventEnded:
		ev = events.Event{FileID: e.FileID, Kind: events.KindEnded, Style: events.StyleDocs, Session: e.Key}
		if e.Err != nil {
			ev.Detail = "the lock could not be released yet; it is retried"
		}
		s.record(e.Ctx, ev)
		return
	case session.EventKeyChanged:
		s.record(e.Ctx, events.Event{FileID: e.FileID, Kind: events.KindKeyChanged, Style: events.StyleDocs,
			Session: e.Key, NewSession: e.NewKey})
		return
	default:
		return
	}
	s.recordSave(e.Ctx, ev, since)
}

// errText is err's text for a timeline, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return publicMessage(err)
}

// opened records that an editor was given fileID: mode edit or view, and for view,
// why (reason, and holder when the file is locked; detail when no reason says it).
func (s *Server) opened(ctx context.Context, style, fileID, user, name, mode, reason, detail string, holder *events.Holder) {
	s.record(ctx, events.Event{FileID: fileID, Kind: events.KindOpened, Style: style, User: user, UserName: name,
		Mode: mode, Reason: reason, Holder: holder, Detail: detail})
}

// docsOpened records a Docs API editor config for u: why it is for view, when it is.
func (s *Server) docsOpened(ctx context.Context, fileID string, u launchUser, name, key string, o session.Opened, editable bool) {
	mode, reason, detail := docsapi.ModeEdit, "", ""
	var holder *events.Holder
	switch {
	case u.storageViewOnly:
		mode, reason = docsapi.ModeView, events.ReasonNoEditRight
	case !u.canWrite():
		mode, reason = docsapi.ModeView, events.ReasonViewAction
	case !editable:
		mode, detail = docsapi.ModeView, "ONLYOFFICE Docs only views files of this type"
	case !o.Edit:
		mode, reason = docsapi.ModeView, events.ReasonLocked
		holder = s.holderNow(ctx, fileID, "")
	}
	if holder == nil && reason == events.ReasonLocked {
		holder = &events.Holder{Style: events.StyleDocs, Session: key}
	}
	s.opened(ctx, events.StyleDocs, fileID, u.Sub, name, mode, reason, detail, holder)
}

// wopiOpened records the first CheckFileInfo of an access token: a WOPI client opening
// the file (its later CheckFileInfos are the same session's).
func (s *Server) wopiOpened(ctx context.Context, c *wopiCall, edit, storageWrite bool) {
	sum := sha256.Sum256([]byte(c.raw))
	if ok, _ := s.tokensSeen.ContainsOrAdd(hex.EncodeToString(sum[:12]), struct{}{}); ok {
		return
	}
	mode, reason := docsapi.ModeEdit, ""
	var holder *events.Holder
	switch {
	case edit:
		// A Docs API session holding the file refuses this client's lock, and the client
		// falls back to view (a WOPI lock held is DS's own: its co-editors edit under it).
		// Read from the state store only: no call to storage on the request's path.
		if hs, ok, err := s.docs.sessions.Holding(c.id); err == nil && ok {
			mode, reason, holder = docsapi.ModeView, events.ReasonLocked, docsHolder(hs)
		}
	case !c.tok.canWrite():
		mode, reason = docsapi.ModeView, events.ReasonViewAction
	case !storageWrite:
		mode, reason = docsapi.ModeView, events.ReasonNoEditRight
	}
	s.opened(ctx, events.StyleWOPI, c.id, c.tok.User, c.tok.displayName(), mode, reason, "", holder)
}

// proofRefused records a WOPI request on file fileID refused because of its proof.
func (s *Server) proofRefused(r *http.Request, fileID string, err error) {
	if !strings.HasPrefix(r.URL.Path, "/wopi/files/") {
		return // a folder's, not on a file's timeline
	}
	op := info(r.Context()).op
	if ov := r.Header.Get(wopiclient.HeaderOverride); op == "" && len(ov) <= 32 && plainToken(ov) {
		op = ov
	}
	s.record(r.Context(), events.Event{FileID: fileID, Kind: events.KindRefused, Style: events.StyleWOPI,
		Op: op, Reason: "proof", Status: statusOf(err), Detail: publicMessage(err)})
}

// WOPI operations as the timeline names them (X-WOPI-Override).
const (
	wopiOpLock            = "LOCK"
	wopiOpUnlockAndRelock = "UNLOCK_AND_RELOCK"
	wopiOpRefreshLock     = "REFRESH_LOCK"
	wopiOpUnlock          = "UNLOCK"
	wopiOpGetLock         = "GET_LOCK"
	wopiOpPut             = "PUT"
	wopiOpPutRelative     = "PUT_RELATIVE"
)

// wopiLockOps are the operations (as requestInfo names them) whose answers go on the
// timeline.
var wopiLockOps = map[string]string{
	"Lock": wopiOpLock, "UnlockAndRelock": wopiOpUnlockAndRelock, "RefreshLock": wopiOpRefreshLock,
	"Unlock": wopiOpUnlock, "GetLock": wopiOpGetLock,
}

// wopiLockTimeline records the answer to a lock operation: an editor joining (Lock)
// or leaving (Unlock, which ends the WOPI session), a lock conflict, or the answer.
func (s *Server) wopiLockTimeline(r *http.Request, c *wopiCall, err error) {
	op, ok := wopiLockOps[info(r.Context()).op]
	if !ok || c.id == "" {
		return
	}
	ctx := r.Context()
	ev := events.Event{FileID: c.id, Style: events.StyleWOPI, User: c.tok.User, Op: op, Status: http.StatusOK,
		Session: lockSession(r.Header.Get("X-WOPI-Lock"))}
	var lc *storage.LockConflictError
	switch {
	case errors.As(err, &lc):
		ev.Kind, ev.Status, ev.Holder = events.KindLockConflict, http.StatusConflict, s.holderNow(ctx, c.id, lc.Current)
	case err != nil:
		ev.Kind, ev.Status, ev.Detail = events.KindLock, statusOf(err), publicMessage(err)
	case op == wopiOpLock:
		ev.Kind = events.KindJoined
	case op == wopiOpUnlock:
		ev.Kind = events.KindLeft
		s.record(ctx, ev)
		ev.Kind, ev.Op, ev.Status = events.KindEnded, op, 0
	default:
		ev.Kind = events.KindLock
	}
	s.record(ctx, ev)
}

// wopiSaveTimeline records a PutFile or PutRelativeFile on fileID: f is what storage
// answered (empty when the save was spooled, reported by the session model), before
// the version before it ("" unknown).
func (s *Server) wopiSaveTimeline(r *http.Request, c *wopiCall, op, lock string, f storage.File, before string, err error) {
	if err == nil && f.ID == "" {
		return
	}
	ev := events.Event{FileID: c.id, Style: events.StyleWOPI, User: c.tok.User, Op: op, Session: lockSession(lock),
		Outcome: events.OutcomeSaved, Status: http.StatusOK, VersionBefore: before}
	if err != nil {
		ev.Outcome, ev.Status, ev.Detail = events.OutcomeRefused, statusOf(err), publicMessage(err)
		var lc *storage.LockConflictError
		if errors.As(err, &lc) {
			ev.Holder = s.holderNow(r.Context(), c.id, lc.Current)
		}
	} else {
		ev.Bytes, ev.VersionAfter = max(f.Size, 0), f.Version
		if op == wopiOpPutRelative {
			ev.Detail = "saved as " + strconv.Quote(f.Name)
			ev.VersionAfter = ""
		}
	}
	s.recordSave(r.Context(), ev, time.Time{})
}

// callbackTimeline records what a callback of DS did to fileID beyond its saves
// (which the session model reports): editors joining and leaving, refusals, lock
// conflicts, DS's own failures.
func (s *Server) callbackTimeline(ctx context.Context, fileID string, cb *docsapi.Callback, result string, err error) {
	if fileID == "" {
		return
	}
	ev := events.Event{FileID: fileID, Style: events.StyleDocs}
	if cb != nil {
		ev.Session, ev.Op, ev.Status = cb.Key, strconv.Itoa(int(cb.Status)), int(cb.Status)
		if len(cb.Users) > 0 {
			ev.User = cb.Users[0]
		}
	}
	switch {
	case result == callbackRetry:
		ev.Outcome, ev.Detail = events.OutcomeRefused, publicMessage(err)
		s.recordSave(ctx, ev, time.Time{})
		return
	case result == callbackRefused && errors.Is(err, session.ErrLockedElsewhere):
		ev.Kind, ev.Holder = events.KindLockConflict, s.holderNow(ctx, fileID, "")
		s.record(ctx, ev)
		return
	case result == callbackRefused:
		ev.Kind, ev.Reason, ev.Detail = events.KindRefused, refusalReason(err), publicMessage(err)
		s.record(ctx, ev)
		return
	}
	switch cb.Status {
	case docsapi.StatusEditing, docsapi.StatusClosedUnchanged, docsapi.StatusMustSave:
		for _, a := range cb.Actions {
			e := ev
			e.User = a.UserID
			switch a.Type {
			case docsapi.ActionJoined:
				e.Kind = events.KindJoined
			case docsapi.ActionLeft:
				e.Kind = events.KindLeft
			default:
				continue
			}
			s.record(ctx, e)
		}
	case docsapi.StatusSaveError:
		ev.Outcome, ev.Detail = events.OutcomeRefused, "ONLYOFFICE Docs could not build the saved document (status 3)"
		s.recordSave(ctx, ev, time.Time{})
	case docsapi.StatusForcesaveError:
		ev.Kind, ev.Outcome, ev.Detail = events.KindForcesave, "error", "ONLYOFFICE Docs could not build a forcesave (status 7)"
		s.record(ctx, ev)
	}
}

// refusalReason names why a callback was refused, in one word.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, session.ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, session.ErrKeyOutdated):
		return "key_outdated"
	case errors.Is(err, errUnauthenticated):
		return "bad_token"
	case errors.Is(err, errForbidden):
		return "other_file"
	case errors.Is(err, errBadRequest):
		return "bad_request"
	}
	return "error"
}
