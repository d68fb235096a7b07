package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
)

// Downloads from DS (saved documents) are held to DS's origins: every hop of a redirect
// is checked like the first URL, path prefix included, so a redirect (DS's, or of a
// reverse proxy in front of it) never leads the bridge anywhere else (no SSRF).

const (
	// docsDialTimeout bounds connecting to DS; without it a blackholed address waits
	// for the operating system's SYN timeout.
	docsDialTimeout = 30 * time.Second
	// defaultResultIdle is how long a saved document's download may go without a byte
	// before it is abandoned (DS retries the callback).
	defaultResultIdle = time.Minute
	// maxResultRedirects bounds the redirects a result download follows.
	maxResultRedirects = 5
)

// newDocsHTTP is the client for DS when none is injected: timeouts on connecting, on
// TLS, on waiting for the headers, and on the whole exchange.
func newDocsHTTP() *http.Client {
	return &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: docsDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   docsDialTimeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute}}
}

// resultURL is u when it is on one of DS's origins and below its path, rewritten from
// DS's public URL to its internal one when they differ; ok is false otherwise.
func (d *docsFace) resultURL(u *url.URL) (_ *url.URL, ok bool) {
	if u == nil || u.User != nil || u.Opaque != "" || !cleanPath(u.Path) {
		return nil, false
	}
	if d.url != nil && under(u, d.url) {
		return u, true
	}
	if d.publicURL != nil && under(u, d.publicURL) {
		out := *u
		if d.url != nil {
			rest := strings.TrimPrefix(u.Path, basePath(d.publicURL))
			out.Scheme, out.Host = d.url.Scheme, d.url.Host
			out.Path, out.RawPath = basePath(d.url)+rest, ""
		}
		return &out, true
	}
	return nil, false
}

// cleanPath refuses dot segments, which a server may resolve above a base path.
func cleanPath(p string) bool {
	if p == "" || p == "/" {
		return true
	}
	c := path.Clean(p)
	return c == p || c+"/" == p
}

// basePath is a DS base URL's path with a trailing slash ("/" when it has none).
func basePath(base *url.URL) string {
	return strings.TrimSuffix(base.Path, "/") + "/"
}

// under reports whether u is on base's origin and below its path.
func under(u, base *url.URL) bool {
	return sameOrigin(u, base) && strings.HasPrefix(u.Path, basePath(base))
}

// errResultOrigin refuses a result URL (or a redirect) off DS's origins.
func errResultOrigin(u *url.URL) error {
	return userErr(errForbidden, "refused to download a saved document from %s: it is not the Document Server's origin and base path; check WOPIBRIDGE_DOCS_URL and WOPIBRIDGE_DOCS_PUBLIC_URL (DS builds result URLs from the address browsers use)", u.Scheme+"://"+u.Host)
}

// fetchResult downloads a saved document from target (already held to DS's origins),
// following redirects only while they stay on them. The body is abandoned when no byte
// arrives for the idle timeout.
func (s *Server) fetchResult(ctx context.Context, target *url.URL) (io.ReadCloser, error) {
	client := *s.docs.http
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ctx, cancel := context.WithCancel(ctx)
	idle := newIdleTimer(s.docs.resultIdle, cancel)
	fail := func(err error) (io.ReadCloser, error) {
		idle.stop()
		cancel()
		if idle.fired() {
			err = fmt.Errorf("no data for %s", s.docs.resultIdle)
		}
		return nil, fmt.Errorf("download of the saved document from ONLYOFFICE Docs: %w", err)
	}
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
		if err != nil {
			return fail(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fail(scrubURLError(err))
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			idle.kick()
			return &idleBody{ReadCloser: resp.Body, idle: idle, cancel: cancel, limit: s.docs.resultIdle}, nil
		case isRedirect(resp.StatusCode) && hop < maxResultRedirects:
			loc, lerr := resp.Location()
			resp.Body.Close()
			if lerr != nil {
				return fail(errors.New("a redirect without a valid Location"))
			}
			next, ok := s.docs.resultURL(loc)
			if !ok {
				err := errResultOrigin(loc)
				s.log.WithField("face", faceDocs).Error(err.Error())
				return fail(err)
			}
			target = next
		default:
			resp.Body.Close()
			return fail(fmt.Errorf("HTTP %d", resp.StatusCode))
		}
	}
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// idleTimer cancels a download when it is not kicked for its duration.
type idleTimer struct {
	d      time.Duration
	t      *time.Timer
	mu     sync.Mutex
	isOver bool
}

func newIdleTimer(d time.Duration, cancel context.CancelFunc) *idleTimer {
	it := &idleTimer{d: d}
	it.t = time.AfterFunc(d, func() {
		it.mu.Lock()
		it.isOver = true
		it.mu.Unlock()
		cancel()
	})
	return it
}

func (it *idleTimer) kick() { it.t.Reset(it.d) }
func (it *idleTimer) stop() { it.t.Stop() }

func (it *idleTimer) fired() bool {
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.isOver
}

// idleBody is a result body whose every byte restarts the idle timer.
type idleBody struct {
	io.ReadCloser
	idle   *idleTimer
	cancel context.CancelFunc
	limit  time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.idle.kick()
	}
	if err != nil && err != io.EOF && b.idle.fired() {
		err = fmt.Errorf("download of the saved document from ONLYOFFICE Docs: no data for %s", b.limit)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.idle.stop()
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
