package bridge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/wopibridge/wopibridge/bridge/session"
	"github.com/wopibridge/wopibridge/docsapi"
)

// DocsOptions connect the bridge to ONLYOFFICE Docs (the Document Server, DS) for the
// Docs API face.
type DocsOptions struct {
	URL       *url.URL     // DS as the bridge reaches it; nil: no DS configured
	PublicURL *url.URL     // DS as browsers reach it; nil: URL
	JWTSecret []byte       // DS's shared (inbox) secret: configs and commands; empty: JWT off
	JWTHeader string       // header DS puts its JWT in; empty: Authorization
	HTTP      *http.Client // outbound calls to DS; nil: a client with timeouts
	// SaveRetryEvery is the pause between replays of saves that storage refused.
	SaveRetryEvery time.Duration
	// JWTOutboxSecret is the secret DS signs callbacks and downloads with (its
	// outbox secret); empty: JWTSecret.
	JWTOutboxSecret []byte
	// ResultIdle abandons a saved document's download that sends no byte for this long
	// (DS retries the callback); 0: a minute.
	ResultIdle time.Duration
}

// errNoDocs: an operation that needs a Document Server, none configured.
var errNoDocs = errors.New("no document server")

// docsFace is the Docs API face's state.
type docsFace struct {
	url       *url.URL
	publicURL *url.URL
	secret    []byte // signs configs and commands (DS's inbox secret)
	outbox    []byte // verifies callbacks and downloads (DS's outbox secret)
	header    string
	http      *http.Client
	// resultIdle bounds the pauses of a saved document's download.
	resultIdle time.Duration
	urls       *docsURLSigner
	sessions   *session.Manager
	command    *docsapi.CommandClient
}

func newDocsFace(o DocsOptions, secret []byte, now func() time.Time) *docsFace {
	d := &docsFace{url: o.URL, publicURL: o.PublicURL, secret: o.JWTSecret, header: o.JWTHeader, http: o.HTTP,
		urls: &docsURLSigner{key: deriveKey(secret, "docs url v1"), now: now}}
	if d.publicURL == nil {
		d.publicURL = d.url
	}
	d.outbox = o.JWTOutboxSecret
	if len(d.outbox) == 0 {
		d.outbox = d.secret
	}
	if d.header == "" {
		d.header = "Authorization"
	}
	if d.http == nil {
		d.http = newDocsHTTP()
	}
	if d.resultIdle = o.ResultIdle; d.resultIdle <= 0 {
		d.resultIdle = defaultResultIdle
	}
	if d.url != nil {
		d.command = &docsapi.CommandClient{BaseURL: d.url, Secret: d.secret, Header: d.header, HTTP: d.http, Now: now}
	}
	return d
}

// keyPrefix makes this bridge's document keys its own on a DS shared with others, and
// stable across restarts (it comes from the bridge secret).
func keyPrefix(secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("document key prefix"))
	return strings.ToLower(base32.StdEncoding.EncodeToString(m.Sum(nil))[:8])
}

// apiJSURL is where browsers load DS's Docs API script.
func (d *docsFace) apiJSURL() (string, error) {
	if d.publicURL == nil {
		return "", userErr(errNoDocs, "no ONLYOFFICE Docs is configured: set WOPIBRIDGE_DOCS_URL (and WOPIBRIDGE_DOCS_PUBLIC_URL if browsers reach it elsewhere)")
	}
	return strings.TrimRight(d.publicURL.String(), "/") + "/web-apps/apps/api/documents/api.js", nil
}

// docsURLSigner signs the URLs the bridge puts into editor configs: document.url
// (expiring) and callbackUrl (bound to the file; DS keeps calling it for as long as a
// session lives).
type docsURLSigner struct {
	key []byte
	now func() time.Time
}

func (u *docsURLSigner) sig(purpose, id string, exp int64) string {
	m := hmac.New(sha256.New, u.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return b64.EncodeToString(m.Sum(nil))
}

// downloadURL is the document.url of version of file id: it serves that version only
// (the key of an editor config stands for one content, never reused for another).
func (u *docsURLSigner) downloadURL(public, id, version string, exp int64) string {
	return public + "/docs/files/" + url.PathEscape(id) + "/contents?v=" + url.QueryEscape(version) +
		"&exp=" + strconv.FormatInt(exp, 10) + "&sig=" + u.sig("download", id+"\x00"+version, exp)
}

func (u *docsURLSigner) callbackURL(public, id string) string {
	return public + "/docs/callback?file=" + url.QueryEscape(id) + "&sig=" + u.sig("callback", id, 0)
}

// verifyDownload checks a document.url and returns the version it is for.
func (u *docsURLSigner) verifyDownload(id string, q url.Values) (string, error) {
	version := q.Get("v")
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	if err != nil || version == "" || !hmac.Equal([]byte(q.Get("sig")), []byte(u.sig("download", id+"\x00"+version, exp))) {
		return "", userErr(errUnauthenticated, "the document URL is not valid: it was not issued by this bridge (or WOPIBRIDGE_SECRET changed)")
	}
	if u.now().UnixMilli() >= exp {
		return "", userErr(errUnauthenticated, "the document URL has expired: open the document again")
	}
	return version, nil
}

func (u *docsURLSigner) verifyCallback(q url.Values) (string, error) {
	id := q.Get("file")
	if id == "" || !hmac.Equal([]byte(q.Get("sig")), []byte(u.sig("callback", id, 0))) {
		return "", userErr(errUnauthenticated, "the callback URL is not valid: it was not issued by this bridge (or WOPIBRIDGE_SECRET changed)")
	}
	return id, nil
}

// logSessionEvent reports what the session model did in the background or on a save:
// one log line and one count.
func (s *Server) logSessionEvent(e session.Event) {
	s.sessionTimeline(e)
	if e.Kind == session.EventEnded || e.Kind == session.EventKeyChanged {
		return // steps of a session, not of the save pipeline: on the timeline only
	}
	s.metrics.sessionEvent(e.Kind)
	face := faceDocs
	if e.Key == "" {
		face = faceWOPI // a PutFile kept while storage was down
	}
	l := s.log.WithFields(logrus.Fields{"face": face, "file_id": e.FileID, "key": e.Key, "event": string(e.Kind)})
	if e.Name != "" {
		l = l.WithField("copy", e.Name)
	}
	if e.Err != nil {
		l = l.WithError(e.Err)
	}
	switch e.Kind {
	case session.EventSpooled, session.EventReplayFailed, session.EventLockRefresh:
		l.Warn("save pipeline: storage refused; the bytes are kept and retried")
	case session.EventConflictCopy:
		l.Warn("save pipeline: the lock was lost to another writer; saved as a conflict copy")
	case session.EventRecovered:
		l.Error("save pipeline: storage took neither the save nor a conflict copy; the bytes are kept in the recovery area and the file is released: see \"wopibridge saves list\"")
	case session.EventNoEditor:
		l.Warn("save pipeline: storage refuses the credentials of everyone who edited the file; the save waits until one of them opens it again")
	case session.EventReleaseFail:
		l.Warn("save pipeline: the save is in storage but the lock could not be released; the release is retried and the file opens for view meanwhile")
	default:
		l.Info("save pipeline")
	}
}

// startSessions runs the session model's background work until Close.
func (s *Server) startSessions() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.docs.sessions.Run(ctx)
	}()
	s.stop = func() { cancel(); <-done }
}
