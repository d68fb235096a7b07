package bridge

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/wopibridge/wopibridge/bridge/session"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/docsapi"
)

type docsConfigJSON struct {
	APIJSURL string          `json:"apiJsUrl"`
	Config   *docsapi.Config `json:"config"`
}

// docsConfig answers POST /api/v1/docs/config[?file=<id>]: a signed editor config for
// the launch user, and where to load api.js from.
func (s *Server) docsConfig(w http.ResponseWriter, r *http.Request, u launchUser) error {
	fileID, err := s.launchFile(r, u)
	if err != nil {
		return err
	}
	info(r.Context()).fileID = fileID
	apiJS, err := s.docs.apiJSURL()
	if err != nil {
		return err
	}
	cfg, err := s.editorConfig(r.Context(), fileID, u)
	if err != nil {
		return err
	}
	return s.writeJSON(w, http.StatusOK, docsConfigJSON{APIJSURL: apiJS, Config: cfg})
}

// noFileHint says how to name the file of a launch.
func (s *Server) noFileHint() string {
	if _, ok := s.store.(storage.Registrar); ok {
		return "which file? give a launch token with wopisrc and access_token (the file on the upstream WOPI host)"
	}
	return "which file? give ?file=<id> or a launch token with a file claim"
}

// launchFile is the file a launch API request is about: the token's file claim (or the
// file its wopisrc names), or ?file= when the token names none.
func (s *Server) launchFile(r *http.Request, u launchUser) (string, error) {
	id := r.URL.Query().Get("file")
	switch {
	case id != "" && u.File != "" && id != u.File:
		return "", userErr(errForbidden, "this launch token is for another file")
	case id == "":
		id = u.File
	}
	if id == "" {
		return "", userErr(errBadRequest, "%s", s.noFileHint())
	}
	return id, nil
}

// editorConfig builds and signs the Docs API editor config of fileID for u. Every
// editor of a file gets the key of the Docs API session open on it; a file locked by a
// WOPI session opens for view.
func (s *Server) editorConfig(ctx context.Context, fileID string, u launchUser) (*docsapi.Config, error) {
	access, err := s.access(ctx, fileID)
	if err != nil {
		return nil, s.launchStorageError(err, fileID)
	}
	u = viewOnlyByStorage(u, access)
	o, err := s.docs.sessions.Open(ctx, fileID)
	switch {
	case errors.Is(err, session.ErrSavePending):
		return nil, saveWaitingErr(err)
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrUnauthorized):
		return nil, s.launchStorageError(err, fileID)
	case err != nil:
		return nil, err
	}
	ext := strings.TrimPrefix(strings.ToLower(path.Ext(o.File.Name)), ".")
	docType, ok := docsapi.DocumentType(ext)
	if !ok {
		return nil, userErr(errBadRequest, "ONLYOFFICE Docs cannot open %q: .%s is not a document type it knows", o.File.Name, ext)
	}
	edit := u.canWrite() && o.Edit && docsapi.CanEdit(ext)
	if u.canWrite() && o.Releasing {
		s.log.WithFields(logrus.Fields{"face": faceAPI, "file_id": fileID}).
			Warn("the file opens for view: the lock of its last editing session, whose save is in storage, could not be released yet; it is retried in the background")
	}
	if edit {
		// The key's saves may act for this user (with an upstream WOPI host: with their token).
		if err := s.docs.sessions.AddEditor(o.Key, u.Sub); err != nil {
			return nil, err
		}
	}
	mode := docsapi.ModeView
	if edit {
		mode = docsapi.ModeEdit
	}
	name := u.Name
	if name == "" {
		name = u.Sub
	}
	s.docsOpened(ctx, fileID, u, name, o.Key, o, docsapi.CanEdit(ext))
	exp := s.now().Add(s.ttl).UnixMilli()
	cfg := &docsapi.Config{
		DocumentType: docType,
		Document: docsapi.Document{
			FileType: ext,
			Key:      o.Key,
			Title:    o.File.Name,
			URL:      s.docs.urls.downloadURL(s.public, fileID, o.File.Version, exp),
			Permissions: docsapi.Permissions{
				Edit: edit, Review: edit, Comment: edit, FillForms: edit,
				Download: true, Print: true, Copy: true,
			},
		},
		EditorConfig: docsapi.EditorConfig{
			CallbackURL:   s.docs.urls.callbackURL(s.public, fileID),
			Mode:          mode,
			Lang:          u.Lang,
			User:          docsapi.User{ID: u.Sub, Name: name},
			Customization: &docsapi.Customization{Forcesave: true},
		},
	}
	if len(s.docs.secret) > 0 {
		// iat and exp: the config expires with the access tokens (and document.url).
		if err := cfg.SignUntil(s.docs.secret, s.now(), time.UnixMilli(exp)); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// saveWaitingErr says why a file with a save waiting for storage opens in no style.
func saveWaitingErr(err error) error {
	if errors.Is(err, session.ErrNoEditor) {
		return userErrCause(storage.ErrUnavailable, err, "the last save of this file waits for storage, which refuses the credentials of everyone who edited it: one of them must open the file again from the application (an operator can export the save with \"wopibridge saves\")")
	}
	return userErrCause(storage.ErrUnavailable, err, "the last save of this file is still waiting to be written to storage, so it cannot be opened for editing: try again in a minute (an operator sees it with \"wopibridge saves list\")")
}
