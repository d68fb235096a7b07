// Package wopitest is an in-memory WOPI host served over real HTTP on 127.0.0.1, for
// testing WOPI clients: files with ids, access tokens scoped to a user and a file (which
// can expire or be revoked), the WOPI lock rules with a movable clock, and faults to
// inject (failing replies, an unreachable or a slow host). It records every request
// (never the access token) for tests to assert on.
//
// A Profile makes the host behave as a real host does where it departs from the
// documentation (NewServerProfile); NewServer follows the documentation.
//
//	srv := wopitest.NewServer(t)
//	id, src := srv.AddFile("report.docx", []byte("..."))
//	token := srv.Token(id, "alice", true)
//	// call src with ?access_token=token
//
// Lock rules: a lock lives 30 minutes unless refreshed, ids are at most 1024 bytes; a
// PutFile or RenameFile with a lock on a locked file must match it; with a lock on an
// unlocked file it is refused; PutFile without a lock succeeds only on an unlocked
// 0-byte file. A refusal is 409 with the current lock in X-WOPI-Lock (empty when
// unlocked). Version changes on every content change and is never reused. Names are one
// flat namespace, compared exactly; a taken name is 409 without X-WOPI-Lock for
// PutRelativeFile and RenameFile.
package wopitest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// LockDuration is how long a lock lives without a refresh.
const LockDuration = 30 * time.Minute

// MaxLockLength is the longest lock id accepted (SupportsExtendedLockLength).
const MaxLockLength = 1024

// TokenTTL is the lifetime of the tokens Token hands out.
const TokenTTL = 10 * time.Hour

// Op names a WOPI operation, in the request log and for fault injection.
type Op string

// Operations the host answers.
const (
	OpCheckFileInfo   Op = "CheckFileInfo"
	OpGetFile         Op = "GetFile"
	OpPutFile         Op = "PutFile"
	OpLock            Op = "Lock"
	OpUnlockAndRelock Op = "UnlockAndRelock"
	OpUnlock          Op = "Unlock"
	OpRefreshLock     Op = "RefreshLock"
	OpGetLock         Op = "GetLock"
	OpPutRelativeFile Op = "PutRelativeFile"
	OpRenameFile      Op = "RenameFile"
	OpDeleteFile      Op = "DeleteFile"
	OpUnknown         Op = "Unknown"
)

// Request is one request as the host saw it. It never holds the access token.
type Request struct {
	Op       Op
	Method   string
	Path     string // URL path, without query
	Override string // X-WOPI-Override
	Lock     string // X-WOPI-Lock sent
	OldLock  string // X-WOPI-OldLock sent
	// ContentLength is the request's declared body length: -1 when sent chunked.
	ContentLength int64
	User          string // the user of the access token; empty when the token was not valid
	Status        int    // status answered; 0 when the connection was dropped
}

// Server is the fake host. Its methods are safe for concurrent use.
type Server struct {
	// URL is the host's base URL, http://127.0.0.1:port.
	URL string

	ts      *httptest.Server
	profile Profile

	mu       sync.Mutex
	files    map[string]*file
	tokens   map[string]*grant
	offset   time.Duration // clock: real time plus offset
	seq      int           // ids and versions
	maxSize  int64
	log      []Request
	failures map[Op]*failure
	down     bool
	delay    time.Duration
	cut      int    // GetFile replies to cut short
	faults   faults // see faults.go

	app appState // the office app registered (proofcheck.go)
}

type file struct {
	id          string
	name        string
	content     []byte
	version     string
	modified    time.Time
	lock        string
	lockExpires time.Time
	lockApp     string         // the app whose token took the lock
	extra       map[string]any // properties set with SetProperties; nil values remove
}

type grant struct {
	fileID   string
	user     string
	canWrite bool
	expires  time.Time
	revoked  bool
	app      string // the office app the token was handed to (AppToken)
	relative bool   // handed out by PutRelativeFile
	name     string // the file's name when the token was made (Profile.TokensBoundToName)
}

type failure struct {
	left   int
	status int
}

// NewServer starts a host on 127.0.0.1 and stops it when the test ends.
func NewServer(t testing.TB) *Server { return NewServerProfile(t, Spec) }

// NewServerProfile starts a host that behaves as p describes.
func NewServerProfile(t testing.TB, p Profile) *Server {
	s := &Server{profile: p, files: map[string]*file{}, tokens: map[string]*grant{}, failures: map[Op]*failure{}}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL
	t.Cleanup(s.Close)
	return s
}

// Profile is how the host behaves.
func (s *Server) Profile() Profile { return s.profile }

// Close stops the host.
func (s *Server) Close() { s.ts.Close() }

// Client is an HTTP client for the host (reused connections).
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Now is the host's clock.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

func (s *Server) now() time.Time { return time.Now().Add(s.offset) }

// Advance moves the host's clock forward (locks and tokens expire).
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

// WOPISrc is the WOPISrc of file id.
func (s *Server) WOPISrc(id string) string { return s.URL + "/wopi/files/" + id }

// AddFile stores a new file and returns its id and WOPISrc.
func (s *Server) AddFile(name string, content []byte) (id, wopiSrc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.newFile(name, slices.Clone(content))
	return f.id, s.WOPISrc(f.id)
}

func (s *Server) newFile(name string, content []byte) *file {
	s.seq++
	f := &file{id: fmt.Sprintf("f%04d", s.seq), name: name}
	s.files[f.id] = f
	s.setContent(f, content)
	return f
}

func (s *Server) setContent(f *file, content []byte) {
	s.seq++
	f.content = content
	f.version = fmt.Sprintf("v%d", s.seq)
	f.modified = s.now().UTC()
}

// Token hands out an access token for one user on one file, valid for TokenTTL.
func (s *Server) Token(fileID, user string, canWrite bool) string {
	return s.AppToken(fileID, user, canWrite, "")
}

// AppToken is Token for a token handed to one office app: with
// Profile.LocksOwnedByApp, a lock it takes belongs to that app.
func (s *Server) AppToken(fileID, user string, canWrite bool, app string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newToken(&grant{fileID: fileID, user: user, canWrite: canWrite, app: app, expires: s.now().Add(TokenTTL)})
}

func (s *Server) newToken(g *grant) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := "tok-" + hex.EncodeToString(b)
	if f := s.files[g.fileID]; f != nil {
		g.name = f.name
	}
	s.tokens[tok] = g
	return tok
}

// TokenTTL is the token's expiry as WOPI's access_token_ttl: milliseconds since the
// Unix epoch; 0 for an unknown token.
func (s *Server) TokenTTL(token string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.tokens[token]; g != nil {
		return g.expires.UnixMilli()
	}
	return 0
}

// ExpireToken makes the token expired now.
func (s *Server) ExpireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.tokens[token]; g != nil {
		g.expires = s.now().Add(-time.Second)
	}
}

// RevokeToken makes the token invalid.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.tokens[token]; g != nil {
		g.revoked = true
	}
}

// Content is the file's content; nil for an unknown file.
func (s *Server) Content(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.files[id]; f != nil {
		return slices.Clone(f.content)
	}
	return nil
}

// Version is the file's version; empty for an unknown file.
func (s *Server) Version(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.files[id]; f != nil {
		return f.version
	}
	return ""
}

// Name is the file's name; empty for an unknown file.
func (s *Server) Name(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.files[id]; f != nil {
		return f.name
	}
	return ""
}

// Lock is the file's current lock; empty when unlocked (or the lock expired).
func (s *Server) Lock(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.files[id]; f != nil {
		return s.currentLock(f)
	}
	return ""
}

// SetLock locks the file with lock for LockDuration, as another WOPI client would; an
// empty lock unlocks it.
func (s *Server) SetLock(id, lock string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.files[id]; f != nil {
		f.lock, f.lockExpires = lock, s.now().Add(LockDuration)
	}
}

// SetContent replaces the file's content as another writer would (new version).
func (s *Server) SetContent(id string, content []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.files[id]; f != nil {
		s.setContent(f, slices.Clone(content))
	}
}

// SetProperties overrides CheckFileInfo properties of the file; a nil value removes
// the property from the reply.
func (s *Server) SetProperties(id string, props map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.files[id]; f != nil {
		if f.extra == nil {
			f.extra = map[string]any{}
		}
		for k, v := range props {
			f.extra[k] = v
		}
	}
}

// FileID is the id of the file named name; empty when there is none.
func (s *Server) FileID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.byName(name); f != nil {
		return f.id
	}
	return ""
}

// Names lists the names of all files, sorted bytewise.
func (s *Server) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.files))
	for _, f := range s.files {
		names = append(names, f.name)
	}
	slices.Sort(names)
	return names
}

// SetMaxSize makes PutFile and PutRelativeFile answer 413 for bodies over n bytes
// (0: no limit).
func (s *Server) SetMaxSize(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxSize = n
}

// FailNext makes the next n requests for op answer status (with X-WOPI-ServerError)
// without doing anything.
func (s *Server) FailNext(op Op, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[op] = &failure{left: n, status: status}
}

// CutGetFiles makes the next n GetFile replies stop after half the content (at
// least one byte short) and drop the connection, as a host that fails mid-reply does.
func (s *Server) CutGetFiles(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = n
}

// StopListening closes the host's listener, as a host shutting down does: new
// connections are refused, while established keep-alive connections are still served
// (OpenCloud goes on for 10-15 s after SIGTERM) until CloseConnections.
func (s *Server) StopListening() { _ = s.ts.Listener.Close() }

// CloseConnections closes the connections clients hold to the host.
func (s *Server) CloseConnections() { s.ts.CloseClientConnections() }

// SetUnreachable makes the host drop every connection without a reply, or serve again.
func (s *Server) SetUnreachable(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetDelay makes the host wait d before answering each request (or until the client
// gives up); 0 answers at once.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Requests returns the requests seen so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// ResetRequests forgets the requests seen so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

func (s *Server) byName(name string) *file {
	for _, f := range s.files {
		if f.name == name {
			return f
		}
	}
	return nil
}

func (s *Server) currentLock(f *file) string {
	if f.lock != "" && s.now().Before(f.lockExpires) {
		return f.lock
	}
	return ""
}
