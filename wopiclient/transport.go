package wopiclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// NewHTTPClient is the client a bridge uses for a WOPI host: its connections kept alive
// and reused, each phase of a request bounded (dial, TLS handshake, waiting for the reply
// headers) but no overall timeout, since GetFile and PutFile stream whole documents. Give
// every request a context. Proxies come from the environment (HTTPS_PROXY, NO_PROXY).
func NewHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &Transport{Base: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
	}}}
}

// Transport sends the requests a WOPI client makes most often, CheckFileInfo and GetFile,
// on the caller's goroutine: over HTTP/1.1 connections of its own, kept alive, with
// none of http.Transport's hand-offs between goroutines per request. A bridge in front
// of a host makes one upstream CheckFileInfo per CheckFileInfo it answers; sending it
// this way saved about a tenth of the front's CPU per request.
//
// Only GET and HEAD requests without a body go that way, unless a proxy is to be used
// for them or Base dials in a way of its own; everything else (locks, PutFile,
// PutRelativeFile ...) goes to Base. The settings of Base apply to both: DialContext,
// TLSClientConfig, TLSHandshakeTimeout, ResponseHeaderTimeout, MaxIdleConnsPerHost and
// IdleConnTimeout. A GET or HEAD whose kept-alive connection turns out to be closed
// before any of the reply arrived is sent once more on a new connection, as
// http.Transport does for requests that are safe to repeat.
type Transport struct {
	Base *http.Transport
	// Proof, when set, signs every request with the client's proof keys before it is
	// sent, on either path (proof_sign.go).
	Proof *ProofSigner

	mu   sync.Mutex
	idle map[connKey][]*persistConn // newest last
}

type connKey struct{ scheme, addr string }

// persistConn is one connection of the direct path.
type persistConn struct {
	t      *Transport
	key    connKey
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	read   int64 // bytes read from conn since the request was written
	tls    *tls.ConnectionState
	reused bool
	idle   *time.Timer // closes the connection when it has been idle too long

	mu       sync.Mutex      // guards deadlines against cancellation
	ctx      context.Context // of the request being served
	canceled bool
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Proof != nil {
		signed, err := t.Proof.signed(req)
		if err != nil {
			if req.Body != nil {
				req.Body.Close() // a RoundTripper closes the body, even on error
			}
			return nil, err
		}
		req = signed
	}
	key, ok := t.direct(req)
	if !ok {
		return t.base().RoundTrip(req)
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		pc, err := t.getConn(ctx, key, attempt > 0)
		if err != nil {
			return nil, err
		}
		resp, err := pc.roundTrip(req)
		if err == nil {
			return resp, nil
		}
		// A connection the host closed while it sat idle fails before any byte of
		// the reply: the request was never handled, and a GET may go again.
		if pc.reused && pc.read == 0 && attempt == 0 && ctx.Err() == nil {
			continue
		}
		return nil, err
	}
}

// CloseIdleConnections closes the connections kept for reuse, Base's included.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, conns := range idle {
		for _, pc := range conns {
			if pc.idle != nil {
				pc.idle.Stop()
			}
			pc.conn.Close()
		}
	}
	t.base().CloseIdleConnections()
}

func (t *Transport) base() *http.Transport {
	if t.Base == nil {
		return http.DefaultTransport.(*http.Transport)
	}
	return t.Base
}

// direct says whether req goes on the direct path, and to which connection pool.
func (t *Transport) direct(req *http.Request) (connKey, bool) {
	b := t.base()
	// A Base that dials its own way, even the deprecated way, keeps its requests.
	//lint:ignore SA1019 checked only to leave such a Base alone
	ownDial := b.DialTLSContext != nil || b.DialTLS != nil || b.Dial != nil
	if req.Method != http.MethodGet && req.Method != http.MethodHead ||
		req.Body != nil && req.Body != http.NoBody || req.ContentLength > 0 ||
		req.URL == nil || req.URL.Host == "" || req.URL.User != nil || ownDial {
		return connKey{}, false
	}
	port := req.URL.Port()
	switch req.URL.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
	default:
		return connKey{}, false
	}
	if b.Proxy != nil {
		if u, err := b.Proxy(req); err != nil || u != nil {
			return connKey{}, false
		}
	}
	return connKey{req.URL.Scheme, net.JoinHostPort(req.URL.Hostname(), port)}, true
}

// getConn is the newest idle connection to key still fresh enough, or a new one.
func (t *Transport) getConn(ctx context.Context, key connKey, fresh bool) (*persistConn, error) {
	if !fresh {
		if pc := t.takeIdle(key); pc != nil {
			return pc, nil
		}
	}
	return t.dial(ctx, key)
}

func (t *Transport) takeIdle(key connKey) *persistConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	conns := t.idle[key]
	for len(conns) > 0 {
		pc := conns[len(conns)-1]
		conns[len(conns)-1] = nil
		conns = conns[:len(conns)-1]
		t.idle[key] = conns
		if pc.idle != nil && !pc.idle.Stop() {
			continue // expiring: its timer closes it
		}
		pc.reused = true
		return pc
	}
	delete(t.idle, key)
	return nil
}

// putIdle keeps pc for the next request to its host, or closes it when enough are kept.
// A kept connection is closed once it has been idle for IdleConnTimeout.
func (t *Transport) putIdle(pc *persistConn) {
	b := t.base()
	limit := b.MaxIdleConnsPerHost
	if limit == 0 {
		limit = http.DefaultMaxIdleConnsPerHost
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	conns := t.idle[pc.key]
	if limit < 0 || len(conns) >= limit {
		pc.conn.Close()
		return
	}
	if t.idle == nil {
		t.idle = make(map[connKey][]*persistConn)
	}
	t.idle[pc.key] = append(conns, pc)
	if timeout := b.IdleConnTimeout; timeout > 0 {
		if pc.idle == nil {
			pc.idle = time.AfterFunc(timeout, func() { t.expire(pc) })
		} else {
			pc.idle.Reset(timeout)
		}
	}
}

// expire closes pc, idle for too long, and forgets it.
func (t *Transport) expire(pc *persistConn) {
	t.mu.Lock()
	conns := t.idle[pc.key]
	for i, c := range conns {
		if c == pc {
			t.idle[pc.key] = append(conns[:i:i], conns[i+1:]...)
			break
		}
	}
	t.mu.Unlock()
	pc.conn.Close()
}

func (t *Transport) dial(ctx context.Context, key connKey) (*persistConn, error) {
	b := t.base()
	dial := b.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", key.addr)
	if err != nil {
		return nil, err
	}
	pc := &persistConn{t: t, key: key, conn: conn}
	if key.scheme == "https" {
		cfg := &tls.Config{}
		if b.TLSClientConfig != nil {
			cfg = b.TLSClientConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(key.addr)
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(conn, cfg)
		hctx := ctx
		if b.TLSHandshakeTimeout > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, b.TLSHandshakeTimeout)
			defer cancel()
		}
		if err := tc.HandshakeContext(hctx); err != nil {
			conn.Close()
			return nil, err
		}
		state := tc.ConnectionState()
		pc.conn, pc.tls = tc, &state
	}
	size := b.ReadBufferSize
	if size <= 0 {
		size = 4 << 10
	}
	pc.br = bufio.NewReaderSize(countingReader{pc}, size)
	size = b.WriteBufferSize
	if size <= 0 {
		size = 4 << 10
	}
	pc.bw = bufio.NewWriterSize(pc.conn, size)
	return pc, nil
}

// countingReader counts what the connection delivers, so that a failure can tell
// whether any of the reply had arrived.
type countingReader struct{ pc *persistConn }

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.pc.conn.Read(p)
	r.pc.read += int64(n)
	return n, err
}

// aLongTimeAgo is a deadline that has passed: it unblocks any read or write at once.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip sends req on pc and reads the reply's head. The body, when there is one,
// hands the connection back when read to its end; pc is closed on any failure.
func (pc *persistConn) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	pc.mu.Lock()
	pc.ctx, pc.canceled, pc.read = ctx, false, 0
	pc.mu.Unlock()
	stop := func() bool { return true }
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() {
			pc.mu.Lock()
			pc.canceled = true
			pc.conn.SetDeadline(aLongTimeAgo)
			pc.mu.Unlock()
		})
	}
	fail := func(err error) (*http.Response, error) {
		stop()
		pc.conn.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	if timeout := pc.t.base().ResponseHeaderTimeout; timeout > 0 {
		pc.setReadDeadline(time.Now().Add(timeout))
	}
	if err := req.Write(pc.bw); err != nil {
		return fail(err)
	}
	if err := pc.bw.Flush(); err != nil {
		return fail(err)
	}
	var resp *http.Response
	for {
		var err error
		if resp, err = http.ReadResponse(pc.br, req); err != nil {
			return fail(err)
		}
		// Informational replies (103 Early Hints) come before the one that counts.
		if resp.StatusCode < 100 || resp.StatusCode >= 200 {
			break
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return fail(errors.New("wopiclient: the host switched protocols"))
		}
	}
	pc.setReadDeadline(time.Time{})
	resp.TLS = pc.tls
	keep := !resp.Close && !req.Close
	if resp.Body == http.NoBody {
		pc.release(stop, keep)
		return resp, nil
	}
	resp.Body = &bodyEOFSignal{pc: pc, body: resp.Body, stop: stop, keep: keep}
	return resp, nil
}

// setReadDeadline sets a read deadline unless the request was canceled meanwhile.
func (pc *persistConn) setReadDeadline(t time.Time) {
	pc.mu.Lock()
	if !pc.canceled {
		pc.conn.SetReadDeadline(t)
	}
	pc.mu.Unlock()
}

// release ends pc's request: the connection goes back for reuse when the reply was
// read exactly to its end and nothing canceled it, and is closed otherwise.
func (pc *persistConn) release(stop func() bool, keep bool) {
	if !stop() || !keep || pc.br.Buffered() > 0 {
		pc.conn.Close()
		return
	}
	pc.t.putIdle(pc)
}

// bodyEOFSignal is a reply body: at its end the connection is released, and closed
// early it closes the connection.
type bodyEOFSignal struct {
	pc   *persistConn
	body io.ReadCloser
	stop func() bool
	keep bool

	mu   sync.Mutex
	done bool
	err  error // what reads return once done
}

func (b *bodyEOFSignal) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return 0, b.err
	}
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		b.done, b.err = true, io.EOF
		b.pc.release(b.stop, b.keep)
	case err != nil:
		b.done, b.err = true, err
		if cerr := b.pc.ctxErr(); cerr != nil {
			b.err = cerr
		}
		b.stop()
		b.pc.conn.Close()
	}
	return n, b.err
}

func (b *bodyEOFSignal) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.done, b.err = true, errors.New("wopiclient: read on closed response body")
		b.stop()
		b.pc.conn.Close()
	}
	return nil
}

// ctxErr is the request's context's error when that ended its read.
func (pc *persistConn) ctxErr() error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.canceled {
		return pc.ctx.Err()
	}
	return nil
}
