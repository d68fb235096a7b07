package bridge

import (
	"context"
	"net/http"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

type sessionJSON struct {
	ActionURL      string `json:"actionUrl"`
	AccessToken    string `json:"accessToken"`
	AccessTokenTTL int64  `json:"accessTokenTtl"`
	WopiSrc        string `json:"wopiSrc"`
	FavIconURL     string `json:"favIconUrl"`
}

// wopiSession answers POST /api/v1/wopi/session?action=<action>[&file=<id>]: what a host
// page needs to open the file in ONLYOFFICE Docs' WOPI editor. The action URL and the
// icon come from DS's discovery, with their origin rewritten to DS's public URL.
func (s *Server) wopiSession(w http.ResponseWriter, r *http.Request, u launchUser) error {
	fileID, err := s.launchFile(r, u)
	if err != nil {
		return err
	}
	info(r.Context()).fileID = fileID
	if err := s.wopiOpenable(r.Context(), fileID, r.URL.Query().Get("action"), u); err != nil {
		return err
	}
	l, err := s.launchWOPI(r.Context(), fileID, r.URL.Query().Get("action"), u, false)
	if err != nil {
		return err
	}
	return s.writeJSON(w, http.StatusOK, sessionJSON{
		ActionURL:      l.actionURL,
		AccessToken:    l.token,
		AccessTokenTTL: l.tokenTTL,
		WopiSrc:        l.wopiSrc,
		FavIconURL:     l.favIcon,
	})
}

// wopiOpenable refuses, saying why, a WOPI session that could not open: while a save
// of the file waits for storage the WOPI face serves nothing of it, and while the lock
// of a finished Docs API session waits for its release nobody can edit.
func (s *Server) wopiOpenable(ctx context.Context, fileID, action string, u launchUser) error {
	if err := s.docs.sessions.Flush(ctx, fileID); err != nil {
		return saveWaitingErr(err)
	}
	if write := wopiActions[action] || action == "" && u.canWrite(); !write {
		return nil // an unknown action is refused by launchWOPI
	}
	releasing, err := s.docs.sessions.Releasing(fileID)
	if err == nil && releasing {
		err = userErr(storage.ErrUnavailable, "the file cannot be edited yet: the lock of its last editing session, whose save is in storage, is still being released (storage refused the Unlock; it is retried in the background): try again shortly, or open it with action=view")
	}
	return err
}
