package docserver

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Errors an editor gets when opening or working on a document.
var (
	ErrToken          = errors.New("docserver: token error (4006)")
	ErrTokenExpired   = errors.New("docserver: token expired (4005)")
	ErrAccessDenied   = errors.New("docserver: access denied (4001): token has a top-level url, payload or key")
	ErrConfig         = errors.New("docserver: invalid editor config")
	ErrDownload       = errors.New("docserver: download failed (-81)")
	ErrTooLarge       = errors.New("docserver: file too large (-93)")
	ErrVersionChanged = errors.New("docserver: document version changed (updateversion)")
	ErrNotModified    = errors.New("docserver: not modified")
	ErrClosed         = errors.New("docserver: session closed")
	ErrViewOnly       = errors.New("docserver: view-only session")
	ErrCheckFileInfo  = errors.New("docserver: CheckFileInfo failed")
	ErrWrongKind      = errors.New("docserver: key belongs to the other integration mode")
)

type docState int

const (
	stateOpen          docState = iota // DS status Ok: editing, or closed without pending changes
	stateSaveDelay                     // last editor gone, waiting SaveDelay
	stateSaving                        // assembling and delivering the result
	stateUpdateVersion                 // saved: the key refuses new editors for a while
)

// document is one key in DS's cache, shared by all its editors.
type document struct {
	key      string
	wopi     *wopiDoc // nil in Docs API mode
	fileType string
	title    string
	baseURL  string

	ready   chan struct{} // closed once content is loaded
	loadErr error

	content               []byte
	baseSum               string // sha256 of the version the changes apply to
	changed               bool
	changedSinceForcesave bool
	lastChange            time.Time
	lastChanger           *conn
	history               []historyChange
	fromForgotten         bool
	forgotten             []byte

	conns     []*conn
	callbacks []string // callback URL by user index - 1
	userIndex int

	state              docState
	updateVersionUntil time.Time
	saveGen            int
	saveTimer          *time.Timer
	saveDone           chan error
}

// conn is one editor connection (one browser tab).
type conn struct {
	doc         *document
	userID      string // the original user.id
	name        string // display name (group + U+00A0 + name)
	index       int
	view        bool
	callbackURL string

	// WOPI mode
	accessToken string
	ttl         int64
	usid        string

	closed bool
}

// editorIDs are the distinct ids of connected editors in join order
// (getOriginalParticipantsId).
func (d *document) editorIDs() []string {
	ids := []string{}
	seen := map[string]bool{}
	for _, c := range d.conns {
		if !c.view && !seen[c.userID] {
			seen[c.userID] = true
			ids = append(ids, c.userID)
		}
	}
	return ids
}

func (d *document) hasEditors() bool {
	for _, c := range d.conns {
		if !c.view {
			return true
		}
	}
	return false
}

// callbackFor is the URL stored for a user index, falling back to the last
// stored one (getCallbackByUserIndex).
func (d *document) callbackFor(index int) string {
	if index >= 1 && index <= len(d.callbacks) && d.callbacks[index-1] != "" {
		return d.callbacks[index-1]
	}
	for i := len(d.callbacks) - 1; i >= 0; i-- {
		if d.callbacks[i] != "" {
			return d.callbacks[i]
		}
	}
	return ""
}

func (d *document) remove(c *conn) {
	for i, x := range d.conns {
		if x == c {
			d.conns = append(d.conns[:i:i], d.conns[i+1:]...)
			return
		}
	}
}

// edit records a change by c. Caller holds s.mu.
func (s *Server) edit(c *conn, content []byte) error {
	if c.closed {
		return ErrClosed
	}
	if c.view {
		return ErrViewOnly
	}
	d := c.doc
	d.content = append([]byte(nil), content...)
	d.changed = true
	d.changedSinceForcesave = true
	d.lastChange = s.now()
	d.lastChanger = c
	d.history = append(d.history, historyChange{
		DocumentSha256: d.baseSum,
		Created:        d.lastChange.UTC().Format("2006-01-02 15:04:05"),
		User:           historyUser{ID: c.userID, Name: c.name},
	})
	return nil
}

// leave disconnects c. The returned channel is closed once whatever the
// departure set off (a save, an unlock) is finished; it yields that step's
// error, if any. noDelay is an explicit close: DS then skips SaveDelay.
func (s *Server) leave(c *conn, noDelay bool) <-chan error {
	done := make(chan error, 1)
	s.mu.Lock()
	if c.closed {
		s.mu.Unlock()
		close(done)
		return done
	}
	c.closed = true
	d := c.doc
	d.remove(c)
	if c.usid != "" {
		delete(s.wopiSessions, c.usid)
	}
	if c.view {
		s.mu.Unlock()
		close(done)
		return done
	}
	if d.hasEditors() {
		if d.wopi == nil {
			body := callbackBody{Key: d.key, Status: StatusEditing, Users: ptr(d.editorIDs()),
				Actions: []action{{ActionOut, c.userID}}}
			s.fireCallbackLocked(d.callbackFor(c.index), body)
		}
		s.mu.Unlock()
		close(done)
		return done
	}
	if d.changed || d.forgotten != nil {
		d.state = stateSaveDelay
		d.saveGen++
		gen := d.saveGen
		delay := s.opts.SaveDelay
		if noDelay {
			delay = 0
		}
		d.saveDone = done
		d.saveTimer = time.AfterFunc(delay, func() {
			s.spawn(func() { done <- s.finalSave(d, gen, c); close(done) })
		})
		s.mu.Unlock()
		return done
	}
	if d.wopi == nil {
		body := callbackBody{Key: d.key, Status: StatusClosed, Actions: []action{{ActionOut, c.userID}}}
		s.fireCallbackLocked(d.callbackFor(c.index), body)
		s.mu.Unlock()
		close(done)
		return done
	}
	s.spawnLocked(func() { done <- s.wopiUnlock(d, c); close(done) })
	s.mu.Unlock()
	return done
}

// fireCallbackLocked sends a status 1 or 4 notification: one attempt, in
// the background, the answer only logged (DS does not retry them).
func (s *Server) fireCallbackLocked(url string, body callbackBody) {
	if url == "" {
		return
	}
	h := s.holdCallbackLocked()
	s.spawnLocked(func() { s.sendHeld(s.ctx, url, body, 1, h) })
}

// saveJob is a snapshot of what one assembly produces.
type saveJob struct {
	d           *document
	content     []byte
	fail        bool
	changer     *conn
	lastChange  time.Time
	notModified bool
	history     *history
	fileType    string
	base        string
}

// cancelSaveLocked stops a pending final save because an editor came back
// during the delay (DS resets the status from SaveVersion to Ok).
func (d *document) cancelSaveLocked() {
	if d.state != stateSaveDelay {
		return
	}
	d.saveGen++
	d.state = stateOpen
	if d.saveTimer != nil && d.saveTimer.Stop() && d.saveDone != nil {
		close(d.saveDone)
	}
	d.saveTimer, d.saveDone = nil, nil
}

// finalSave assembles the document after the last editor left and delivers
// it; it is cancelled if an editor came back during the delay.
func (s *Server) finalSave(d *document, gen int, leaver *conn) error {
	s.mu.Lock()
	if d.saveGen != gen || d.state != stateSaveDelay {
		s.mu.Unlock()
		return nil
	}
	d.state = stateSaving
	job := s.snapshotLocked(d)
	job.notModified = !d.changedSinceForcesave
	if d.fromForgotten {
		job.history = &history{}
	} else {
		job.history = &history{ServerVersion: s.productVersion(), Changes: append([]historyChange(nil), d.history...)}
	}
	s.faults.failNextSave, job.fail = false, s.faults.failNextSave
	s.mu.Unlock()

	if d.wopi != nil {
		return s.wopiFinalSave(job, leaver)
	}
	return s.docsFinalSave(job, leaver)
}

func (s *Server) snapshotLocked(d *document) *saveJob {
	return &saveJob{
		d:          d,
		content:    append([]byte(nil), d.content...),
		changer:    d.lastChanger,
		lastChange: d.lastChange,
		fileType:   d.fileType,
		base:       d.baseURL,
	}
}

// saved marks a delivered final save: the key is now in UpdateVersion.
func (s *Server) saved(d *document) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.state = stateUpdateVersion
	d.updateVersionUntil = s.now().Add(s.opts.UpdateVersionExpiry)
	d.changed = false
	d.changedSinceForcesave = false
	d.forgotten = nil
	d.fromForgotten = false
	d.history = nil
	d.lastChanger = nil
}

// forget keeps an undelivered result in the forgotten store: the editing
// session ends and the next session on the key starts from it.
func (s *Server) forget(job *saveJob, why string) {
	s.mu.Lock()
	d := job.d
	d.state = stateOpen
	d.forgotten = job.content
	d.content = job.content
	d.fromForgotten = true
	d.changed = false
	d.changedSinceForcesave = false
	d.history = nil
	d.lastChanger = nil
	s.mu.Unlock()
	s.log.add(Event{Time: s.now(), Type: Forgotten, Key: d.key, Detail: why})
}

// newSaveDir is <key><saveKey>, the cache folder of one assembly.
func (s *Server) newSaveDir(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saveSeq == 0 {
		s.saveSeq = 1000 + rand.IntN(8000)
	}
	s.saveSeq++
	return fmt.Sprintf("%s_%d", key, s.saveSeq)
}

// changesZip is the changes archive DS offers next to a result.
func changesZip(h []historyChange) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("changes.json")
	w.Write(jsonCompact(h))
	zw.Close()
	return b.Bytes()
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// isoMillis formats t as JavaScript's toISOString.
func isoMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
