package bridge

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// Upstream tokens never reach a browser. A launch token for an upstream WOPI host holds
// the user's upstream access_token in its (readable) payload, so a page opened with one
// as ?launch= is not served: the first hit registers the upstream file and redirects to
// the same page with a bridge link (link=, see hostlink.go) in its place, and every link
// the pages build from then on carries that link. Integrators should still send such
// launch tokens from their server (Authorization), never put them in a browser's URL.

// exchangeLaunch answers a page request whose ?launch= token holds an upstream access
// token with a redirect to the same page with a bridge link instead.
func (s *Server) exchangeLaunch(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.URL.Query().Get("launch")
		if raw == "" || s.launch.demo() || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			next.ServeHTTP(w, r)
			return
		}
		u, err := s.launch.user(raw)
		if err != nil || u.upstream == nil {
			next.ServeHTTP(w, r) // the page says what is wrong, or needs no exchange
			return
		}
		ri := info(r.Context())
		ri.face, ri.op = facePage, "LaunchExchange"
		if u, err = s.resolveLaunch(r.Context(), u); err != nil {
			s.pageError(w, r, err)
			return
		}
		if id := mux.Vars(r)["id"]; id != "" && id != u.File {
			s.pageError(w, r, userErr(errForbidden, "this launch token is for another file"))
			return
		}
		q := r.URL.Query()
		q.Del("launch")
		q.Set("link", s.pageLink(u, u.File))
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, r.URL.Path+"?"+q.Encode(), http.StatusSeeOther)
	})
}

// linkClaims are the claims of a link, read without checking it (links.user checks it).
func linkClaims(raw string) hostLink {
	var l hostLink
	payload, _, _ := strings.Cut(raw, ".")
	if b, err := b64.DecodeString(payload); err == nil {
		_ = json.Unmarshal(b, &l)
	}
	return l
}

// pageLinkOnly refuses a host page link (HostEditUrl, HostViewUrl) on a page that only
// page links open (index, compare).
func pageLinkOnly(r *http.Request) error {
	if link := r.URL.Query().Get("link"); link != "" && launchFrom(r, true) == "" && !linkClaims(link).Page {
		return userErr(errUnauthenticated, "this link opens the document's editor page only: open the document again from the application")
	}
	return nil
}

// pageCredential is the query a page's links carry for u: a bridge link for fileID
// with an upstream storage (never the launch token, which holds the upstream's token),
// else the launch token the page came with (none in demo mode).
func (s *Server) pageCredential(r *http.Request, u launchUser, fileID string) url.Values {
	q := url.Values{}
	_, upstream := s.store.(storage.Registrar)
	switch launch := launchFrom(r, true); {
	case u.Demo:
	case upstream:
		if fileID != "" {
			q.Set("link", s.pageLink(u, fileID))
		}
	case launch != "":
		q.Set("launch", launch)
	}
	return q
}
