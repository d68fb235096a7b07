package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Keys of the settings whose defaults are derived from others.
const (
	keyPublicURL     = "public_url"
	keyDocsPublicURL = "docs_public_url"
	keyState         = "state"
	keyProof         = "proof"
)

// setting is one configuration setting: its names in the three sources and how its
// text becomes a field.
type setting struct {
	key    string // JSON name; the environment variable and flag are derived from it
	usage  string // with the placeholder in backquotes, as package flag reads it
	def    string // the default, for help
	secret bool   // may also be given as <NAME>_FILE
	list   bool   // a JSON array of strings is accepted and joined with commas
	number bool   // a JSON number is accepted
	// apply stores the text in c. Empty text is passed on too: for derived settings it
	// means "derive".
	apply func(c *Config, v string) error
}

func (s setting) env() string  { return "WOPIBRIDGE_" + strings.ToUpper(s.key) }
func (s setting) flag() string { return strings.ReplaceAll(s.key, "_", "-") }

// settings lists every setting in the order they are documented and reported.
var settings = []setting{
	{key: "listen", usage: "`host:port` to listen on", def: DefaultListen, apply: func(c *Config, v string) error {
		c.Listen = strings.TrimSpace(v)
		return nil
	}},
	{key: keyPublicURL, usage: "the bridge's base `URL` as DS and browsers reach it", def: "http:// + listen address", apply: func(c *Config, v string) (err error) {
		c.PublicURL, err = parseBaseURL(v)
		return err
	}},
	{key: "docs_url", usage: "DS base `URL` as the bridge reaches it", def: "none", apply: func(c *Config, v string) (err error) {
		c.Docs.URL, err = parseBaseURL(v)
		return err
	}},
	{key: keyDocsPublicURL, usage: "DS base `URL` as browsers reach it", def: "docs-url", apply: func(c *Config, v string) (err error) {
		c.Docs.PublicURL, err = parseBaseURL(v)
		return err
	}},
	{key: "docs_jwt_secret", secret: true, usage: "DS's shared JWT `secret`", def: "none: JWT off, loopback only", apply: func(c *Config, v string) error {
		c.Docs.JWTSecret = v
		return nil
	}},
	{key: "docs_jwt_header", usage: "`header` DS puts its JWT in", def: DefaultJWTHeader, apply: func(c *Config, v string) error {
		c.Docs.JWTHeader = strings.TrimSpace(v)
		return nil
	}},
	{key: "docs_jwt_outbox_secret", secret: true, usage: "the `secret` DS signs callbacks and downloads with (its outbox secret), when it differs from docs-jwt-secret", def: "docs-jwt-secret", apply: func(c *Config, v string) error {
		c.Docs.JWTOutboxSecret = v
		return nil
	}},
	{key: "launch_secret", secret: true, usage: "`secret` the integrator signs launch tokens with", def: "none: demo mode, loopback only", apply: func(c *Config, v string) error {
		c.LaunchSecret = v
		return nil
	}},
	{key: "storage", usage: "where documents live (`storage`): fs:<dir> or wopi:<origin>[,<origin>...]", def: DefaultStorage, apply: func(c *Config, v string) (err error) {
		s, err := ParseStorage(v)
		if err == nil {
			c.Storage = s
		}
		return err
	}},
	{key: keyState, usage: "where sessions, locks and spooled saves live (`store`): bolt:<file>, redis://host:port/db, redis-sentinel://host:port,host:port/db?master=name or redis-cluster://host:port,host:port", def: "bolt file " + StateFile + " in the fs directory, or in the working directory", apply: func(c *Config, v string) error {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		s, err := ParseState(v)
		if err == nil {
			c.State = s
		}
		return err
	}},
	{key: "secret", secret: true, usage: "the bridge's own signing `key`", def: "generated once and kept in the state store", apply: func(c *Config, v string) error {
		c.Secret = v
		return nil
	}},
	{key: keyProof, usage: "`mode`: require or off, to check WOPI proof keys against DS discovery", def: "require when docs-url is set", apply: func(c *Config, v string) error {
		c.Proof = ProofMode(strings.ToLower(strings.TrimSpace(v)))
		return nil
	}},
	{key: "token_ttl", usage: "`lifetime` of the WOPI access tokens the bridge mints (a Go duration)", def: "10h", apply: func(c *Config, v string) error {
		d, err := parseDuration(v)
		if err == nil {
			c.TokenTTL = d
		}
		return err
	}},
	{key: "ipfilter", list: true, usage: "ordered `rules` pattern=allow|deny, comma separated, * wildcard, first match wins", def: "allow all", apply: func(c *Config, v string) error {
		f, err := ParseIPFilter(v)
		if err == nil {
			c.IPFilter = f
		}
		return err
	}},
	{key: "log_level", usage: "log `level`: panic, fatal, error, warn, info, debug or trace", def: DefaultLogLevel, apply: func(c *Config, v string) error {
		c.Log.Level = strings.ToLower(strings.TrimSpace(v))
		return nil
	}},
	{key: "log_format", usage: "log `format`: text or json", def: DefaultLogFormat, apply: func(c *Config, v string) error {
		c.Log.Format = strings.ToLower(strings.TrimSpace(v))
		return nil
	}},
	{key: "max_file_size", number: true, usage: "largest document `size` accepted: bytes, or a unit as in 512MB, 100MiB, 1GiB", def: "1GiB", apply: func(c *Config, v string) error {
		n, err := ParseSize(v)
		if err == nil {
			c.MaxFileSize = n
		}
		return err
	}},
	{key: "shutdown_timeout", usage: "how long a graceful shutdown may take (a Go `duration`)", def: DefaultShutdownTimeout.String(), apply: func(c *Config, v string) error {
		d, err := parseDuration(v)
		if err == nil {
			c.ShutdownTimeout = d
		}
		return err
	}},
	{key: "frame_ancestors", usage: "`origins` allowed to frame the bridge's pages (CSP frame-ancestors sources, space separated)", def: DefaultFrameAncestors, apply: func(c *Config, v string) error {
		c.FrameAncestors = strings.Join(strings.Fields(strings.ReplaceAll(v, ",", " ")), " ")
		return nil
	}},
	{key: "admin_listen", usage: "separate `host:port` for /metrics, /readyz and /healthz (then not served on the main address)", def: "none: served on the main address", apply: func(c *Config, v string) error {
		c.AdminListen = strings.TrimSpace(v)
		return nil
	}},
	{key: "max_connections", number: true, usage: "most `connections` the main listener holds at once", def: strconv.Itoa(DefaultMaxConnections), apply: func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number (use e.g. 4096)", v)
		}
		c.MaxConnections = n
		return nil
	}},
}

func init() { settings = append(settings, appSettings...) }

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (use e.g. 10h, 90m or 30s)", v)
	}
	return d, nil
}

// envName is the environment variable of a setting key.
func envName(key string) string { return setting{key: key}.env() }
