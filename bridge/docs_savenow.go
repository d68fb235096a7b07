package bridge

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/wopibridge/wopibridge/bridge/events"

	"github.com/wopibridge/wopibridge/docsapi"
)

type saveNowJSON struct {
	Key    string `json:"key"`
	Result string `json:"result"` // "requested" or "not modified"
}

// docsSaveNow answers POST /api/v1/docs/forcesave?file=<id>: it asks ONLYOFFICE Docs to
// save the Docs API session open on the file now (the command service's forcesave). The
// bytes arrive as a status 6 callback and are written like any save; the reply says
// whether DS had anything to save.
func (s *Server) docsSaveNow(w http.ResponseWriter, r *http.Request, u launchUser) error {
	fileID, err := s.launchFile(r, u)
	if err != nil {
		return err
	}
	info(r.Context()).fileID = fileID
	if !u.canWrite() {
		return userErr(errForbidden, "this launch token allows viewing only: saving needs mode edit")
	}
	if s.docs.command == nil {
		return userErr(errNoDocs, "no ONLYOFFICE Docs is configured: set WOPIBRIDGE_DOCS_URL")
	}
	key, open, err := s.docs.sessions.SessionKey(fileID)
	if err != nil {
		return err
	}
	if !open {
		return userErr(errConflict, "no Docs API editing session is open on file %q: there is nothing to save", fileID)
	}
	err = s.docs.command.Forcesave(r.Context(), key, "wopibridge save now")
	ev := events.Event{FileID: fileID, Kind: events.KindForcesave, Style: events.StyleDocs, User: u.Sub, Session: key,
		Op: "forcesave", Status: http.StatusAccepted, Outcome: "requested"}
	var ce *docsapi.CommandError
	switch {
	case err == nil:
	case errors.As(err, &ce) && ce.Code == docsapi.CommandNotModified:
		ev.Status, ev.Outcome = http.StatusOK, "not_modified"
	case errors.As(err, &ce):
		ev.Status, ev.Outcome, ev.Detail = statusOf(errDocsUnavailable), "refused", "ONLYOFFICE Docs answered error "+strconv.Itoa(int(ce.Code))
	default:
		ev.Status, ev.Outcome, ev.Detail = statusOf(errDocsUnavailable), "error", "ONLYOFFICE Docs did not answer the forcesave command"
	}
	if errors.As(err, &ce) && ce.Code == docsapi.CommandKeyNotFound {
		ev.Status = statusOf(errConflict)
	}
	s.record(r.Context(), ev)
	switch {
	case err == nil:
		return s.writeJSON(w, http.StatusAccepted, saveNowJSON{Key: key, Result: "requested"})
	case errors.As(err, &ce) && ce.Code == docsapi.CommandNotModified:
		return s.writeJSON(w, http.StatusOK, saveNowJSON{Key: key, Result: "not modified"})
	case errors.As(err, &ce) && ce.Code == docsapi.CommandKeyNotFound:
		return userErr(errConflict, "ONLYOFFICE Docs has no editing session for this file's key any more: the editors have closed")
	case errors.As(err, &ce) && (ce.Code == docsapi.CommandTokenInvalid || ce.Code == docsapi.CommandTokenExpired):
		return userErrCause(errDocsUnavailable, err, "ONLYOFFICE Docs refused the bridge's command token: check WOPIBRIDGE_DOCS_JWT_SECRET (and the clocks)")
	default:
		return userErrCause(errDocsUnavailable, err, "ONLYOFFICE Docs did not accept the save request; see the log")
	}
}
