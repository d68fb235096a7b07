package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sirupsen/logrus"

	"github.com/wopibridge/wopibridge/bridge"
	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/bridge/storage/fs"
	"github.com/wopibridge/wopibridge/bridge/storage/wopi"
	"github.com/wopibridge/wopibridge/wopiclient"
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// What fronting an upstream costs a CheckFileInfo, in one run:
//
//	go test ./e2e -run '^$' -bench CheckFileInfoUpstream -benchtime 5000x -count 5
//
// Direct is CheckFileInfo sent straight to an fs bridge acting as the upstream; Front
// is CheckFileInfo sent to a bridge whose storage is that upstream (one upstream
// CheckFileInfo per request). Both go over loopback HTTP with kept-alive connections,
// and the client reads both replies the same way. Alternating sends one of each per
// iteration, so that whatever else the machine does weighs on both alike, and reports
// their times and direct/front, the share of the direct speed the front keeps. Proxy
// does the same with net/http/httputil's ReverseProxy (default settings) in front of
// the upstream, the least a server in between could do, for scale. ParallelFront and
// ParallelProxy compare the same under concurrent load. The front's client is the one
// serve gives the wopi backend (wopiclient.NewHTTPClient).

func BenchmarkCheckFileInfoUpstream(b *testing.B) {
	env := newFrontBench(b)
	b.Run("Direct", func(b *testing.B) {
		buf := make([]byte, 32<<10)
		for b.Loop() {
			getCheckFileInfo(b, env.client, env.directURL, buf)
		}
	})
	b.Run("Front", func(b *testing.B) {
		buf := make([]byte, 32<<10)
		for b.Loop() {
			getCheckFileInfo(b, env.client, env.frontURL, buf)
		}
	})
	b.Run("Alternating", func(b *testing.B) {
		alternate(b, env.client, env.directURL, env.frontURL, "front")
	})
	// As serve runs it: every call to the upstream signed with the bridge's proof key.
	b.Run("AlternatingSigned", func(b *testing.B) {
		alternate(b, env.client, env.directURL, env.signedURL, "front")
	})
	u, _ := url.Parse(env.directURL)
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host}))
	defer proxy.Close()
	proxied := proxy.URL + u.RequestURI()
	b.Run("Proxy", func(b *testing.B) {
		alternate(b, env.client, env.directURL, proxied, "proxy")
	})
	// Under concurrent load: rounds of 512 requests from 16 clients per core, one round
	// straight to the upstream, the next through the front (or the proxy), and so on;
	// the rates compared are those of the two kinds of rounds.
	b.Run("ParallelFront", func(b *testing.B) {
		alternateParallel(b, env.client, env.directURL, env.frontURL, "front")
	})
	b.Run("ParallelFrontSigned", func(b *testing.B) {
		alternateParallel(b, env.client, env.directURL, env.signedURL, "front")
	})
	b.Run("ParallelProxy", func(b *testing.B) {
		alternateParallel(b, env.client, env.directURL, proxied, "proxy")
	})
}

// The same over the smallest upstream there is, the in-repo fake WOPI host (an
// in-memory map behind net/http): the front's own cost weighs more against it.
//
//	go test ./e2e -run '^$' -bench CheckFileInfoFakeUpstream -benchtime 5000x -count 5
func BenchmarkCheckFileInfoFakeUpstream(b *testing.B) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	host := wopitest.NewServer(b)
	id, src := host.AddFile("bench.docx", []byte(strings.Repeat("x", 4096)))
	token := host.Token(id, "alice", true)
	through := benchFront(b, client, host.URL, src, token, host.TokenTTL(token), nil)
	direct := src + "?access_token=" + url.QueryEscape(token)
	b.Run("Alternating", func(b *testing.B) { alternate(b, client, direct, through, "front") })
	b.Run("ParallelFront", func(b *testing.B) { alternateParallel(b, client, direct, through, "front") })
}

// alternateParallel sends b.N CheckFileInfo requests to direct and b.N to other, in
// alternating rounds of concurrent requests, and reports the time per request of each
// (wall time over requests) and direct/other.
func alternateParallel(b *testing.B, c *http.Client, direct, other, name string) {
	const round = 512
	workers := 16 * runtime.GOMAXPROCS(0)
	bufs := make([][]byte, workers)
	for i := range bufs {
		bufs[i] = make([]byte, 32<<10)
	}
	phase := func(u string, n int) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make([]error, workers)
		start := time.Now()
		for w := range workers {
			wg.Go(func() {
				for errs[w] == nil && next.Add(1) <= int64(n) {
					errs[w] = fetchCheckFileInfo(c, u, bufs[w])
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
		return elapsed
	}
	var td, to time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		n := min(round, b.N-done)
		td += phase(direct, n)
		to += phase(other, n)
	}
	b.ReportMetric(float64(td.Nanoseconds())/float64(b.N), "direct-ns")
	b.ReportMetric(float64(to.Nanoseconds())/float64(b.N), name+"-ns")
	b.ReportMetric(float64(td)/float64(to), "direct/"+name)
}

// alternate sends a CheckFileInfo to direct and one to other per iteration and reports
// the time of each and direct/other.
func alternate(b *testing.B, c *http.Client, direct, other, name string) {
	buf := make([]byte, 32<<10)
	var td, to time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		getCheckFileInfo(b, c, direct, buf)
		t1 := time.Now()
		getCheckFileInfo(b, c, other, buf)
		td += t1.Sub(t0)
		to += time.Since(t1)
		n++
	}
	b.ReportMetric(float64(td.Nanoseconds())/float64(n), "direct-ns")
	b.ReportMetric(float64(to.Nanoseconds())/float64(n), name+"-ns")
	b.ReportMetric(float64(td)/float64(to), "direct/"+name)
}

func getCheckFileInfo(b *testing.B, c *http.Client, u string, buf []byte) {
	if err := fetchCheckFileInfo(c, u, buf); err != nil {
		b.Fatal(err)
	}
}

func fetchCheckFileInfo(c *http.Client, u string, buf []byte) error {
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("CheckFileInfo: %d", resp.StatusCode)
	}
	return nil
}

// frontBench is an upstream bridge over fs and a front bridge over it, in-process.
type frontBench struct {
	client              *http.Client
	directURL, frontURL string // CheckFileInfo URLs with their access tokens
	signedURL           string // through a front that signs its upstream calls
}

func newFrontBench(b *testing.B) *frontBench {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)

	// The upstream: an fs bridge with one document.
	upState := benchState(b)
	upStore, err := fs.New(fs.Options{Root: b.TempDir(), State: upState})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { upStore.Close() })
	upURL := benchBridge(b, upStore, upState)
	ctx := b.Context()
	root, err := upStore.Root(ctx)
	if err != nil {
		b.Fatal(err)
	}
	f, err := upStore.Create(ctx, root.ID, "bench.docx", strings.NewReader(strings.Repeat("x", 4096)), false, 0)
	if err != nil {
		b.Fatal(err)
	}
	up := benchSession(b, client, upURL, benchLaunch(b, jwt.MapClaims{"file": f.ID}))

	return &frontBench{
		client:    client,
		directURL: up.WopiSrc + "?access_token=" + url.QueryEscape(up.AccessToken),
		frontURL:  benchFront(b, client, upURL, up.WopiSrc, up.AccessToken, up.AccessTokenTTL, nil),
		signedURL: benchFront(b, client, upURL, up.WopiSrc, up.AccessToken, up.AccessTokenTTL, benchProofKey(b)),
	}
}

// benchFront serves a bridge whose storage is the WOPI host at origin, with its own
// connections to it (the client serve makes), and returns the CheckFileInfo URL, with
// its access token, of alice's session there on the host's file src. With a key, the
// front signs its upstream calls with it (proofs, as serve does with the bridge's keys).
func benchFront(b *testing.B, client *http.Client, origin, src, token string, ttl int64, key *rsa.PrivateKey) string {
	b.Helper()
	o, _ := url.Parse(origin)
	upstreamClient := wopiclient.NewHTTPClient()
	b.Cleanup(upstreamClient.CloseIdleConnections)
	if key != nil {
		upstreamClient.Transport.(*wopiclient.Transport).Proof = &wopiclient.ProofSigner{
			Keys: func() (*rsa.PrivateKey, *rsa.PrivateKey, error) { return key, key, nil },
		}
	}
	st := benchState(b)
	store, err := wopi.New(wopi.Options{Origins: []*url.URL{o}, State: st, HTTP: upstreamClient, TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	s := benchSession(b, client, benchBridge(b, store, st), benchLaunch(b, jwt.MapClaims{
		"wopisrc": src, "access_token": token, "access_token_ttl": ttl,
	}))
	return s.WopiSrc + "?access_token=" + url.QueryEscape(s.AccessToken)
}

func benchProofKey(b *testing.B) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func benchState(b *testing.B) state.Store {
	st, err := state.OpenBolt(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// benchBridge serves a bridge over store on loopback, logging as a deployment does at
// info level (nothing for successful requests), and returns its URL.
func benchBridge(b *testing.B, store storage.Backend, st state.Store) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	public, _ := url.Parse("http://" + ln.Addr().String())
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	srv, err := bridge.New(bridge.Options{PublicURL: public, Storage: store, State: st, LaunchSecret: testLaunchSecret, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	b.Cleanup(func() { hs.Close(); srv.Close() })
	return public.String()
}

func benchSession(b *testing.B, c *http.Client, base, launch string) wopiSession {
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/wopi/session?action=edit", nil)
	req.Header.Set("Authorization", "Bearer "+launch)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var s wopiSession
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("session on %s: %d %v", base, resp.StatusCode, err)
	}
	return s
}

// benchLaunch is a launch token of alice with claims.
func benchLaunch(b *testing.B, claims jwt.MapClaims) string {
	claims["sub"], claims["exp"] = "alice", time.Now().Add(time.Hour).Unix()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(testLaunchSecret)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}
