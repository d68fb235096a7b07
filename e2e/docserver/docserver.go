// Package docserver is a simulated ONLYOFFICE Docs (Document Server) for
// black-box end-to-end tests.
//
// It speaks only the wire protocols of the real server: the endpoints it
// serves (discovery, capabilities, api.js, the command and conversion
// services, result files, the WOPI editor route) and the requests it makes
// (document downloads, save callbacks in Docs API mode; CheckFileInfo,
// GetFile, Lock, RefreshLock, PutFile and Unlock in WOPI mode), with the
// real server's headers, JWT placement, timing, retries and failure modes.
//
// Editors are driven from Go: OpenDocs plays a browser opening a Docs API
// config, OpenWOPI a browser posting a WOPI host page form. Every request
// the server makes and every reply it gets is logged; tests wait on the log
// with WaitFor instead of sleeping.
//
// A Docs API save, end to end:
//
//	ds, err := docserver.New(docserver.Options{
//		JWTSecret: secret, SaveDelay: 50 * time.Millisecond, RetryBase: 10 * time.Millisecond,
//	})
//	if err != nil { t.Fatal(err) }
//	t.Cleanup(ds.Close)
//	// … start the service under test with ds.URL() as its Document Server …
//	ed, err := ds.OpenDocs(ctx, signedConfigFromThePage, docserver.User{})
//	ed.Edit([]byte("new bytes"))
//	ed.Close() // last editor: status 2 after SaveDelay, retried on 429/5xx
//	ev, err := ds.WaitFor(ctx, docserver.Match{
//		Type: docserver.Reply, Op: docserver.OpCallback, Status: docserver.StatusMustSave,
//	}.Fn())
//	// ev.Request is what DS sent (headers in wire order), ev.Reply the answer.
//
// In WOPI mode:
//
//	w, err := ds.OpenWOPI(ctx, actionURLFromDiscovery, accessToken, ttlMillis, "")
//	err = w.Save([]byte("v2"), false) // Save button: PutFile with the lock
//	w.Close()                         // PutFile (exit) after SaveDelay, then UNLOCK
//
// Traits of the real server that integrations trip over, as observed against
// ONLYOFFICE DocService (see the real-DS captures): a Docs API key is reused while its
// content is unchanged (status 4 when the last editor leaves, status 1 with the same key
// when an editor comes back with the same config); Options.JWTOutboxSecret signs
// callbacks and downloads while JWTSecret checks configs and commands; in WOPI mode the
// file is fetched through FileUrl when CheckFileInfo gives one (never GetFile), with
// X-WOPI-MaxExpectedSize and no proof; the host page route LOCKs before any editor
// connects, and an open whose editor never connects (OpenWOPIAbandoned,
// AbandonWOPIOpens) is never unlocked; RotateProofKeys and PublishProofKeyElement
// change what discovery publishes; the command service's drop disconnects editors.
package docserver

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. Zero values take the real server's defaults.
type Options struct {
	// JWTSecret is the inbox secret (token.inbox, which browser tokens use
	// too): DS checks editor configs and command and conversion requests
	// with it. It is also the outbox secret unless JWTOutboxSecret is set,
	// as Docker's single JWT_SECRET makes them. "" turns JWT off.
	JWTSecret string
	// JWTOutboxSecret is the outbox secret (token.outbox) DS signs what it
	// sends with: callbacks and document downloads. "" means JWTSecret.
	JWTOutboxSecret string
	// JWTHeader is the header DS reads and writes tokens in; default
	// "Authorization". Tokens carry the "Bearer " prefix.
	JWTHeader string
	// WOPIEnabled turns on /hosting/*; off, every /hosting route is 404.
	WOPIEnabled bool

	// SaveDelay is how long DS waits after the last editor leaves before it
	// assembles the document (savetimeoutdelay, 5 s).
	SaveDelay time.Duration
	// RetryBase is the callback backoff unit: status 2 and 3 are retried
	// 1, 2 and 4 × RetryBase after the first try (1 s). Downloads are
	// retried RetryBase apart (downloadAttemptDelay, 1 s).
	RetryBase time.Duration
	// URLExpiry is how long result URLs stay valid (storage.fs.urlExpires, 900 s).
	URLExpiry time.Duration
	// RefreshLockInterval is the period of the global WOPI RefreshLock
	// timer (wopi.refreshLockInterval, 10 m).
	RefreshLockInterval time.Duration
	// CallbackTimeout bounds one callback or WOPI POST
	// (callbackRequestTimeout, 10 m).
	CallbackTimeout time.Duration
	// DownloadTimeout bounds one download or CheckFileInfo
	// (converter.downloadTimeout, 2 m). A timeout is not retried.
	DownloadTimeout time.Duration
	// UpdateVersionExpiry is how long a saved key refuses new editors
	// (expire.updateVersionStatus, 5 m).
	UpdateVersionExpiry time.Duration

	// ProofKey and ProofKeyOld sign X-WOPI-Proof and X-WOPI-ProofOld.
	// Generated when nil, two different 2048-bit keys.
	ProofKey, ProofKeyOld *rsa.PrivateKey

	// HTTP is the client for every outgoing request. When nil, or when its
	// Transport is nil, requests are written by a transport that keeps
	// DS's header order and case.
	HTTP *http.Client
	// Now is the clock for timestamps, token times and URL expiry.
	Now func() time.Time

	// Version is "<buildVersion>.<buildNumber>", answered by the version
	// command and sent as X-WOPI-ClientVersion; default "9.3.1.1".
	Version string
	// ExternalURL is the base of result URLs (storage.externalHost);
	// default the server's own URL.
	ExternalURL string
	// BlockPrivateIPs refuses downloads and callbacks to loopback and
	// private addresses when they are not covered by a verified JWT, as
	// DS's request-filtering-agent does by default
	// (ALLOW_PRIVATE_IP_ADDRESS unset). Off by default so JWT-less tests
	// on loopback work, as with ALLOW_PRIVATE_IP_ADDRESS=true.
	BlockPrivateIPs bool
}

// Server is a running simulated Document Server.
type Server struct {
	opts          Options
	now           func() time.Time
	hc            *http.Client
	ln            net.Listener
	srv           *http.Server
	url           string
	storageSecret string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    eventLog

	mu           sync.Mutex
	closed       bool
	docs         map[string]*document
	results      map[string]*resultFile
	wopiSessions map[string]*WOPISession
	conversions  map[string]*conversion
	saveSeq      int
	anonSeq      int
	faults       faults

	// proof keys: the pair DS signs with, and the <proof-key> element its
	// discovery publishes (normally the same keys; see PublishProofKeyElement).
	keyMu       sync.Mutex
	proofKey    *rsa.PrivateKey
	proofKeyOld *rsa.PrivateKey
	proofKeyXML string
	published   bool // proofKeyXML was set by a test, not derived from the keys
}

// New starts a Server on 127.0.0.1 with a free port.
func New(opts Options) (*Server, error) {
	if opts.JWTHeader == "" {
		opts.JWTHeader = "Authorization"
	}
	setDefault(&opts.SaveDelay, 5*time.Second)
	setDefault(&opts.RetryBase, time.Second)
	setDefault(&opts.URLExpiry, 900*time.Second)
	setDefault(&opts.RefreshLockInterval, 10*time.Minute)
	setDefault(&opts.CallbackTimeout, 10*time.Minute)
	setDefault(&opts.DownloadTimeout, 2*time.Minute)
	setDefault(&opts.UpdateVersionExpiry, 5*time.Minute)
	if opts.Version == "" {
		opts.Version = "9.3.1.1"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var err error
	if opts.ProofKey == nil {
		if opts.ProofKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("docserver: proof key: %w", err)
		}
	}
	if opts.ProofKeyOld == nil {
		if opts.ProofKeyOld, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("docserver: old proof key: %w", err)
		}
	}
	hc := &http.Client{}
	if opts.HTTP != nil {
		c := *opts.HTTP
		hc = &c
	}
	if hc.Transport == nil {
		hc.Transport = &nodeTransport{}
	}
	if hc.CheckRedirect == nil {
		// axios (follow-redirects) follows up to 21 redirects.
		hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if len(via) > 21 {
				return errors.New("maximum number of redirects exceeded")
			}
			return nil
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("docserver: listen: %w", err)
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:          opts,
		now:           opts.Now,
		hc:            hc,
		ln:            ln,
		url:           "http://" + ln.Addr().String(),
		proofKey:      opts.ProofKey,
		proofKeyOld:   opts.ProofKeyOld,
		proofKeyXML:   proofKeyElement(&opts.ProofKey.PublicKey, &opts.ProofKeyOld.PublicKey),
		storageSecret: hex.EncodeToString(secret),
		ctx:           ctx,
		cancel:        cancel,
		docs:          map[string]*document{},
		results:       map[string]*resultFile{},
		wopiSessions:  map[string]*WOPISession{},
		conversions:   map[string]*conversion{},
	}
	if s.opts.ExternalURL == "" {
		s.opts.ExternalURL = s.url
	}
	s.opts.ExternalURL = strings.TrimSuffix(s.opts.ExternalURL, "/")
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	s.spawn(s.refreshLockLoop)
	return s, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// URL is the server's base URL, http://127.0.0.1:<port>.
func (s *Server) URL() string { return s.url }

// Close stops the server and every timer, retry and request in flight.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for _, d := range s.docs {
		if d.saveTimer != nil {
			d.saveTimer.Stop()
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.srv.Close()
	s.wg.Wait()
}

// spawn runs f in a goroutine that Close waits for; after Close it does nothing.
func (s *Server) spawn(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spawnLocked(f)
}

func (s *Server) spawnLocked(f func()) {
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// sleep waits d or until the server closes; it reports whether d passed.
func (s *Server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	hosting := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !s.opts.WOPIEnabled {
				http.NotFound(w, r)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("/hosting/discovery", hosting(s.handleDiscovery))
	mux.HandleFunc("/hosting/capabilities", hosting(s.handleCapabilities))
	mux.HandleFunc("/hosting/wopi/", hosting(s.handleWOPIEditor))
	mux.HandleFunc("/hosting/", hosting(http.NotFound))
	mux.HandleFunc("/web-apps/apps/api/documents/api.js", s.handleAPIJS)
	mux.HandleFunc("/__test/editor-config", s.handleEditorConfig)
	mux.HandleFunc("/command", s.handleCommand)
	mux.HandleFunc("/coauthoring/CommandService.ashx", s.handleCommand)
	mux.HandleFunc("/converter", s.handleConverter)
	mux.HandleFunc(cachePrefix, s.handleCache)
	mux.HandleFunc("/healthcheck", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "true")
	})
	return s.recordServed(mux)
}

// recordServed logs every request the server answers.
func (s *Server) recordServed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		info := &RequestInfo{Method: r.Method, URL: baseURL(r) + r.URL.RequestURI(), Body: body}
		names := make([]string, 0, len(r.Header)+1)
		for name := range r.Header {
			names = append(names, name)
		}
		sort.Strings(names)
		info.Header = append(info.Header, HeaderField{Name: "Host", Value: r.Host})
		for _, name := range names {
			for _, v := range r.Header[name] {
				info.Header = append(info.Header, HeaderField{Name: name, Value: v})
			}
		}
		s.log.add(Event{Time: s.now(), Type: Served, Request: info,
			Reply: &ReplyInfo{StatusCode: rec.status, Header: w.Header().Clone(), Body: rec.body}})
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   []byte
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status = code
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	if len(r.body) < 1<<20 {
		r.body = append(r.body, b...)
	}
	return r.ResponseWriter.Write(b)
}

// randomUUID returns a version 4 UUID string.
func randomUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
