package config

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// MaxTokenTTL bounds WOPIBRIDGE_TOKEN_TTL: an access token that outlives a week is as
// good as a password.
const MaxTokenTTL = 7 * 24 * time.Hour

// minSecretLen is the length below which a signing key draws a warning.
const minSecretLen = 32

var logLevels = map[string]bool{
	"panic": true, "fatal": true, "error": true, "warn": true, "warning": true,
	"info": true, "debug": true, "trace": true,
}

// Validate reports every problem of the configuration in one error (nil if none);
// each names the variable and says what to do.
func (c *Config) Validate() error {
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf(envName(key)+": "+format, args...))
	}

	host, err := parseListen(c.Listen)
	listenOK := err == nil
	if err != nil {
		fail("listen", "%v", err)
	}
	loopback := listenOK && isLoopback(host)

	const setPublic = "set WOPIBRIDGE_PUBLIC_URL to the URL DS and browsers reach the bridge at"
	switch {
	case c.PublicURL == nil && c.publicURLDerived:
		fail(keyPublicURL, "not set, and http://%s derived from %s is not a URL (%s)", c.Listen, envName("listen"), setPublic)
	case c.PublicURL == nil:
		fail(keyPublicURL, "not set (%s)", setPublic)
	default:
		if err := checkBaseURL(c.PublicURL); err != nil {
			if c.publicURLDerived {
				fail(keyPublicURL, "not set, and the URL derived from %s is unusable: %v (%s)", envName("listen"), err, setPublic)
			} else {
				fail(keyPublicURL, "%v (%s)", err, urlHint)
			}
		}
	}
	if c.Docs.URL != nil {
		if err := checkBaseURL(c.Docs.URL); err != nil {
			fail("docs_url", "%v (%s)", err, urlHint)
		}
	}
	if c.Docs.PublicURL != nil && (c.Docs.URL == nil || c.Docs.PublicURL.String() != c.Docs.URL.String()) {
		if err := checkBaseURL(c.Docs.PublicURL); err != nil {
			fail(keyDocsPublicURL, "%v (%s)", err, urlHint)
		}
	}
	if !isToken(c.Docs.JWTHeader) {
		fail("docs_jwt_header", "%q is not a header name (use %s, the DS default, or the name set in DS's services.CoAuthoring.token.inbox.header)", c.Docs.JWTHeader, DefaultJWTHeader)
	}

	switch c.Storage.Kind {
	case StorageFS:
		if c.Storage.Dir == "" {
			fail("storage", "fs: needs a directory (use fs:<dir>, e.g. fs:./data)")
		}
	case StorageWOPI:
		if len(c.Storage.Origins) == 0 {
			fail("storage", "wopi: needs at least one upstream origin (use wopi:https://wopi.example.com[,<origin>...])")
		}
		for _, o := range c.Storage.Origins {
			if err := checkOrigin(o); err != nil {
				fail("storage", "%v", err)
			}
		}
	default:
		fail("storage", "unknown scheme %q (%s)", c.Storage.Kind, storageHint)
	}

	switch c.State.Kind {
	case StateBolt:
		if c.State.Path == "" {
			fail(keyState, "bolt: needs a file (use bolt:<file>)")
		}
	case StateRedis:
		if err := checkRedisURL(c.State.RedisURL); err != nil {
			fail(keyState, "%v", err)
		}
	default:
		fail(keyState, "unknown scheme %q (%s)", c.State.Kind, stateHint)
	}

	switch c.Proof {
	case ProofRequire:
		if c.Docs.URL == nil {
			fail(keyProof, "require needs %s, where the proof keys are read from discovery (set %s, or set %s=off)", envName("docs_url"), envName("docs_url"), envName(keyProof))
		}
	case ProofOff:
	default:
		fail(keyProof, "%q is neither require nor off (use require, or off to skip proof-key checks)", c.Proof)
	}

	if c.TokenTTL <= 0 || c.TokenTTL > MaxTokenTTL {
		fail("token_ttl", "%v is out of range (use a duration above 0 and at most %v, e.g. 10h)", c.TokenTTL, MaxTokenTTL)
	}
	for _, r := range c.IPFilter {
		if err := checkPattern(r.Pattern); err != nil {
			fail("ipfilter", "%v (%s)", err, ipfilterHint)
		}
	}
	if !logLevels[c.Log.Level] {
		fail("log_level", "%q is not a level (use panic, fatal, error, warn, info, debug or trace)", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		fail("log_format", "%q is not a format (use text or json)", c.Log.Format)
	}
	if c.MaxFileSize <= 0 {
		fail("max_file_size", "%d is not a size above 0 (use e.g. 100MiB or 1GiB)", c.MaxFileSize)
	}
	c.App.validate(fail)
	c.Events.validate(fail)
	if c.ShutdownTimeout <= 0 {
		fail("shutdown_timeout", "%v is not a duration above 0 (use e.g. 30s)", c.ShutdownTimeout)
	}

	if c.Docs.JWTOutboxSecret != "" && c.Docs.JWTSecret == "" {
		fail("docs_jwt_outbox_secret", "is set but %s is empty: set %s to DS's inbox secret (services.CoAuthoring.secret.inbox in DS's local.json), which DS checks editor configs and commands with", envName("docs_jwt_secret"), envName("docs_jwt_secret"))
	}
	if c.FrameAncestors == "" {
		fail("frame_ancestors", "empty (use 'self', 'none', or the origins that embed the bridge's pages, e.g. 'self' https://portal.example.com)")
	}
	for _, src := range strings.Fields(c.FrameAncestors) {
		if err := checkFrameSource(src); err != nil {
			fail("frame_ancestors", "%v (use 'self', 'none', or origins such as https://portal.example.com, space separated)", err)
		}
	}
	if c.AdminListen != "" {
		if _, err := parseListen(c.AdminListen); err != nil {
			fail("admin_listen", "%v", err)
		} else if c.AdminListen == c.Listen {
			fail("admin_listen", "%q is the main listen address too (use another port, or leave it empty)", c.AdminListen)
		}
	}
	if c.MaxConnections < 16 {
		fail("max_connections", "%d is too low (use at least 16; the default is %d)", c.MaxConnections, DefaultMaxConnections)
	}
	if msg := c.stateInStorage(); msg != "" {
		fail(keyState, "%s", msg)
	}

	if listenOK && !loopback {
		if c.DemoMode() {
			fail("launch_secret", "empty (demo mode) is allowed only when %s is a loopback address, and it is %q (set %s, or listen on 127.0.0.1)", envName("listen"), c.Listen, envName("launch_secret"))
		}
		if c.Docs.URL != nil && c.Docs.JWTSecret == "" {
			fail("docs_jwt_secret", "empty (JWT off) is allowed only when %s is a loopback address, and it is %q (set it to DS's JWT secret: services.CoAuthoring.secret in DS's local.json, or JWT_SECRET of the DS container)", envName("listen"), c.Listen)
		}
	}
	return errors.Join(errs...)
}

// stateInStorage says why a bolt state file inside the fs storage directory would be
// served as a document ("" when it is not). Directly in the storage directory it is
// hidden (the default), as is anything below a dot-named folder; anywhere else below the
// storage directory it would be listed and served, signing key and all.
func (c *Config) stateInStorage() string {
	if c.State.Kind != StateBolt || c.Storage.Kind != StorageFS || c.State.Path == "" || c.Storage.Dir == "" {
		return ""
	}
	root, err1 := realPath(c.Storage.Dir)
	dir, err2 := realPath(filepath.Dir(c.State.Path))
	if err1 != nil || err2 != nil {
		return ""
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return ""
	}
	for _, el := range strings.Split(rel, string(filepath.Separator)) {
		if strings.HasPrefix(el, ".") {
			return "" // below a hidden folder
		}
	}
	return fmt.Sprintf("the state file %s is inside the storage directory %s, in the folder %s, where it would be listed and served as a document (with the bridge's signing key): keep it outside the storage directory (e.g. bolt:/var/lib/wopibridge/%s), directly in it, or in a folder whose name starts with a dot", c.State.Path, c.Storage.Dir, rel, StateFile)
}

// realPath is path made absolute, with the symbolic links of its longest existing
// prefix resolved (the state file's directory may not exist yet).
func realPath(p string) (string, error) {
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(append([]string{p}, rest...)...), nil
		}
		rest = append([]string{filepath.Base(p)}, rest...)
		p = parent
	}
}

// checkFrameSource accepts a CSP source expression for frame-ancestors: a keyword,
// scheme, or host source, without characters that would end the directive.
func checkFrameSource(src string) error {
	switch strings.ToLower(src) {
	case "'self'", "'none'":
		return nil
	}
	if strings.ContainsAny(src, ";,'\"\\") || strings.ContainsFunc(src, func(r rune) bool { return r <= 0x20 || r >= 0x7f }) {
		return fmt.Errorf("%q is not a source: quote only 'self' or 'none'", src)
	}
	if strings.HasSuffix(src, ":") {
		return nil // a scheme source such as https:
	}
	if u, err := url.Parse(src); err != nil || (u.Scheme != "" && u.Host == "" && !strings.HasPrefix(src, "*")) {
		return fmt.Errorf("%q is not an origin such as https://portal.example.com", src)
	}
	return nil
}

// Warnings lists what is allowed but deserves a warning at start, such as demo mode or
// DS without JWT on a loopback address.
func (c *Config) Warnings() []string {
	var w []string
	host, err := parseListen(c.Listen)
	listenOK := err == nil
	if c.DemoMode() {
		w = append(w, fmt.Sprintf("%s is empty: demo mode, every visitor acts as the demo user (set %s before others can reach the bridge)", envName("launch_secret"), envName("launch_secret")))
		if c.PublicURL != nil && !c.publicURLDerived && !isLoopback(c.PublicURL.Hostname()) {
			w = append(w, fmt.Sprintf("demo mode while %s is %s: if a proxy forwards that URL to the bridge, anyone reaching it acts as the demo user (set %s)", envName(keyPublicURL), c.PublicURL.Redacted(), envName("launch_secret")))
		}
	}
	if c.Docs.URL == nil {
		w = append(w, fmt.Sprintf("%s is empty: no Document Server is configured, so documents cannot be opened in an editor", envName("docs_url")))
		if c.Docs.PublicURL != nil && (c.Docs.URL == nil || c.Docs.PublicURL.String() != c.Docs.URL.String()) {
			w = append(w, fmt.Sprintf("%s is set but %s is not: set %s too", envName(keyDocsPublicURL), envName("docs_url"), envName("docs_url")))
		}
	} else {
		if c.Docs.JWTSecret == "" {
			w = append(w, fmt.Sprintf("%s is empty: JWT is off, requests claiming to come from DS are not authenticated (set it to DS's JWT secret)", envName("docs_jwt_secret")))
		}
		if c.Proof == ProofOff {
			w = append(w, fmt.Sprintf("%s=off: WOPI requests are not checked to come from DS (use require)", envName(keyProof)))
		}
	}
	for _, s := range []struct{ key, value string }{{"launch_secret", c.LaunchSecret}, {"secret", c.Secret}} {
		if s.value != "" && len(s.value) < minSecretLen {
			w = append(w, fmt.Sprintf("%s is shorter than %d bytes: use a long random value, e.g. from openssl rand -hex 32", envName(s.key), minSecretLen))
		}
	}
	if listenOK && c.publicURLDerived && isUnspecified(host) && c.PublicURL != nil && c.PublicURL.Hostname() != "" {
		w = append(w, fmt.Sprintf("%s is not set and was derived from %s as %s, which other machines cannot reach (set %s)", envName(keyPublicURL), envName("listen"), c.PublicURL, envName(keyPublicURL)))
	}
	if len(c.IPFilter) > 0 && !anyAllow(c.IPFilter) {
		w = append(w, fmt.Sprintf("%s only denies: addresses no rule matches are denied too, so every request is refused (end it with *=allow)", envName("ipfilter")))
	}
	return w
}

func anyAllow(f IPFilter) bool {
	for _, r := range f {
		if r.Allow {
			return true
		}
	}
	return false
}

// isToken reports whether s is an HTTP header name (an RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c != 0 && c < 0x7f && isTokenPunct(c)) {
			return false
		}
	}
	return true
}

func isTokenPunct(c byte) bool {
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
