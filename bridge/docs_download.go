package bridge

import (
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/wopibridge/wopibridge/docsapi"
)

// docsDownload serves document.url to DS: GET /docs/files/{id}/contents?exp=&sig=.
// The bridge's signature says which file, which version of it and until when (a
// document key stands for one content: once the file changed, the URL answers 409 and
// DS reports a download error, rather than showing other bytes under the old key);
// when a DS secret is set, DS's JWT ({payload:{url}}, signed with DS's outbox secret)
// must also name this very URL.
func (s *Server) docsDownload(w http.ResponseWriter, r *http.Request) {
	ri := info(r.Context())
	ri.face, ri.op = faceDocs, "Download"
	id := mux.Vars(r)["id"]
	ri.fileID = id
	version, err := s.docs.urls.verifyDownload(id, r.URL.Query())
	if err == nil && len(s.docs.outbox) > 0 {
		err = s.checkDownloadJWT(r)
	}
	if err == nil {
		err = s.serveVersion(w, r, id, version)
	}
	if err != nil {
		s.wopiError(w, r, err)
	}
}

func (s *Server) checkDownloadJWT(r *http.Request) error {
	signed, err := docsapi.VerifyDownload(r.Header.Get(s.docs.header), s.docs.outbox)
	if err != nil {
		return userErr(errUnauthenticated, "the Document Server's JWT on this download is missing or invalid (%v): %s", err, outboxHint)
	}
	u, err := url.Parse(signed)
	if err != nil || u.EscapedPath() != r.URL.EscapedPath() || u.RawQuery != r.URL.RawQuery {
		return userErr(errUnauthenticated, "the Document Server's JWT is for another URL")
	}
	return nil
}
