package bridge

import (
	"crypto/hmac"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// shareTypes are the SupportedShareUrlTypes of a user.
func shareTypes(edit bool) []string {
	if edit {
		return []string{wopiclient.ShareURLReadOnly, wopiclient.ShareURLReadWrite}
	}
	return []string{wopiclient.ShareURLReadOnly}
}

// shareType reads X-WOPI-UrlType; a type the user may not share is 501, as WOPI asks for
// types not in SupportedShareUrlTypes.
func shareType(r *http.Request, t accessToken) (string, error) {
	v := r.Header.Get(wopiclient.HeaderURLType)
	for _, ok := range shareTypes(t.canWrite()) {
		if v == ok {
			return v, nil
		}
	}
	return "", userErr(errNotImplemented, "share URL type %q is not supported; use one of SupportedShareUrlTypes", v)
}

type shareReply struct {
	ShareURL string `json:"ShareUrl"`
}

// fileShareURL answers GET_SHARE_URL on a file: a link to the bridge's page for it.
func (s *Server) fileShareURL(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	typ, err := shareType(r, c.tok)
	if err != nil {
		return err
	}
	if _, err := s.store.Stat(r.Context(), c.id); err != nil {
		return err
	}
	action := "edit"
	if typ == wopiclient.ShareURLReadOnly {
		action = "view"
	}
	return s.writeJSON(w, http.StatusOK, shareReply{s.hostPageURL(c.id, action)})
}

// folderShareURL answers GET_SHARE_URL on a folder.
func (s *Server) folderShareURL(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	if _, err := shareType(r, c.tok); err != nil {
		return err
	}
	return s.writeJSON(w, http.StatusOK, shareReply{s.folderPageURL(c.id)})
}

// FileUrl: a signed, expiring URL of a file's content that needs no access token (WOPI
// clients fetch it without proof headers; ONLYOFFICE prefers it to GetFile, and its
// converter logs it in full). It is a bearer credential, so it is valid for
// fileURLLifetime only (DS fetches it right after CheckFileInfo; a download that has
// started goes on), never longer than the access token it came with. It serves the
// current content, as GetFile does: Microsoft's validator (WopiCore,
// GetFromFileUrlAfterPutFile) requires a FileUrl to return what a PutFile made of the
// file after it was issued, so it is not bound to one version.

// fileURLLifetime is how long a FileUrl stays valid: DS's converter fetches it at once,
// retrying a few times, each attempt bounded by its 2-minute download timeout.
const fileURLLifetime = 10 * time.Minute

// urlSigner signs FileUrls.
type urlSigner struct {
	mac *macPool
	now func() time.Time
}

func newURLSigner(secret []byte, now func() time.Time) *urlSigner {
	return &urlSigner{mac: newMACPool(deriveKey(secret, "wopi file url v1")), now: now}
}

func (u *urlSigner) sig(id, user string, exp int64) string {
	return b64.EncodeToString(u.mac.sum([]byte(strconv.FormatInt(exp, 10)), []byte{0}, []byte(id), []byte{0}, []byte(user)))
}

// url is the FileUrl of file id for user (the download acts for them: with an upstream
// WOPI host, with their token), valid for fileURLLifetime but not after tokenExp (ms
// since the epoch).
func (u *urlSigner) url(public, id, user string, tokenExp int64) string {
	exp := min(u.now().Add(fileURLLifetime).UnixMilli(), tokenExp)
	return public + "/wopi/fileurl/" + url.PathEscape(id) + "?exp=" + strconv.FormatInt(exp, 10) +
		"&u=" + url.QueryEscape(user) + "&sig=" + u.sig(id, user, exp)
}

// verify checks a FileUrl of file id and returns the user it was made for.
func (u *urlSigner) verify(id string, q url.Values) (string, error) {
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	user := q.Get("u")
	if err != nil || !hmac.Equal([]byte(q.Get("sig")), []byte(u.sig(id, user, exp))) {
		return "", userErr(errUnauthenticated, "the file URL is not valid: take a fresh FileUrl from CheckFileInfo")
	}
	if u.now().UnixMilli() >= exp {
		return "", userErr(errUnauthenticated, "the file URL has expired: take a fresh FileUrl from CheckFileInfo")
	}
	return user, nil
}

// wopiSigned is the adapter of signed URLs: the signature stands for the access token.
func (s *Server) wopiSigned(op string, fn wopiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r.Context())
		ri.face, ri.op = faceWOPI, op
		c := &wopiCall{id: mux.Vars(r)["id"]}
		ri.fileID = c.id
		user, err := s.fileURL.verify(c.id, r.URL.Query())
		if err == nil {
			// The download acts for the user the URL was made for, never for another.
			r = r.WithContext(storage.WithUser(r.Context(), user))
			err = s.docs.sessions.Flush(r.Context(), c.id)
		}
		if err == nil {
			err = fn(w, r, c)
		}
		if err != nil {
			s.wopiError(w, r, err)
		}
	})
}

// getFileURL serves a FileUrl.
func (s *Server) getFileURL(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	return s.serveContent(w, r, c.id)
}
