package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge"
	"github.com/wopibridge/wopibridge/docsapi"
	"github.com/wopibridge/wopibridge/e2e/docserver"
)

const (
	testDocsSecret   = "docs-secret-0123456789abcdef0123"
	testLaunchSecret = "launch-secret-0123456789abcdef01"
)

var proofKeys = sync.OnceValues(func() (*rsa.PrivateKey, *rsa.PrivateKey) {
	cur, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	old, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return cur, old
})

// newDS starts a simulated Document Server with WOPI on, quick download retries and
// shared proof keys; opts may change anything.
func newDS(t *testing.T, opts docserver.Options) *docserver.Server {
	t.Helper()
	opts.ProofKey, opts.ProofKeyOld = proofKeys()
	if opts.RetryBase == 0 {
		opts.RetryBase = 10 * time.Millisecond
	}
	ds, err := docserver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ds.Close)
	return ds
}

// freeAddr returns a loopback address nothing listens on (it did a moment ago).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// env is a complete configuration without warnings: DS at docsURL with JWT on.
func env(t *testing.T, docsURL string) map[string]string {
	return map[string]string{
		"WOPIBRIDGE_LISTEN":          freeAddr(t),
		"WOPIBRIDGE_STORAGE":         "fs:" + t.TempDir(),
		"WOPIBRIDGE_LAUNCH_SECRET":   testLaunchSecret,
		"WOPIBRIDGE_DOCS_URL":        docsURL,
		"WOPIBRIDGE_DOCS_JWT_SECRET": testDocsSecret,
	}
}

type checkRun struct {
	code           int
	stdout, stderr string
}

func runCheck(t *testing.T, env map[string]string, args ...string) checkRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"check"}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
	t.Logf("wopibridge check %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	return checkRun{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// expect compares the output line by line with want. In want, {NAME} stands for
// vars[NAME] and {*} for any text.
func (r checkRun) expect(t *testing.T, code int, vars map[string]string, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d", r.code, code)
	}
	got := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if !lineRE(w, vars).MatchString(g) {
			t.Errorf("line %d:\n got: %s\nwant: %s", i+1, g, w)
		}
	}
}

var placeholder = regexp.MustCompile(`\{[A-Z*]+\}`)

func lineRE(tmpl string, vars map[string]string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range placeholder.FindAllStringIndex(tmpl, -1) {
		b.WriteString(regexp.QuoteMeta(tmpl[last:m[0]]))
		if name := tmpl[m[0]+1 : m[1]-1]; name == "*" {
			b.WriteString(".*")
		} else if v, ok := vars[name]; ok {
			b.WriteString(regexp.QuoteMeta(v))
		} else {
			panic("no value for " + name)
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(tmpl[last:]) + "$")
	return regexp.MustCompile(b.String())
}

// Lines every passing run starts with.
const (
	lineConfigOK    = "ok    config      listen {LISTEN}, public URL http://{LISTEN} (from WOPIBRIDGE_LISTEN), DS {DS}, JWT in Authorization, proof require"
	lineDSOK        = "ok    ds          DS answers at {DS} (GET /healthcheck: true)"
	lineClockOK     = "ok    clock       DS's clock and this host's differ by {*} (up to 1m0s is fine)"
	lineDiscoveryOK = "ok    discovery   {DS}/hosting/discovery: {*} apps, {*} actions, net-zone external-http"
	lineProofOK     = "ok    proof-keys  discovery publishes the current and the old proof key; WOPI requests are checked against them"
	lineJWTOK       = "ok    jwt         DS 9.3.1.1 accepts tokens signed with WOPIBRIDGE_DOCS_JWT_SECRET (in the body and the Authorization header)"
	lineDownloadOK  = "ok    download    DS downloaded http://{LISTEN}/docs/probe.txt (served by this check on {LISTEN}, as no server was listening there)"
	lineOutboxOK    = "ok    outbox      DS signs its downloads (and callbacks) in Authorization with the secret in WOPIBRIDGE_DOCS_JWT_SECRET"
	lineConvertOK   = "ok    convert     DS converted the probe to docx: its converter works"
	linePassed      = "wopibridge check: all checks passed"
)

func vars(e map[string]string) map[string]string {
	return map[string]string{"LISTEN": e["WOPIBRIDGE_LISTEN"], "DS": e["WOPIBRIDGE_DOCS_URL"], "PUBLIC": e["WOPIBRIDGE_PUBLIC_URL"]}
}

func TestCheckAllPass(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, WOPIEnabled: true})
	e := env(t, ds.URL())
	runCheck(t, e).expect(t, 0, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK, lineJWTOK, lineDownloadOK, lineOutboxOK, lineConvertOK, linePassed)

	// The probe was served for the duration of the check only.
	ln, err := net.Listen("tcp", e["WOPIBRIDGE_LISTEN"])
	if err != nil {
		t.Fatalf("the check still holds its listen address: %v", err)
	}
	ln.Close()
}

func TestCheckSettingsAsFlags(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, WOPIEnabled: true})
	e := env(t, ds.URL())
	listen := e["WOPIBRIDGE_LISTEN"]
	delete(e, "WOPIBRIDGE_LISTEN")
	delete(e, "WOPIBRIDGE_DOCS_URL")
	runCheck(t, e, "--listen="+listen, "--docs-url", ds.URL(), "--timeout=20s").expect(t, 0,
		map[string]string{"LISTEN": listen, "DS": ds.URL()},
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK, lineJWTOK, lineDownloadOK, lineOutboxOK, lineConvertOK, linePassed)
}

func TestCheckJWTSecretMismatch(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: "another-secret-0123456789abcdef", WOPIEnabled: true})
	e := env(t, ds.URL())
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK,
		"FAIL  jwt         DS refuses the signed version command (error 6: token invalid); hint: JWT secret mismatch: WOPIBRIDGE_DOCS_JWT_SECRET must equal DS's JWT secret (Docker: JWT_SECRET)",
		"skip  download    needs the jwt check to pass",
		"skip  outbox      needs the jwt check to pass",
		"skip  convert     needs the jwt check to pass",
		"wopibridge check: 1 failed (jwt)")
}

func TestCheckJWTOffInDS(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{WOPIEnabled: true})
	e := env(t, ds.URL())
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK,
		"FAIL  jwt         DS 9.3.1.1 accepts commands without a token: its JWT is off, but WOPIBRIDGE_DOCS_JWT_SECRET is set, so the bridge would refuse DS's unsigned callbacks and downloads; hint: turn JWT on in DS with the same secret (Docker: JWT_ENABLED=true and JWT_SECRET), or leave WOPIBRIDGE_DOCS_JWT_SECRET empty (loopback only)",
		"skip  download    needs the jwt check to pass",
		"skip  outbox      needs the jwt check to pass",
		"skip  convert     needs the jwt check to pass",
		"wopibridge check: 1 failed (jwt)")
}

func TestCheckJWTOffInBridge(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, WOPIEnabled: true})
	e := env(t, ds.URL())
	delete(e, "WOPIBRIDGE_DOCS_JWT_SECRET")
	runCheck(t, e).expect(t, 1, vars(e),
		"warn  config      listen {LISTEN}, public URL http://{LISTEN} (from WOPIBRIDGE_LISTEN), DS {DS}, JWT off, proof require; warning: WOPIBRIDGE_DOCS_JWT_SECRET is empty: {*}",
		lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK,
		"FAIL  jwt         DS refuses unsigned commands (error 6): its JWT is on, but WOPIBRIDGE_DOCS_JWT_SECRET is empty; hint: set WOPIBRIDGE_DOCS_JWT_SECRET to DS's JWT secret (Docker: JWT_SECRET; local.json: services.CoAuthoring.secret.inbox.string)",
		"skip  download    needs the jwt check to pass",
		"skip  outbox      needs the jwt check to pass",
		"skip  convert     needs the jwt check to pass",
		"wopibridge check: 1 failed (jwt)")
}

func TestCheckJWTOffEverywhere(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{WOPIEnabled: true})
	e := env(t, ds.URL())
	delete(e, "WOPIBRIDGE_DOCS_JWT_SECRET")
	runCheck(t, e).expect(t, 0, vars(e),
		"warn  config      {*}JWT off{*}",
		lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK,
		"warn  jwt         DS 9.3.1.1 accepts unsigned commands: JWT is off in DS and in the bridge; hint: before others can reach DS or the bridge, turn JWT on in DS (Docker: JWT_ENABLED=true, JWT_SECRET) and set the same secret in WOPIBRIDGE_DOCS_JWT_SECRET",
		lineDownloadOK,
		"ok    outbox      DS sends its downloads unsigned, and JWT is off in the bridge",
		lineConvertOK,
		linePassed)
}

func TestCheckJWTExpired(t *testing.T) {
	t.Parallel()
	// DS's token clock runs 10 minutes ahead (its Date header does not follow Now).
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, WOPIEnabled: true,
		Now: func() time.Time { return time.Now().Add(10 * time.Minute) }})
	e := env(t, ds.URL())
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK,
		"FAIL  jwt         DS says the token has expired (error 7); hint: the clocks of DS and this host are minutes apart: synchronise them (NTP)",
		"skip  download    needs the jwt check to pass",
		"skip  outbox      needs the jwt check to pass",
		"skip  convert     needs the jwt check to pass",
		"wopibridge check: 1 failed (jwt)")
}

func TestCheckJWTHeaderMismatch(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, JWTHeader: "AuthorizationJwt", WOPIEnabled: true})
	e := env(t, ds.URL())
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK, lineJWTOK,
		lineDownloadOK,
		"FAIL  outbox      DS sent its token in Authorizationjwt, while the bridge reads WOPIBRIDGE_DOCS_JWT_HEADER=Authorization; hint: set WOPIBRIDGE_DOCS_JWT_HEADER=Authorizationjwt, or set DS's header to Authorization (Docker: JWT_HEADER)",
		lineConvertOK,
		"wopibridge check: 1 failed (outbox)")
}

func TestCheckDSUnreachable(t *testing.T) {
	t.Parallel()
	e := env(t, "http://"+freeAddr(t))
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK,
		"FAIL  ds          DS at {DS} refuses the connection; hint: nothing listens there: start ONLYOFFICE Docs, or correct the host or port in WOPIBRIDGE_DOCS_URL",
		"skip  clock       DS is not reachable",
		"skip  discovery   DS is not reachable",
		"skip  proof-keys  DS is not reachable",
		"skip  jwt         DS is not reachable",
		"skip  download    DS is not reachable",
		"skip  outbox      DS is not reachable",
		"skip  convert     DS is not reachable",
		"wopibridge check: 1 failed (ds)")
}

func TestCheckDSUnknownHost(t *testing.T) {
	t.Parallel()
	e := env(t, "http://ds.invalid")
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK,
		`FAIL  ds          cannot resolve "ds.invalid", the host of DS at {DS}; hint: correct the host name in WOPIBRIDGE_DOCS_URL (from inside a container, use DS's service or container name, not localhost)`,
		"skip  clock       DS is not reachable",
		"skip  discovery   DS is not reachable",
		"skip  proof-keys  DS is not reachable",
		"skip  jwt         DS is not reachable",
		"skip  download    DS is not reachable",
		"skip  outbox      DS is not reachable",
		"skip  convert     DS is not reachable",
		"wopibridge check: 1 failed (ds)")
}

func TestCheckTimeout(t *testing.T) {
	t.Parallel()
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(silent.Close)
	e := env(t, silent.URL)
	start := time.Now()
	r := runCheck(t, e, "--timeout=300ms")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("check took %v with --timeout=300ms", d)
	}
	r.expect(t, 1, vars(e),
		lineConfigOK,
		"FAIL  ds          no answer from DS at {DS} within --timeout=300ms; hint: check the host and port in WOPIBRIDGE_DOCS_URL, and that no firewall between this host and it drops the traffic",
		"skip  clock       DS is not reachable",
		"skip  discovery   DS is not reachable",
		"skip  proof-keys  DS is not reachable",
		"skip  jwt         DS is not reachable",
		"skip  download    DS is not reachable",
		"skip  outbox      DS is not reachable",
		"skip  convert     DS is not reachable",
		"wopibridge check: 1 failed (ds)")
}

func TestCheckWOPIDisabled(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret})
	e := env(t, ds.URL())
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK, lineDSOK, lineClockOK,
		"FAIL  discovery   GET {DS}/hosting/discovery answers 404; hint: WOPI is disabled in ONLYOFFICE Docs: set wopi.enable=true (Docker: WOPI_ENABLED=true), then restart DS",
		"skip  proof-keys  needs the discovery check to pass",
		lineJWTOK, lineDownloadOK, lineOutboxOK, lineConvertOK,
		"wopibridge check: 1 failed (discovery)")
}

// proxy puts a reverse proxy in front of ds whose replies edit may change.
func proxy(t *testing.T, ds *docserver.Server, edit func(*http.Response) error) string {
	t.Helper()
	target, err := url.Parse(ds.URL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = edit
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

var proofKeyElement = regexp.MustCompile(`<proof-key [^>]*/>`)

// withoutProofKeys is a DS whose discovery has no <proof-key>, as DS publishes it
// when its proof keys are not configured.
func withoutProofKeys(t *testing.T) string {
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, WOPIEnabled: true})
	return proxy(t, ds, func(resp *http.Response) error {
		if resp.Request.URL.Path != "/hosting/discovery" {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if !proofKeyElement.Match(b) {
			t.Error("the simulator's discovery has no <proof-key> to remove")
		}
		b = proofKeyElement.ReplaceAll(b, nil)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	})
}

func TestCheckProofKeysAbsent(t *testing.T) {
	t.Parallel()
	e := env(t, withoutProofKeys(t))
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK,
		"FAIL  proof-keys  discovery publishes no proof keys, and WOPIBRIDGE_PROOF=require; hint: configure DS's proof keys (wopi.privateKey, wopi.publicKey, wopi.modulus, wopi.exponent and their *Old twins; the Docker image generates them when WOPI_ENABLED=true), or set WOPIBRIDGE_PROOF=off to accept WOPI requests unproven",
		lineJWTOK, lineDownloadOK, lineOutboxOK, lineConvertOK,
		"wopibridge check: 1 failed (proof-keys)")
}

func TestCheckProofKeysAbsentProofOff(t *testing.T) {
	t.Parallel()
	e := env(t, withoutProofKeys(t))
	e["WOPIBRIDGE_PROOF"] = "off"
	runCheck(t, e).expect(t, 0, vars(e),
		"warn  config      listen {LISTEN}, public URL http://{LISTEN} (from WOPIBRIDGE_LISTEN), DS {DS}, JWT in Authorization, proof off; warning: WOPIBRIDGE_PROOF=off: {*}",
		lineDSOK, lineClockOK, lineDiscoveryOK,
		"warn  proof-keys  discovery publishes no proof keys; WOPIBRIDGE_PROOF=off, so WOPI requests are accepted unproven; hint: configure DS's proof keys (wopi.privateKey, wopi.publicKey, wopi.modulus, wopi.exponent and their *Old twins; the Docker image generates them when WOPI_ENABLED=true), then set WOPIBRIDGE_PROOF=require",
		lineJWTOK, lineDownloadOK, lineOutboxOK, lineConvertOK, linePassed)
}

func TestCheckClocksApart(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, WOPIEnabled: true})
	behind := proxy(t, ds, func(resp *http.Response) error {
		resp.Header.Set("Date", time.Now().Add(-10*time.Minute).UTC().Format(http.TimeFormat))
		return nil
	})
	e := env(t, behind)
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK, lineDSOK,
		"FAIL  clock       DS's clock is 10m0s behind this host's (DS's Date: {*}); hint: synchronise the clocks of both hosts (NTP: timedatectl set-ntp true, or chrony): JWTs are refused more than 1m0s past their expiry and WOPI proofs older than 20 minutes",
		lineDiscoveryOK, lineProofOK, lineJWTOK, lineDownloadOK, lineOutboxOK, lineConvertOK,
		"wopibridge check: 1 failed (clock)")
}

func TestCheckPublicURLUnreachable(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, WOPIEnabled: true})
	e := env(t, ds.URL())
	e["WOPIBRIDGE_PUBLIC_URL"] = "http://" + freeAddr(t)
	runCheck(t, e).expect(t, 1, vars(e),
		"ok    config      listen {LISTEN}, public URL {PUBLIC}, DS {DS}, JWT in Authorization, proof require",
		lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK, lineJWTOK,
		"FAIL  download    DS could not download {PUBLIC}/docs/probe.txt (error -4); hint: DS cannot download from WOPIBRIDGE_PUBLIC_URL={PUBLIC}: make it an address DS can reach (not 127.0.0.1 when DS runs in Docker)",
		"skip  outbox      needs the download check to pass",
		"skip  convert     needs the download check to pass",
		"wopibridge check: 1 failed (download)")
}

func TestCheckConverterFails(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, WOPIEnabled: true})
	broken := proxy(t, ds, func(resp *http.Response) error {
		if resp.Request.URL.Path == "/converter" {
			b := []byte(`{"error":-3}`)
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		}
		return nil
	})
	e := env(t, broken)
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK, lineJWTOK,
		lineDownloadOK, lineOutboxOK,
		"FAIL  convert     DS downloaded the probe, but its converter failed (error -3: conversion failed); hint: DS cannot open documents either: see its converter log (Docker: /var/log/onlyoffice/documentserver/converter/out.log); the download itself works",
		"wopibridge check: 1 failed (convert)")
}

// serveProbe plays a wopibridge already running: it serves the probe on a loopback
// address until the test ends.
func serveProbe(t *testing.T, h http.Handler) (addr string, hits func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

func TestCheckServerAlreadyListening(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, WOPIEnabled: true})
	mux := http.NewServeMux()
	mux.Handle(bridge.ProbePath, bridge.NewProbe("Authorization", []byte(testDocsSecret)))
	addr, hits := serveProbe(t, mux)
	e := env(t, ds.URL())
	e["WOPIBRIDGE_LISTEN"] = addr
	runCheck(t, e).expect(t, 0, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK, lineJWTOK,
		"ok    download    DS downloaded http://{LISTEN}/docs/probe.txt (served by the wopibridge already listening on {LISTEN})",
		lineOutboxOK, lineConvertOK,
		linePassed)
	// One GET from the check to see it is a wopibridge, one from DS, one for the report.
	if got := hits(); got != 3 {
		t.Errorf("the running server got %d requests, want 3", got)
	}
}

func TestCheckRunningServerRefusesProbe(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, WOPIEnabled: true})
	addr, _ := serveProbe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	e := env(t, ds.URL())
	e["WOPIBRIDGE_LISTEN"] = addr
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK, lineJWTOK,
		"FAIL  download    the server listening on WOPIBRIDGE_LISTEN={LISTEN} refuses the probe to this host (GET /docs/probe.txt: HTTP 403); hint: make its WOPIBRIDGE_IPFILTER admit this host and DS, or stop it and run check again",
		"skip  outbox      needs the download check to pass",
		"skip  convert     needs the download check to pass",
		"wopibridge check: 1 failed (download)")
}

func TestCheckWhileServing(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, WOPIEnabled: true})
	e := env(t, ds.URL())
	serveInBackground(t, e)
	runCheck(t, e).expect(t, 0, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK, lineJWTOK,
		"ok    download    DS downloaded http://{LISTEN}/docs/probe.txt (served by the wopibridge already listening on {LISTEN})",
		lineOutboxOK, lineConvertOK,
		linePassed)
}

func TestCheckAddressTakenByAnotherServer(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, WOPIEnabled: true})
	addr, _ := serveProbe(t, http.NotFoundHandler())
	e := env(t, ds.URL())
	e["WOPIBRIDGE_LISTEN"] = addr
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK, lineJWTOK,
		"FAIL  download    WOPIBRIDGE_LISTEN={LISTEN} is taken by a server that does not serve the probe (GET /docs/probe.txt: HTTP 404); hint: it is another program or an older wopibridge: stop it (or upgrade it), or set WOPIBRIDGE_LISTEN to this wopibridge's address, and run check again",
		"skip  outbox      needs the download check to pass",
		"skip  convert     needs the download check to pass",
		"wopibridge check: 1 failed (download)")
}

func TestCheckCannotListen(t *testing.T) {
	t.Parallel()
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, WOPIEnabled: true})
	e := env(t, ds.URL())
	e["WOPIBRIDGE_LISTEN"] = "192.0.2.1:8080" // TEST-NET-1: not an address of this host
	runCheck(t, e, "--timeout=3s").expect(t, 1, vars(e),
		"ok    config      listen {LISTEN}, public URL http://{LISTEN} (from WOPIBRIDGE_LISTEN), DS {DS}, JWT in Authorization, proof require",
		lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK, lineJWTOK,
		"FAIL  download    cannot listen on WOPIBRIDGE_LISTEN={LISTEN} to serve the probe (bind: {*}), and no server answers there ({*}); hint: run check where wopibridge runs (the same host or container), or start wopibridge serve with this configuration first",
		"skip  outbox      needs the download check to pass",
		"skip  convert     needs the download check to pass",
		"wopibridge check: 1 failed (download)")
}

func TestCheckInvalidConfiguration(t *testing.T) {
	t.Parallel()
	e := env(t, "http://127.0.0.1:1")
	e["WOPIBRIDGE_PROOF"] = "maybe"
	e["WOPIBRIDGE_TOKEN_TTL"] = "0s"
	runCheck(t, e).expect(t, 1, vars(e),
		`FAIL  config      invalid configuration, 2 problem(s): WOPIBRIDGE_PROOF: "maybe" is neither require nor off {*}; WOPIBRIDGE_TOKEN_TTL: 0s is out of range {*}; hint: fix each setting named, wherever it is set: environment, --flag or the JSON file (WOPIBRIDGE_CONFIG)`,
		"skip  ds          the configuration is invalid",
		"skip  clock       the configuration is invalid",
		"skip  discovery   the configuration is invalid",
		"skip  proof-keys  the configuration is invalid",
		"skip  jwt         the configuration is invalid",
		"skip  download    the configuration is invalid",
		"skip  outbox      the configuration is invalid",
		"skip  convert     the configuration is invalid",
		"wopibridge check: 1 failed (config)")
}

func TestCheckWithoutDS(t *testing.T) {
	t.Parallel()
	e := env(t, "")
	delete(e, "WOPIBRIDGE_DOCS_URL")
	delete(e, "WOPIBRIDGE_DOCS_JWT_SECRET")
	const noDS = "skip  {*}no Document Server is configured (WOPIBRIDGE_DOCS_URL)"
	runCheck(t, e).expect(t, 0, vars(e),
		"warn  config      listen {LISTEN}, public URL http://{LISTEN} (from WOPIBRIDGE_LISTEN), no DS; warning: WOPIBRIDGE_DOCS_URL is empty: {*}",
		"skip  ds          WOPIBRIDGE_DOCS_URL is not set: no Document Server to test (set it to DS's base URL as the bridge reaches it)",
		noDS, noDS, noDS, noDS, noDS, noDS, noDS,
		"wopibridge check: the configuration is valid; no Document Server is configured, so nothing else was tested")
}

func TestCheckUsage(t *testing.T) {
	t.Parallel()
	e := env(t, "")
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"--help"}, 0, "usage: wopibridge check [flags]"},
		{[]string{"--timeout=soon"}, 2, `invalid value "soon" for flag -timeout`},
		{[]string{"--timeout=0s"}, 2, "--timeout=0s is not a duration above 0"},
		{[]string{"--no-such-flag"}, 2, "flag provided but not defined: -no-such-flag"},
		{[]string{"now"}, 2, `unexpected argument "now"`},
	} {
		r := runCheck(t, e, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) || r.stdout != "" {
			t.Errorf("check %v: exit %d, stdout %q, stderr %q; want exit %d and stderr with %q",
				tc.args, r.code, r.stdout, r.stderr, tc.code, tc.stderr)
		}
	}
}

func TestProbeHandler(t *testing.T) {
	t.Parallel()
	h := bridge.NewProbe("", nil)
	for _, tc := range []struct {
		method string
		code   int
		body   string
	}{
		{http.MethodGet, http.StatusOK, bridge.ProbeContent},
		{http.MethodHead, http.StatusOK, ""},
		{http.MethodPost, http.StatusMethodNotAllowed, "method not allowed\n"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tc.method, bridge.ProbePath, nil))
		if w.Code != tc.code || w.Body.String() != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.method, w.Code, w.Body.String(), tc.code, tc.body)
		}
		if tc.code == http.StatusOK {
			if ct := w.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("%s: Content-Type %q", tc.method, ct)
			}
			if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(len(bridge.ProbeContent)) {
				t.Errorf("%s: Content-Length %q", tc.method, cl)
			}
		}
	}
}

// The probe serves DS whatever its token, and reports per check run what the token was.
func TestProbeReports(t *testing.T) {
	t.Parallel()
	token := func(secret string, issued time.Time) string {
		tok, err := docsapi.SignTimed(map[string]any{"payload": map[string]string{"url": "http://bridge/docs/probe.txt"}},
			[]byte(secret), issued, docsapi.TokenTTL)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	now := time.Now()
	for _, tc := range []struct {
		name   string
		secret string
		header http.Header
		want   bridge.ProbeReport
	}{
		{"same secret", testDocsSecret, http.Header{"Authorization": {token(testDocsSecret, now)}}, bridge.ProbeReport{Requests: 1, Token: bridge.ProbeTokenVerified}},
		{"other secret", testDocsSecret, http.Header{"Authorization": {token("outbox-secret", now)}}, bridge.ProbeReport{Requests: 1, Token: bridge.ProbeTokenWrongSecret}},
		{"not a bearer token", testDocsSecret, http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, bridge.ProbeReport{Requests: 1, Token: bridge.ProbeTokenWrongSecret}},
		{"expired", testDocsSecret, http.Header{"Authorization": {token(testDocsSecret, now.Add(-time.Hour))}}, bridge.ProbeReport{Requests: 1, Token: bridge.ProbeTokenExpired}},
		{"other header", testDocsSecret, http.Header{"Authorizationjwt": {token(testDocsSecret, now)}}, bridge.ProbeReport{Requests: 1, Token: bridge.ProbeTokenOtherHeader, Header: "Authorizationjwt"}},
		{"none", testDocsSecret, http.Header{"User-Agent": {"Node.js/6.13"}}, bridge.ProbeReport{Requests: 1, Token: bridge.ProbeTokenNone}},
		{"bridge without secret", "", http.Header{"Authorization": {token(testDocsSecret, now)}}, bridge.ProbeReport{Requests: 1, Token: bridge.ProbeTokenUnchecked}},
	} {
		p := bridge.NewProbe("Authorization", []byte(tc.secret))
		const run = "Run0123456789abcdef"
		req := httptest.NewRequest(http.MethodGet, bridge.ProbePath+"?check="+run, nil)
		req.Header = tc.header
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		if w.Code != http.StatusOK || w.Body.String() != bridge.ProbeContent {
			t.Errorf("%s: the probe answered %d %q", tc.name, w.Code, w.Body.String())
		}
		w = httptest.NewRecorder()
		p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, bridge.ProbePath+"?report="+run, nil))
		got, err := bridge.ParseProbeReport(w.Body.String())
		if err != nil || got != tc.want {
			t.Errorf("%s: report %q (%v), want %+v", tc.name, w.Body.String(), err, tc.want)
		}
		if other := p.Report("Other0123456789abcdef"); other.Requests != 0 {
			t.Errorf("%s: another run's report counts %d requests", tc.name, other.Requests)
		}
	}
}

// A DS whose outbox secret differs from its inbox secret: the commands pass, the
// download works, and the outbox line says what to set; with the outbox setting, all
// pass. The same with a wopibridge already serving.
func TestCheckOutboxSecretMismatch(t *testing.T) {
	t.Parallel()
	const outbox = "outbox-secret-0123456789abcdef01"
	ds := newDS(t, docserver.Options{JWTSecret: testDocsSecret, JWTOutboxSecret: outbox, WOPIEnabled: true})
	e := env(t, ds.URL())
	const failOutbox = "FAIL  outbox      the token DS sent in Authorization with the download does not verify with WOPIBRIDGE_DOCS_JWT_SECRET: the bridge would refuse every document download and callback; hint: set WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET to DS's outbox secret (local.json: services.CoAuthoring.secret.outbox.string), or make DS's inbox and outbox secrets equal (Docker's JWT_SECRET sets both)"
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK, lineJWTOK, lineDownloadOK,
		failOutbox, lineConvertOK,
		"wopibridge check: 1 failed (outbox)")

	e["WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET"] = outbox
	runCheck(t, e).expect(t, 0, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK, lineJWTOK, lineDownloadOK,
		"ok    outbox      DS signs its downloads (and callbacks) in Authorization with the secret in WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET",
		lineConvertOK, linePassed)

	// A wopibridge serving with the inbox secret only reports the mismatch too.
	delete(e, "WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET")
	serveInBackground(t, e)
	runCheck(t, e).expect(t, 1, vars(e),
		lineConfigOK, lineDSOK, lineClockOK, lineDiscoveryOK, lineProofOK, lineJWTOK,
		"ok    download    DS downloaded http://{LISTEN}/docs/probe.txt (served by the wopibridge already listening on {LISTEN})",
		failOutbox, lineConvertOK,
		"wopibridge check: 1 failed (outbox)")
}

// serveInBackground runs `wopibridge serve` with env e until the test ends (it must
// then exit with 0), and returns once it answers its probe.
func serveInBackground(t *testing.T, e map[string]string) {
	t.Helper()
	startServing(t, e)
	waitServing(t, "http://"+e["WOPIBRIDGE_LISTEN"]+bridge.ProbePath)
}

// startServing starts `wopibridge serve` with env e. stop ends it (once; it must exit
// with 0), and is called when the test ends if the test has not.
func startServing(t *testing.T, e map[string]string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan int, 1)
	go func() {
		served <- run(ctx, []string{"serve"}, func(k string) string { return e[k] }, io.Discard, io.Discard)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if code := <-served; code != 0 {
				t.Errorf("serve exited with %d", code)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitServing polls u until it answers.
func waitServing(t *testing.T, u string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer: %v", err)
		}
	}
}
