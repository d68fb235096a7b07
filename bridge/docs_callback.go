package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/wopibridge/wopibridge/bridge/session"
	"github.com/wopibridge/wopibridge/docsapi"
)

// errRetry: the callback could not be handled now; DS should send it again (HTTP 503,
// which DS retries for status 2 and 3).
var errRetry = errors.New("retry later")

// outboxHint says which settings a refused DS token points at.
const outboxHint = "check that WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET (or, when unset, WOPIBRIDGE_DOCS_JWT_SECRET) is DS's outbox secret (services.CoAuthoring.secret.outbox in local.json; Docker's JWT_SECRET sets it) and WOPIBRIDGE_DOCS_JWT_HEADER its JWT header"

// Results of a callback, as counted in docs_callbacks_total.
const (
	callbackOK      = "ok"      // {"error":0}
	callbackRefused = "refused" // {"error":1}: bad JWT, key, URL, or a status 1 without the lock
	callbackRetry   = "retry"   // HTTP 503: the bytes are not safe yet; DS sends it again
)

// callbackOp is the operation label of a callback of status st: one word.
func callbackOp(st docsapi.CallbackStatus) string {
	switch st {
	case docsapi.StatusEditing:
		return "CallbackEditing"
	case docsapi.StatusMustSave:
		return "CallbackMustSave"
	case docsapi.StatusSaveError:
		return "CallbackSaveError"
	case docsapi.StatusClosedUnchanged:
		return "CallbackClosed"
	case docsapi.StatusForcesaved:
		return "CallbackForcesave"
	case docsapi.StatusForcesaveError:
		return "CallbackForcesaveError"
	}
	return "CallbackOther"
}

// callbackStatusLabel is the status label of docs_callbacks_total: the number of a
// known status, "other", or "unknown" when the callback was refused before its body
// could be trusted.
func callbackStatusLabel(cb *docsapi.Callback) string {
	if cb == nil {
		return "unknown"
	}
	if callbackOp(cb.Status) == "CallbackOther" {
		return "other"
	}
	return strconv.Itoa(int(cb.Status))
}

// docsCallback is the callbackUrl DS posts to: POST /docs/callback?file=&sig=. It
// always answers JSON {"error":n}, or 503 when the bytes of a save are not safe yet.
// A refused callback is logged as a warning with its reason, since DS only logs the
// answer on its side.
func (s *Server) docsCallback(w http.ResponseWriter, r *http.Request) {
	ri := info(r.Context())
	ri.face, ri.op = faceDocs, "Callback"
	cb, code, err := s.handleCallback(r)
	if err != nil {
		ri.err = err
	}
	result := callbackOK
	switch {
	case errors.Is(err, errRetry):
		result = callbackRetry
	case code != 0:
		result = callbackRefused
	}
	s.metrics.callback(callbackStatusLabel(cb), result)
	s.callbackTimeline(r.Context(), ri.fileID, cb, result, err)
	if result == callbackRefused {
		l := s.log.WithFields(logrus.Fields{"face": faceDocs, "operation": ri.op, "file_id": ri.fileID})
		if cb != nil {
			l = l.WithField("key", cb.Key)
		}
		l.WithError(err).Warn("callback refused")
	}
	if result == callbackRetry {
		http.Error(w, `{"error":1}`, http.StatusServiceUnavailable)
		return
	}
	_ = docsapi.Response{Error: code}.Write(w)
}

func (s *Server) handleCallback(r *http.Request) (*docsapi.Callback, int, error) {
	ctx := r.Context()
	ri := info(ctx)
	fileID, err := s.docs.urls.verifyCallback(r.URL.Query())
	if err != nil {
		return nil, 1, err
	}
	ri.fileID = fileID
	cb, err := docsapi.ParseCallback(r.Body, r.Header.Get(s.docs.header), s.docs.outbox, docsapi.DefaultMaxCallbackBytes)
	switch {
	case errors.Is(err, docsapi.ErrCallbackTooLarge):
		return nil, 1, userErr(errBadRequest, "callback refused: its body is larger than %d bytes, far more than DS sends; something other than DS is posting to the callback URL", docsapi.DefaultMaxCallbackBytes)
	case err != nil:
		return nil, 1, userErr(errUnauthenticated, "callback refused: %v; %s", err, outboxHint)
	}
	ri.op = callbackOp(cb.Status)
	owner, err := s.docs.sessions.FileOf(cb.Key)
	if err != nil {
		return cb, 1, err
	}
	if owner != fileID {
		return cb, 1, userErr(errForbidden, "callback for key %s names file %s, but the key belongs to another file", cb.Key, fileID)
	}
	switch cb.Status {
	case docsapi.StatusEditing:
		ended, err := s.docs.sessions.SessionEnded(cb.Key)
		if err != nil {
			return cb, 1, err
		}
		if err := s.docs.sessions.Editing(ctx, cb.Key, cb.Users); err != nil {
			if errors.Is(err, session.ErrLockedElsewhere) || errors.Is(err, session.ErrKeyOutdated) {
				s.dropEditors(ctx, fileID, cb.Key, err)
			}
			return cb, 1, err
		}
		if ended {
			s.confirmEditors(ctx, fileID, cb.Key)
		}
	case docsapi.StatusMustSave, docsapi.StatusForcesaved:
		fetch, err := s.resultFetcher(cb.URL)
		if err != nil {
			return cb, 1, err
		}
		// The save acts for the session's people: the callback's users first.
		users := slices.Clone(cb.Users)
		for _, a := range cb.Actions {
			users = append(users, a.UserID)
		}
		_, err = s.docs.sessions.Save(ctx, cb.Key, fetch, cb.Status == docsapi.StatusMustSave, users...)
		if err != nil {
			return cb, 1, fmt.Errorf("%w: %v", errRetry, err)
		}
	case docsapi.StatusSaveError:
		s.log.WithFields(logrus.Fields{"face": faceDocs, "file_id": fileID, "key": cb.Key}).
			Error("ONLYOFFICE Docs could not build the saved document (status 3); it keeps the result as a forgotten file: ask DS's command service getForgotten for this key")
		if err := s.docs.sessions.Ended(ctx, cb.Key); err != nil {
			return cb, 1, err
		}
	case docsapi.StatusForcesaveError:
		s.log.WithFields(logrus.Fields{"face": faceDocs, "file_id": fileID, "key": cb.Key}).
			Error("ONLYOFFICE Docs could not build a forcesave (status 7); the session goes on and the final save follows")
	case docsapi.StatusClosedUnchanged:
		if err := s.docs.sessions.Ended(ctx, cb.Key); err != nil {
			return cb, 1, err
		}
	default:
		// Acknowledged so that DS does not retry it, but worth a look: a newer DS, or
		// something other than DS.
		s.log.WithFields(logrus.Fields{"face": faceDocs, "file_id": fileID, "key": cb.Key, "status": int(cb.Status)}).
			Warnf("ONLYOFFICE Docs sent callback status %d, which this bridge does not know; it was acknowledged and ignored", int(cb.Status))
	}
	return cb, 0, nil
}

// confirmEditors asks DS (command service info) whether key really has editors, after
// a status 1 reopened its ended session: a status 1 that DS sent before the status 4
// which ended the session, delivered after it, would otherwise keep the file locked.
// DS answers info with a callback: status 1 when editors are connected (nothing
// changes), status 4 when none are (the session ends again).
func (s *Server) confirmEditors(ctx context.Context, fileID, key string) {
	if s.docs.command == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	l := s.log.WithFields(logrus.Fields{"face": faceDocs, "file_id": fileID, "key": key})
	_, err := s.docs.command.Info(ctx, key)
	var ce *docsapi.CommandError
	switch {
	case err == nil:
	case errors.As(err, &ce) && ce.Code == docsapi.CommandKeyNotFound:
		// DS no longer knows the key: nobody edits it; the status 1 was a late one.
		if err := s.docs.sessions.Ended(ctx, key); err != nil {
			l.WithError(err).Error("could not end the session of a key ONLYOFFICE Docs no longer knows")
		}
	default:
		l.WithError(err).Warn("could not ask ONLYOFFICE Docs (command service info) whether the reconnected editors of this key are still there")
	}
}

// Reasons for ending DS's editing of a key, as counted in docs_drops_total.
const (
	dropLockedElsewhere = "locked_elsewhere"
	dropKeyOutdated     = "key_outdated"
)

// dropEditors ends DS's editing session of key through the command service (drop):
// its editors edit without the file's lock (another session holds it) or on content
// the file no longer has. DS disconnects them; a reload gets a fresh config (view mode
// while the other session holds the lock, a new key when the content changed). DS
// ignores the answer to a status 1, so this is the only way to stop them.
func (s *Server) dropEditors(ctx context.Context, fileID, key string, why error) {
	reason := dropLockedElsewhere
	if errors.Is(why, session.ErrKeyOutdated) {
		reason = dropKeyOutdated
	}
	l := s.log.WithFields(logrus.Fields{"face": faceDocs, "file_id": fileID, "key": key, "reason": reason})
	if s.docs.command == nil {
		s.metrics.docsDrop(reason, "error")
		l.WithError(why).Error("editors of this key edit without the file's lock, and no ONLYOFFICE Docs is configured to disconnect them (WOPIBRIDGE_DOCS_URL)")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.docs.command.Drop(ctx, key, nil); err != nil {
		s.metrics.docsDrop(reason, "error")
		l.WithError(err).Error("could not disconnect the editors of this key through ONLYOFFICE Docs' command service (drop); they edit without the file's lock: check WOPIBRIDGE_DOCS_URL and WOPIBRIDGE_DOCS_JWT_SECRET")
		return
	}
	s.metrics.docsDrop(reason, "ok")
	l.WithError(why).Warn("disconnected the editors of this key (command service drop): a reload opens the file again")
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
