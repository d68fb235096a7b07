package docserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"
)

// User is who the browser says the editor is. The (verified) config's
// editorConfig.user wins, as in DS; these fields fill in what it lacks.
type User struct {
	ID, Name, Group string
}

// DocsSession is one editor (a browser tab) on a Docs API document.
type DocsSession struct {
	s      *Server
	c      *conn
	config map[string]any
}

// Key is the document key.
func (e *DocsSession) Key() string { return e.c.doc.key }

// UserID is the editor's user.id.
func (e *DocsSession) UserID() string { return e.c.userID }

// View reports whether the session is a viewer (mode view or no edit permission).
func (e *DocsSession) View() bool { return e.c.view }

// Config is the effective editor config (the verified token's values over
// the page's).
func (e *DocsSession) Config() map[string]any { return e.config }

// Content is the document as the editor currently shows it.
func (e *DocsSession) Content() []byte {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	return append([]byte(nil), e.c.doc.content...)
}

// Edit replaces the document content, as this user's change. DS sends no
// callback for an edit.
func (e *DocsSession) Edit(content []byte) error {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	return e.s.edit(e.c, content)
}

// Forcesave is the Save button (customization.forcesave): status 6 with
// forcesavetype 1 to this user's callback URL, sent once, not retried
// (status 7 after FailNextSave). ErrNotModified when nothing changed since
// the last forcesave: DS then sends nothing.
func (e *DocsSession) Forcesave() error {
	if e.c.view {
		return ErrViewOnly
	}
	e.s.mu.Lock()
	closed := e.c.closed
	e.s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return e.s.startForcesave(e.c.doc, ForceSaveButton, e.c, nil)
}

// Close is the tab going away (the connection drops). When it was the last
// editor, DS waits SaveDelay and sends status 2 if the document changed,
// otherwise status 4 at once; while others stay, status 1.
func (e *DocsSession) Close() { e.s.leave(e.c, false) }

// CloseExplicitly is the editor sending its explicit close message: as
// Close, but DS skips SaveDelay.
func (e *DocsSession) CloseExplicitly() { e.s.leave(e.c, true) }

// OpenDocs plays a browser opening a Docs API editor with cfg (a
// json.RawMessage, []byte, string, map or struct holding the config as the
// integrator's page passes it to DocsAPI.DocEditor). With JWT on, the
// config's token (HS256 over the whole config) is verified and its values
// win. The first editor of a key makes DS download document.url; editors
// of the same key share the document. An editor (not a viewer) joining
// sends status 1, fire-and-forget.
func (s *Server) OpenDocs(ctx context.Context, cfg any, user User) (*DocsSession, error) {
	page, err := toMap(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	eff, verified, err := s.effectiveConfig(page)
	if err != nil {
		return nil, err
	}
	key := getStr(eff, "document", "key")
	docURL := getStr(eff, "document", "url")
	fileType := strings.ToLower(getStr(eff, "document", "fileType"))
	title := getStr(eff, "document", "title")
	if key == "" {
		return nil, fmt.Errorf("%w: document.key is missing", ErrConfig)
	}
	if fileType == "" {
		fileType = strings.TrimPrefix(strings.ToLower(path.Ext(title)), ".")
	}
	if getStr(eff, "documentType") == "" && documentTypes[fileType] == "" {
		return nil, fmt.Errorf("%w: neither documentType nor a known document.fileType", ErrConfig)
	}
	if title == "" {
		title = "Unnamed." + fileType
	}
	mode := getStr(eff, "editorConfig", "mode")
	view := mode == "view" || getVal(eff, "document", "permissions", "edit") == false
	uid := getStr(eff, "editorConfig", "user", "id")
	name := getStr(eff, "editorConfig", "user", "name")
	group := getStr(eff, "editorConfig", "user", "group")
	if uid == "" {
		uid = user.ID
	}
	if name == "" {
		name = user.Name
	}
	if group == "" {
		group = user.Group
	}
	if uid == "" {
		s.mu.Lock()
		s.anonSeq++
		uid = fmt.Sprintf("uid-%d", s.anonSeq)
		s.mu.Unlock()
	}
	if len(uid) > 240 {
		return nil, fmt.Errorf("%w: user id too long", ErrConfig)
	}
	if group != "" {
		name = group + "\u00a0" + name
	}
	callbackURL := getStr(eff, "editorConfig", "callbackUrl")

	d, load, err := s.docForOpen(key, view)
	if err != nil {
		return nil, err
	}
	if load {
		content, err := s.fetch(ctx, func(attempt int) outbound {
			return s.downloadRequest(OpDownload, key, docURL, verified, attempt)
		})
		s.mu.Lock()
		if err == nil {
			d.content = content
			d.baseSum = sha256Hex(content)
		} else {
			d.loadErr = err
			delete(s.docs, key)
		}
		close(d.ready)
		s.mu.Unlock()
	} else {
		select {
		case <-d.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if d.loadErr != nil {
		return nil, d.loadErr
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if d.fileType == "" {
		d.fileType, d.title = fileType, title
	}
	if !view {
		d.cancelSaveLocked()
	}
	d.userIndex++
	c := &conn{doc: d, userID: uid, name: name, index: d.userIndex, view: view, callbackURL: callbackURL}
	d.callbacks = append(d.callbacks, callbackURL)
	d.conns = append(d.conns, c)
	if !view {
		body := callbackBody{Key: key, Status: StatusEditing, Users: ptr(d.editorIDs()),
			Actions: []action{{ActionIn, uid}}}
		s.fireCallbackLocked(d.callbackFor(c.index), body)
	}
	s.log.add(Event{Time: s.now(), Type: Connected, Key: key, Detail: uid})
	return &DocsSession{s: s, c: c, config: eff}, nil
}

// docForOpen finds or creates the cache entry of key for a new editor and
// says whether this opener must load it.
func (s *Server) docForOpen(key string, view bool) (*document, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[key]
	if d != nil && d.wopi != nil {
		return nil, false, ErrWrongKind
	}
	if d != nil && d.state == stateUpdateVersion {
		if s.now().Before(d.updateVersionUntil) {
			if !view {
				return nil, false, ErrVersionChanged
			}
		} else {
			// UpdateVersion expired: open the file again from its url.
			delete(s.docs, key)
			d = nil
		}
	}
	if d != nil && d.state == stateSaving && !view {
		return nil, false, ErrVersionChanged
	}
	if d != nil {
		return d, false, nil
	}
	d = &document{key: key, ready: make(chan struct{}), baseURL: s.opts.ExternalURL}
	s.docs[key] = d
	return d, true, nil
}

// effectiveConfig verifies the config token when JWT is on and returns the
// config DS works with: the token's values over the page's.
func (s *Server) effectiveConfig(page map[string]any) (map[string]any, bool, error) {
	if !s.jwtOn() {
		return page, false, nil
	}
	token, _ := page["token"].(string)
	if token == "" {
		return nil, false, fmt.Errorf("%w: the config has no token", ErrToken)
	}
	claims, err := s.verify(token)
	if errors.Is(err, errTokenExpired) {
		return nil, false, fmt.Errorf("%w: %v", ErrTokenExpired, err)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrToken, err)
	}
	// validateAuthToken: required fields, in DS's order.
	pageMode := getStr(page, "editorConfig", "mode")
	switch {
	case getStr(claims, "document", "key") == "":
		return nil, false, fmt.Errorf("%w: token lacks document.key", ErrToken)
	case getVal(page, "document", "permissions") != nil && getVal(claims, "document", "permissions") == nil:
		return nil, false, fmt.Errorf("%w: token lacks document.permissions", ErrToken)
	case getStr(claims, "document", "url") == "":
		return nil, false, fmt.Errorf("%w: token lacks document.url", ErrToken)
	case getStr(page, "editorConfig", "callbackUrl") != "" && getStr(claims, "editorConfig", "callbackUrl") == "":
		return nil, false, fmt.Errorf("%w: token lacks editorConfig.callbackUrl", ErrToken)
	case pageMode != "" && pageMode != "view" && getStr(claims, "editorConfig", "mode") == "":
		return nil, false, fmt.Errorf("%w: token lacks editorConfig.mode", ErrToken)
	}
	if claims["url"] != nil || claims["payload"] != nil || claims["key"] != nil {
		return nil, false, ErrAccessDenied
	}
	eff := deepMerge(page, claims)
	for _, k := range []string{"iat", "exp", "nbf", "token"} {
		delete(eff, k)
	}
	return eff, true, nil
}

// downloadRequest is the FileConverter's GET of a document URL. The JWT
// header {payload:{url}} is added when JWT is on and the URL came in a
// verified token.
func (s *Server) downloadRequest(op Op, key, url string, withJWT bool, attempt int) outbound {
	header := []HeaderField{
		{"Accept", hdrAccept},
		{"User-Agent", hdrUserAgent},
		{"Connection", hdrConnection},
	}
	if s.jwtOn() && withJWT {
		payload := jsonCompact(struct {
			URL string `json:"url"`
		}{url})
		header = append(header, HeaderField{s.opts.JWTHeader, bearerPrefix + s.headerToken(payload)})
	}
	header = append(header, HeaderField{"Accept-Encoding", hdrAcceptEncoding}, HeaderField{"Host", ""})
	return outbound{op: op, key: key, attempt: attempt, method: "GET", url: url, header: header,
		timeout: s.opts.DownloadTimeout, limit: maxDownloadBytes, filtered: !withJWT}
}

// fetch downloads as the FileConverter does: only 200 or 206 is accepted;
// up to 3 attempts RetryBase apart; a timeout or the size limit is final.
func (s *Server) fetch(ctx context.Context, mk func(attempt int) outbound) ([]byte, error) {
	const attempts = 3
	var last string
	for attempt := 1; attempt <= attempts; attempt++ {
		x := s.do(ctx, mk(attempt))
		code := x.status()
		if x.err == nil && (code == 200 || code == 206) {
			return x.reply.Body, nil
		}
		switch {
		case errors.Is(x.err, errTooLarge):
			return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxDownloadBytes)
		case isTimeout(x.err):
			return nil, fmt.Errorf("%w: timeout: %v", ErrDownload, x.err)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case x.err != nil:
			last = x.err.Error()
		default:
			last = fmt.Sprintf("HTTP %d", code)
		}
		if attempt < attempts && !s.sleep(s.opts.RetryBase) {
			break
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrDownload, last)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// docsFinalSave stores the result and delivers status 2 (or 3 after
// FailNextSave) to the callback URL of the user who made the last change.
func (s *Server) docsFinalSave(job *saveJob, leaver *conn) error {
	d := job.d
	dir := s.newSaveDir(d.key)
	out := "output." + job.fileType
	body := callbackBody{
		Key:         d.key,
		Status:      StatusMustSave,
		URL:         s.storeResult(job.base, d.key, dir, out, out, job.content),
		ChangesURL:  s.storeResult(job.base, d.key, dir, "changes.zip", "changes.zip", changesZip(job.history.Changes)),
		History:     job.history,
		Actions:     []action{{ActionOut, leaver.userID}},
		LastSave:    isoMillis(orNow(job.lastChange, s)),
		NotModified: ptr(job.notModified),
		FileType:    job.fileType,
	}
	if job.fail {
		body.Status = StatusCorrupted
	}
	idx := leaver.index
	if job.changer != nil {
		body.Users = &[]string{job.changer.userID}
		idx = job.changer.index
	}
	s.mu.Lock()
	target := d.callbackFor(idx)
	s.mu.Unlock()
	if target == "" {
		s.forget(job, "no callbackUrl")
		return nil
	}
	ok, why, attempts := s.deliverSave(target, body)
	if body.Status == StatusCorrupted {
		s.forget(job, "status 3 (assembly failed)")
		return nil
	}
	if !ok {
		s.forget(job, fmt.Sprintf("status 2 not accepted after %d attempt(s): %s", attempts, why))
		return fmt.Errorf("docserver: status 2 not accepted: %s", why)
	}
	s.saved(d)
	if s.takeDuplicateNextSave() && s.sleep(s.opts.RetryBase) {
		s.sendCallback(s.ctx, target, body, attempts+1)
	}
	return nil
}

func orNow(t time.Time, s *Server) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}

// startForcesave begins a forcesave of type typ (by author for the
// button). ErrNotModified when nothing changed since the last one.
func (s *Server) startForcesave(d *document, typ int, author *conn, userdata any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	job, err := s.beginForcesaveLocked(d)
	if err != nil {
		return err
	}
	if d.wopi != nil {
		s.spawnLocked(func() { s.wopiForcesave(job, typ) })
		return nil
	}
	idx := 0
	if job.changer != nil {
		idx = job.changer.index
	}
	if typ == ForceSaveButton && author != nil {
		idx = author.index
	}
	target := d.callbackFor(idx)
	s.spawnLocked(func() { s.docsForcesave(job, typ, author, userdata, target) })
	return nil
}

// docsForcesave sends status 6 (7 on failure) once, not retried.
func (s *Server) docsForcesave(job *saveJob, typ int, author *conn, userdata any, target string) {
	d := job.d
	body := callbackBody{
		Key:           d.key,
		Status:        StatusForceSave,
		UserData:      userdata,
		LastSave:      isoMillis(orNow(job.lastChange, s)),
		ForceSaveType: ptr(typ),
	}
	if job.changer != nil {
		body.Users = &[]string{job.changer.userID}
	}
	if typ == ForceSaveButton && author != nil {
		body.Actions = []action{{ActionForceSave, author.userID}}
	}
	if job.fail {
		body.Status = StatusForceSaveError
	} else {
		dir := s.newSaveDir(d.key)
		out := "output." + job.fileType
		body.URL = s.storeResult(job.base, d.key, dir, out, out, job.content)
		body.ChangesURL = s.storeResult(job.base, d.key, dir, "changes.zip", "changes.zip", changesZip(nil))
		body.FileType = job.fileType
	}
	if target == "" {
		return
	}
	s.sendCallback(s.ctx, target, body, 1)
}

// toMap turns a config in any of the accepted forms into a JSON object.
func toMap(cfg any) (map[string]any, error) {
	var raw []byte
	switch v := cfg.(type) {
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	case string:
		raw = []byte(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("config is not a JSON object")
	}
	return m, nil
}

func getVal(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

// getStr reads a string (or a number, as DS stringifies numeric ids).
func getStr(m map[string]any, keys ...string) string {
	switch v := getVal(m, keys...).(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// deepMerge returns base overlaid with top, recursively for objects.
func deepMerge(base, top map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range top {
		if tm, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = deepMerge(bm, tm)
				continue
			}
		}
		out[k] = v
	}
	return out
}
