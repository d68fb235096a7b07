package wopitest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// op is one WOPI operation, run with the host's mutex held, on an authorised request.
type op struct {
	write bool // needs a token that can write
	body  bool // reads the request body (before the mutex is taken)
	fn    func(s *Server, w http.ResponseWriter, r *http.Request, x *exchange)
}

// exchange is what an operation works on.
type exchange struct {
	f    *file
	g    *grant
	body []byte
}

var ops = map[Op]op{
	OpCheckFileInfo:   {fn: (*Server).checkFileInfo},
	OpGetFile:         {fn: (*Server).getFile},
	OpPutFile:         {write: true, body: true, fn: (*Server).putFile},
	OpLock:            {write: true, fn: (*Server).lock},
	OpUnlockAndRelock: {write: true, fn: (*Server).unlockAndRelock},
	OpUnlock:          {write: true, fn: (*Server).unlock},
	OpRefreshLock:     {write: true, fn: (*Server).refreshLock},
	OpGetLock:         {fn: (*Server).getLock},
	OpPutRelativeFile: {write: true, body: true, fn: (*Server).putRelative},
	OpRenameFile:      {write: true, fn: (*Server).renameFile},
	OpDeleteFile:      {write: true, fn: (*Server).deleteFile},
}

// route finds the operation and file id of a request.
func route(r *http.Request) (Op, string) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/wopi/files/")
	if !ok || rest == "" {
		return "", ""
	}
	id, contents := strings.CutSuffix(rest, "/contents")
	if strings.Contains(id, "/") {
		return "", ""
	}
	override := wopiclient.ParseOverride(r.Header.Get(wopiclient.HeaderOverride))
	switch {
	case contents && r.Method == http.MethodGet:
		return OpGetFile, id
	case contents && r.Method == http.MethodPost && override == wopiclient.OverridePut:
		return OpPutFile, id
	case !contents && r.Method == http.MethodGet:
		return OpCheckFileInfo, id
	case !contents && r.Method == http.MethodPost:
		switch override {
		case wopiclient.OverrideLock:
			if len(r.Header.Values(wopiclient.HeaderOldLock)) > 0 {
				return OpUnlockAndRelock, id
			}
			return OpLock, id
		case wopiclient.OverrideUnlock:
			return OpUnlock, id
		case wopiclient.OverrideRefreshLock:
			return OpRefreshLock, id
		case wopiclient.OverrideGetLock:
			return OpGetLock, id
		case wopiclient.OverridePutRelative:
			return OpPutRelativeFile, id
		case wopiclient.OverrideRenameFile:
			return OpRenameFile, id
		case wopiclient.OverrideDelete:
			return OpDeleteFile, id
		}
	}
	return OpUnknown, id
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	name, id := route(r)
	rec := Request{
		Op: name, Method: r.Method, Path: r.URL.Path,
		Override: r.Header.Get(wopiclient.HeaderOverride),
		Lock:     r.Header.Get(wopiclient.HeaderLock),
		OldLock:  r.Header.Get(wopiclient.HeaderOldLock),

		ContentLength: r.ContentLength,
	}
	defer func() { s.record(rec) }()

	s.mu.Lock()
	down, delay := s.down, s.delay
	s.mu.Unlock()
	if down {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if why := s.checkAppProof(r); why != "" || s.profile.CheckProofs && r.Header.Get(wopiclient.HeaderProof) == "" {
		// As http.Error writes it: nothing says that the proof is what failed.
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		rec.Status = http.StatusInternalServerError
		return
	}
	if s.chaosFault(w, r, name, &rec) {
		return
	}
	rec.Status = s.handle(w, r, name, id, &rec)
}

func (s *Server) record(rec Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, rec)
}

// handle answers one request and returns the status it wrote.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, name Op, id string, rec *Request) int {
	if name == "" {
		return s.reply(w, http.StatusNotFound, "no such WOPI endpoint")
	}
	o, ok := ops[name]
	if !ok {
		return s.reply(w, http.StatusNotImplemented, "operation not supported")
	}
	var body []byte
	if o.body {
		// Read before taking the mutex, so a slow sender does not stall the host.
		var err error
		body, err = io.ReadAll(r.Body)
		if err != nil {
			return s.reply(w, http.StatusBadRequest, "reading the body: "+err.Error())
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if fl := s.failures[name]; fl != nil && fl.left > 0 {
		fl.left--
		return s.reply(w, fl.status, "injected failure")
	}
	g := s.tokens[r.URL.Query().Get(wopiclient.ParamAccessToken)]
	switch {
	case g == nil || g.revoked:
		return s.reply(w, http.StatusUnauthorized, "invalid access token")
	case !s.now().Before(g.expires):
		return s.reply(w, http.StatusUnauthorized, "expired access token")
	case g.fileID != id:
		return s.reply(w, http.StatusUnauthorized, "the access token is for another file")
	}
	rec.User = g.user
	f := s.files[id]
	if f == nil || s.profile.TokensBoundToName && g.name != f.name {
		return s.reply(w, http.StatusNotFound, "no such file")
	}
	if name == OpPutRelativeFile && s.profile.NoPutRelative {
		return s.reply(w, http.StatusNotImplemented, "PutRelativeFile is not implemented")
	}
	if o.write && !g.canWrite && !(name == OpLock && s.profile.ViewCanLock) {
		if name == OpPutRelativeFile {
			return s.reply(w, http.StatusNotImplemented, "the user cannot write relative files")
		}
		return s.reply(w, http.StatusUnauthorized, "the access token is read-only")
	}
	if st, reason := s.refusal(name, r, f); st != 0 {
		return s.reply(w, st, reason)
	}
	if o.body && s.maxSize > 0 && int64(len(body)) > s.maxSize {
		return s.reply(w, http.StatusRequestEntityTooLarge, "the file is too large")
	}
	sw := &statusWriter{ResponseWriter: w}
	o.fn(s, sw, r, &exchange{f: f, g: g, body: body})
	return sw.status
}

// reply answers status with a reason in X-WOPI-ServerError (unless the profile has
// PlainErrors) and the body.
func (s *Server) reply(w http.ResponseWriter, status int, reason string) int {
	if !s.profile.PlainErrors {
		setHeader(w, wopiclient.HeaderServerError, reason)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, reason+"\n")
	return status
}

// conflict answers 409 with the current lock, empty when the file is unlocked.
func conflict(w http.ResponseWriter, current, reason string) {
	setHeader(w, wopiclient.HeaderLock, current)
	setHeader(w, wopiclient.HeaderLockFailureReason, reason)
	w.WriteHeader(http.StatusConflict)
}

// setHeader sets a header with WOPI's spelling of its name.
func setHeader(w http.ResponseWriter, name, value string) {
	w.Header()[name] = []string{value}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// ---- files ----

func (s *Server) checkFileInfo(w http.ResponseWriter, _ *http.Request, x *exchange) {
	f, g := x.f, x.g
	info := wopiclient.CheckFileInfo{
		BaseFileName:               f.name,
		OwnerID:                    "owner",
		Size:                       int64(len(f.content)),
		UserID:                     g.user,
		Version:                    f.version,
		FileExtension:              path.Ext(f.name),
		LastModifiedTime:           f.modified.Format(s.timeLayout()),
		UserFriendlyName:           g.user,
		ReadOnly:                   !g.canWrite,
		UserCanWrite:               g.canWrite,
		UserCanRename:              g.canWrite && !s.profile.NoRename,
		UserCanNotWriteRelative:    !g.canWrite,
		SupportsLocks:              true,
		SupportsGetLock:            true,
		SupportsExtendedLockLength: true,
		SupportsUpdate:             true,
		SupportsRename:             !s.profile.NoRename,
		SupportsDeleteFile:         true,
		BreadcrumbFolderName:       "wopitest",
	}
	data, _ := json.Marshal(info)
	props := map[string]any{}
	_ = json.Unmarshal(data, &props)
	props["WopitestFileId"] = f.id // a property CheckFileInfo does not name
	for _, k := range s.profile.Omit {
		delete(props, k)
	}
	for k, v := range f.extra {
		if v == nil {
			delete(props, k)
		} else {
			props[k] = v
		}
	}
	data, _ = json.Marshal(props)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

func (s *Server) getFile(w http.ResponseWriter, r *http.Request, x *exchange) {
	f := x.f
	if v := r.Header.Get(wopiclient.HeaderMaxExpectedSize); v != "" {
		if max, err := strconv.ParseInt(v, 10, 64); err == nil && int64(len(f.content)) > max {
			s.reply(w, http.StatusPreconditionFailed, "the file is larger than X-WOPI-MaxExpectedSize")
			return
		}
	}
	if x.g.relative && s.profile.RelativeTokensNoGetFile {
		s.reply(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	setHeader(w, wopiclient.HeaderItemVersion, f.version)
	w.Header().Set("Content-Type", "application/octet-stream")
	switch s.profile.Framing {
	case FramingChunkedClose:
		w.Header().Set("Connection", "close")
	case FramingChunkedFrom512:
		if len(f.content) < 512 {
			w.Header().Set("Content-Length", strconv.Itoa(len(f.content)))
		}
	default:
		w.Header().Set("Content-Length", strconv.Itoa(len(f.content)))
	}
	content := f.content
	if s.cut > 0 {
		s.cut--
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(content[:len(content)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler) // the connection drops mid-body
	}
	// Writing more than the server buffers (4 KiB) makes it chunk a reply without a
	// Content-Length; a flush first does the same for a small one.
	if w.Header().Get("Content-Length") == "" {
		if fl, ok := w.(http.Flusher); ok {
			w.WriteHeader(http.StatusOK)
			fl.Flush()
		}
	}
	_, _ = w.Write(content)
}

// timeLayout is the layout of LastModifiedTime.
func (s *Server) timeLayout() string {
	if s.profile.TimeLayout != "" {
		return s.profile.TimeLayout
	}
	return wopiclient.TimeFormat
}

func (s *Server) putFile(w http.ResponseWriter, r *http.Request, x *exchange) {
	f := x.f
	sent := r.Header.Get(wopiclient.HeaderLock)
	current := s.currentLock(f)
	switch {
	case current != "" && sent != current:
		conflict(w, current, "the file is locked by another lock")
		return
	case current == "" && sent != "" && s.profile.NotLockedStatus != 0:
		s.reply(w, s.profile.NotLockedStatus, "aborted: not locked")
		return
	case current == "" && sent != "":
		conflict(w, "", "the file is not locked")
		return
	case current == "" && len(f.content) != 0:
		conflict(w, "", "the file is not locked and not empty")
		return
	}
	s.setContent(f, x.body)
	setHeader(w, wopiclient.HeaderItemVersion, f.version)
	w.Header().Set("Content-Type", "application/json")
	if s.profile.Omits("LastModifiedTime") {
		_, _ = io.WriteString(w, `{}`)
		return
	}
	_, _ = fmt.Fprintf(w, `{"LastModifiedTime":%q}`, f.modified.Format(s.timeLayout()))
}

func (s *Server) putRelative(w http.ResponseWriter, r *http.Request, x *exchange) {
	suggested, hasSuggested := header(r, wopiclient.HeaderSuggestedTarget)
	relative, hasRelative := header(r, wopiclient.HeaderRelativeTarget)
	switch {
	case hasSuggested && hasRelative:
		s.reply(w, http.StatusNotImplemented, "both X-WOPI-SuggestedTarget and X-WOPI-RelativeTarget")
		return
	case !hasSuggested && !hasRelative:
		s.reply(w, http.StatusBadRequest, "no target name")
		return
	}
	raw := relative
	if hasSuggested {
		raw = suggested
	}
	name, err := wopiclient.DecodeUTF7(raw)
	if err != nil {
		s.invalidName(w, "the name is not valid UTF-7")
		return
	}
	if hasSuggested && strings.HasPrefix(name, ".") {
		name = strings.TrimSuffix(x.f.name, path.Ext(x.f.name)) + name
	}
	if reason := checkName(name); reason != "" {
		s.invalidName(w, reason)
		return
	}
	var target *file
	if existing := s.byName(name); existing != nil {
		switch {
		case hasSuggested:
			name = s.freeName(name)
		case !strings.EqualFold(r.Header.Get(wopiclient.HeaderOverwriteRelativeTarget), "true"):
			free := s.freeName(name)
			setHeader(w, wopiclient.HeaderValidRelativeTarget, wopiclient.EncodeUTF7(free))
			if s.profile.TakenNameAsLock {
				setHeader(w, wopiclient.HeaderLock, "")
				setHeader(w, wopiclient.HeaderLockFailureReason, "Lock Conflict")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusConflict)
				_ = json.NewEncoder(w).Encode(map[string]string{"Name": free})
				return
			}
			s.reply(w, http.StatusConflict, "a file with this name exists")
			return
		case s.currentLock(existing) != "":
			conflict(w, s.currentLock(existing), "the file to overwrite is locked")
			return
		case s.profile.OverwriteOnlyEmpty && len(existing.content) != 0:
			conflict(w, "", "the file to overwrite is not locked and not empty")
			return
		default:
			target = existing
			s.setContent(target, x.body)
		}
	}
	if target == nil {
		target = s.newFile(name, x.body)
	}
	tok := s.newToken(&grant{fileID: target.id, user: x.g.user, canWrite: true, expires: x.g.expires, app: x.g.app, relative: true})
	src := s.WOPISrc(target.id)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(wopiclient.NewFile{
		Name:        target.name,
		URL:         src + "?" + wopiclient.ParamAccessToken + "=" + url.QueryEscape(tok),
		HostViewURL: s.URL + "/host/view/" + target.id,
		HostEditURL: s.URL + "/host/edit/" + target.id,
	})
}

func (s *Server) renameFile(w http.ResponseWriter, r *http.Request, x *exchange) {
	f := x.f
	if !s.lockAllows(w, f, r.Header.Get(wopiclient.HeaderLock)) {
		return
	}
	requested, err := wopiclient.DecodeUTF7(r.Header.Get(wopiclient.HeaderRequestedName))
	if err != nil {
		s.invalidName(w, "the name is not valid UTF-7")
		return
	}
	name := requested + path.Ext(f.name)
	if reason := checkName(requested); reason != "" {
		s.invalidName(w, reason)
		return
	}
	if reason := checkName(name); reason != "" {
		s.invalidName(w, reason)
		return
	}
	if other := s.byName(name); other != nil && other != f {
		s.reply(w, http.StatusConflict, "a file with this name exists")
		return
	}
	f.name = name
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Name string `json:"Name"`
	}{requested})
}

// lockAllows applies the rename rules: a locked file needs its lock, an unlocked one
// no lock. It answers the conflict when they are broken.
func (s *Server) lockAllows(w http.ResponseWriter, f *file, sent string) bool {
	current := s.currentLock(f)
	switch {
	case current != "" && sent != current:
		conflict(w, current, "the file is locked by another lock")
		return false
	case current == "" && sent != "":
		conflict(w, "", "the file is not locked")
		return false
	}
	return true
}

func (s *Server) deleteFile(w http.ResponseWriter, _ *http.Request, x *exchange) {
	if current := s.currentLock(x.f); current != "" {
		conflict(w, current, "the file is locked")
		return
	}
	delete(s.files, x.f.id)
	w.WriteHeader(http.StatusOK)
}

func header(r *http.Request, name string) (string, bool) {
	vals := r.Header.Values(name)
	if len(vals) == 0 {
		return "", false
	}
	return vals[0], true
}

func (s *Server) invalidName(w http.ResponseWriter, reason string) {
	setHeader(w, wopiclient.HeaderInvalidFileNameError, reason)
	s.reply(w, http.StatusBadRequest, reason)
}

// checkName says what is wrong with a file name, or "".
func checkName(name string) string {
	switch {
	case name == "" || name == "." || name == "..":
		return "the name is empty or a dot name"
	case len(name) > 255:
		return "the name is longer than 255 bytes"
	case strings.ContainsAny(name, `/\`):
		return "the name holds a path separator"
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return "the name holds a control character"
		}
	}
	return ""
}

// freeName is name, or name with " (n)" before its extension, that no file has.
func (s *Server) freeName(name string) string {
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for n := 1; s.byName(name) != nil; n++ {
		name = fmt.Sprintf("%s (%d)%s", stem, n, ext)
	}
	return name
}

// ---- locks ----

// lockHeader reads a lock id header, answering 400 when it is missing or too long.
func (s *Server) lockHeader(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	v := r.Header.Get(name)
	switch {
	case v == "":
		s.reply(w, http.StatusBadRequest, name+" is missing")
		return "", false
	case len(v) > MaxLockLength:
		s.reply(w, http.StatusBadRequest, name+" is longer than 1024 bytes")
		return "", false
	}
	return v, true
}

// otherApp answers 500 when the file's lock belongs to another app than the token's
// (Profile.LocksOwnedByApp).
func (s *Server) otherApp(w http.ResponseWriter, x *exchange) bool {
	if !s.profile.LocksOwnedByApp || s.currentLock(x.f) == "" || x.f.lockApp == x.g.app {
		return false
	}
	s.reply(w, http.StatusInternalServerError, "the lock belongs to another app")
	return true
}

func (s *Server) lock(w http.ResponseWriter, r *http.Request, x *exchange) {
	lock, ok := s.lockHeader(w, r, wopiclient.HeaderLock)
	if !ok {
		return
	}
	if s.otherApp(w, x) {
		return
	}
	if current := s.currentLock(x.f); current != "" && current != lock {
		conflict(w, current, "the file is locked by another lock")
		return
	}
	s.locked(w, x, lock)
}

func (s *Server) unlockAndRelock(w http.ResponseWriter, r *http.Request, x *exchange) {
	lock, ok := s.lockHeader(w, r, wopiclient.HeaderLock)
	if !ok {
		return
	}
	old, ok := s.lockHeader(w, r, wopiclient.HeaderOldLock)
	if !ok || s.otherApp(w, x) {
		return
	}
	if current := s.currentLock(x.f); current != old {
		conflict(w, current, "the old lock does not match")
		return
	}
	s.locked(w, x, lock)
}

func (s *Server) refreshLock(w http.ResponseWriter, r *http.Request, x *exchange) {
	lock, ok := s.lockHeader(w, r, wopiclient.HeaderLock)
	if !ok || s.otherApp(w, x) {
		return
	}
	if current := s.currentLock(x.f); current != lock {
		conflict(w, current, "the lock does not match")
		return
	}
	s.locked(w, x, lock)
}

func (s *Server) unlock(w http.ResponseWriter, r *http.Request, x *exchange) {
	lock, ok := s.lockHeader(w, r, wopiclient.HeaderLock)
	if !ok || s.otherApp(w, x) {
		return
	}
	if current := s.currentLock(x.f); current != lock {
		conflict(w, current, "the lock does not match")
		return
	}
	x.f.lock, x.f.lockExpires = "", time.Time{}
	setHeader(w, wopiclient.HeaderItemVersion, x.f.version)
	w.WriteHeader(http.StatusOK)
}

// locked sets (or refreshes) the file's lock and answers 200.
func (s *Server) locked(w http.ResponseWriter, x *exchange, lock string) {
	f := x.f
	f.lock, f.lockExpires, f.lockApp = lock, s.now().Add(LockDuration), x.g.app
	setHeader(w, wopiclient.HeaderItemVersion, f.version)
	w.WriteHeader(http.StatusOK)
}

func (s *Server) getLock(w http.ResponseWriter, _ *http.Request, x *exchange) {
	current := s.currentLock(x.f)
	setHeader(w, wopiclient.HeaderLock, current)
	if current == "" && s.profile.GetLockNotFound {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}
