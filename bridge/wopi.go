package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gorilla/mux"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// wopiCall is one authenticated WOPI request.
type wopiCall struct {
	tok accessToken // verified claims
	raw string      // the token as sent
	id  string      // the file or folder id of the path, if any
	// waiting is why saves of the file still wait in the spool (storage refused them
	// again); only PutFile and Unlock go on then.
	waiting error
}

// wopiFunc handles a WOPI request; the adapter turns its error into the reply.
type wopiFunc func(w http.ResponseWriter, r *http.Request, c *wopiCall) error

// wopiOp is one entry of an override table.
type wopiOp struct {
	name  string // operation name, for the log
	write bool   // needs an edit-mode token
	fn    wopiFunc
}

// authorizer decides whether a verified token may act on the request's resource.
type authorizer func(ctx context.Context, t accessToken, id string) error

func (s *Server) wopiFile(op string, fn wopiFunc) http.Handler {
	return s.wopi(op, s.authorizeFile, s.afterSpooledSaves(fn))
}

// afterSpooledSaves writes the file's spooled saves before fn acts on the file, so that
// nothing reads or writes it around them. While storage still refuses them, only a
// PutFile (spooled behind them) and an Unlock (done once they land) go on.
func (s *Server) afterSpooledSaves(fn wopiFunc) wopiFunc {
	return func(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
		if c.waiting = s.docs.sessions.Flush(r.Context(), c.id); c.waiting != nil {
			put := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/contents")
			unlock := wopiclient.ParseOverride(r.Header.Get(wopiclient.HeaderOverride)) == wopiclient.OverrideUnlock
			if !put && !unlock {
				return c.waiting
			}
		}
		return fn(w, r, c)
	}
}

func (s *Server) wopiFolder(op string, fn wopiFunc) http.Handler {
	return s.wopi(op, s.authorizeFolder, fn)
}

func (s *Server) wopiAny(op string, fn wopiFunc) http.Handler {
	return s.wopi(op, func(context.Context, accessToken, string) error { return nil }, fn)
}

// wopi is the WOPI face's adapter: it checks the proof, authenticates, calls the
// handler and writes any error once, with the WOPI headers that go with it.
func (s *Server) wopi(op string, authorize authorizer, fn wopiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r.Context())
		ri.face, ri.op = faceWOPI, op
		c := &wopiCall{raw: tokenFrom(r), id: mux.Vars(r)["id"]}
		ri.fileID = c.id
		if id := r.Header.Get(wopiclient.HeaderCorrelationID); len(id) <= 64 && plainToken(id) {
			ri.correlation = id
		}
		// The proof comes first: a request that is not from DS learns nothing, not even
		// whether its token is valid.
		err := s.checkProof(r, c.raw)
		if err != nil {
			s.proofRefused(r, c.id, err)
		} else {
			err = s.authenticate(r.Context(), c, authorize)
		}
		if err == nil {
			// The storage acts for the token's user (an upstream WOPI host: with their token).
			r = r.WithContext(storage.WithUser(r.Context(), c.tok.User))
			err = fn(w, r, c)
			s.wopiLockTimeline(r, c, err)
		}
		if err != nil {
			s.wopiError(w, r, err)
		}
	})
}

func (s *Server) authenticate(ctx context.Context, c *wopiCall, authorize authorizer) error {
	t, err := s.tokens.verify(c.raw)
	if err != nil {
		return err
	}
	if err := authorize(ctx, t, c.id); err != nil {
		return err
	}
	c.tok = t
	return nil
}

// authorizeFile accepts a file token for that file only.
func (s *Server) authorizeFile(_ context.Context, t accessToken, id string) error {
	if t.File == "" || t.File != id {
		return userErr(errUnauthenticated, "the access token is for another resource")
	}
	return nil
}

// authorizeFolder accepts any token of the tree the folder belongs to; a file-scoped
// token belongs to no tree.
func (s *Server) authorizeFolder(ctx context.Context, t accessToken, id string) error {
	if t.fileScoped() {
		return errFileScope
	}
	ok, err := s.inTree(ctx, t.Tree, id)
	if errors.Is(err, storage.ErrNotFound) {
		// An unknown folder is outside every tree; 401 says no more than 404 would.
		return userErr(errUnauthenticated, "the access token is for another resource")
	}
	if err != nil {
		return err
	}
	if !ok {
		return userErr(errUnauthenticated, "the access token is for another resource")
	}
	return nil
}

// maxDepth bounds the walk up the folder tree.
const maxDepth = 256

// inTree reports whether folder id is tree or below it.
func (s *Server) inTree(ctx context.Context, tree, id string) (bool, error) {
	for range maxDepth {
		if id == tree {
			return true, nil
		}
		f, err := s.store.Folder(ctx, id)
		if err != nil {
			return false, err
		}
		if f.ParentID == "" {
			return false, nil
		}
		id = f.ParentID
	}
	return false, nil
}

// dispatch runs the override named in X-WOPI-Override from ops; a missing entry is 501.
func (s *Server) dispatch(ops map[wopiclient.Override]wopiOp, w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	ov := wopiclient.ParseOverride(r.Header.Get(wopiclient.HeaderOverride))
	op, ok := ops[ov]
	if !ok {
		info(r.Context()).op = string(ov)
		return userErr(errNotImplemented, "X-WOPI-Override %q is not supported on %s", string(ov), r.URL.Path)
	}
	info(r.Context()).op = op.name
	if op.write && !c.tok.canWrite() {
		return userErr(errUnauthenticated, "the access token is view-only: %s needs an edit session", op.name)
	}
	return op.fn(w, r, c)
}

// wopiError writes err as a WOPI reply: status, the WOPI headers that go with it and a
// short text body. It never writes a second status.
func (s *Server) wopiError(w http.ResponseWriter, r *http.Request, err error) {
	info(r.Context()).err = err
	if headerWritten(w) {
		return
	}
	status := statusOf(err)
	h := w.Header()
	var conflict *storage.LockConflictError
	if errors.As(err, &conflict) {
		// Always present on a lock conflict, empty when the file is not locked.
		setHeader(h, wopiclient.HeaderLock, conflict.Current)
		setHeader(h, wopiclient.HeaderLockFailureReason, lockFailureReason(conflict))
	}
	var ne *nameError
	switch {
	case errors.As(err, &ne):
		if ne.folder {
			setHeader(h, wopiclient.HeaderInvalidContainerNameError, ne.reason)
		} else {
			setHeader(h, wopiclient.HeaderInvalidFileNameError, ne.reason)
		}
	case errors.Is(err, storage.ErrInvalidName):
		// The storage refused a name the bridge's checks let through.
		if op := info(r.Context()).op; op == "CreateChildContainer" || op == "RenameContainer" {
			setHeader(h, wopiclient.HeaderInvalidContainerNameError, refusedNameMessage)
		} else {
			setHeader(h, wopiclient.HeaderInvalidFileNameError, refusedNameMessage)
		}
	}
	var nt *nameTakenError
	if errors.As(err, &nt) && nt.suggestion != "" {
		setHeader(h, wopiclient.HeaderValidRelativeTarget, wopiclient.EncodeUTF7(nt.suggestion))
	}
	msg := publicMessage(err)
	if status >= 500 {
		setHeader(h, wopiclient.HeaderServerError, msg)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(msg + "\n"))
	}
}

// setHeader sets a response header with WOPI's spelling of its name (Header.Set would
// canonicalise "X-WOPI-Lock" to "X-Wopi-Lock"; both are correct, this one is readable).
// Header values never carry line breaks.
func setHeader(h http.Header, name, value string) {
	h[name] = []string{headerSafe(value)}
}

func headerSafe(v string) string {
	if !strings.ContainsAny(v, "\r\n\x00") {
		return v
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, v)
}

// writeJSON answers status with v as JSON and an exact Content-Length.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) error {
	buf := s.jsonBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledJSON {
			buf.Reset()
			s.jsonBufs.Put(buf)
		}
	}()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return ignoreClientGone(err)
}

// maxPooledJSON keeps the buffers of very large replies (long folder listings) out of
// the pool.
const maxPooledJSON = 64 << 10

func newJSONBufs() *sync.Pool {
	return &sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 4096)) }}
}

// ignoreClientGone drops write errors: once the status is sent, a failed write means the
// client went away, and there is nothing left to answer.
func ignoreClientGone(error) error { return nil }
