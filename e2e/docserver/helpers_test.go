package docserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testKeys struct {
	once     sync.Once
	cur, old *rsa.PrivateKey
}

// newServer starts a Server with short delays and shared proof keys.
func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	testKeys.once.Do(func() {
		testKeys.cur, _ = rsa.GenerateKey(rand.Reader, 2048)
		testKeys.old, _ = rsa.GenerateKey(rand.Reader, 2048)
	})
	if opts.ProofKey == nil {
		opts.ProofKey, opts.ProofKeyOld = testKeys.cur, testKeys.old
	}
	if opts.SaveDelay == 0 {
		opts.SaveDelay = 20 * time.Millisecond
	}
	if opts.RetryBase == 0 {
		opts.RetryBase = 10 * time.Millisecond
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawRequest is a request as the bytes arrived: header names in wire order
// and case.
type rawRequest struct {
	Method, Target, Host string
	Header               []HeaderField
	Body                 []byte
	At                   time.Time
}

func (r rawRequest) Get(name string) string {
	for _, h := range r.Header {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func (r rawRequest) Has(name string) bool {
	for _, h := range r.Header {
		if strings.EqualFold(h.Name, name) {
			return true
		}
	}
	return false
}

func (r rawRequest) Names() []string {
	var out []string
	for _, h := range r.Header {
		out = append(out, h.Name)
	}
	return out
}

type rawResponse struct {
	Status int
	Header map[string]string
	Body   []byte
}

func jsonResponse(status int, body string) rawResponse {
	return rawResponse{Status: status, Header: map[string]string{"Content-Type": "application/json"}, Body: []byte(body)}
}

// rawServer is an HTTP/1.1 endpoint that records requests byte-exactly.
type rawServer struct {
	URL    string
	ln     net.Listener
	mu     sync.Mutex
	reqs   []rawRequest
	handle func(rawRequest) rawResponse
}

func newRawServer(t *testing.T, handle func(rawRequest) rawResponse) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &rawServer{URL: "http://" + ln.Addr().String(), ln: ln, handle: handle}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); rs.serve(c) }()
		}
	}()
	return rs
}

func (rs *rawServer) serve(c net.Conn) {
	defer c.Close()
	tp := textproto.NewReader(bufio.NewReader(c))
	line, err := tp.ReadLine()
	if err != nil {
		return
	}
	f := strings.SplitN(line, " ", 3)
	if len(f) != 3 {
		return
	}
	req := rawRequest{Method: f[0], Target: f[1], At: time.Now()}
	for {
		l, err := tp.ReadLine()
		if err != nil {
			return
		}
		if l == "" {
			break
		}
		name, value, _ := strings.Cut(l, ":")
		req.Header = append(req.Header, HeaderField{Name: name, Value: strings.TrimSpace(value)})
	}
	req.Host = req.Get("Host")
	if n, _ := strconv.Atoi(req.Get("Content-Length")); n > 0 {
		req.Body = make([]byte, n)
		if _, err := io.ReadFull(tp.R, req.Body); err != nil {
			return
		}
	}
	rs.mu.Lock()
	rs.reqs = append(rs.reqs, req)
	rs.mu.Unlock()
	resp := rs.handle(req)
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", resp.Status, http.StatusText(resp.Status))
	for k, v := range resp.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\nConnection: close\r\n\r\n", len(resp.Body))
	b.Write(resp.Body)
	c.Write(b.Bytes())
}

func (rs *rawServer) requests() []rawRequest {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]rawRequest(nil), rs.reqs...)
}

// receiver is a callback endpoint answering with reply (default {"error":0}).
type receiver struct {
	*rawServer
	mu    sync.Mutex
	reply func(n int, body map[string]any) rawResponse
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	var n int
	r.rawServer = newRawServer(t, func(req rawRequest) rawResponse {
		var body map[string]any
		json.Unmarshal(req.Body, &body)
		r.mu.Lock()
		n++
		reply := r.reply
		i := n
		r.mu.Unlock()
		if reply != nil {
			return reply(i, body)
		}
		return jsonResponse(200, `{"error":0}`)
	})
	return r
}

func (r *receiver) setReply(f func(n int, body map[string]any) rawResponse) {
	r.mu.Lock()
	r.reply = f
	r.mu.Unlock()
}

// fileServer serves one document body at any path.
func newFileServer(t *testing.T, content []byte) *rawServer {
	return newRawServer(t, func(rawRequest) rawResponse {
		return rawResponse{Status: 200, Header: map[string]string{"Content-Type": "application/octet-stream"}, Body: content}
	})
}

// docsConfig is an editor config as an integrator builds it, signed when
// secret is set.
func docsConfig(t *testing.T, key, url, callback, user, secret string) map[string]any {
	t.Helper()
	cfg := map[string]any{
		"documentType": "word",
		"document": map[string]any{
			"fileType": "docx", "key": key, "title": "Report.docx", "url": url,
			"permissions": map[string]any{"edit": true, "download": true},
		},
		"editorConfig": map[string]any{
			"callbackUrl": callback, "mode": "edit", "lang": "en",
			"user": map[string]any{"id": user, "name": "Name " + user},
		},
	}
	if secret != "" {
		cfg["token"] = signMap(t, cfg, secret)
	}
	return cfg
}

func signMap(t *testing.T, claims map[string]any, secret string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// parseJWT verifies an HS256 token and returns its claims.
func parseJWT(t *testing.T, tok, secret string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		t.Fatalf("token %q: %v", tok, err)
	}
	return claims
}

// objectKeys lists the keys of a JSON object in the order they appear.
func objectKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func callbackStatus(status int) func(Event) bool {
	return Match{Type: Reply, Op: OpCallback, Status: status}.Fn()
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
