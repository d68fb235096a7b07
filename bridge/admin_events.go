package bridge

import (
	"net/http"

	"github.com/gorilla/mux"
)

// adminFileEvents answers GET /admin/v1/events/{id}?since=&limit=: a file's timeline
// for "wopibridge events" while the server holds the bolt state file; the answer is
// the launch API's. The file need not exist any more: its timeline outlives it.
func (s *Server) adminFileEvents(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	info(r.Context()).fileID = id
	q, err := parseEventsQuery(r)
	if err != nil {
		return err
	}
	out, err := s.timeline(id, q)
	if err != nil {
		return err
	}
	// Without a user, an upstream WOPI host may not say who holds the file: the
	// events are worth showing all the same.
	out.Holder, _ = s.holder(r.Context(), id)
	return s.writeJSON(w, http.StatusOK, out)
}
