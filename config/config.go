// Package config is wopibridge's configuration: one typed struct, its defaults, loading
// from a JSON file, the environment and flags (in that order of precedence), and
// validation that reports every problem at once.
//
// Every setting has a JSON name, an environment variable and a flag:
//
//	JSON name          environment variable          flag
//	listen             WOPIBRIDGE_LISTEN             --listen
//	public_url         WOPIBRIDGE_PUBLIC_URL         --public-url
//	docs_url           WOPIBRIDGE_DOCS_URL           --docs-url
//	docs_public_url    WOPIBRIDGE_DOCS_PUBLIC_URL    --docs-public-url
//	docs_jwt_secret    WOPIBRIDGE_DOCS_JWT_SECRET    --docs-jwt-secret
//	docs_jwt_header    WOPIBRIDGE_DOCS_JWT_HEADER    --docs-jwt-header
//	docs_jwt_outbox_secret WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET --docs-jwt-outbox-secret
//	launch_secret      WOPIBRIDGE_LAUNCH_SECRET      --launch-secret
//	storage            WOPIBRIDGE_STORAGE            --storage
//	state              WOPIBRIDGE_STATE              --state
//	secret             WOPIBRIDGE_SECRET             --secret
//	proof              WOPIBRIDGE_PROOF              --proof
//	token_ttl          WOPIBRIDGE_TOKEN_TTL          --token-ttl
//	ipfilter           WOPIBRIDGE_IPFILTER           --ipfilter
//	log_level          WOPIBRIDGE_LOG_LEVEL          --log-level
//	log_format         WOPIBRIDGE_LOG_FORMAT         --log-format
//	max_file_size      WOPIBRIDGE_MAX_FILE_SIZE      --max-file-size
//	shutdown_timeout   WOPIBRIDGE_SHUTDOWN_TIMEOUT   --shutdown-timeout
//	frame_ancestors    WOPIBRIDGE_FRAME_ANCESTORS    --frame-ancestors
//	admin_listen       WOPIBRIDGE_ADMIN_LISTEN       --admin-listen
//	max_connections    WOPIBRIDGE_MAX_CONNECTIONS    --max-connections
//	events_max         WOPIBRIDGE_EVENTS_MAX         --events-max
//	events_max_age     WOPIBRIDGE_EVENTS_MAX_AGE     --events-max-age
//
// The secrets may instead be read from a file: docs_jwt_secret_file,
// WOPIBRIDGE_DOCS_JWT_SECRET_FILE, --docs-jwt-secret-file, and likewise for the others
// (a trailing newline is dropped). Giving a secret and its file in the same source is
// an error. A secret given as a flag shows in the process list; prefer the file form.
//
// The JSON file, named by WOPIBRIDGE_CONFIG or --config, is one object of settings
// whose values are written as in the environment: strings, except that max_file_size
// may be a number of bytes and ipfilter an array of rules. An unknown field is an
// error. Relative paths, in the file as elsewhere, are relative to the working
// directory. An empty environment variable counts as unset.
//
// The package only reads: it never logs and never touches the network.
package config

import (
	"net/url"
	"path/filepath"
	"time"
)

// Config is the whole configuration. Load fills it; Validate checks it. Each section
// is meant to be handed to the constructor that needs it.
type Config struct {
	// Listen is the host:port the server listens on.
	Listen string
	// PublicURL is the bridge's base URL as DS and browsers reach it, without a
	// trailing slash. When not configured it is http:// + Listen (see PublicURLDerived).
	PublicURL *url.URL

	Docs DocsConfig

	// LaunchSecret signs the integrator's launch tokens. Empty means demo mode.
	LaunchSecret string

	Storage StorageConfig
	State   StateConfig

	// Secret is the bridge's own signing key. Empty means: generated once and kept in
	// the state store.
	Secret string

	// Proof says whether WOPI proof keys are checked against DS discovery.
	Proof ProofMode
	// TokenTTL is the lifetime of the WOPI access tokens the bridge mints.
	TokenTTL time.Duration
	// IPFilter restricts the WOPI and DS-facing requests; empty allows all.
	IPFilter IPFilter

	Log LogConfig

	// MaxFileSize is the largest document body the bridge accepts, in bytes.
	MaxFileSize int64
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// App is the bridge as an office app WOPI hosts register (config/app.go).
	App AppConfig
	// Events bounds the per-document timeline (config/events.go).
	Events EventsConfig

	// FrameAncestors are the CSP frame-ancestors sources allowed to frame the bridge's
	// pages, space separated ('self' by default).
	FrameAncestors string
	// AdminListen is a separate host:port for /metrics, /readyz and /healthz; empty
	// serves them on Listen.
	AdminListen string
	// MaxConnections caps the connections the main listener holds at once.
	MaxConnections int

	publicURLDerived bool
}

// DocsConfig is how the bridge reaches ONLYOFFICE Docs (the Document Server, "DS").
type DocsConfig struct {
	// URL is DS's base URL as the bridge reaches it; nil when no DS is configured.
	URL *url.URL
	// PublicURL is DS's base URL as browsers reach it; it defaults to URL.
	PublicURL *url.URL
	// JWTSecret is DS's shared JWT secret; empty turns JWT off. It is the secret DS
	// checks what it receives with (its inbox secret): the bridge signs editor configs
	// and command service calls with it.
	JWTSecret string
	// JWTOutboxSecret is the secret DS signs what it sends with (its outbox secret):
	// the bridge verifies callbacks and document downloads with it. Empty means
	// JWTSecret, as with Docker's single JWT_SECRET.
	JWTOutboxSecret string
	// JWTHeader is the request header DS puts its JWT in.
	JWTHeader string
}

// OutboxSecret is the secret DS's callbacks and downloads are verified with.
func (d DocsConfig) OutboxSecret() string {
	if d.JWTOutboxSecret != "" {
		return d.JWTOutboxSecret
	}
	return d.JWTSecret
}

// String describes the section without its secret, so it is safe to print.
func (d DocsConfig) String() string {
	return "{URL:" + urlString(d.URL) + " PublicURL:" + urlString(d.PublicURL) +
		" JWTSecret:" + redact(d.JWTSecret) + " JWTOutboxSecret:" + redact(d.JWTOutboxSecret) +
		" JWTHeader:" + d.JWTHeader + "}"
}

// GoString is String, so that %#v does not print the secret either.
func (d DocsConfig) GoString() string { return d.String() }

// StorageKind names a storage backend.
type StorageKind string

// Storage backends.
const (
	StorageFS   StorageKind = "fs"
	StorageWOPI StorageKind = "wopi"
)

// StorageConfig is the parsed WOPIBRIDGE_STORAGE: fs:<dir> or wopi:<origin>[,<origin>...].
type StorageConfig struct {
	Kind StorageKind
	// Dir is the documents directory of fs storage.
	Dir string
	// Origins are the upstream WOPI hosts wopi storage may call, each
	// scheme://host[:port] with a default port left out.
	Origins []*url.URL
}

// StateKind names a state store.
type StateKind string

// State stores.
const (
	StateBolt  StateKind = "bolt"
	StateRedis StateKind = "redis"
)

// StateConfig is the parsed WOPIBRIDGE_STATE: bolt:<file> or redis://host:port/db.
type StateConfig struct {
	Kind StateKind
	// Path is the bolt database file.
	Path string
	// RedisURL is the redis:// (or rediss://) URL as configured; it may hold a password.
	RedisURL string
}

// ProofMode is WOPIBRIDGE_PROOF.
type ProofMode string

// Proof modes.
const (
	ProofRequire ProofMode = "require"
	ProofOff     ProofMode = "off"
)

// LogConfig is the logger's settings.
type LogConfig struct {
	// Level is a logrus level name: panic, fatal, error, warn, warning, info, debug, trace.
	Level string
	// Format is text or json.
	Format string
}

// Defaults that are not derived from other settings.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultStorage         = "fs:./data"
	DefaultJWTHeader       = "Authorization"
	DefaultTokenTTL        = 10 * time.Hour
	DefaultMaxFileSize     = 1 << 30
	DefaultShutdownTimeout = 30 * time.Second
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
	DefaultFrameAncestors  = "'self'"
	DefaultMaxConnections  = 4096

	// StateFile is the bolt file's name when WOPIBRIDGE_STATE is not set.
	StateFile = "wopibridge.db"
)

// Default returns the configuration used when nothing is configured, with the derived
// settings (public URL, state, proof) worked out from the others.
func Default() *Config {
	storage, err := ParseStorage(DefaultStorage)
	if err != nil {
		panic("config: bad default storage: " + err.Error())
	}
	c := &Config{
		Listen:          DefaultListen,
		Docs:            DocsConfig{JWTHeader: DefaultJWTHeader},
		Storage:         storage,
		TokenTTL:        DefaultTokenTTL,
		Log:             LogConfig{Level: DefaultLogLevel, Format: DefaultLogFormat},
		MaxFileSize:     DefaultMaxFileSize,
		ShutdownTimeout: DefaultShutdownTimeout,
		FrameAncestors:  DefaultFrameAncestors,
		MaxConnections:  DefaultMaxConnections,
		App:             AppConfig{Style: AppStyleWOPI},
	}
	c.Events = EventsConfig{Max: DefaultEventsMax, MaxAge: DefaultEventsMaxAge}
	c.derive(nil)
	return c
}

// DemoMode reports whether no launch secret is set: the index page then acts for a
// demo user, which Validate allows only on a loopback listen address.
func (c *Config) DemoMode() bool { return c.LaunchSecret == "" }

// PublicURLDerived reports whether PublicURL was not configured but derived from
// Listen. A server listening on port 0 may then replace it with the bound address.
func (c *Config) PublicURLDerived() bool { return c.publicURLDerived }

// derive fills the settings whose defaults depend on others, unless explicit says
// they were configured.
func (c *Config) derive(explicit map[string]bool) {
	c.publicURLDerived = !explicit[keyPublicURL]
	if c.publicURLDerived {
		u, err := url.Parse("http://" + c.Listen)
		if err != nil {
			u = nil
		}
		c.PublicURL = u
	}
	if !explicit[keyDocsPublicURL] {
		c.Docs.PublicURL = cloneURL(c.Docs.URL)
	}
	if !explicit[keyState] {
		c.State = DefaultState(c.Storage)
	}
	if !explicit[keyProof] {
		c.Proof = ProofOff
		if c.Docs.URL != nil {
			c.Proof = ProofRequire
		}
	}
}

// DefaultState is the state store used when WOPIBRIDGE_STATE is not set: a bolt file
// inside the fs data directory, or in the working directory for other storage.
func DefaultState(s StorageConfig) StateConfig {
	if s.Kind == StorageFS && s.Dir != "" {
		return StateConfig{Kind: StateBolt, Path: filepath.Join(s.Dir, StateFile)}
	}
	return StateConfig{Kind: StateBolt, Path: StateFile}
}

func cloneURL(u *url.URL) *url.URL {
	if u == nil {
		return nil
	}
	v := *u
	if u.User != nil {
		user := *u.User
		v.User = &user
	}
	return &v
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Redacted()
}
