package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/wopibridge/wopibridge/bridge/session"
	"github.com/wopibridge/wopibridge/docsapi"
)

// errRetry: the callback could not be handled now; DS should send it again (HTTP 503,
// which DS retries for status 2 and 3).
var errRetry = errors.New("retry later")

// docsCallback is the callbackUrl DS posts to: POST /docs/callback?file=&sig=. It
// always answers JSON {"error":n}, or 503 when the bytes of a save are not safe yet.
func (s *Server) docsCallback(w http.ResponseWriter, r *http.Request) {
	ri := info(r.Context())
	ri.face, ri.op = faceDocs, "Callback"
	code, err := s.handleCallback(r)
	if err != nil {
		ri.err = err
	}
	if errors.Is(err, errRetry) {
		http.Error(w, `{"error":1}`, http.StatusServiceUnavailable)
		return
	}
	_ = docsapi.Response{Error: code}.Write(w)
}

func (s *Server) handleCallback(r *http.Request) (int, error) {
	ctx := r.Context()
	ri := info(ctx)
	fileID, err := s.docs.urls.verifyCallback(r.URL.Query())
	if err != nil {
		return 1, err
	}
	ri.fileID = fileID
	cb, err := docsapi.ParseCallback(r.Body, r.Header.Get(s.docs.header), s.docs.secret, docsapi.DefaultMaxCallbackBytes)
	switch {
	case errors.Is(err, docsapi.ErrCallbackTooLarge):
		return 1, userErr(errBadRequest, "callback refused: its body is larger than %d bytes, far more than DS sends; something other than DS is posting to the callback URL", docsapi.DefaultMaxCallbackBytes)
	case err != nil:
		return 1, userErr(errUnauthenticated, "callback refused: %v; check that WOPIBRIDGE_DOCS_JWT_SECRET and WOPIBRIDGE_DOCS_JWT_HEADER match DS's JWT settings", err)
	}
	ri.op = "Callback" + cb.Status.String()
	owner, err := s.docs.sessions.FileOf(cb.Key)
	if err != nil {
		return 1, err
	}
	if owner != fileID {
		return 1, userErr(errForbidden, "callback for key %s names file %s, but the key belongs to another file", cb.Key, fileID)
	}
	switch cb.Status {
	case docsapi.StatusEditing:
		if err := s.docs.sessions.Editing(ctx, cb.Key, cb.Users); err != nil {
			return 1, err
		}
	case docsapi.StatusMustSave, docsapi.StatusForcesaved:
		fetch, err := s.resultFetcher(cb.URL)
		if err != nil {
			return 1, err
		}
		outcome, err := s.docs.sessions.Save(ctx, cb.Key, fetch, cb.Status == docsapi.StatusMustSave)
		if err != nil {
			return 1, fmt.Errorf("%w: %v", errRetry, err)
		}
		ri.op += "/" + string(outcome)
	case docsapi.StatusSaveError:
		s.log.WithFields(logrus.Fields{"face": faceDocs, "file_id": fileID, "key": cb.Key}).
			Error("ONLYOFFICE Docs could not build the saved document (status 3); it keeps the result as a forgotten file: ask DS's command service getForgotten for this key")
		if err := s.docs.sessions.Ended(ctx, cb.Key); err != nil {
			return 1, err
		}
	case docsapi.StatusForcesaveError:
		s.log.WithFields(logrus.Fields{"face": faceDocs, "file_id": fileID, "key": cb.Key}).
			Error("ONLYOFFICE Docs could not build a forcesave (status 7); the session goes on and the final save follows")
	case docsapi.StatusClosedUnchanged:
		if err := s.docs.sessions.Ended(ctx, cb.Key); err != nil {
			return 1, err
		}
	default:
		// Acknowledged so that DS does not retry it, but worth a look: a newer DS, or
		// something other than DS.
		s.log.WithFields(logrus.Fields{"face": faceDocs, "file_id": fileID, "key": cb.Key, "status": int(cb.Status)}).
			Warnf("ONLYOFFICE Docs sent callback status %d, which this bridge does not know; it was acknowledged and ignored", int(cb.Status))
	}
	return 0, nil
}

// resultFetcher checks that a save result URL is on a DS origin and below its base path
// (no SSRF) and returns what downloads it, streamed; redirects are held to the same rule
// (fetchResult). A URL on DS's public origin is fetched through DS's internal URL when
// the two differ.
func (s *Server) resultFetcher(raw string) (session.Fetcher, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, userErr(errBadRequest, "the callback has no valid url to download the saved document from")
	}
	target, ok := s.docs.resultURL(u)
	if !ok {
		err := errResultOrigin(u)
		s.log.WithField("face", faceDocs).Error(err.Error())
		return nil, err
	}
	return func(ctx context.Context) (io.ReadCloser, error) {
		return s.fetchResult(ctx, target)
	}, nil
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// scrubURLError drops the URL (which carries DS's signature) from a client error.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
