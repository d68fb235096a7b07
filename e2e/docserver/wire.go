package docserver

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// What DS's Node.js HTTP client (axios with DS's requestDefaults) puts on
// every request.
const (
	hdrAccept         = "application/json, text/plain, */*"
	hdrUserAgent      = "Node.js/6.13"
	hdrConnection     = "Keep-Alive"
	hdrAcceptEncoding = "gzip, compress, deflate, br"
	formContentType   = "application/x-www-form-urlencoded"

	// maxDownloadBytes is FileConverter.converter.maxDownloadBytes.
	maxDownloadBytes = 104857600
)

var (
	errTooLarge    = errors.New("EMSGSIZE: response larger than maxDownloadBytes")
	errUnreachable = errors.New("connect ECONNREFUSED")
	errBlocked     = errors.New("request-filtering-agent: DNS lookup resolved to a private IP address, which is not allowed")
)

// outbound is one request DS makes, with its headers in wire order. The
// pseudo-fields Host and Content-Length mark where those headers go; their
// values are filled in when the request is written.
type outbound struct {
	op      Op
	key     string
	status  int
	attempt int

	method string
	url    string
	header []HeaderField
	body   []byte

	timeout  time.Duration
	limit    int64
	filtered bool // subject to the private-address filter (not "direct")
	callback bool // subject to the unreachable-callback fault
}

// result of one exchange.
type exchange struct {
	reply *ReplyInfo
	err   error
}

func (x exchange) status() int {
	if x.reply == nil {
		return 0
	}
	return x.reply.StatusCode
}

// do sends ob, records the request and the reply, and returns the reply.
func (s *Server) do(ctx context.Context, ob outbound) exchange {
	info := &RequestInfo{Method: ob.method, URL: ob.url, Body: ob.body}
	u, perr := url.Parse(ob.url)
	for _, h := range ob.header {
		switch h.Name {
		case "Host":
			if u != nil {
				h.Value = u.Host
			}
		case "Content-Length":
			h.Value = strconv.Itoa(len(ob.body))
		}
		info.Header = append(info.Header, h)
	}
	s.log.add(Event{Time: s.now(), Type: Request, Op: ob.op, Key: ob.key, Status: ob.status, Attempt: ob.attempt, Request: info})

	x := s.roundTrip(ctx, ob, u, perr)
	ev := Event{Time: s.now(), Type: Reply, Op: ob.op, Key: ob.key, Status: ob.status, Attempt: ob.attempt, Request: info, Reply: x.reply}
	if x.err != nil {
		ev.Err = x.err.Error()
	}
	s.log.add(ev)
	return x
}

func (s *Server) roundTrip(ctx context.Context, ob outbound, u *url.URL, perr error) exchange {
	if perr != nil {
		return exchange{err: perr}
	}
	if ob.callback && s.faultCallbacksUnreachable() {
		return exchange{err: fmt.Errorf("%w %s", errUnreachable, u.Host)}
	}
	if ob.filtered && s.opts.BlockPrivateIPs && privateHost(ctx, u.Hostname()) {
		return exchange{err: errBlocked}
	}
	if ob.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ob.timeout)
		defer cancel()
	}
	names := make([]string, 0, len(ob.header))
	for _, h := range ob.header {
		names = append(names, h.Name)
	}
	ctx = context.WithValue(ctx, wireOrderKey{}, names)
	var body io.Reader
	if ob.body != nil {
		body = bytes.NewReader(ob.body)
	}
	req, err := http.NewRequestWithContext(ctx, ob.method, ob.url, body)
	if err != nil {
		return exchange{err: err}
	}
	if ob.body == nil && ob.method == http.MethodPost {
		req.ContentLength = 0
	}
	for _, h := range ob.header {
		if h.Name == "Host" || h.Name == "Content-Length" {
			continue
		}
		req.Header[h.Name] = append(req.Header[h.Name], h.Value)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return exchange{err: err}
	}
	defer resp.Body.Close()
	limit := ob.limit
	if limit <= 0 {
		limit = maxDownloadBytes
	}
	if resp.ContentLength > limit {
		return exchange{reply: &ReplyInfo{StatusCode: resp.StatusCode, Header: resp.Header}, err: errTooLarge}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	reply := &ReplyInfo{StatusCode: resp.StatusCode, Header: resp.Header, Body: data}
	if err != nil {
		return exchange{reply: reply, err: err}
	}
	if int64(len(data)) > limit {
		return exchange{reply: reply, err: errTooLarge}
	}
	return exchange{reply: reply}
}

// privateHost reports whether host resolves to a loopback, private or
// link-local address, as request-filtering-agent refuses them by default.
func privateHost(ctx context.Context, host string) bool {
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return true // a DNS failure counts as blocked
	}
	for _, ip := range ips {
		if ip.IP.IsLoopback() || ip.IP.IsPrivate() || ip.IP.IsLinkLocalUnicast() || ip.IP.IsUnspecified() {
			return true
		}
	}
	return false
}

// wireOrderKey carries the header order of a request to nodeTransport.
type wireOrderKey struct{}

// nodeTransport writes HTTP/1.1 requests with the header names, case and
// order given in the request context, the way Node's http module writes
// what axios hands it. Go's own transport canonicalises and sorts headers.
// One connection per request; the response body is decoded if the server
// chose gzip or deflate (DS advertises them).
type nodeTransport struct {
	dialer net.Dialer
	tls    *tls.Config
}

func (t *nodeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	closeBody := func() {
		if req.Body != nil {
			req.Body.Close()
		}
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		if req.URL.Scheme == "https" {
			addr = net.JoinHostPort(req.URL.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(req.URL.Hostname(), "80")
		}
	}
	conn, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		closeBody()
		return nil, err
	}
	if req.URL.Scheme == "https" {
		cfg := &tls.Config{}
		if t.tls != nil {
			cfg = t.tls.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = req.URL.Hostname()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			closeBody()
			return nil, err
		}
		conn = tc
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		return nil, err
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", req.Method, req.URL.RequestURI())
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	written := map[string]bool{}
	writeHeader := func(name string) {
		key := strings.ToLower(name)
		if written[key] {
			return
		}
		switch key {
		case "host":
			fmt.Fprintf(&b, "%s: %s\r\n", name, host)
		case "content-length":
			if req.ContentLength > 0 || (req.ContentLength == 0 && req.Method != http.MethodGet && req.Method != http.MethodHead) {
				fmt.Fprintf(&b, "%s: %d\r\n", name, req.ContentLength)
			}
		default:
			vals, ok := req.Header[name]
			if !ok {
				vals = req.Header.Values(name)
			}
			for _, v := range vals {
				fmt.Fprintf(&b, "%s: %s\r\n", name, v)
			}
		}
		written[key] = true
	}
	order, _ := ctx.Value(wireOrderKey{}).([]string)
	for _, name := range order {
		writeHeader(name)
	}
	rest := make([]string, 0, len(req.Header))
	for name := range req.Header {
		rest = append(rest, name)
	}
	sort.Strings(rest)
	for _, name := range rest {
		writeHeader(name)
	}
	writeHeader("Host")
	writeHeader("Content-Length")
	b.WriteString("\r\n")
	if _, err := conn.Write(b.Bytes()); err != nil {
		closeBody()
		return fail(err)
	}
	if req.Body != nil {
		_, err := io.Copy(conn, req.Body)
		closeBody()
		if err != nil {
			return fail(err)
		}
	}
	onWritten(ctx)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fail(err)
	}
	body := resp.Body
	switch strings.ToLower(resp.Header.Get("Content-Encoding")) {
	case "gzip":
		if zr, err := gzip.NewReader(body); err == nil {
			resp.Body = struct {
				io.Reader
				io.Closer
			}{zr, body}
			resp.Uncompressed = true
			resp.ContentLength = -1
		}
	case "deflate":
		resp.Body = struct {
			io.Reader
			io.Closer
		}{flate.NewReader(body), body}
		resp.Uncompressed = true
		resp.ContentLength = -1
	}
	resp.Body = &connBody{ReadCloser: resp.Body, conn: conn, stop: stop}
	return resp, nil
}

// connBody closes the connection with the body.
type connBody struct {
	io.ReadCloser
	conn net.Conn
	stop func() bool
}

func (c *connBody) Close() error {
	err := c.ReadCloser.Close()
	c.stop()
	c.conn.Close()
	return err
}

// encodeURIComponent escapes s as JavaScript's encodeURIComponent does.
func encodeURIComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// wireURL is the URL a WHATWG URL parser (axios) puts on the wire for u: in
// the query of http(s) URLs it percent-encodes ' which encodeURIComponent
// leaves alone, so the URL on the wire differs from the signed one.
func wireURL(u string) string {
	i := strings.IndexByte(u, '?')
	if i < 0 {
		return u
	}
	return u[:i] + strings.ReplaceAll(u[i:], "'", "%27")
}
