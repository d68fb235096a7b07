package bridge

import (
	"context"
	"errors"
	"net/http"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// WOPI actions a session may be opened for, and whether they write.
var wopiActions = map[string]bool{
	"view":      false,
	"embedview": false,
	"edit":      true,
	"editnew":   true,
	"convert":   true, // convert-and-edit saves the converted copy with PutRelativeFile
}

type sessionJSON struct {
	ActionURL      string `json:"actionUrl"`
	AccessToken    string `json:"accessToken"`
	AccessTokenTTL int64  `json:"accessTokenTtl"`
	WopiSrc        string `json:"wopiSrc"`
	FavIconURL     string `json:"favIconUrl"`
}

// wopiSession answers POST /api/v1/wopi/session?action=<action>[&file=<id>]: what a host
// page needs to open the file in a WOPI client.
func (s *Server) wopiSession(w http.ResponseWriter, r *http.Request, u launchUser) error {
	ctx := r.Context()
	q := r.URL.Query()
	fileID := u.File
	if id := q.Get("file"); id != "" {
		if u.File != "" && id != u.File {
			return userErr(errForbidden, "this launch token is for another file")
		}
		fileID = id
	}
	if fileID == "" {
		return userErr(errBadRequest, "which file? give ?file=<id> or a launch token with a file claim")
	}
	info(ctx).fileID = fileID
	action := q.Get("action")
	if action == "" {
		action = "edit"
		if !u.canWrite() {
			action = "view"
		}
	}
	write, ok := wopiActions[action]
	if !ok {
		return userErr(errBadRequest, "unknown action %q: use view, edit, embedview, editnew or convert", action)
	}
	if write && !u.canWrite() {
		return userErr(errForbidden, "this launch token allows viewing only; use action=view")
	}
	f, err := s.store.Stat(ctx, fileID)
	if errors.Is(err, storage.ErrNotFound) {
		return userErr(storage.ErrNotFound, "no file with id %q", fileID)
	}
	if err != nil {
		return err
	}
	mode := modeView
	if write {
		mode = modeEdit
	}
	t := accessToken{
		User: u.Sub,
		Name: u.Name,
		Mode: mode,
		File: f.ID,
		Tree: f.FolderID,
		Exp:  s.now().Add(s.ttl).UnixMilli(),
	}
	wopiSrc := s.wopiSrc(f.ID)
	actionURL, favIcon, err := s.actionURL(ctx, f.Name, action, wopiSrc)
	if err != nil {
		return err
	}
	return s.writeJSON(w, http.StatusOK, sessionJSON{
		ActionURL:      actionURL,
		AccessToken:    s.tokens.sign(t),
		AccessTokenTTL: t.Exp,
		WopiSrc:        wopiSrc,
		FavIconURL:     favIcon,
	})
}

// actionURL is the WOPI client's URL for action on a file, and its icon. They come from
// the Document Server's discovery; without one configured both are empty.
func (s *Server) actionURL(_ context.Context, _, _, _ string) (string, string, error) {
	return "", "", nil
}
