package bridge

import (
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/wopibridge/wopibridge/bridge/session"
)

// The operator's routes for saves that wait for storage or were kept in the recovery
// area, for "wopibridge saves" while the server runs (its bolt state file is then
// open, and bolt has one writer). They answer only on a loopback connection with the
// admin token the server was given (Options.AdminToken), which the command finds in a
// file beside the state file, readable by the server's user alone.
//
//	GET    /admin/v1/saves                    the saves, JSON
//	GET    /admin/v1/saves/{id}/content       a save's bytes
//	POST   /admin/v1/saves/{id}/exported?size=n  the bytes were kept: the save may be dropped
//	POST   /admin/v1/saves/{id}/retry         back into the spool, replayed at once
//	DELETE /admin/v1/saves/{id}               dropped (only once exported)
//	GET    /admin/v1/events/{id}              a file's timeline (admin_events.go)

func (s *Server) adminRoutes(r *mux.Router) {
	if s.adminToken == "" {
		return
	}
	r.Handle("/admin/v1/saves", s.admin("ListSaves", s.adminListSaves)).Methods(http.MethodGet)
	r.Handle("/admin/v1/saves/{id}/content", s.admin("ExportSave", s.adminExportSave)).Methods(http.MethodGet)
	r.Handle("/admin/v1/saves/{id}/exported", s.admin("ExportedSave", s.adminExportedSave)).Methods(http.MethodPost)
	r.Handle("/admin/v1/saves/{id}/retry", s.admin("RetrySave", s.adminRetrySave)).Methods(http.MethodPost)
	r.Handle("/admin/v1/saves/{id}", s.admin("DropSave", s.adminDropSave)).Methods(http.MethodDelete)
	r.Handle("/admin/v1/events/{id}", s.admin("FileEvents", s.adminFileEvents)).Methods(http.MethodGet)
}

// admin is the operator routes' adapter: loopback and the admin token, JSON errors.
func (s *Server) admin(op string, fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r.Context())
		ri.face, ri.op = faceAPI, "Admin"+op
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		var err error
		switch {
		case ip == nil || !ip.IsLoopback():
			err = userErr(errForbidden, "the admin routes answer on loopback only")
		case subtle.ConstantTimeCompare([]byte(bearer(r)), []byte(s.adminToken)) != 1:
			err = userErr(errUnauthenticated, "wrong or missing admin token: use \"wopibridge saves\" on the machine the server runs on, as the user it runs as")
		default:
			err = fn(w, r)
		}
		if err != nil {
			s.apiError(w, r, adminErr(err))
		}
	})
}

func adminErr(err error) error {
	switch {
	case errors.Is(err, session.ErrNoSuchSave):
		return userErrCause(errNotFound, err, "%s", err.Error())
	case errors.Is(err, session.ErrNotExported):
		return userErrCause(errConflict, err, "%s", err.Error())
	}
	return err
}

func (s *Server) adminListSaves(w http.ResponseWriter, r *http.Request) error {
	saves, err := s.docs.sessions.Saves()
	if err != nil {
		return err
	}
	if saves == nil {
		saves = []session.SaveInfo{}
	}
	return s.writeJSON(w, http.StatusOK, saves)
}

func (s *Server) adminExportSave(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	si, err := session.DescribeSave(s.docs.sessions.State(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(si.Size, 10))
	_, err = session.ExportSave(s.docs.sessions.State(), id, w)
	return err
}

func (s *Server) adminExportedSave(w http.ResponseWriter, r *http.Request) error {
	size, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err != nil {
		return userErr(errBadRequest, "size=<bytes kept> is required")
	}
	if err := session.MarkExported(s.docs.sessions.State(), mux.Vars(r)["id"], size); err != nil {
		return userErrCause(errConflict, err, "%s", err.Error())
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) adminRetrySave(w http.ResponseWriter, r *http.Request) error {
	si, err := s.docs.sessions.RetrySave(mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	// Replay the file's saves now; what storage still refuses stays waiting.
	_ = s.docs.sessions.Flush(r.Context(), si.FileID)
	if cur, err := session.DescribeSave(s.docs.sessions.State(), si.ID); err == nil {
		si = cur
	} else if errors.Is(err, session.ErrNoSuchSave) {
		si.State = "landed"
	}
	return s.writeJSON(w, http.StatusOK, si)
}

func (s *Server) adminDropSave(w http.ResponseWriter, r *http.Request) error {
	if err := s.docs.sessions.DropSave(mux.Vars(r)["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
