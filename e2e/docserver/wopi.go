package docserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// maxExpectedSize is X-WOPI-MaxExpectedSize on GetFile (maxDownloadBytes).
const maxExpectedSize = "104857600"

// wopiDoc is what DS keeps about a WOPI document (its "commonInfo").
type wopiDoc struct {
	wopiSrc      string
	lockID       string
	fileInfo     map[string]any
	lastModified string // LastModifiedTime from a PutFile reply
	lastToken    string // access token of the most recent editor
	unlocked     bool
}

func (w *wopiDoc) flag(name string) bool { b, _ := w.fileInfo[name].(bool); return b }

// WOPISession is one editor (a browser tab) opened through the WOPI host page.
type WOPISession struct {
	s          *Server
	c          *conn
	mode       string
	forcedView bool
	render     map[string]any
}

// Key is the document key (the sanitised file id, or view.<id>.<version>).
func (w *WOPISession) Key() string { return w.c.doc.key }

// SessionID is the usid sent as X-WOPI-SessionId.
func (w *WOPISession) SessionID() string { return w.c.usid }

// Mode is "edit" or "view".
func (w *WOPISession) Mode() string { return w.mode }

// ForcedView reports a view session forced by a failed LOCK.
func (w *WOPISession) ForcedView() bool { return w.forcedView }

// RenderParams are the parameters DS renders the editor page with
// (key, fileInfo without FileUrl, userAuth, queryParams, documentType …).
func (w *WOPISession) RenderParams() map[string]any { return w.render }

// Content is the document as the editor currently shows it.
func (w *WOPISession) Content() []byte {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return append([]byte(nil), w.c.doc.content...)
}

// Edit replaces the document content, as this user's change.
func (w *WOPISession) Edit(content []byte) error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.edit(w.c, content)
}

// Save edits (when content is not nil) and saves, synchronously:
//   - exit false is the Save button: PutFile with IsExitSave false,
//     IsAutosave false, IsModifiedByUser true; ErrNotModified when nothing
//     changed since the last save.
//   - exit true is this last editor closing the editor explicitly: the
//     final PutFile (IsExitSave true, IsAutosave false, IsModifiedByUser =
//     changed since the last forcesave) at once, then UNLOCK.
//
// A failed PutFile is not retried; the result is kept as forgotten (logged)
// and the error returned.
func (w *WOPISession) Save(content []byte, exit bool) error {
	s := w.s
	s.mu.Lock()
	if content != nil {
		if err := s.edit(w.c, content); err != nil {
			s.mu.Unlock()
			return err
		}
	} else if w.c.closed {
		s.mu.Unlock()
		return ErrClosed
	} else if w.c.view {
		s.mu.Unlock()
		return ErrViewOnly
	}
	if exit {
		for _, other := range w.c.doc.conns {
			if other != w.c && !other.view {
				s.mu.Unlock()
				return errors.New("docserver: other editors are connected; DS saves when the last one leaves")
			}
		}
		s.mu.Unlock()
		select {
		case err := <-s.leave(w.c, true):
			return err
		case <-s.ctx.Done():
			return ErrClosed
		}
	}
	job, err := s.beginForcesaveLocked(w.c.doc)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.wopiForcesave(job, ForceSaveButton)
}

// Close is the tab going away: when it was the last editor, DS waits
// SaveDelay, PutFiles the changes (if any) and UNLOCKs.
func (w *WOPISession) Close() { w.s.leave(w.c, false) }

// CloseExplicitly is Close without the SaveDelay (explicit close message).
func (w *WOPISession) CloseExplicitly() { w.s.leave(w.c, true) }

// WOPISession returns the connected session with that usid (from the page
// the editor route rendered), or nil.
func (s *Server) WOPISession(usid string) *WOPISession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wopiSessions[usid]
}

// wopiOpen is what the host page form brings to DS.
type wopiOpen struct {
	docType       string
	mode          string
	wopiSrc       string
	query         map[string]string // lower-cased keys, as DS sees them
	accessToken   string
	ttl           int64
	docsAPIConfig map[string]any
}

var placeholderRE = regexp.MustCompile(`<[^>]*>`)

// OpenWOPI plays a browser posting the WOPI host page form: target is a
// discovery action URL (placeholders such as <ui=UI_LLCC&> are dropped, as
// hosts do) or a bare WOPISrc, in which case mode ("edit" or "view") picks
// the action. DS then makes the requests of a real open, in order:
// CheckFileInfo; PutFile of a blank template when Size is 0; LOCK (edit
// mode, SupportsLocks); on a failed LOCK it reopens in view mode (logged as
// ViewFallback); then, for the first editor of the key, GetFile (or a GET
// of FileUrl / TemplateSource).
func (s *Server) OpenWOPI(ctx context.Context, target, accessToken string, ttl int64, mode string) (*WOPISession, error) {
	o, err := parseWOPITarget(target, mode)
	if err != nil {
		return nil, err
	}
	o.accessToken, o.ttl = accessToken, ttl
	prep, err := s.wopiPrepare(ctx, o)
	if err != nil {
		return nil, err
	}
	return s.wopiConnect(ctx, prep)
}

// OpenWOPIAbandoned plays a host page whose editor never connects (the tab
// was closed, or the editor failed to load): DS's editor route runs as for
// OpenWOPI (CheckFileInfo, the Size-0 template PutFile, LOCK) and renders
// the page, and nothing follows. DS never UNLOCKs such an open and never
// refreshes its lock: its garbage collector only expires documents that
// had a connection, so the lock stays until the host lets it lapse. It
// returns the render parameters (key, userAuth with the mode …).
func (s *Server) OpenWOPIAbandoned(ctx context.Context, target, accessToken string, ttl int64, mode string) (map[string]any, error) {
	o, err := parseWOPITarget(target, mode)
	if err != nil {
		return nil, err
	}
	o.accessToken, o.ttl = accessToken, ttl
	prep, err := s.wopiPrepare(ctx, o)
	if err != nil {
		return nil, err
	}
	s.log.add(Event{Time: s.now(), Type: Abandoned, Key: prep.key, Detail: prep.usid})
	return prep.render, nil
}

func parseWOPITarget(target, mode string) (wopiOpen, error) {
	o := wopiOpen{mode: mode, query: map[string]string{}}
	if o.mode == "" {
		o.mode = "edit"
	}
	u, err := url.Parse(placeholderRE.ReplaceAllString(target, ""))
	if err != nil {
		return o, fmt.Errorf("docserver: target URL: %w", err)
	}
	i := strings.Index(u.Path, "/hosting/wopi/")
	if i < 0 {
		o.wopiSrc = target
		return o, nil
	}
	parts := strings.Split(u.Path[i+len("/hosting/wopi/"):], "/")
	if len(parts) != 2 || (parts[1] != "view" && parts[1] != "edit") {
		return o, fmt.Errorf("docserver: not an editor action URL: %s", target)
	}
	o.docType, o.mode = parts[0], parts[1]
	for k, v := range u.Query() {
		o.query[strings.ToLower(k)] = v[0]
	}
	o.wopiSrc = o.query["wopisrc"]
	if o.wopiSrc == "" {
		return o, fmt.Errorf("docserver: action URL has no wopisrc: %s", target)
	}
	return o, nil
}

// wopiPrep is the outcome of the host page route.
type wopiPrep struct {
	o          wopiOpen
	usid       string
	fileID     string
	fileInfo   map[string]any
	fileType   string
	mode       string
	forcedView bool
	key        string
	lockID     string
	template   []byte
	render     map[string]any
}

// wopiPrepare is DS's editor route (getEditorHtml): CheckFileInfo, the
// Size-0 template PutFile, the mode, the key, and LOCK.
func (s *Server) wopiPrepare(ctx context.Context, o wopiOpen) (*wopiPrep, error) {
	p := &wopiPrep{o: o, usid: o.query["usid"], mode: o.mode}
	if p.usid == "" {
		p.usid = randomUUID()
	}
	p.fileID = o.wopiSrc[strings.LastIndexByte(o.wopiSrc, '/')+1:]
	editKey := sanitizeKey(p.fileID)

	call := wopiCall{op: OpCheckFileInfo, key: editKey, method: "GET", wopiSrc: o.wopiSrc, token: o.accessToken, sessionID: p.usid}
	if sc := o.query["sc"]; sc != "" {
		call.specific = []HeaderField{{"X-WOPI-SessionContext", sc}}
	}
	x := s.do(ctx, s.wopiRequest(call))
	if x.err != nil || (x.status() != 200 && x.status() != 206) {
		return nil, fmt.Errorf("%w: HTTP %d %v", ErrCheckFileInfo, x.status(), x.err)
	}
	if err := json.Unmarshal(x.reply.Body, &p.fileInfo); err != nil || p.fileInfo == nil {
		return nil, fmt.Errorf("%w: reply is not a JSON object", ErrCheckFileInfo)
	}
	base, _ := p.fileInfo["BaseFileName"].(string)
	p.fileType = strings.ToLower(strings.TrimPrefix(path.Ext(base), "."))
	if ext, _ := p.fileInfo["FileExtension"].(string); ext != "" {
		p.fileType = strings.ToLower(strings.TrimPrefix(ext, "."))
	}
	if p.o.docType == "" {
		p.o.docType = documentTypes[p.fileType]
	}
	info := &wopiDoc{wopiSrc: o.wopiSrc, fileInfo: p.fileInfo}

	if size, ok := p.fileInfo["Size"].(float64); ok && size == 0 && p.fileType != "" {
		tmpl, ok := blankTemplate(p.fileType)
		if !ok {
			return nil, fmt.Errorf("%w: no blank template for .%s", ErrCheckFileInfo, p.fileType)
		}
		p.template = tmpl
		if info.flag("SupportsUpdate") || info.flag("UserCanWrite") {
			put := s.do(ctx, s.wopiRequest(wopiCall{
				op: OpPutFile, key: editKey, method: "POST", wopiSrc: o.wopiSrc, contents: true, token: o.accessToken,
				specific:    []HeaderField{{"X-WOPI-Override", "PUT"}, {"X-WOPI-Editors", getStr(p.fileInfo, "UserId")}},
				sessionID:   p.usid,
				body:        tmpl,
				contentType: mimeType(p.fileType),
			}))
			if put.err == nil && (put.status() == 200 || put.status() == 204) {
				p.fileInfo["Size"] = float64(len(tmpl))
				var reply map[string]any
				if json.Unmarshal(put.reply.Body, &reply) == nil {
					if lmt, ok := reply["LastModifiedTime"]; ok && lmt != nil {
						p.fileInfo["LastModifiedTime"] = lmt
					}
				}
			}
		}
	}
	if !info.flag("UserCanWrite") && !info.flag("UserCanOnlyComment") && !info.flag("UserCanReview") {
		p.mode = "view"
	}
	p.key = s.wopiKey(p)
	p.lockID = p.key
	s.mu.Lock()
	if d := s.docs[p.key]; d != nil && d.wopi != nil && !staleWOPICache(d, p.fileInfo) {
		p.lockID = d.wopi.lockID
	}
	s.mu.Unlock()

	if p.mode != "view" && info.flag("SupportsLocks") {
		lock := s.do(ctx, s.wopiRequest(wopiCall{
			op: OpLock, key: p.key, method: "POST", wopiSrc: o.wopiSrc, token: o.accessToken,
			specific:  []HeaderField{{"X-WOPI-Override", "LOCK"}, {"X-WOPI-Lock", p.lockID}},
			sessionID: p.usid,
		}))
		if lock.err != nil || (lock.status() != 200 && lock.status() != 204) {
			editKey := p.key
			p.mode, p.forcedView = "view", true
			p.key = s.wopiKey(p)
			s.log.add(Event{Time: s.now(), Type: ViewFallback, Key: p.key,
				Detail: fmt.Sprintf("LOCK of %s failed (HTTP %d %v): reopened in view mode", editKey, lock.status(), lock.err)})
		}
	}
	p.render = s.renderParams(p)
	return p, nil
}

// wopiKey is createDocId: the file id for edit, view.<id>.<LastModifiedTime
// or Version> for view; characters outside [0-9-.a-zA-Z_=] become _.
func (s *Server) wopiKey(p *wopiPrep) string {
	if p.mode != "view" {
		return sanitizeKey(p.fileID)
	}
	v := getStr(p.fileInfo, "LastModifiedTime")
	if v == "" {
		v = getStr(p.fileInfo, "Version")
	}
	return sanitizeKey("view." + p.fileID + "." + v)
}

func sanitizeKey(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '.' || c == '_' || c == '=') {
			b[i] = '_'
		}
	}
	if len(b) > 240 {
		b = b[:240]
	}
	return string(b)
}

// staleWOPICache is checkAndInvalidateCache: after an unlock or a save, a
// changed Version or LastModifiedTime drops the cached document.
func staleWOPICache(d *document, fileInfo map[string]any) bool {
	if !d.wopi.unlocked && d.state != stateUpdateVersion {
		return false
	}
	return getStr(d.wopi.fileInfo, "Version") != getStr(fileInfo, "Version") ||
		getStr(d.wopi.fileInfo, "LastModifiedTime") != getStr(fileInfo, "LastModifiedTime")
}

func (s *Server) renderParams(p *wopiPrep) map[string]any {
	info := map[string]any{}
	for k, v := range p.fileInfo {
		if k != "FileUrl" { // wopi.fileInfoBlockList
			info[k] = v
		}
	}
	cfg := p.o.docsAPIConfig
	if cfg == nil {
		cfg = map[string]any{}
	}
	params := map[string]any{
		"key":          p.key,
		"apiQuery":     "?WOPISrc=" + encodeURIComponent(p.o.wopiSrc),
		"documentType": p.o.docType,
		"fileInfo":     info,
		"userAuth": map[string]any{
			"wopiSrc": p.o.wopiSrc, "access_token": p.o.accessToken, "access_token_ttl": p.o.ttl,
			"userSessionId": p.usid, "mode": p.mode, "forcedViewMode": p.forcedView,
		},
		"queryParams":     p.o.query,
		"docs_api_config": cfg,
	}
	if s.jwtOn() {
		params["token"] = signClaims(s.opts.JWTSecret, s.withTimes(jsonCompact(params))) // the inbox secret
	}
	return params
}

// wopiConnect is the editor connecting: it joins the document and, for the
// first editor of the key, the converter fetches the file.
func (s *Server) wopiConnect(ctx context.Context, p *wopiPrep) (*WOPISession, error) {
	view := p.mode == "view"
	s.mu.Lock()
	d := s.docs[p.key]
	if d != nil && d.wopi == nil {
		s.mu.Unlock()
		return nil, ErrWrongKind
	}
	if d != nil && staleWOPICache(d, p.fileInfo) {
		delete(s.docs, p.key)
		d = nil
	}
	if d != nil && d.state == stateUpdateVersion {
		if !s.now().Before(d.updateVersionUntil) {
			delete(s.docs, p.key)
			d = nil
		} else if !view {
			s.mu.Unlock()
			return nil, ErrVersionChanged
		}
	}
	if d != nil && d.state == stateSaving && !view {
		s.mu.Unlock()
		return nil, ErrVersionChanged
	}
	load := d == nil
	if load {
		d = &document{key: p.key, ready: make(chan struct{}), baseURL: s.opts.ExternalURL, fileType: p.fileType,
			title: getStr(p.fileInfo, "BaseFileName"),
			wopi:  &wopiDoc{wopiSrc: p.o.wopiSrc, lockID: p.lockID, fileInfo: p.fileInfo}}
		s.docs[p.key] = d
	}
	s.mu.Unlock()

	fromTemplateSource := false
	if load {
		content, err := s.wopiLoad(ctx, p)
		fromTemplateSource = err == nil && p.template == nil && getStr(p.fileInfo, "FileUrl") == "" && getStr(p.fileInfo, "TemplateSource") != ""
		s.mu.Lock()
		if err == nil {
			d.content = content
			d.baseSum = sha256Hex(content)
		} else {
			d.loadErr = err
			delete(s.docs, p.key)
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
		if !view {
			s.wopiUnlock(d, &conn{accessToken: p.o.accessToken})
		}
		return nil, d.loadErr
	}

	s.mu.Lock()
	if !view {
		d.cancelSaveLocked()
	}
	d.userIndex++
	c := &conn{doc: d, userID: getStr(p.fileInfo, "UserId"), name: getStr(p.fileInfo, "UserFriendlyName"), index: d.userIndex,
		view: view, accessToken: p.o.accessToken, ttl: p.o.ttl, usid: p.usid}
	d.conns = append(d.conns, c)
	d.callbacks = append(d.callbacks, "")
	d.wopi.lastToken = p.o.accessToken
	d.wopi.unlocked = false
	w := &WOPISession{s: s, c: c, mode: p.mode, forcedView: p.forcedView, render: p.render}
	s.wopiSessions[p.usid] = w
	var job *saveJob
	if fromTemplateSource && !view {
		// Opened from TemplateSource: DS starts a forcesave at once.
		s.edit(c, d.content)
		job, _ = s.beginForcesaveLocked(d)
	}
	s.mu.Unlock()
	s.log.add(Event{Time: s.now(), Type: Connected, Key: p.key, Detail: p.usid})
	if job != nil {
		s.spawn(func() { s.wopiForcesave(job, ForceSaveTimer) })
	}
	return w, nil
}

// wopiLoad is the converter's download: none for a Size-0 file (the
// template), FileUrl or TemplateSource as given (unsigned, with
// X-WOPI-MaxExpectedSize), else GetFile.
func (s *Server) wopiLoad(ctx context.Context, p *wopiPrep) ([]byte, error) {
	if p.template != nil {
		return p.template, nil
	}
	direct := getStr(p.fileInfo, "FileUrl")
	if direct == "" {
		direct = getStr(p.fileInfo, "TemplateSource")
	}
	return s.fetch(ctx, func(attempt int) outbound {
		if direct != "" {
			return outbound{op: OpFileURL, key: p.key, attempt: attempt, method: "GET", url: direct,
				header: []HeaderField{
					{"Accept", hdrAccept}, {"User-Agent", hdrUserAgent}, {"Connection", hdrConnection},
					{"X-WOPI-MaxExpectedSize", maxExpectedSize},
					{"Accept-Encoding", hdrAcceptEncoding}, {"Host", ""},
				},
				timeout: s.opts.DownloadTimeout, limit: maxDownloadBytes}
		}
		ob := s.wopiRequest(wopiCall{op: OpGetFile, key: p.key, method: "GET", wopiSrc: p.o.wopiSrc, contents: true,
			token: p.o.accessToken, specific: []HeaderField{{"X-WOPI-MaxExpectedSize", maxExpectedSize}}})
		ob.attempt = attempt
		return ob
	})
}

// wopiCall describes one request to the WOPI host.
type wopiCall struct {
	op          Op
	key         string
	method      string
	wopiSrc     string
	contents    bool
	token       string
	specific    []HeaderField // after Connection, before the proofs
	after       []HeaderField // after the standard headers
	sessionID   string        // X-WOPI-SessionId: only on host-page route requests
	body        []byte
	contentType string
}

// wopiRequest builds a WOPI call as DS's client sends it: the token only
// in the query, no Authorization header, headers in DS's order,
// proofs over the URL DS builds (before the wire encodes ').
func (s *Server) wopiRequest(w wopiCall) outbound {
	base := w.wopiSrc
	if w.contents {
		base += "/contents"
	}
	signed := base + "?access_token=" + encodeURIComponent(w.token)
	ticks := DotNetTicks(s.now())
	data := ProofData(w.token, signed, ticks)
	cur, old := s.signingKeys()
	header := []HeaderField{{"Accept", hdrAccept}}
	if w.method == "POST" {
		ct := w.contentType
		if ct == "" {
			ct = formContentType
		}
		header = append(header, HeaderField{"Content-Type", ct})
	}
	header = append(header, HeaderField{"User-Agent", hdrUserAgent}, HeaderField{"Connection", hdrConnection})
	header = append(header, w.specific...)
	header = append(header,
		HeaderField{"X-WOPI-Proof", signProof(cur, data)},
		HeaderField{"X-WOPI-ProofOld", signProof(old, data)},
		HeaderField{"X-WOPI-TimeStamp", strconv.FormatUint(ticks, 10)},
		HeaderField{"X-WOPI-ClientVersion", s.opts.Version},
		HeaderField{"X-WOPI-CorrelationId", randomUUID()},
	)
	if w.sessionID != "" {
		header = append(header, HeaderField{"X-WOPI-SessionId", w.sessionID})
	}
	header = append(header, w.after...)
	timeout := s.opts.DownloadTimeout
	switch {
	case len(w.body) > 0:
		header = append(header, HeaderField{"Content-Length", ""}, HeaderField{"Accept-Encoding", hdrAcceptEncoding}, HeaderField{"Host", ""})
		timeout = s.opts.CallbackTimeout
	case w.method == "POST":
		header = append(header, HeaderField{"Accept-Encoding", hdrAcceptEncoding}, HeaderField{"Host", ""}, HeaderField{"Content-Length", ""})
		timeout = s.opts.CallbackTimeout
	default:
		header = append(header, HeaderField{"Accept-Encoding", hdrAcceptEncoding}, HeaderField{"Host", ""})
	}
	return outbound{op: w.op, key: w.key, method: w.method, url: wireURL(signed), header: header, body: w.body,
		timeout: timeout, limit: maxDownloadBytes}
}

// putFile saves content to the host with saver's token and the X-LOOL
// flags. Not retried.
func (s *Server) putFile(job *saveJob, saver *conn, modified, autosave, exit bool) error {
	d := job.d
	s.mu.Lock()
	info := d.wopi
	lockID, lastModified := info.lockID, info.lastModified
	canUpdate := info.flag("SupportsUpdate") || info.flag("UserCanWrite")
	s.mu.Unlock()
	if !canUpdate {
		return errors.New("SupportsUpdate and UserCanWrite are false: no PutFile")
	}
	after := []HeaderField{
		{"X-LOOL-WOPI-IsModifiedByUser", strconv.FormatBool(modified)},
		{"X-LOOL-WOPI-IsAutosave", strconv.FormatBool(autosave)},
		{"X-LOOL-WOPI-IsExitSave", strconv.FormatBool(exit)},
	}
	if lastModified != "" {
		after = append(after, HeaderField{"X-LOOL-WOPI-Timestamp", lastModified})
	}
	x := s.do(s.ctx, s.wopiRequest(wopiCall{
		op: OpPutFile, key: d.key, method: "POST", wopiSrc: info.wopiSrc, contents: true, token: saver.accessToken,
		specific:    []HeaderField{{"X-WOPI-Override", "PUT"}, {"X-WOPI-Lock", lockID}, {"X-WOPI-Editors", saver.userID}},
		after:       after,
		body:        job.content,
		contentType: mimeType(job.fileType),
	}))
	if x.err != nil || (x.status() != 200 && x.status() != 204) {
		return fmt.Errorf("PutFile failed: HTTP %d %v", x.status(), x.err)
	}
	var reply map[string]any
	if json.Unmarshal(x.reply.Body, &reply) == nil {
		if lmt := getStr(reply, "LastModifiedTime"); lmt != "" {
			s.mu.Lock()
			info.lastModified = lmt
			s.mu.Unlock()
		}
	}
	return nil
}

// wopiFinalSave replaces status 2 in WOPI mode: PutFile with the exit
// flags, then UNLOCK, even when the PutFile failed.
func (s *Server) wopiFinalSave(job *saveJob, leaver *conn) error {
	saver := job.changer
	if saver == nil {
		saver = leaver
	}
	var err error
	if job.fail {
		err = errors.New("docserver: assembly failed")
		s.forget(job, "assembly failed: no PutFile")
	} else if err = s.putFile(job, saver, !job.notModified, false, true); err != nil {
		s.forget(job, err.Error())
	} else {
		s.saved(job.d)
	}
	if uerr := s.wopiUnlock(job.d, saver); err == nil {
		err = uerr
	}
	return err
}

// wopiForcesave is a forcesave in WOPI mode: PutFile without the exit flag.
func (s *Server) wopiForcesave(job *saveJob, typ int) error {
	if job.fail {
		s.logForgotten(job.d.key, "forcesave assembly failed: no PutFile")
		return errors.New("docserver: assembly failed")
	}
	saver := job.changer
	if saver == nil {
		return ErrNotModified
	}
	err := s.putFile(job, saver, true, typ != ForceSaveButton, false)
	if err != nil {
		s.logForgotten(job.d.key, "forcesave: "+err.Error())
	}
	return err
}

// wopiUnlock sends UNLOCK with c's token (edit sessions with SupportsLocks).
func (s *Server) wopiUnlock(d *document, c *conn) error {
	s.mu.Lock()
	info := d.wopi
	locks := info.flag("SupportsLocks")
	lockID := info.lockID
	s.mu.Unlock()
	if !locks || c.view {
		return nil
	}
	x := s.do(s.ctx, s.wopiRequest(wopiCall{
		op: OpUnlock, key: d.key, method: "POST", wopiSrc: info.wopiSrc, token: c.accessToken,
		specific: []HeaderField{{"X-WOPI-Override", "UNLOCK"}, {"X-WOPI-Lock", lockID}},
	}))
	if x.err != nil || (x.status() != 200 && x.status() != 204) {
		return fmt.Errorf("docserver: UNLOCK failed: HTTP %d %v", x.status(), x.err)
	}
	s.mu.Lock()
	info.unlocked = true
	s.mu.Unlock()
	return nil
}

// refreshLockLoop is DS's single global RefreshLock timer.
func (s *Server) refreshLockLoop() {
	for s.sleep(s.opts.RefreshLockInterval) {
		s.refreshLocks()
	}
}

func (s *Server) refreshLocks() {
	type target struct {
		key, wopiSrc, lockID, token string
	}
	var targets []target
	s.mu.Lock()
	for _, d := range s.docs {
		if d.wopi == nil || !d.hasEditors() || !d.wopi.flag("SupportsLocks") {
			continue
		}
		targets = append(targets, target{d.key, d.wopi.wopiSrc, d.wopi.lockID, d.wopi.lastToken})
	}
	s.mu.Unlock()
	sort.Slice(targets, func(i, j int) bool { return targets[i].key < targets[j].key })
	for _, t := range targets {
		s.do(s.ctx, s.wopiRequest(wopiCall{
			op: OpRefreshLock, key: t.key, method: "POST", wopiSrc: t.wopiSrc, token: t.token,
			specific: []HeaderField{{"X-WOPI-Override", "REFRESH_LOCK"}, {"X-WOPI-Lock", t.lockID}},
		}))
	}
}

// beginForcesaveLocked snapshots a forcesave; caller holds s.mu.
func (s *Server) beginForcesaveLocked(d *document) (*saveJob, error) {
	if d.state != stateOpen || !d.changedSinceForcesave {
		return nil, ErrNotModified
	}
	d.changedSinceForcesave = false
	job := s.snapshotLocked(d)
	s.faults.failNextSave, job.fail = false, s.faults.failNextSave
	return job, nil
}

func (s *Server) logForgotten(key, why string) {
	s.log.add(Event{Time: s.now(), Type: Forgotten, Key: key, Detail: why})
}
