package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// Faces of the bridge, as logged.
const (
	faceWOPI     = "wopi"
	faceAPI      = "api"
	faceDocs     = "docs"
	facePage     = "page"
	faceOperator = "operator"
)

// requestInfo is what the one log line of a request says beyond method, path and status.
// The middleware creates it; adapters and handlers fill it in.
type requestInfo struct {
	id     string
	face   string
	op     string
	fileID string
	err    error     // the error the adapter answered with, logged once
	start  time.Time // when the request arrived (a save's duration starts there)
	// correlation is the client's correlation id (DS's X-WOPI-CorrelationId), if plain.
	correlation string
}

type requestInfoKey struct{}

// info returns the request's requestInfo; a throw-away one outside the middleware (tests
// calling handlers directly).
func info(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// recorder remembers the status and size of a response, so that an adapter never writes a
// status twice and the log line can report them.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the underlying writer's fast path (sendfile) for streamed bodies.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(r.ResponseWriter, src)
	}
	r.bytes += n
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) wroteHeader() bool { return r.status != 0 }

// statusOrOK is the status sent, 200 when the handler wrote nothing (net/http's default).
func (r *recorder) statusOrOK() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// headerWritten reports whether a response has started, for adapters deciding whether
// they may still write an error status.
func headerWritten(w http.ResponseWriter) bool {
	if rec, ok := w.(*recorder); ok {
		return rec.wroteHeader()
	}
	return false
}

// middleware gives every request an id, recovers panics, and logs one line when the
// request ends: 5xx as errors, 4xx as info, the rest at debug level.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		ri := &requestInfo{id: s.requestID(r), face: faceOf(r.URL.Path), start: start}
		w.Header().Set("X-Request-Id", ri.id)
		rec := &recorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				ri.err = fmt.Errorf("panic: %v", p)
				if !rec.wroteHeader() {
					http.Error(rec, "internal error: see the server log for this request id", http.StatusInternalServerError)
				}
			}
			d := s.now().Sub(start)
			s.metrics.observeRequest(ri, rec.statusOrOK(), d)
			s.logRequest(r, rec, ri, d)
		}()
		if s.guardRequest(rec, r) {
			next.ServeHTTP(rec, r)
		}
	})
}

func (s *Server) logRequest(r *http.Request, rec *recorder, ri *requestInfo, d time.Duration) {
	status := rec.statusOrOK()
	level := logrus.DebugLevel
	switch {
	case status >= 500 && status != http.StatusNotImplemented:
		level = logrus.ErrorLevel
	case status >= 400:
		level = logrus.InfoLevel
	}
	if !s.log.IsLevelEnabled(level) {
		return
	}
	fields := logrus.Fields{
		"request_id":  ri.id,
		"face":        ri.face,
		"method":      r.Method,
		"url":         scrubURL(r.URL),
		"status":      status,
		"bytes":       rec.bytes,
		"duration_ms": float64(d.Microseconds()) / 1000,
	}
	if ri.op != "" {
		fields["operation"] = ri.op
	}
	if ri.fileID != "" {
		fields["file_id"] = ri.fileID
	}
	if c := r.Header.Get(wopiclient.HeaderCorrelationID); c != "" {
		fields["correlation_id"] = c
	}
	e := s.log.WithFields(fields)
	if ri.err != nil {
		e = e.WithError(ri.err)
	}
	e.Log(level, "request")
}

// secretParams are query parameters that carry credentials; they never reach a log.
var secretParams = []string{"access_token", "launch", "link", "sig", "token"}

// scrubURL renders u for a log with credentials replaced by "***".
func scrubURL(u *url.URL) string {
	if u.RawQuery == "" {
		return u.Path
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return u.Path + "?<unparsable query>"
	}
	for k := range q {
		for _, p := range secretParams {
			if strings.EqualFold(k, p) {
				q[k] = []string{"***"}
			}
		}
	}
	return u.Path + "?" + strings.ReplaceAll(q.Encode(), "%2A%2A%2A", "***")
}

// requestID keeps a caller's X-Request-ID when it is short and plain (WOPI clients send
// one to correlate logs), and makes one otherwise: a per-process random prefix and a
// counter, unique without a system call per request.
func (s *Server) requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && plainToken(id) {
		return id
	}
	return s.idPrefix + strconv.FormatUint(s.idSeq.Add(1), 36)
}

func newIDPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "-"
}

func plainToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func faceOf(path string) string {
	switch {
	case strings.HasPrefix(path, "/wopi/"):
		return faceWOPI
	case strings.HasPrefix(path, "/api/"):
		return faceAPI
	case strings.HasPrefix(path, "/docs/"):
		return faceDocs
	case path == "/healthz" || path == "/readyz" || path == "/metrics":
		return faceOperator
	}
	return facePage
}
