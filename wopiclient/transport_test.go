package wopiclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connCounter counts the connections a test server accepts.
type connCounter struct{ n atomic.Int64 }

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		c.n.Add(1)
	}
}

func (c *connCounter) want(t *testing.T, n int64) {
	t.Helper()
	if got := c.n.Load(); got != n {
		t.Errorf("%d connections accepted, want %d", got, n)
	}
}

// echoServer answers every request with its method, path and the client's address.
func echoServer(t *testing.T, tlsOn bool) (*httptest.Server, *connCounter) {
	t.Helper()
	var cc connCounter
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s %s from %s", r.Method, r.URL.RequestURI(), r.RemoteAddr)
	}))
	srv.Config.ConnState = cc.hook
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-certificate case
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &cc
}

func newTestTransport(t *testing.T) (*Transport, *http.Client) {
	t.Helper()
	tr := NewHTTPClient().Transport.(*Transport)
	tr.Base.Proxy = nil // the tests' servers are local; proxies are tested on their own
	c := &http.Client{Transport: tr}
	t.Cleanup(c.CloseIdleConnections)
	return tr, c
}

func get(t *testing.T, c *http.Client, method, u string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, u, err)
	}
	return resp.StatusCode, string(data)
}

// from is the client address an echo reply names.
func from(reply string) string {
	_, addr, _ := strings.Cut(reply, " from ")
	return addr
}

func TestTransportReusesOneConnection(t *testing.T) {
	srv, cc := echoServer(t, false)
	_, c := newTestTransport(t)
	var first string
	for i := range 20 {
		code, reply := get(t, c, http.MethodGet, fmt.Sprintf("%s/wopi/files/%d?access_token=x", srv.URL, i), nil)
		if want := fmt.Sprintf("GET /wopi/files/%d?access_token=x from ", i); code != 200 || !strings.HasPrefix(reply, want) {
			t.Fatalf("reply %d %q, want 200 %q...", code, reply, want)
		}
		if i == 0 {
			first = from(reply)
		} else if from(reply) != first {
			t.Fatalf("request %d came from %s, the first from %s", i, from(reply), first)
		}
	}
	cc.want(t, 1)
}

// Requests with bodies and POSTs go to http.Transport, on connections of their own.
func TestTransportLeavesOtherRequestsToBase(t *testing.T) {
	srv, cc := echoServer(t, false)
	_, c := newTestTransport(t)
	_, g1 := get(t, c, http.MethodGet, srv.URL+"/a", nil)
	code, p := get(t, c, http.MethodPost, srv.URL+"/b", strings.NewReader("lock"))
	if code != 200 || !strings.HasPrefix(p, "POST /b from ") {
		t.Fatalf("POST: %d %q", code, p)
	}
	_, p2 := get(t, c, http.MethodPost, srv.URL+"/c", nil)
	_, g2 := get(t, c, http.MethodGet, srv.URL+"/d", nil)
	if from(g1) != from(g2) || from(p) != from(p2) || from(g1) == from(p) {
		t.Errorf("GETs from %s and %s, POSTs from %s and %s: want the GETs on one connection, the POSTs on another",
			from(g1), from(g2), from(p), from(p2))
	}
	cc.want(t, 2)
}

// A kept-alive connection the host closed is replaced, and the GET succeeds.
func TestTransportRetriesOnStaleConnection(t *testing.T) {
	srv, cc := echoServer(t, false)
	_, c := newTestTransport(t)
	_, r1 := get(t, c, http.MethodGet, srv.URL+"/a", nil)
	srv.CloseClientConnections()
	code, r2 := get(t, c, http.MethodGet, srv.URL+"/b", nil)
	if code != 200 || !strings.HasPrefix(r2, "GET /b from ") || from(r2) == from(r1) {
		t.Fatalf("after the host closed the connection: %d %q (first from %s)", code, r2, from(r1))
	}
	cc.want(t, 2)
}

func TestTransportHonoursConnectionClose(t *testing.T) {
	var cc connCounter
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		fmt.Fprint(w, r.RemoteAddr)
	}))
	srv.Config.ConnState = cc.hook
	srv.Start()
	defer srv.Close()
	tr, c := newTestTransport(t)
	_, a := get(t, c, http.MethodGet, srv.URL+"/close", nil)
	if n := idleCount(tr); n != 0 {
		t.Errorf("%d connections kept after Connection: close", n)
	}
	_, b := get(t, c, http.MethodGet, srv.URL+"/keep", nil)
	_, d := get(t, c, http.MethodGet, srv.URL+"/keep", nil)
	if a == b || b != d {
		t.Errorf("connections %s, %s, %s: want a new one after Connection: close, then reuse", a, b, d)
	}
	cc.want(t, 2)
}

// A body closed before its end closes its connection; a chunked body read to its end
// hands its connection back.
func TestTransportBodies(t *testing.T) {
	var cc connCounter
	big := strings.Repeat("0123456789", 100_000)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			io.WriteString(w, big)
		case "/chunked":
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	srv.Config.ConnState = cc.hook
	srv.Start()
	defer srv.Close()
	_, c := newTestTransport(t)

	resp, err := c.Get(srv.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "0123456789" {
		t.Fatalf("first bytes %q, %v", buf, err)
	}
	resp.Body.Close()
	if n, err := resp.Body.Read(buf); n != 0 || err == nil {
		t.Errorf("read after Close: %d, %v", n, err)
	}
	if code, body := get(t, c, http.MethodGet, srv.URL+"/chunked", nil); code != 200 || body != "part0;part1;part2;" {
		t.Errorf("chunked: %d %q", code, body)
	}
	if code, body := get(t, c, http.MethodGet, srv.URL+"/empty", nil); code != 204 || body != "" {
		t.Errorf("204: %d %q", code, body)
	}
	if code, body := get(t, c, http.MethodGet, srv.URL+"/big", nil); code != 200 || body != big {
		t.Errorf("whole big body: %d, %d bytes", code, len(body))
	}
	if code, body := get(t, c, http.MethodHead, srv.URL+"/big", nil); code != 200 || body != "" {
		t.Errorf("HEAD: %d %q", code, body)
	}
	// One connection for the early close; one for the rest.
	cc.want(t, 2)
}

// blockingServer holds every request until the test ends. It says on arrived when a
// request has arrived and on gone when its client went away.
func blockingServer(t *testing.T) (srv *httptest.Server, arrived, gone <-chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	in, out := make(chan struct{}, 1), make(chan struct{}, 1)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in <- struct{}{}
		select {
		case <-r.Context().Done():
			out <- struct{}{}
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, in, out
}

func TestTransportCancel(t *testing.T) {
	srv, arrived, gone := blockingServer(t)
	_, c := newTestTransport(t)
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled request: %v, want context.Canceled", err)
	}
	<-gone // the host saw the connection go
}

func TestTransportResponseHeaderTimeout(t *testing.T) {
	srv, _, _ := blockingServer(t)
	tr, c := newTestTransport(t)
	tr.Base.ResponseHeaderTimeout = 50 * time.Millisecond
	_, err := c.Get(srv.URL)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("no reply headers in time: %v, want a timeout", err)
	}
}

// A canceled context during the body ends the read with the context's error.
func TestTransportCancelDuringBody(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "start")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	_, c := newTestTransport(t)
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "start" {
		t.Fatalf("start of the body: %q %v", buf, err)
	}
	cancel()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v, want context.Canceled", err)
	}
}

func TestTransportTLS(t *testing.T) {
	srv, cc := echoServer(t, true)
	tr, c := newTestTransport(t)
	tr.Base.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	var addrs []string
	for range 3 {
		resp, err := c.Get(srv.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 || resp.ProtoMajor != 1 {
			t.Fatalf("TLS state %+v, protocol %s", resp.TLS, resp.Proto)
		}
		addrs = append(addrs, from(string(body)))
	}
	if addrs[0] != addrs[1] || addrs[1] != addrs[2] || cc.n.Load() != 1 {
		t.Errorf("addresses %v over %d connections, want one", addrs, cc.n.Load())
	}
	// A certificate the client does not trust fails the request.
	tr2, c2 := newTestTransport(t)
	tr2.Base.TLSClientConfig = nil
	if _, err := c2.Get(srv.URL + "/x"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

// With a proxy configured for the host, requests go through it (http.Transport's way).
func TestTransportProxy(t *testing.T) {
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		fmt.Fprintf(w, "proxied %s", r.URL)
	}))
	defer proxy.Close()
	tr, c := newTestTransport(t)
	pu, _ := url.Parse(proxy.URL)
	tr.Base.Proxy = http.ProxyURL(pu)
	code, body := get(t, c, http.MethodGet, "http://storage.example/wopi/files/1", nil)
	if code != 200 || body != "proxied http://storage.example/wopi/files/1" || proxied.Load() != 1 {
		t.Errorf("through the proxy: %d %q (%d proxied)", code, body, proxied.Load())
	}
}

// rawServer answers each connection's first request with reply, as written.
func rawServer(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				if _, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
					io.WriteString(conn, reply)
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestTransportBrokenReplies(t *testing.T) {
	_, c := newTestTransport(t)
	if _, err := c.Get(rawServer(t, "garbage\r\n\r\n")); err == nil {
		t.Error("a reply that is not HTTP was accepted")
	}
	// Informational replies before the real one are skipped.
	u := rawServer(t, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	if code, body := get(t, c, http.MethodGet, u, nil); code != 200 || body != "ok" {
		t.Errorf("after 103: %d %q", code, body)
	}
	// More bytes than Content-Length: the body is what it says; the connection is not reused.
	u = rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
	tr, c := newTestTransport(t) // its own, so that only this host's connections count
	for range 2 {
		if code, body := get(t, c, http.MethodGet, u, nil); code != 200 || body != "ok" {
			t.Errorf("extra bytes: %d %q", code, body)
		}
		if n := idleCount(tr); n != 0 {
			t.Errorf("%d connections kept after a reply with extra bytes", n)
		}
	}
	// A body cut short is an error, not a short document.
	u = rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated body: %v, want unexpected EOF", err)
	}
}

func TestTransportConcurrent(t *testing.T) {
	srv, cc := echoServer(t, false)
	tr, c := newTestTransport(t)
	tr.Base.MaxIdleConnsPerHost = 4
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				path := fmt.Sprintf("/g%d/%d", g, i)
				resp, err := c.Get(srv.URL + path)
				if err != nil {
					errs <- err
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || !strings.HasPrefix(string(body), "GET "+path+" from ") {
					errs <- fmt.Errorf("%s: %q %v", path, body, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if kept := idleCount(tr); kept > 4 || kept == 0 {
		t.Errorf("%d connections kept idle, want 1 to 4", kept)
	}
	t.Logf("%d connections for 800 requests from 16 goroutines", cc.n.Load())
}

func TestTransportIdleTimeout(t *testing.T) {
	var closed atomic.Int64
	var cc connCounter
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	done := make(chan struct{}, 1)
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		cc.hook(c, s)
		if s == http.StateClosed {
			closed.Add(1)
			done <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	tr, c := newTestTransport(t)
	tr.Base.IdleConnTimeout = 20 * time.Millisecond
	get(t, c, http.MethodGet, srv.URL, nil)
	<-done // the client closed the idle connection
	tr.mu.Lock()
	left := len(tr.idle[connKey{"http", srv.Listener.Addr().String()}])
	tr.mu.Unlock()
	if left != 0 || closed.Load() != 1 {
		t.Errorf("after the idle timeout: %d kept, %d closed", left, closed.Load())
	}
	get(t, c, http.MethodGet, srv.URL, nil)
	cc.want(t, 2)
}

// idleCount is the number of connections tr keeps for reuse.
func idleCount(tr *Transport) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, conns := range tr.idle {
		n += len(conns)
	}
	return n
}
