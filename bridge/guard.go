package bridge

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// GuardOptions are the bridge's defences that depend on the deployment: the pages'
// framing policy, where operator routes are served, and how slow a request body may be.
type GuardOptions struct {
	// FrameAncestors are the CSP frame-ancestors sources of the pages (space
	// separated); "": 'self'.
	FrameAncestors string
	// SeparateAdmin serves /metrics, /readyz and /healthz only through AdminHandler
	// (a listener of their own), not on the main handler.
	SeparateAdmin bool
	// BodyGrace is how long a request body may take before the minimum rate applies;
	// 0: 30 s.
	BodyGrace time.Duration
	// MinBodyRate is the average rate, in bytes per second after BodyGrace, below which
	// a request body is cut off; 0: 4 KiB/s.
	MinBodyRate int64
}

const (
	defaultBodyGrace   = 30 * time.Second
	defaultMinBodyRate = 4 << 10
)

// requestedWith is the header the bridge's own pages send on the JSON API calls that
// change something: a cross-site page cannot send it without a CORS preflight, which
// the bridge never grants.
const requestedWith = "X-Requested-With"

// guard holds the settled GuardOptions.
type guard struct {
	frameAncestors string
	separateAdmin  bool
	bodyGrace      time.Duration
	minBodyRate    int64
	publicHost     string // hostname of the public URL, lower case
}

func newGuard(o GuardOptions, public *url.URL) guard {
	g := guard{frameAncestors: strings.Join(strings.Fields(o.FrameAncestors), " "), separateAdmin: o.SeparateAdmin,
		bodyGrace: o.BodyGrace, minBodyRate: o.MinBodyRate}
	if g.frameAncestors == "" {
		g.frameAncestors = "'self'"
	}
	if g.bodyGrace <= 0 {
		g.bodyGrace = defaultBodyGrace
	}
	if g.minBodyRate <= 0 {
		g.minBodyRate = defaultMinBodyRate
	}
	if public != nil {
		g.publicHost = strings.ToLower(public.Hostname())
	}
	return g
}

// adminPaths are the operator routes AdminHandler serves.
var adminPaths = map[string]bool{"/metrics": true, "/readyz": true, "/healthz": true}

type adminKey struct{}

// AdminHandler serves the operator routes (/metrics, /readyz, /healthz) and nothing
// else, for a listener of their own (GuardOptions.SeparateAdmin).
func (s *Server) AdminHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !adminPaths[r.URL.Path] {
			http.NotFound(w, r)
			return
		}
		s.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), adminKey{}, true)))
	})
}

// guardRequest applies the request-level defences before routing; it answers and
// returns false when the request goes no further.
func (s *Server) guardRequest(w http.ResponseWriter, r *http.Request) bool {
	if s.guard.separateAdmin && adminPaths[r.URL.Path] && r.Context().Value(adminKey{}) == nil {
		s.fail(w, r, userErr(errNotFound, "the operator routes are served on WOPIBRIDGE_ADMIN_LISTEN"))
		return false
	}
	if s.launch.demo() {
		if err := s.demoRequestAllowed(r); err != nil {
			s.fail(w, r, err)
			return false
		}
	}
	s.limitBodyRate(w, r)
	return true
}

// demoRequestAllowed protects demo mode, where every request acts for the demo user,
// from the developer's own browser: a page of another site must not reach the bridge
// through DNS rebinding (a Host that is not the bridge's) or make it change anything
// (a cross-site request to the JSON API).
//
// WOPI and DS-facing routes are left alone: they act for whoever their token or signed
// URL names, never for the demo user, and DS may reach the bridge through a proxy.
func (s *Server) demoRequestAllowed(r *http.Request) error {
	if f := faceOf(r.URL.Path); f == faceWOPI || f == faceDocs {
		return nil
	}
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host != s.guard.publicHost && host != "localhost" && !isLoopbackIP(host) {
		return userErr(errForbidden, "demo mode answers only requests for %s or a loopback name (localhost, 127.0.0.1, [::1]), not for %q: open the bridge at its public URL (WOPIBRIDGE_PUBLIC_URL), or set WOPIBRIDGE_LAUNCH_SECRET", s.guard.publicHost, r.Host)
	}
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		return nil
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	origin, site := r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")
	if origin == "" && site == "" {
		return nil // not a browser: a script or a test on this machine
	}
	crossSite := userErr(errForbidden, "demo mode refuses changes requested by another site's page (Origin %q, Sec-Fetch-Site %q): use the bridge's own pages", origin, site)
	if site != "" && site != "same-origin" && site != "none" {
		return crossSite
	}
	if origin != "" {
		u, err := url.Parse(origin)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return crossSite
		}
	}
	if r.Header.Get(requestedWith) == "" {
		return userErr(errForbidden, "demo mode needs the %s header on changes requested by a browser page: use the bridge's own pages", requestedWith)
	}
	return nil
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// limitBodyRate cuts off a request body that arrives slower than the minimum rate
// after the grace period: a trickling client holds no connection for long. Before each
// read the connection's read deadline moves to start + grace + read/rate; at the end of
// the body it is lifted, so that the handler's own work (a long save) is not bounded.
func (s *Server) limitBodyRate(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	rc := http.NewResponseController(w)
	start := time.Now()
	if rc.SetReadDeadline(start.Add(s.guard.bodyGrace)) != nil {
		return // not a network connection (tests calling the handler directly)
	}
	r.Body = &rateBody{ReadCloser: r.Body, rc: rc, start: start, grace: s.guard.bodyGrace, rate: s.guard.minBodyRate}
}

type rateBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	grace time.Duration
	rate  int64
	read  int64
	done  bool
}

// errSlowBody is what a handler reading a cut-off body gets.
var errSlowBody = userErr(errBadRequest, "the request body arrived too slowly and was cut off")

func (b *rateBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	allowed := b.grace + time.Duration(float64(b.read)/float64(b.rate)*float64(time.Second))
	_ = b.rc.SetReadDeadline(b.start.Add(allowed))
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	if err == io.EOF {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, errSlowBody
	}
	return n, err
}

// newNonce is a fresh CSP nonce for one page.
func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b) // no "+", which html/template would escape in the attribute
}

// pageHeaders sets the headers of every HTML page (editor pages, the index, error
// pages) and returns the nonce its inline scripts carry: never cached (pages hold
// tokens), their URL (which may hold a launch token or link) never sent on as a
// referrer, and a Content-Security-Policy that runs only the page's own scripts and
// DS's api.js, frames only the bridge and DS, posts forms only to them, and lets only
// WOPIBRIDGE_FRAME_ANCESTORS frame the page.
func (s *Server) pageHeaders(w http.ResponseWriter) string {
	return s.pageHeadersFramedBy(w, s.guard.frameAncestors)
}

// pageHeadersFramedBy is pageHeaders with other frame-ancestors sources (the office-app
// pages, which a WOPI host's page frames).
func (s *Server) pageHeadersFramedBy(w http.ResponseWriter, frameAncestors string) string {
	nonce := newNonce()
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	ds := ""
	if s.docs.publicURL != nil {
		ds = " " + s.docs.publicURL.Scheme + "://" + s.docs.publicURL.Host
	}
	h.Set("Content-Security-Policy", "default-src 'self'"+
		"; script-src 'self' 'nonce-"+nonce+"'"+ds+
		"; style-src 'self' 'unsafe-inline'"+
		"; img-src 'self' data:"+ds+
		"; connect-src 'self'"+ds+
		"; frame-src 'self'"+ds+
		"; form-action 'self'"+ds+
		"; frame-ancestors "+frameAncestors+
		"; base-uri 'none'; object-src 'none'")
	if frameAncestors == "'self'" {
		h.Set("X-Frame-Options", "SAMEORIGIN") // for browsers without frame-ancestors
	}
	return nonce
}
