package bridge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// getFile answers GET /wopi/files/{id}/contents, streaming the content.
func (s *Server) getFile(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	return s.serveContent(w, r, c.id)
}

// serveContent streams a file with its version, honouring X-WOPI-MaxExpectedSize (412)
// and, when the backend can seek, ranges and conditional requests.
//
// The bytes go out as the storage gives them: a length is declared only when the
// storage knows it for these very bytes (an upstream WOPI host's GetFile
// Content-Length), otherwise the reply is chunked. A storage read that fails mid-way,
// or ends short of the declared length, cuts the connection: the client sees a broken
// reply, never a complete-looking short one. X-WOPI-MaxExpectedSize holds for the bytes
// that flow: a file of unknown size that goes past it is cut the same way.
func (s *Server) serveContent(w http.ResponseWriter, r *http.Request, id string) error {
	return s.serveVersion(w, r, id, "")
}

// serveVersion is serveContent for a URL issued for one version of the file (version
// not empty): once the file has another version it answers 409, never other bytes.
func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request, id, version string) error {
	maxExpected, err := maxExpectedSize(r.Header)
	if err != nil {
		return err
	}
	rc, f, err := s.store.Open(r.Context(), id)
	if err != nil {
		return err
	}
	defer rc.Close()
	if version != "" && f.Version != version {
		// Keys and URLs are made from Stat's version; an upstream host may write
		// X-WOPI-ItemVersion (GetFile) unlike CheckFileInfo's Version. A Stat after the
		// Open sees at least the version opened, so its agreeing is enough.
		if st, err := s.store.Stat(r.Context(), id); err != nil || st.Version != version {
			return userErr(errConflict, "the document changed since this URL was issued: open it again to get the current version")
		}
	}
	if maxExpected >= 0 && f.Size > maxExpected {
		return userErr(errPrecondition, "the file is %d bytes, more than the %d of X-WOPI-MaxExpectedSize", f.Size, maxExpected)
	}
	h := w.Header()
	setHeader(h, wopiclient.HeaderItemVersion, f.Version)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if rs, ok := rc.(io.ReadSeeker); ok && f.Size >= 0 {
		h.Set("ETag", etag(f.Version))
		http.ServeContent(w, r, "", f.ModTime, rs)
		return nil
	}
	if f.Size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(f.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	src := io.Reader(rc)
	switch {
	case f.Size >= 0:
		src = io.LimitReader(rc, f.Size)
	case maxExpected >= 0:
		src = io.LimitReader(rc, maxExpected+1)
	}
	out := &clientWriter{w: w}
	n, err := io.Copy(out, src)
	switch {
	case out.err != nil:
		return ignoreClientGone(out.err)
	case err != nil:
		err = fmt.Errorf("the storage failed after %d bytes of the file: %w", n, err)
	case f.Size >= 0 && n < f.Size && err == nil:
		err = fmt.Errorf("the storage gave %d bytes of the %d it declared", n, f.Size)
	case f.Size < 0 && maxExpected >= 0 && n > maxExpected:
		err = userErr(errPrecondition, "the file is larger than the %d bytes of X-WOPI-MaxExpectedSize", maxExpected)
	default:
		return ignoreClientGone(err)
	}
	abortReply(w, r, err)
	return nil
}

// clientWriter tells a failed write to the client (it went away) from a failed read.
type clientWriter struct {
	w   io.Writer
	err error
}

func (c *clientWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// abortReply cuts a reply whose body cannot be completed, noting why for the log: the
// status is sent already, and a reply that ended normally would look complete.
func abortReply(w http.ResponseWriter, r *http.Request, err error) {
	info(r.Context()).err = err
	if conn, _, herr := http.NewResponseController(w).Hijack(); herr == nil {
		conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// lastModified is f's LastModifiedTime for WOPI replies; empty when unknown, never
// year 1.
func lastModified(f storage.File) string {
	if f.ModTime.IsZero() {
		return ""
	}
	return f.ModTime.UTC().Format(wopiclient.TimeFormat)
}

// maxExpectedSize reads X-WOPI-MaxExpectedSize; -1 when absent.
func maxExpectedSize(h http.Header) (int64, error) {
	v := strings.TrimSpace(h.Get(wopiclient.HeaderMaxExpectedSize))
	if v == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, userErr(errBadRequest, "%s must be a number of bytes, not %q", wopiclient.HeaderMaxExpectedSize, v)
	}
	return n, nil
}

// etag quotes a version as an entity tag.
func etag(version string) string {
	return `"` + strings.NewReplacer(`"`, "", `\`, "").Replace(version) + `"`
}

// putFile answers POST /wopi/files/{id}/contents (X-WOPI-Override: PUT): the body
// replaces the content, under the lock rules, streamed to storage.
func (s *Server) putFile(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	if ov := wopiclient.ParseOverride(r.Header.Get(wopiclient.HeaderOverride)); ov != wopiclient.OverridePut {
		info(r.Context()).op = string(ov)
		return userErr(errNotImplemented, "X-WOPI-Override %q is not supported on %s; PutFile is PUT", string(ov), r.URL.Path)
	}
	if !c.tok.canWrite() {
		return userErr(errUnauthenticated, "the access token is view-only: PutFile needs an edit session")
	}
	lockID, err := lockHeader(r.Header, wopiclient.HeaderLock, false)
	if err != nil {
		return err
	}
	body, err := s.limitBody(w, r)
	if err != nil {
		return err
	}
	var f storage.File
	before, _ := s.versions.Peek(c.id)
	switch {
	case s.remote():
		f, err = s.putRemote(w, r, c, lockID, body)
	case c.waiting != nil:
		err = c.waiting // refused: earlier saves wait for storage
	default:
		f, err = s.store.Put(r.Context(), c.id, lockID, body, s.maxSize)
	}
	s.wopiSaveTimeline(r, c, wopiOpPut, lockID, f, before, err)
	if err != nil || f.ID == "" {
		return err
	}
	s.sawVersion(f)
	setHeader(w.Header(), wopiclient.HeaderItemVersion, f.Version)
	// ONLYOFFICE adopts LastModifiedTime from this reply (as Nextcloud hosts send it);
	// when the storage does not say, it is left out and DS keeps the one it has.
	return s.writeJSON(w, http.StatusOK, struct {
		LastModifiedTime string `json:"LastModifiedTime,omitempty"`
	}{lastModified(f)})
}

// putRemote is PutFile on a remote storage (an upstream WOPI host), which may be down:
// ONLYOFFICE Docs never retries a PutFile, so the body is kept in a local file first,
// and when storage is unavailable (or earlier saves of the file still wait) it goes to
// the spool and DS is told it is saved. It answers then itself, and returns no file.
func (s *Server) putRemote(w http.ResponseWriter, r *http.Request, c *wopiCall, lockID string, body io.Reader) (storage.File, error) {
	tmp, err := os.CreateTemp("", ".wopibridge-put-*")
	if err != nil {
		return storage.File{}, fmt.Errorf("keeping the upload: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if _, err := io.Copy(tmp, body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return storage.File{}, s.tooLarge()
		}
		return storage.File{}, userErr(errBadRequest, "reading the upload: %v", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return storage.File{}, err
	}
	// One PutFile of a file at a time from here: a save must not land between an
	// earlier one's failure and its spooling, to be overwritten by it at the replay.
	unlock := s.remotePuts.Lock(c.id)
	defer unlock()
	cause := c.waiting
	if cause == nil {
		cause = s.docs.sessions.Flush(r.Context(), c.id) // spooled by a PutFile just before
	}
	if cause == nil {
		f, err := s.store.Put(r.Context(), c.id, lockID, tmp, s.maxSize)
		if !errors.Is(err, storage.ErrUnavailable) {
			return f, err
		}
		cause = err
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return storage.File{}, err
		}
	}
	base, _ := s.versions.Get(c.id)
	exit := strings.EqualFold(r.Header.Get(headerIsExitSave), "true")
	if err := s.docs.sessions.SpoolPut(r.Context(), c.id, lockID, c.tok.User, base, tmp, exit, cause); err != nil {
		return storage.File{}, fmt.Errorf("%w: %w", cause, err)
	}
	// Saved as far as DS is concerned. No LastModifiedTime: DS keeps the one it has.
	return storage.File{}, s.writeJSON(w, http.StatusOK, struct{}{})
}

// headerIsExitSave marks DS's last PutFile of a session (Collabora's header name).
const headerIsExitSave = "X-LOOL-WOPI-IsExitSave"

// sawVersion notes f's version, on a remote storage: the base a save spooled while it
// is down is checked against.
func (s *Server) sawVersion(f storage.File) {
	if s.remote() {
		s.versions.Add(f.ID, f.Version)
	}
}

// remote says whether storage is another server's (an upstream WOPI host) rather than
// the bridge's own disk.
func (s *Server) remote() bool {
	_, ok := s.store.(storage.Registrar)
	return ok
}

// limitBody refuses a body announced larger than the size limit and caps the rest.
func (s *Server) limitBody(w http.ResponseWriter, r *http.Request) (io.Reader, error) {
	if s.maxSize <= 0 {
		return r.Body, nil
	}
	if r.ContentLength > s.maxSize {
		return nil, s.tooLarge()
	}
	return http.MaxBytesReader(w, r.Body, s.maxSize), nil
}

func (s *Server) tooLarge() error {
	return userErr(storage.ErrTooLarge, "the content is larger than the %d bytes this server accepts", s.maxSize)
}
