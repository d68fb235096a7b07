package bridge

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/wopibridge/wopibridge/bridge/officeapp"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// maxEntryForm bounds the form a host's page posts (two fields).
const maxEntryForm = 64 << 10

// appOpen serves POST /hosting/wopi/{app}/{action}?WOPISrc=...: a WOPI host's page
// posted access_token and access_token_ttl into its frame. The WOPISrc must be on an
// allowed upstream origin; who the user is and what they may do come from the host's
// CheckFileInfo for that token; the document then opens in the configured style, as a
// launch token's session of that user would.
func (s *Server) appOpen(w http.ResponseWriter, r *http.Request) error {
	if s.app.keys == nil {
		return userErr(errNotFound, "this bridge has no proof keys of its own, so it is no office app WOPI hosts can register")
	}
	vars := mux.Vars(r)
	action, ok := officeapp.LaunchAction(vars["action"])
	if !ok {
		return userErr(errNotFound, "the office app has no action %q: use the action URLs of its discovery (%s/hosting/discovery)", vars["action"], s.public)
	}
	q := r.URL.Query()
	src := queryFold(q, "WOPISrc")
	if src == "" {
		return userErr(errBadRequest, "no WOPISrc in the action URL: the WOPI host must append WOPISrc=<its /wopi/files/<id> URL> to the action URL from the bridge's discovery")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxEntryForm)
	if err := r.ParseForm(); err != nil {
		return userErrCause(errBadRequest, err, "the posted form cannot be read: post access_token and access_token_ttl as application/x-www-form-urlencoded")
	}
	token := r.PostForm.Get("access_token")
	if token == "" {
		return userErr(errUnauthenticated, "no access_token posted: the WOPI host's page must post access_token and access_token_ttl to the action URL")
	}
	var ttl int64
	if raw := strings.TrimSpace(r.PostForm.Get("access_token_ttl")); raw != "" {
		v, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || v < 0 {
			return userErr(errBadRequest, "access_token_ttl %q is not a time in milliseconds since the Unix epoch", raw)
		}
		ttl = v
	}
	reg, ok := s.store.(hostRegistrar)
	if !ok {
		return userErr(errBadRequest, "the office-app entry point opens documents of WOPI hosts, and this bridge serves its own directory: set WOPIBRIDGE_STORAGE=wopi:<the host's origin>")
	}
	f, fi, err := reg.RegisterFromHost(r.Context(), src, token, ttl)
	if errors.Is(err, wopiclient.ErrServerError) {
		// A host that checks proofs refuses calls it cannot verify with a bare 500.
		return userErrCause(storage.ErrUnavailable, err, "the WOPI host refused the bridge's CheckFileInfo with a server error. "+
			"A host that checks proof keys answers so to calls it cannot verify: it must know this bridge as its office app by the discovery at %s/hosting/discovery, "+
			"read again since the last \"wopibridge proof-keys rotate\" (the bridge signs with its current key %s, and with %s as X-WOPI-ProofOld). "+
			"If the host does not check proofs, its log says why it failed",
			s.public, s.app.fingerprint(true), s.app.fingerprint(false))
	}
	if err != nil {
		return appRegisterError(err, src)
	}
	info(r.Context()).fileID = f.ID

	u := launchUser{Sub: fi.UserID, Name: fi.UserFriendlyName, File: f.ID, Mode: modeView, Lang: cleanLang(queryFold(q, "ui")), Until: ttl}
	if wopiActions[action] {
		if fi.UserCanWrite && !fi.ReadOnly {
			u.Mode = modeEdit
		} else {
			action = "view" // the host asked for more than it lets the user do
		}
	}
	if u.Lang == "" {
		u.Lang = acceptLanguage(r.Header.Get("Accept-Language"))
	}
	ctx := storage.WithUser(r.Context(), u.Sub)
	r = r.WithContext(ctx)

	hostOrigin := fi.PostMessageOrigin
	if o, err := url.Parse(hostOrigin); err != nil || (o.Scheme != "http" && o.Scheme != "https") || o.Host == "" {
		hostOrigin = "" // no frame to tell, or not an origin: messages stay in the page
	} else {
		hostOrigin = o.Scheme + "://" + o.Host
	}
	framers := appFrameAncestors(originOf(src), hostOrigin)
	if s.app.style == config.AppStyleDocs {
		return s.appDocsPage(w, r, f.ID, u, hostOrigin, framers)
	}
	return s.appWOPIPage(w, r, f.ID, action, u, hostOrigin, framers)
}

// queryFold is the first value of a query parameter whose name matches in any case
// (hosts write WOPISrc, wopisrc or WOPISRC).
func queryFold(q url.Values, name string) string {
	if v := q.Get(name); v != "" {
		return v
	}
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
}

// appFrameAncestors are the CSP frame-ancestors sources of an office-app page: the
// host's page may frame the bridge's page, and no one else.
func appFrameAncestors(origins ...string) string {
	list := []string{"'self'"}
	for _, o := range origins {
		if o != "" && o != "an unreadable origin" && !strings.ContainsAny(o, " ;,'") {
			list = append(list, o)
		}
	}
	return strings.Join(list, " ")
}
