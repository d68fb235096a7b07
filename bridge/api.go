package bridge

import (
	"net/http"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// apiFunc handles a launch API request for a verified launch user.
type apiFunc func(w http.ResponseWriter, r *http.Request, u launchUser) error

// api is the launch API's adapter: it verifies the launch token, calls the handler and
// answers errors as JSON {"error": "..."}.
func (s *Server) api(op string, fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r.Context())
		ri.face, ri.op = faceAPI, op
		u, err := s.launch.user(launchFrom(r, false))
		if err == nil {
			u, err = s.resolveLaunch(r.Context(), u)
		}
		if err == nil {
			// The storage acts for the launch user (an upstream WOPI host: with their token).
			r = r.WithContext(storage.WithUser(r.Context(), u.Sub))
			err = fn(w, r, u)
		}
		if err != nil {
			s.apiError(w, r, err)
		}
	})
}

// apiError writes err once as {"error": "..."} with its status.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	info(r.Context()).err = err
	if headerWritten(w) {
		return
	}
	status := statusOf(err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wopibridge"`)
	}
	_ = s.writeJSON(w, status, struct {
		Error string `json:"error"`
	}{publicMessage(err)})
}
