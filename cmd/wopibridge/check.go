package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wopibridge/wopibridge/bridge"
	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/docsapi"
	"github.com/wopibridge/wopibridge/wopiclient"
)

const (
	// defaultCheckTimeout bounds the whole check unless --timeout says otherwise.
	defaultCheckTimeout = 30 * time.Second
	// stepTimeout bounds each call to DS but the conversion, which may use whatever
	// is left of --timeout: one unanswered call must not eat the time of the others.
	stepTimeout = 10 * time.Second
	// maxClockSkew is the tolerance DS and the bridge both allow on token times.
	maxClockSkew = docsapi.ClockSkew
)

const checkUsage = `usage: wopibridge check [flags]

Tests the configuration against ONLYOFFICE Docs (DS). It reads the same settings as
serve (defaults, JSON file, WOPIBRIDGE_* environment, flags) and prints one line per check:

  config      the configuration is valid
  ds          DS answers at WOPIBRIDGE_DOCS_URL
  clock       DS's clock and this host's agree within 60s (tokens and proofs expire)
  discovery   DS serves its WOPI discovery (/hosting/discovery)
  proof-keys  the discovery publishes proof keys (a failure only with WOPIBRIDGE_PROOF=require)
  jwt         DS accepts tokens signed with WOPIBRIDGE_DOCS_JWT_SECRET (command "version"):
              its inbox secret, which editor configs and commands are signed with
  download    DS downloads a probe file from WOPIBRIDGE_PUBLIC_URL (conversion service)
  outbox      the token DS sent with that download verifies with
              WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET (default WOPIBRIDGE_DOCS_JWT_SECRET): DS's
              outbox secret, which its callbacks and downloads are checked with
  convert     DS's converter turned the probe into a document (it opens documents)

Each line starts with ok, warn (passed, with something worth a look), FAIL (with a hint
naming the setting to change) or skip (with the reason: a check it needs failed).
If nothing listens on WOPIBRIDGE_LISTEN, check serves the probe file there itself while
it runs; otherwise it relies on the wopibridge listening there, and says which it used.
Without WOPIBRIDGE_DOCS_URL there is no DS to test: the DS checks are skipped and do not
count as failures. Exit status: 0 when no check failed, 1 when one did, 2 for bad flags.

Flags:
`

// check is "wopibridge check".
func check(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("wopibridge check", flag.ContinueOnError)
	flags.SetOutput(stderr)
	timeout := flags.Duration("timeout", defaultCheckTimeout, "bound on the whole check, e.g. 30s or 2m")
	usageShown := false
	flags.Usage = func() {
		usageShown = true
		fmt.Fprint(flags.Output(), checkUsage)
		flags.PrintDefaults()
	}
	cfg, err := config.LoadFlags(flags, args, getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil && usageShown:
		return 2 // the flag package has said what is wrong
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "wopibridge check: unexpected argument %q\n", flags.Arg(0))
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "wopibridge check: --timeout=%v is not a duration above 0 (use e.g. 30s)\n", *timeout)
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := &checker{cfg: cfg, timeout: *timeout, out: stdout, client: newCheckClient(*timeout), results: map[string]result{}}
	defer c.client.CloseIdleConnections()
	return c.run(ctx, err)
}

// newCheckClient is the one client of every outbound call of the check.
func newCheckClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: stepTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = stepTimeout
	return &http.Client{Transport: tr, Timeout: timeout}
}

// verdict opens each line of the report.
type verdict string

const (
	verdictOK   verdict = "ok"
	verdictWarn verdict = "warn" // passed, with something worth a look
	verdictFail verdict = "FAIL"
	verdictSkip verdict = "skip"
)

func (v verdict) passed() bool { return v == verdictOK || v == verdictWarn }

// result is one check's outcome.
type result struct {
	verdict verdict
	detail  string // what was found
	hint    string // what to do about it
	// blocks is why the checks depending on this one are skipped, when it did not
	// pass; empty gives a generic reason.
	blocks string
}

func pass(format string, args ...any) result {
	return result{verdict: verdictOK, detail: fmt.Sprintf(format, args...)}
}

func warn(detail, hint string) result {
	return result{verdict: verdictWarn, detail: detail, hint: hint}
}

func fail(detail, hint string) result {
	return result{verdict: verdictFail, detail: detail, hint: hint}
}

func skip(detail string) result {
	return result{verdict: verdictSkip, detail: detail}
}

func (r result) line(name string) string {
	s := fmt.Sprintf("%-4s  %-10s  %s", r.verdict, name, r.detail)
	if r.hint != "" {
		s += "; hint: " + r.hint
	}
	return strings.ReplaceAll(s, "\n", "; ")
}

// checker runs the checks in order; later ones read what earlier ones found.
type checker struct {
	cfg     *config.Config
	timeout time.Duration
	out     io.Writer
	client  *http.Client

	results map[string]result
	failed  []string

	dsDate    time.Time // DS's Date header, zero if none
	localDate time.Time // local time when DS wrote it (midpoint of the request)
	discovery *wopiclient.Discovery

	// What the download check saw, for the outbox and convert checks.
	probeURL   string
	probeToken bridge.ProbeReport // Token empty: the server serving the probe could not say
	convertErr error              // the conversion's failure after a download, if any
}

type step struct {
	name string
	deps []string
	run  func(context.Context) result
}

func (c *checker) run(ctx context.Context, cfgErr error) int {
	c.report("config", c.checkConfig(cfgErr))
	for _, s := range []step{
		{"ds", []string{"config"}, c.checkDS},
		{"clock", []string{"ds"}, c.checkClock},
		{"discovery", []string{"ds"}, c.checkDiscovery},
		{"proof-keys", []string{"discovery"}, c.checkProofKeys},
		{"jwt", []string{"ds"}, c.checkJWT},
		{"download", []string{"ds", "jwt"}, c.checkDownload},
		{"outbox", []string{"download"}, c.checkOutbox},
		{"convert", []string{"download"}, c.checkConvert},
	} {
		r, blocked := c.blocked(ctx, s.deps)
		if !blocked {
			r = s.run(ctx)
		}
		c.report(s.name, r)
	}
	if len(c.failed) > 0 {
		fmt.Fprintf(c.out, "wopibridge check: %d failed (%s)\n", len(c.failed), strings.Join(c.failed, ", "))
		return 1
	}
	if c.cfg.Docs.URL == nil {
		fmt.Fprintln(c.out, "wopibridge check: the configuration is valid; no Document Server is configured, so nothing else was tested")
		return 0
	}
	fmt.Fprintln(c.out, "wopibridge check: all checks passed")
	return 0
}

// blocked returns the result of a check that is not run: skipped when a check it
// needs did not pass, failed when the time is up.
func (c *checker) blocked(ctx context.Context, deps []string) (result, bool) {
	for _, d := range deps {
		r := c.results[d]
		if r.verdict.passed() {
			continue
		}
		switch {
		case r.blocks != "":
			return skip(r.blocks), true
		case r.verdict == verdictSkip:
			return skip(r.detail), true
		default:
			return skip("needs the " + d + " check to pass"), true
		}
	}
	if ctx.Err() != nil {
		// Not run is not passed: the exit status must not say all is well.
		return fail(fmt.Sprintf("--timeout=%v ran out before this check", c.timeout), "raise --timeout"), true
	}
	return result{}, false
}

func (c *checker) report(name string, r result) {
	c.results[name] = r
	if r.verdict == verdictFail {
		c.failed = append(c.failed, name)
	}
	fmt.Fprintln(c.out, r.line(name))
}

// stepContext bounds one call to DS; within says the bound for messages.
func (c *checker) stepContext(ctx context.Context) (sctx context.Context, cancel context.CancelFunc, within string) {
	within = stepTimeout.String()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < stepTimeout {
		within = fmt.Sprintf("--timeout=%v", c.timeout)
	}
	sctx, cancel = context.WithTimeout(ctx, stepTimeout)
	return sctx, cancel, within
}

// 1. configuration

func (c *checker) checkConfig(err error) result {
	if err != nil {
		problems := strings.Split(strings.TrimSpace(err.Error()), "\n")
		r := fail(fmt.Sprintf("invalid configuration, %d problem(s): %s", len(problems), strings.Join(problems, "; ")),
			"fix each setting named, wherever it is set: environment, --flag or the JSON file ("+config.EnvConfig+")")
		r.blocks = "the configuration is invalid"
		return r
	}
	cfg := c.cfg
	public := cfg.PublicURL.Redacted()
	if cfg.PublicURLDerived() {
		public += " (from WOPIBRIDGE_LISTEN)"
	}
	detail := fmt.Sprintf("listen %s, public URL %s", cfg.Listen, public)
	if cfg.Docs.URL != nil {
		detail += fmt.Sprintf(", DS %s, JWT %s, proof %s", cfg.Docs.URL.Redacted(), jwtDescription(cfg.Docs), cfg.Proof)
	} else {
		detail += ", no DS"
	}
	if w := cfg.Warnings(); len(w) > 0 {
		return warn(detail+"; warning: "+strings.Join(w, "; warning: "), "")
	}
	return pass("%s", detail)
}

func jwtDescription(d config.DocsConfig) string {
	if d.JWTSecret == "" {
		return "off"
	}
	return "in " + d.JWTHeader
}

// 2. DS reachable

func (c *checker) checkDS(ctx context.Context) result {
	base := c.cfg.Docs.URL
	if base == nil {
		r := skip("WOPIBRIDGE_DOCS_URL is not set: no Document Server to test (set it to DS's base URL as the bridge reaches it)")
		r.blocks = "no Document Server is configured (WOPIBRIDGE_DOCS_URL)"
		return r
	}
	sctx, cancel, within := c.stepContext(ctx)
	defer cancel()
	target := base.JoinPath("healthcheck")
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return fail(fmt.Sprintf("cannot build a request to %s: %v", target.Redacted(), err), "correct WOPIBRIDGE_DOCS_URL")
	}
	sent := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		r := netFailure(err, "DS at "+base.Redacted(), "WOPIBRIDGE_DOCS_URL", within)
		r.blocks = "DS is not reachable"
		return r
	}
	defer resp.Body.Close()
	received := time.Now()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		// Date has whole seconds: DS's clock read somewhere in [d, d+1s).
		c.dsDate = d.Add(500 * time.Millisecond)
		c.localDate = sent.Add(received.Sub(sent) / 2)
	}

	where := base.Redacted()
	health := strings.TrimSpace(string(body))
	switch {
	case resp.StatusCode >= 500:
		r := fail(fmt.Sprintf("DS at %s answers GET /healthcheck with HTTP %d", where, resp.StatusCode),
			"DS is down, still starting, or a proxy in front of it cannot reach it: check that DS runs (docker logs <ds container>) and that WOPIBRIDGE_DOCS_URL points at it")
		r.blocks = "DS is not healthy"
		return r
	case resp.StatusCode == http.StatusOK && health == "false":
		r := fail(fmt.Sprintf("DS at %s reports itself unhealthy (GET /healthcheck: false)", where),
			"DS cannot use its database, message queue or cache: see its logs (docker logs <ds container>)")
		r.blocks = "DS is not healthy"
		return r
	}
	if moved := resp.Request.URL; moved.Scheme != target.Scheme || moved.Host != target.Host {
		return warn(fmt.Sprintf("DS at %s redirects to %s://%s", where, moved.Scheme, moved.Host),
			fmt.Sprintf("set WOPIBRIDGE_DOCS_URL=%s://%s%s: DS's services do not follow redirects for POST requests", moved.Scheme, moved.Host, base.EscapedPath()))
	}
	if resp.StatusCode != http.StatusOK || health != "true" {
		return warn(fmt.Sprintf("%s answers, but GET /healthcheck gave HTTP %d, not ONLYOFFICE Docs' \"true\"", where, resp.StatusCode),
			"check that WOPIBRIDGE_DOCS_URL is DS's base URL (with the path prefix, if a proxy serves DS below one)")
	}
	return pass("DS answers at %s (GET /healthcheck: true)", where)
}

// netFailure turns a failed HTTP call into a verdict that says what to do.
func netFailure(err error, what, setting, within string) result {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	switch {
	case isTimeout(err):
		return fail(fmt.Sprintf("no answer from %s within %s", what, within),
			"check the host and port in "+setting+", and that no firewall between this host and it drops the traffic")
	case errors.As(err, &dnsErr):
		return fail(fmt.Sprintf("cannot resolve %q, the host of %s", dnsErr.Name, what),
			"correct the host name in "+setting+" (from inside a container, use DS's service or container name, not localhost)")
	case errors.Is(err, syscall.ECONNREFUSED):
		return fail(fmt.Sprintf("%s refuses the connection", what),
			"nothing listens there: start ONLYOFFICE Docs, or correct the host or port in "+setting)
	case errors.As(err, &certErr):
		return fail(fmt.Sprintf("%s has a TLS certificate this host does not accept: %v", what, certErr.Err),
			"use the host name the certificate is for in "+setting+", and make this host trust its CA (system store, or SSL_CERT_FILE)")
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fail(fmt.Sprintf("%s speaks plain HTTP, not HTTPS", what), "use http:// in "+setting)
	}
	return fail(fmt.Sprintf("cannot reach %s: %v", what, err), "check "+setting)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// 3. clocks

func (c *checker) checkClock(context.Context) result {
	if c.dsDate.IsZero() {
		return skip("DS sent no Date header to compare with")
	}
	skew := c.dsDate.Sub(c.localDate)
	off := skew.Abs().Round(time.Second)
	if skew.Abs() <= maxClockSkew {
		return pass("DS's clock and this host's differ by %v (up to %v is fine)", off, maxClockSkew)
	}
	side := "ahead of"
	if skew < 0 {
		side = "behind"
	}
	return fail(fmt.Sprintf("DS's clock is %v %s this host's (DS's Date: %s)", off, side, c.dsDate.UTC().Truncate(time.Second).Format(time.RFC3339)),
		fmt.Sprintf("synchronise the clocks of both hosts (NTP: timedatectl set-ntp true, or chrony): JWTs are refused more than %v past their expiry and WOPI proofs older than 20 minutes", maxClockSkew))
}

// 4. discovery

func (c *checker) checkDiscovery(ctx context.Context) result {
	sctx, cancel, within := c.stepContext(ctx)
	defer cancel()
	// The fetch outlives a caller that stops waiting: bound it by the step's deadline.
	deadline, _ := sctx.Deadline()
	cache, err := wopiclient.NewDiscoveryCache(wopiclient.DiscoveryCacheOptions{
		URL: c.cfg.Docs.URL.String(), HTTP: c.client, FetchTimeout: max(time.Until(deadline), time.Millisecond),
	})
	if err != nil {
		return fail(err.Error(), "correct WOPIBRIDGE_DOCS_URL")
	}
	d, err := cache.Refresh(sctx)
	var de *wopiclient.DiscoveryError
	switch {
	case err == nil:
	case errors.Is(err, wopiclient.ErrWOPIDisabled):
		return fail(fmt.Sprintf("GET %s answers 404", cache.URL()),
			"WOPI is disabled in ONLYOFFICE Docs: set wopi.enable=true (Docker: WOPI_ENABLED=true), then restart DS")
	case errors.As(err, &de) && de.StatusCode == http.StatusOK:
		return fail(fmt.Sprintf("%s answers, but not with a WOPI discovery: %v", cache.URL(), de.Err),
			"WOPIBRIDGE_DOCS_URL must be ONLYOFFICE Docs' base URL, not a page or a login in front of it")
	case errors.As(err, &de) && (de.StatusCode == http.StatusForbidden || de.StatusCode == http.StatusUnauthorized):
		return fail(fmt.Sprintf("GET %s answers HTTP %d", cache.URL(), de.StatusCode),
			"DS's IP filter (services.CoAuthoring.ipfilter with useforrequest) or a proxy in front of DS refuses this host: admit it")
	case errors.As(err, &de) && de.StatusCode != 0:
		return fail(fmt.Sprintf("GET %s answers HTTP %d", cache.URL(), de.StatusCode), "see DS's logs (docker logs <ds container>)")
	default:
		return netFailure(err, cache.URL(), "WOPIBRIDGE_DOCS_URL", within)
	}
	c.discovery = d
	actions := 0
	for _, a := range d.Apps {
		actions += len(a.Actions)
	}
	return pass("%s: %d apps, %d actions, net-zone %s", cache.URL(), len(d.Apps), actions, d.NetZone)
}

// 5. proof keys

func (c *checker) checkProofKeys(context.Context) result {
	_, err := c.discovery.ProofKeys()
	require := c.cfg.Proof == config.ProofRequire
	switch {
	case err == nil && require:
		return pass("discovery publishes the current and the old proof key; WOPI requests are checked against them")
	case err == nil:
		return warn("discovery publishes proof keys, but WOPIBRIDGE_PROOF=off: WOPI requests are not checked against them",
			"set WOPIBRIDGE_PROOF=require")
	}
	missing := "discovery publishes no proof keys"
	if !errors.Is(err, wopiclient.ErrNoProofKey) {
		missing = fmt.Sprintf("discovery's proof keys are unusable: %v", err)
	}
	const configureDS = "configure DS's proof keys (wopi.privateKey, wopi.publicKey, wopi.modulus, wopi.exponent and their *Old twins; the Docker image generates them when WOPI_ENABLED=true)"
	if require {
		return fail(missing+", and WOPIBRIDGE_PROOF=require", configureDS+", or set WOPIBRIDGE_PROOF=off to accept WOPI requests unproven")
	}
	return warn(missing+"; WOPIBRIDGE_PROOF=off, so WOPI requests are accepted unproven", configureDS+", then set WOPIBRIDGE_PROOF=require")
}

// 6. JWT secret

const secretMismatch = "JWT secret mismatch: WOPIBRIDGE_DOCS_JWT_SECRET must equal DS's JWT secret (Docker: JWT_SECRET)"

func (c *checker) commandClient(signed bool) *docsapi.CommandClient {
	cc := &docsapi.CommandClient{BaseURL: c.cfg.Docs.URL, HTTP: c.client}
	if signed {
		cc.Secret, cc.Header = []byte(c.cfg.Docs.JWTSecret), c.cfg.Docs.JWTHeader
	}
	return cc
}

func (c *checker) checkJWT(ctx context.Context) result {
	sctx, cancel, within := c.stepContext(ctx)
	defer cancel()
	secretSet := c.cfg.Docs.JWTSecret != ""
	version, err := c.commandClient(secretSet).Version(sctx)
	var ce *docsapi.CommandError
	switch {
	case err == nil:
	case errors.As(err, &ce) && ce.Code == docsapi.CommandTokenInvalid && !secretSet:
		return fail("DS refuses unsigned commands (error 6): its JWT is on, but WOPIBRIDGE_DOCS_JWT_SECRET is empty",
			"set WOPIBRIDGE_DOCS_JWT_SECRET to DS's JWT secret (Docker: JWT_SECRET; local.json: services.CoAuthoring.secret.inbox.string)")
	case errors.As(err, &ce) && ce.Code == docsapi.CommandTokenInvalid:
		return fail("DS refuses the signed version command (error 6: token invalid)", secretMismatch)
	case errors.As(err, &ce) && ce.Code == docsapi.CommandTokenExpired:
		return fail("DS says the token has expired (error 7)",
			"the clocks of DS and this host are minutes apart: synchronise them (NTP)")
	case errors.As(err, &ce):
		return fail(fmt.Sprintf("DS answers the version command with error %d (%s)", int(ce.Code), ce.Code), "see DS's logs")
	default:
		return serviceFailure(err, "command", c.cfg.Docs.URL, within)
	}
	if !secretSet {
		return warn(fmt.Sprintf("DS %s accepts unsigned commands: JWT is off in DS and in the bridge", version),
			"before others can reach DS or the bridge, turn JWT on in DS (Docker: JWT_ENABLED=true, JWT_SECRET) and set the same secret in WOPIBRIDGE_DOCS_JWT_SECRET")
	}
	// A DS with JWT off accepts the signed command too: see whether it needs the token.
	if _, err := c.commandClient(false).Version(sctx); err == nil {
		return fail(fmt.Sprintf("DS %s accepts commands without a token: its JWT is off, but WOPIBRIDGE_DOCS_JWT_SECRET is set, so the bridge would refuse DS's unsigned callbacks and downloads", version),
			"turn JWT on in DS with the same secret (Docker: JWT_ENABLED=true and JWT_SECRET), or leave WOPIBRIDGE_DOCS_JWT_SECRET empty (loopback only)")
	}
	return pass("DS %s accepts tokens signed with WOPIBRIDGE_DOCS_JWT_SECRET (in the body and the %s header)", version, c.cfg.Docs.JWTHeader)
}

// serviceFailure turns a failed call to DS's command or conversion service into a
// verdict.
func serviceFailure(err error, service string, base *url.URL, within string) result {
	var se *docsapi.ServiceError
	if !errors.As(err, &se) {
		return fail(err.Error(), "")
	}
	switch {
	case se.StatusCode == 0:
		return netFailure(se.Err, "DS's "+service+" service at "+base.Redacted(), "WOPIBRIDGE_DOCS_URL", within)
	case se.StatusCode == http.StatusNotFound:
		return fail(fmt.Sprintf("no %s service at %s (HTTP 404)", service, base.Redacted()),
			"WOPIBRIDGE_DOCS_URL must be DS's base URL, the one that serves /hosting/discovery, /command and /converter")
	case se.StatusCode == http.StatusForbidden || se.StatusCode == http.StatusUnauthorized:
		return fail(fmt.Sprintf("DS's %s service answers HTTP %d", service, se.StatusCode),
			"DS's IP filter (services.CoAuthoring.ipfilter with useforrequest) or a proxy in front of DS refuses this host: admit it")
	case se.Err != nil:
		return fail(fmt.Sprintf("DS's %s service answers HTTP %d with something that is not JSON", service, se.StatusCode),
			"WOPIBRIDGE_DOCS_URL must point at ONLYOFFICE Docs itself")
	}
	return fail(fmt.Sprintf("DS's %s service answers HTTP %d", service, se.StatusCode), "see DS's logs (docker logs <ds container>)")
}

// 7. DS downloads from the bridge

func (c *checker) checkDownload(ctx context.Context) result {
	site, r, opened := c.openProbe(ctx)
	if !opened {
		return r
	}
	defer site.close()
	run := rand.Text() // this run's probe URL: the server notes what DS sent with it
	probe := site.public.JoinPath(bridge.ProbePath).String()
	c.probeURL = probe

	req := docsapi.ConvertRequest{
		FileType:   "txt",
		OutputType: "docx",
		Key:        "wopibridge-check-" + rand.Text(), // never a result DS has cached
		Title:      "probe.txt",
		URL:        probe + "?check=" + run,
	}
	_, err := c.commandClient(c.cfg.Docs.JWTSecret != "").Convert(ctx, req)
	c.probeToken = site.report(ctx, run)
	site.close()
	requests := c.probeToken.Requests

	var ce *docsapi.ConvertError
	switch {
	case err == nil:
	case errors.As(err, &ce) && ce.Code == docsapi.ConvertDownload && requests > 0:
		return fail(fmt.Sprintf("DS requested %s but reports a failed download (error -4)", probe),
			"see DS's converter log (Docker: /var/log/onlyoffice/documentserver/converter/out.log)")
	case errors.As(err, &ce) && ce.Code == docsapi.ConvertDownload:
		return fail(fmt.Sprintf("DS could not download %s (error -4)", probe), c.unreachableHint(site))
	case errors.As(err, &ce) && ce.Code == docsapi.ConvertToken:
		return fail("DS refuses the signed conversion request (error -8: token invalid or expired)",
			secretMismatch+", and the clocks must agree")
	case errors.As(err, &ce) && (ce.Code == docsapi.ConvertFailed || ce.Code == docsapi.ConvertUnknownType):
		// Downloaded, then the conversion failed: the convert check says so.
		c.convertErr = err
	case errors.As(err, &ce):
		return fail(fmt.Sprintf("DS answers the conversion of %s with error %d (%s)", probe, int(ce.Code), ce.Code),
			"see DS's converter log (Docker: /var/log/onlyoffice/documentserver/converter/out.log)")
	case isTimeout(err) && site.self && requests == 0:
		return fail(fmt.Sprintf("DS did not download %s before --timeout=%v ran out, and never requested it", probe, c.timeout),
			c.unreachableHint(site))
	case isTimeout(err) && requests > 0:
		c.convertErr = err
	case isTimeout(err):
		return fail(fmt.Sprintf("DS did not finish converting %s before --timeout=%v ran out", probe, c.timeout),
			"raise --timeout, or see DS's converter log (Docker: /var/log/onlyoffice/documentserver/converter/out.log)")
	default:
		return serviceFailure(err, "conversion", c.cfg.Docs.URL, "--timeout="+c.timeout.String())
	}
	return pass("DS downloaded %s (%s)", probe, site.describe())
}

// outboxSetting names the setting DS's outbox secret is taken from.
func (c *checker) outboxSetting() string {
	if c.cfg.Docs.JWTOutboxSecret != "" {
		return "WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET"
	}
	return "WOPIBRIDGE_DOCS_JWT_SECRET"
}

// 8. DS signs what it sends with the secret the bridge checks it with

func (c *checker) checkOutbox(context.Context) result {
	header := c.cfg.Docs.JWTHeader
	setting := c.outboxSetting()
	const outboxHint = "set WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET to DS's outbox secret (local.json: services.CoAuthoring.secret.outbox.string), or make DS's inbox and outbox secrets equal (Docker's JWT_SECRET sets both)"
	switch c.probeToken.Token {
	case "":
		return skip("the wopibridge serving the probe does not report what DS sent with it (an older version?): stop it and run check again")
	case bridge.ProbeTokenUnchecked:
		return skip("JWT is off in the bridge (WOPIBRIDGE_DOCS_JWT_SECRET is empty): DS's downloads and callbacks are not checked")
	case bridge.ProbeTokenVerified:
		return pass("DS signs its downloads (and callbacks) in %s with the secret in %s", header, setting)
	case bridge.ProbeTokenWrongSecret:
		return fail(fmt.Sprintf("the token DS sent in %s with the download does not verify with %s: the bridge would refuse every document download and callback", header, setting), outboxHint)
	case bridge.ProbeTokenExpired:
		return fail(fmt.Sprintf("the token DS sent in %s with the download has expired", header),
			"the clocks of DS and this host are minutes apart: synchronise them (NTP)")
	case bridge.ProbeTokenOtherHeader:
		h := c.probeToken.Header
		return fail(fmt.Sprintf("DS sent its token in %s, while the bridge reads WOPIBRIDGE_DOCS_JWT_HEADER=%s", h, header),
			fmt.Sprintf("set WOPIBRIDGE_DOCS_JWT_HEADER=%s, or set DS's header to %s (Docker: JWT_HEADER)", h, header))
	}
	if c.cfg.Docs.JWTSecret == "" {
		return pass("DS sends its downloads unsigned, and JWT is off in the bridge")
	}
	return fail(fmt.Sprintf("DS sent no token with the download, but %s is set: the bridge would refuse every document download and callback", setting),
		"turn on DS's outbox JWT (local.json: services.CoAuthoring.token.enable.request.outbox=true; Docker: JWT_ENABLED=true)")
}

// 9. DS converts

func (c *checker) checkConvert(context.Context) result {
	var ce *docsapi.ConvertError
	switch {
	case c.convertErr == nil:
		return pass("DS converted the probe to docx: its converter works")
	case errors.As(c.convertErr, &ce):
		return fail(fmt.Sprintf("DS downloaded the probe, but its converter failed (error %d: %s)", int(ce.Code), ce.Code),
			"DS cannot open documents either: see its converter log (Docker: /var/log/onlyoffice/documentserver/converter/out.log); the download itself works")
	}
	return fail(fmt.Sprintf("DS downloaded the probe, but did not finish converting it before --timeout=%v ran out", c.timeout),
		"raise --timeout, or see DS's converter log (Docker: /var/log/onlyoffice/documentserver/converter/out.log)")
}

func (c *checker) unreachableHint(site *probeSite) string {
	h := fmt.Sprintf("DS cannot download from WOPIBRIDGE_PUBLIC_URL=%s: make it an address DS can reach (not 127.0.0.1 when DS runs in Docker)", site.public.Redacted())
	if c.cfg.PublicURLDerived() {
		h += "; it is not set, and was derived from WOPIBRIDGE_LISTEN"
	}
	if c.cfg.Docs.JWTSecret == "" {
		h += "; with its JWT off, DS also refuses private and loopback addresses unless it runs with ALLOW_PRIVATE_IP_ADDRESS=true"
	}
	if !site.self && len(c.cfg.IPFilter) > 0 {
		h += "; WOPIBRIDGE_IPFILTER must admit DS"
	}
	return h
}

// probeSite is where DS is sent for the probe: this check's own listener, when
// nothing listened on the configured address, or the server listening there.
type probeSite struct {
	public *url.URL // WOPIBRIDGE_PUBLIC_URL, or the address bound when it follows a :0 listen address
	self   bool     // this check serves the probe
	addr   string   // the address served on
	probe  *bridge.Probe
	client *http.Client
	srv    *http.Server
	once   sync.Once
}

func (c *checker) openProbe(ctx context.Context) (*probeSite, result, bool) {
	ln, err := net.Listen("tcp", c.cfg.Listen)
	if err == nil {
		probe := bridge.NewProbe(c.cfg.Docs.JWTHeader, []byte(c.cfg.Docs.OutboxSecret()))
		mux := http.NewServeMux()
		mux.Handle(bridge.ProbePath, probe)
		site := &probeSite{public: c.cfg.PublicURL, self: true, addr: ln.Addr().String(), probe: probe,
			srv: &http.Server{Handler: mux, ReadHeaderTimeout: stepTimeout}}
		if c.cfg.PublicURLDerived() {
			// A :0 listen address picks a port: the derived public URL follows it, as in serve.
			site.public = &url.URL{Scheme: "http", Host: site.addr}
		}
		go site.srv.Serve(ln)
		return site, result{}, true
	}

	// The address is taken (or cannot be bound here): rely on a server there, if it is
	// a wopibridge serving the probe.
	sctx, cancel, within := c.stepContext(ctx)
	defer cancel()
	local := "http://" + dialAddress(c.cfg.Listen) + bridge.ProbePath
	req, rerr := http.NewRequestWithContext(sctx, http.MethodGet, local, nil)
	if rerr != nil {
		return nil, fail(fmt.Sprintf("cannot listen on WOPIBRIDGE_LISTEN=%s to serve the probe: %v", c.cfg.Listen, err), "correct WOPIBRIDGE_LISTEN"), false
	}
	resp, rerr := c.client.Do(req)
	if rerr != nil {
		r := netFailure(rerr, local, "WOPIBRIDGE_LISTEN", within)
		return nil, fail(fmt.Sprintf("cannot listen on WOPIBRIDGE_LISTEN=%s to serve the probe (%v), and no server answers there (%s)", c.cfg.Listen, unwrapOp(err), r.detail),
			"run check where wopibridge runs (the same host or container), or start wopibridge serve with this configuration first"), false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, int64(len(bridge.ProbeContent))+1))
	if resp.StatusCode == http.StatusForbidden {
		return nil, fail(fmt.Sprintf("the server listening on WOPIBRIDGE_LISTEN=%s refuses the probe to this host (GET %s: HTTP 403)", c.cfg.Listen, bridge.ProbePath),
			"make its WOPIBRIDGE_IPFILTER admit this host and DS, or stop it and run check again"), false
	}
	if resp.StatusCode != http.StatusOK || string(body) != bridge.ProbeContent {
		return nil, fail(fmt.Sprintf("WOPIBRIDGE_LISTEN=%s is taken by a server that does not serve the probe (GET %s: HTTP %d)", c.cfg.Listen, bridge.ProbePath, resp.StatusCode),
			"it is another program or an older wopibridge: stop it (or upgrade it), or set WOPIBRIDGE_LISTEN to this wopibridge's address, and run check again"), false
	}
	return &probeSite{public: c.cfg.PublicURL, addr: c.cfg.Listen, client: c.client}, result{}, true
}

func (s *probeSite) describe() string {
	if s.self {
		return "served by this check on " + s.addr + ", as no server was listening there"
	}
	return "served by the wopibridge already listening on " + s.addr
}

// close stops this check's listener, if it has one.
func (s *probeSite) close() {
	if s.srv == nil {
		return
	}
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if s.srv.Shutdown(ctx) != nil {
			s.srv.Close()
		}
	})
}

// report is what DS did with run's probe URL: from this check's own probe, or asked of
// the wopibridge serving it (Token empty when it cannot say).
func (s *probeSite) report(ctx context.Context, run string) bridge.ProbeReport {
	if s.probe != nil {
		return s.probe.Report(run)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stepTimeout)
	defer cancel()
	local := "http://" + dialAddress(s.addr) + bridge.ProbePath + "?report=" + run
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, local, nil)
	if err != nil {
		return bridge.ProbeReport{}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return bridge.ProbeReport{}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	r, err := bridge.ParseProbeReport(string(body))
	if resp.StatusCode != http.StatusOK || err != nil {
		return bridge.ProbeReport{}
	}
	return r
}

// dialAddress turns a listen address into one to connect to.
func dialAddress(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch ip := net.ParseIP(host); {
	case host == "" || ip != nil && ip.Equal(net.IPv4zero):
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// unwrapOp drops the "listen tcp addr:" prefix a *net.OpError adds.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
