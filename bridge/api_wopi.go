package bridge

import (
	"net/http"
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
