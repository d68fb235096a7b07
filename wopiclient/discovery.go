package wopiclient

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/sync/singleflight"
)

// Discovery is a parsed WOPI discovery document (GET <client>/hosting/discovery).
//
// ONLYOFFICE Docs lists one net-zone with "MS-style" apps named Word, Excel,
// PowerPoint, Pdf (and Visio), whose actions carry an ext; then apps named by MIME
// type whose actions have an empty ext; then a Capabilities app. Lookups by
// extension use the first kind, AppAction reaches the others.
type Discovery struct {
	// NetZone is the name of the first net-zone ("external-http" for ONLYOFFICE).
	NetZone string
	// Apps in document order, over all net-zones.
	Apps []App
	// ProofKey holds the raw <proof-key> attributes; all empty when the element is absent.
	ProofKey ProofKeyInfo

	byExt   map[string]int // lower(name) + "\x00" + lower(ext) -> index into actions
	actions []Action
	keys    ProofKeys
	keysErr error
}

// App is one <app> element.
type App struct {
	Name       string // "Word", "Excel", ..., or a MIME type, or "Capabilities"
	FavIconURL string
	Zone       string // name of the net-zone the app belongs to
	Actions    []Action
}

// Action is one <action> element of an app.
type Action struct {
	App       string // name of the app it belongs to
	Name      string // view, edit, editnew, embedview, mobileView, mobileEdit, convert, formsubmit, getinfo
	Ext       string // file extension without dot; empty in MIME-named apps
	Default   bool
	Requires  []string // e.g. ["locks", "update"]
	URLSrc    string   // the URL template, XML-decoded, placeholders not yet resolved
	TargetExt string   // for convert: the format the file is converted to
}

// ProofKeyInfo is the <proof-key> element as published: value and oldvalue are base64
// Microsoft PUBLICKEYBLOBs, modulus and exponent are base64 big-endian integers.
type ProofKeyInfo struct {
	Value       string `xml:"value,attr"`
	Modulus     string `xml:"modulus,attr"`
	Exponent    string `xml:"exponent,attr"`
	OldValue    string `xml:"oldvalue,attr"`
	OldModulus  string `xml:"oldmodulus,attr"`
	OldExponent string `xml:"oldexponent,attr"`
}

// ErrNoProofKey means the discovery has no usable <proof-key>. ONLYOFFICE Docs publishes
// one only when both the current and the old key pair are configured (wopi.publicKey,
// wopi.modulus, wopi.privateKey and their *Old twins).
var ErrNoProofKey = errors.New("wopi: discovery has no proof key " +
	"(configure wopi.privateKey/publicKey/modulus and their *Old twins in ONLYOFFICE Docs, or turn proof checking off)")

// ErrUnusableProofKey means the discovery's <proof-key> holds a key that cannot be used
// (malformed, too small or too large, a bad exponent); the error wrapping it says what.
var ErrUnusableProofKey = errors.New("wopi: discovery publishes an unusable proof key")

// wire shapes of the XML
type xmlDiscovery struct {
	XMLName  xml.Name      `xml:"wopi-discovery"`
	Zones    []xmlZone     `xml:"net-zone"`
	ProofKey *ProofKeyInfo `xml:"proof-key"`
}

type xmlZone struct {
	Name string   `xml:"name,attr"`
	Apps []xmlApp `xml:"app"`
}

type xmlApp struct {
	Name       string      `xml:"name,attr"`
	FavIconURL string      `xml:"favIconUrl,attr"`
	Actions    []xmlAction `xml:"action"`
}

type xmlAction struct {
	Name      string `xml:"name,attr"`
	Ext       string `xml:"ext,attr"`
	Default   string `xml:"default,attr"`
	Requires  string `xml:"requires,attr"`
	URLSrc    string `xml:"urlsrc,attr"`
	TargetExt string `xml:"targetext,attr"`
}

// ParseDiscovery reads a discovery document. It fails only when the document is not a
// WOPI discovery (wrong root, no net-zone, malformed XML). A missing or unusable
// <proof-key> is not an error here: it is reported by ProofKeys, so that editors still
// open when proof checking is off.
func ParseDiscovery(r io.Reader) (*Discovery, error) {
	dec := xml.NewDecoder(r)
	dec.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return input, nil
		}
		return nil, fmt.Errorf("unsupported charset %q", charset)
	}
	var x xmlDiscovery
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("wopi: parse discovery: %w", err)
	}
	if len(x.Zones) == 0 {
		return nil, errors.New("wopi: parse discovery: no <net-zone> element")
	}
	d := &Discovery{NetZone: x.Zones[0].Name, byExt: map[string]int{}}
	for _, z := range x.Zones {
		for _, xa := range z.Apps {
			app := App{Name: xa.Name, FavIconURL: xa.FavIconURL, Zone: z.Name}
			for _, xc := range xa.Actions {
				a := Action{
					App:       xa.Name,
					Name:      xc.Name,
					Ext:       strings.TrimPrefix(xc.Ext, "."),
					Default:   strings.EqualFold(xc.Default, "true"),
					Requires:  splitList(xc.Requires),
					URLSrc:    xc.URLSrc,
					TargetExt: strings.TrimPrefix(xc.TargetExt, "."),
				}
				app.Actions = append(app.Actions, a)
				d.actions = append(d.actions, a)
				if a.Ext == "" {
					continue
				}
				k := actionKey(a.Name, a.Ext)
				if _, dup := d.byExt[k]; !dup {
					d.byExt[k] = len(d.actions) - 1
				}
			}
			d.Apps = append(d.Apps, app)
		}
	}
	if x.ProofKey == nil {
		d.keysErr = ErrNoProofKey
	} else {
		d.ProofKey = *x.ProofKey
		d.keys, d.keysErr = d.ProofKey.Keys()
	}
	return d, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func actionKey(name, ext string) string {
	return strings.ToLower(name) + "\x00" + strings.ToLower(strings.TrimPrefix(ext, "."))
}

// ProofKeys returns the current and old public proof keys. The error is ErrNoProofKey
// when the discovery has none, or says why the published values are unusable.
func (d *Discovery) ProofKeys() (ProofKeys, error) {
	return d.keys, d.keysErr
}

// Action finds the action with that name for a file extension (with or without the
// leading dot; both compared case-insensitively).
func (d *Discovery) Action(name, ext string) (Action, bool) {
	if d == nil || strings.TrimPrefix(ext, ".") == "" {
		return Action{}, false
	}
	i, ok := d.byExt[actionKey(name, ext)]
	if !ok {
		return Action{}, false
	}
	return d.actions[i], true
}

// DefaultAction is the action marked default="true" for the extension: edit for
// editable formats, view for view-only ones.
func (d *Discovery) DefaultAction(ext string) (Action, bool) {
	if d == nil {
		return Action{}, false
	}
	ext = strings.TrimPrefix(ext, ".")
	for _, a := range d.actions {
		if a.Default && a.Ext != "" && strings.EqualFold(a.Ext, ext) {
			return a, true
		}
	}
	return Action{}, false
}

// AppAction finds an action by app name and action name, for the MIME-named apps
// (AppAction("application/pdf", "edit")) and for AppAction("Capabilities", "getinfo").
func (d *Discovery) AppAction(app, name string) (Action, bool) {
	if d == nil {
		return Action{}, false
	}
	for _, p := range d.Apps {
		if !strings.EqualFold(p.Name, app) {
			continue
		}
		for _, a := range p.Actions {
			if strings.EqualFold(a.Name, name) {
				return a, true
			}
		}
	}
	return Action{}, false
}

// FavIconURL is the favicon of the app that handles the extension, as published (with
// the host DS was asked on; see RewriteOrigin).
func (d *Discovery) FavIconURL(ext string) string {
	if d == nil {
		return ""
	}
	ext = strings.TrimPrefix(ext, ".")
	if ext == "" {
		return ""
	}
	for _, p := range d.Apps {
		for _, a := range p.Actions {
			if strings.EqualFold(a.Ext, ext) {
				return p.FavIconURL
			}
		}
	}
	return ""
}

// Extensions lists, in document order and without duplicates, the lower-cased
// extensions that have an action with that name (e.g. "edit" or "editnew").
func (d *Discovery) Extensions(action string) []string {
	if d == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, a := range d.actions {
		e := strings.ToLower(a.Ext)
		if e != "" && strings.EqualFold(a.Name, action) && !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

// Needs reports whether the action lists the requirement (e.g. "locks", "update").
func (a Action) Needs(requirement string) bool {
	for _, r := range a.Requires {
		if strings.EqualFold(r, requirement) {
			return true
		}
	}
	return false
}

// Placeholders of urlsrc templates. Action.URL takes their values from its params map,
// keyed by these names; ONLYOFFICE reads the ones noted.
const (
	PlaceholderUILLCC         = "UI_LLCC"         // ui: UI language, e.g. "en-US"
	PlaceholderDCLLCC         = "DC_LLCC"         // rs: data (regional) language
	PlaceholderDisableChat    = "DISABLE_CHAT"    // dchat: "1" disables chat
	PlaceholderEmbedded       = "EMBEDDED"        // embed: "true" for embedded view
	PlaceholderFullscreen     = "FULLSCREEN"      // fs (accepted, unused by ONLYOFFICE)
	PlaceholderHostSessionID  = "HOST_SESSION_ID" // hid (accepted, unused by ONLYOFFICE)
	PlaceholderRecording      = "RECORDING"       // rec (accepted, unused by ONLYOFFICE)
	PlaceholderSessionContext = "SESSION_CONTEXT" // sc: echoed as X-WOPI-SessionContext on CheckFileInfo
	PlaceholderThemeID        = "THEME_ID"        // thm: 1 light, 2 dark
	PlaceholderBusinessUser   = "BUSINESS_USER"
	PlaceholderDisableAsync   = "DISABLE_ASYNC"
	PlaceholderPerfStats      = "PERFSTATS"
	PlaceholderValidatorTest  = "VALIDATOR_TEST_CATEGORY"
	// PlaceholderWOPISource is never filled from params: URL always appends WOPISrc itself.
	PlaceholderWOPISource = "WOPI_SOURCE"
)

// URL resolves the action's urlsrc into the URL a host page posts its form to.
//
// Every optional section <name=PLACEHOLDER&> becomes name=<value>& when params has a
// non-empty value for PLACEHOLDER, and disappears otherwise; then WOPISrc=<wopiSrc> is
// appended (the WOPI_SOURCE section is always dropped, so the parameter is never
// doubled). When publicOrigin is not nil its scheme and host replace the URL's, because
// DS writes urlsrc with the host it was asked on, not the one browsers reach; a path in
// publicOrigin is put in front of the action's path unless it already starts with it.
func (a Action) URL(wopiSrc string, params map[string]string, publicOrigin *url.URL) (string, error) {
	if wopiSrc == "" {
		return "", errors.New("wopi: action URL: empty WOPISrc")
	}
	expanded, err := expandURLSrc(a.URLSrc, params)
	if err != nil {
		return "", fmt.Errorf("wopi: action %s/%s: %w", a.Name, a.Ext, err)
	}
	expanded, fragment, hasFragment := strings.Cut(expanded, "#")
	base, query, _ := strings.Cut(expanded, "?")
	var parts []string
	for _, p := range strings.Split(query, "&") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	parts = append(parts, "WOPISrc="+url.QueryEscape(wopiSrc))
	out := base + "?" + strings.Join(parts, "&")
	if hasFragment {
		out += "#" + fragment
	}
	if publicOrigin != nil {
		if out, err = RewriteOrigin(out, publicOrigin); err != nil {
			return "", fmt.Errorf("wopi: action %s/%s: %w", a.Name, a.Ext, err)
		}
	} else if err := checkHTTPURL(out); err != nil {
		return "", fmt.Errorf("wopi: action %s/%s: %w", a.Name, a.Ext, err)
	}
	return out, nil
}

// expandURLSrc resolves the <name=PLACEHOLDER&> sections of a urlsrc template.
func expandURLSrc(src string, params map[string]string) (string, error) {
	var b strings.Builder
	b.Grow(len(src))
	for i := 0; i < len(src); {
		switch src[i] {
		case '<':
			end := strings.IndexByte(src[i:], '>')
			if end < 0 {
				return "", errors.New("urlsrc: unterminated <...> section")
			}
			section := src[i+1 : i+end]
			i += end + 1
			name, placeholder, ok := strings.Cut(section, "=")
			if !ok || name == "" || strings.ContainsAny(section, "<") {
				return "", fmt.Errorf("urlsrc: malformed section <%s>", section)
			}
			placeholder = strings.TrimSuffix(placeholder, "&")
			v := params[placeholder]
			if v == "" || placeholder == PlaceholderWOPISource {
				continue
			}
			b.WriteString(name)
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
			b.WriteByte('&')
		case '>':
			return "", errors.New("urlsrc: unbalanced '>'")
		default:
			b.WriteByte(src[i])
			i++
		}
	}
	return b.String(), nil
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !validHost(u.Host) {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return nil
}

// validHost reports whether h is a host name, an IPv4 address or a bracketed IPv6
// address, with an optional port: what a URL's authority may hold once the user info
// is gone. url.Parse lets through hosts such as ">" that no browser would.
func validHost(h string) bool {
	host, port := h, ""
	if rest, ok := strings.CutPrefix(h, "["); ok {
		addr, after, ok := strings.Cut(rest, "]")
		if _, err := netip.ParseAddr(addr); !ok || err != nil {
			return false
		}
		host, port = "", after
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i:]
		if host == "" {
			return false
		}
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	if port == "" {
		return true
	}
	digits, ok := strings.CutPrefix(port, ":")
	return ok && strings.Trim(digits, "0123456789") == ""
}

// RewriteOrigin replaces the scheme and host of the absolute http(s) URL raw with those
// of public, keeping path and query as they are written. A path in public (a Document
// Server published under a prefix) is put in front of raw's path unless raw's path
// already starts with it. Use it for action URLs and favicon URLs from discovery.
func RewriteOrigin(raw string, public *url.URL) (string, error) {
	if public == nil {
		return raw, nil
	}
	if (public.Scheme != "http" && public.Scheme != "https") || public.Host == "" {
		return "", fmt.Errorf("public origin %q is not an absolute http(s) URL", public.String())
	}
	if !validHost(public.Host) {
		return "", fmt.Errorf("public origin %q: %q is not a host[:port]", public.String(), public.Host)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	path := u.EscapedPath()
	if prefix := strings.TrimRight(public.EscapedPath(), "/"); prefix != "" &&
		path != prefix && !strings.HasPrefix(path, prefix+"/") {
		path = prefix + path
	}
	out := public.Scheme + "://" + public.Host + path
	if u.RawQuery != "" || u.ForceQuery {
		out += "?" + u.RawQuery
	}
	if u.Fragment != "" {
		out += "#" + u.EscapedFragment()
	}
	return out, nil
}

// ErrWOPIDisabled is wrapped by the error of a discovery fetch that DS answered with
// 404: ONLYOFFICE Docs serves /hosting/discovery only when WOPI is enabled.
var ErrWOPIDisabled = errors.New("WOPI is disabled in ONLYOFFICE Docs: set wopi.enable to true " +
	"in its local.json (Docker: WOPI_ENABLED=true) and restart it")

// DiscoveryError is a failed discovery fetch: the document server could not be reached,
// answered with an error status, or sent something that is not a discovery document.
type DiscoveryError struct {
	URL        string // the discovery URL
	StatusCode int    // 0 when no HTTP answer arrived
	Err        error
}

func (e *DiscoveryError) Error() string {
	var hint string
	switch {
	case e.StatusCode == http.StatusNotFound:
		// ErrWOPIDisabled carries the advice.
	case e.StatusCode == http.StatusOK:
		hint = "; the URL answers, but not with a WOPI discovery: check that it points at ONLYOFFICE Docs"
	case e.StatusCode != 0:
		hint = "; check the Document Server's logs"
	default:
		hint = "; check that the Document Server URL is right and reachable from the bridge"
	}
	if e.StatusCode != 0 {
		return fmt.Sprintf("wopi: discovery %s: HTTP %d: %v%s", e.URL, e.StatusCode, e.Err, hint)
	}
	return fmt.Sprintf("wopi: discovery %s: %v%s", e.URL, e.Err, hint)
}

func (e *DiscoveryError) Unwrap() error { return e.Err }

// DiscoveryCacheOptions configures a DiscoveryCache.
type DiscoveryCacheOptions struct {
	// URL is the Document Server's base URL as the bridge reaches it; discovery is
	// fetched from <URL>/hosting/discovery.
	URL string
	// HTTP is the client for the fetch; default http.DefaultClient.
	HTTP *http.Client
	// TTL is how long a fetched discovery is used before it is fetched again;
	// default 1h.
	TTL time.Duration
	// RetryInterval is how long, after a failed fetch, an expired copy is served
	// without trying again; default 15s.
	RetryInterval time.Duration
	// FetchTimeout bounds one fetch, whoever waits for it; default 30s.
	FetchTimeout time.Duration
	// MaxSize bounds the document; default 16 MiB (ONLYOFFICE's is about 200 kB).
	MaxSize int64
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnFetch, when set, is told the outcome of every fetch (for metrics). It runs on the
	// fetching goroutine and must not block.
	OnFetch func(ok bool)
}

// DiscoveryStatus reports the cache's state for readiness checks and metrics.
type DiscoveryStatus struct {
	Have        bool      // a discovery has been fetched at least once
	Stale       bool      // the copy served is older than TTL because fetching failed
	FetchedAt   time.Time // when the copy served was fetched
	LastAttempt time.Time // when the last fetch finished, successful or not
	LastError   error     // the error of the last fetch, nil if it succeeded
	// KeysError says what is wrong with the proof keys of the last fetched discovery
	// (ErrNoProofKey, or wrapping ErrUnusableProofKey); the last good keys are still
	// served, and discovery is fetched again after RetryInterval. Nil when they are good.
	KeysError error
}

// DiscoveryCache holds the discovery of one Document Server. Get serves it from an
// expirable LRU, fetches it when it expired (one request however many callers wait),
// and keeps serving the last good copy while DS is unreachable. Safe for concurrent use.
type DiscoveryCache struct {
	url       string
	client    *http.Client
	ttl       time.Duration
	retry     time.Duration
	timeout   time.Duration
	maxSize   int64
	now       func() time.Time
	onFetch   func(ok bool)
	fresh     *expirable.LRU[string, cachedDiscovery]
	fetchOnce singleflight.Group

	mu          sync.Mutex
	last        cachedDiscovery // last good copy, kept after the LRU entry expires
	lastAttempt time.Time
	lastErr     error
	keysErr     error // what is wrong with the keys of the last fetched discovery
}

type cachedDiscovery struct {
	d       *Discovery
	fetched time.Time
	expires time.Time // fetched + TTL, or + RetryInterval when its proof keys are unusable
}

// NewDiscoveryCache returns a cache for the Document Server at opts.URL.
func NewDiscoveryCache(opts DiscoveryCacheOptions) (*DiscoveryCache, error) {
	base, err := url.Parse(opts.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("wopi: discovery: Document Server URL %q is not an absolute http(s) URL", opts.URL)
	}
	c := &DiscoveryCache{
		url:     strings.TrimRight(opts.URL, "/") + "/hosting/discovery",
		client:  opts.HTTP,
		ttl:     opts.TTL,
		retry:   opts.RetryInterval,
		timeout: opts.FetchTimeout,
		maxSize: opts.MaxSize,
		now:     opts.Now,
		onFetch: opts.OnFetch,
	}
	if c.client == nil {
		c.client = http.DefaultClient
	}
	if c.ttl <= 0 {
		c.ttl = time.Hour
	}
	if c.retry <= 0 {
		c.retry = 15 * time.Second
	}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	if c.maxSize <= 0 {
		c.maxSize = 16 << 20
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.fresh = expirable.NewLRU[string, cachedDiscovery](1, nil, c.ttl)
	return c, nil
}

// URL is the discovery URL the cache fetches.
func (c *DiscoveryCache) URL() string { return c.url }

// Get returns the discovery, fetching it when the cached copy expired. If the fetch
// fails and an earlier copy exists, that copy is returned without error (Stale then
// reports true) and the fetch is retried after RetryInterval; with no copy the error
// (a *DiscoveryError, wrapping ErrWOPIDisabled on 404) is returned.
func (c *DiscoveryCache) Get(ctx context.Context) (*Discovery, error) {
	now := c.now()
	if e, ok := c.fresh.Get(c.url); ok && now.Before(e.expires) {
		return e.d, nil
	}
	c.mu.Lock()
	last, failedRecently := c.last, c.lastErr != nil && now.Sub(c.lastAttempt) < c.retry
	c.mu.Unlock()
	if last.d != nil && failedRecently {
		return last.d, nil
	}
	d, err := c.fetchShared(ctx)
	if err != nil && last.d != nil && ctx.Err() == nil {
		return last.d, nil
	}
	return d, err
}

// Refresh fetches discovery now, whatever the cache holds; concurrent calls (and Gets
// that need a fetch) share one request. On failure it returns the error and the cache
// keeps serving its last good copy.
func (c *DiscoveryCache) Refresh(ctx context.Context) (*Discovery, error) {
	return c.fetchShared(ctx)
}

// ProofKeys returns the proof keys of the cached discovery (see Get).
func (c *DiscoveryCache) ProofKeys(ctx context.Context) (ProofKeys, error) {
	d, err := c.Get(ctx)
	if err != nil {
		return ProofKeys{}, err
	}
	return d.ProofKeys()
}

// RefreshProofKeys refreshes discovery and returns its proof keys.
func (c *DiscoveryCache) RefreshProofKeys(ctx context.Context) (ProofKeys, error) {
	d, err := c.Refresh(ctx)
	if err != nil {
		return ProofKeys{}, err
	}
	return d.ProofKeys()
}

// Stale reports whether the discovery served is an expired copy kept because the last
// fetch failed.
func (c *DiscoveryCache) Stale() bool { return c.Status().Stale }

// Status reports the cache's state.
func (c *DiscoveryCache) Status() DiscoveryStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return DiscoveryStatus{
		Have:        c.last.d != nil,
		Stale:       c.last.d != nil && c.lastErr != nil && c.now().Sub(c.last.fetched) >= c.ttl,
		FetchedAt:   c.last.fetched,
		LastAttempt: c.lastAttempt,
		LastError:   c.lastErr,
		KeysError:   c.keysErr,
	}
}

// fetchShared runs one fetch for all concurrent callers. The fetch is detached from
// the first caller's cancellation (others may still wait for it) and bounded by
// FetchTimeout; each caller stops waiting when its own context ends.
func (c *DiscoveryCache) fetchShared(ctx context.Context) (*Discovery, error) {
	ch := c.fetchOnce.DoChan(c.url, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		return c.fetchAndStore(fctx)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Discovery), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wopi: discovery %s: %w", c.url, ctx.Err())
	}
}

func (c *DiscoveryCache) fetchAndStore(ctx context.Context) (*Discovery, error) {
	d, err := c.fetch(ctx)
	if c.onFetch != nil {
		c.onFetch(err == nil)
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastAttempt, c.lastErr = now, err
	if err != nil {
		return nil, err
	}
	entry := cachedDiscovery{d: d, fetched: now, expires: now.Add(c.ttl)}
	c.keysErr = d.keysErr
	if d.keysErr != nil {
		// DS publishes no usable keys (being reconfigured?): keep the last good ones,
		// and look again soon.
		entry.expires = now.Add(c.retry)
		if c.last.d != nil && c.last.d.keysErr == nil {
			kept := *d
			kept.ProofKey, kept.keys, kept.keysErr = c.last.d.ProofKey, c.last.d.keys, nil
			entry.d = &kept
		}
	}
	c.last = entry
	c.fresh.Add(c.url, c.last)
	return entry.d, nil
}

func (c *DiscoveryCache) fetch(ctx context.Context) (*Discovery, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, &DiscoveryError{URL: c.url, Err: err}
	}
	req.Header.Set("Accept", "text/xml, application/xml")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, &DiscoveryError{URL: c.url, Err: err}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, &DiscoveryError{URL: c.url, StatusCode: resp.StatusCode, Err: ErrWOPIDisabled}
	case resp.StatusCode != http.StatusOK:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, &DiscoveryError{URL: c.url, StatusCode: resp.StatusCode,
			Err: errors.New("unexpected status " + resp.Status)}
	}
	d, err := ParseDiscovery(&limitedReader{r: resp.Body, n: c.maxSize})
	if err != nil {
		return nil, &DiscoveryError{URL: c.url, StatusCode: resp.StatusCode, Err: err}
	}
	return d, nil
}

// limitedReader fails, rather than ending quietly, once more than n bytes were read.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var probe [1]byte
		if n, err := l.r.Read(probe[:]); n == 0 && err != nil {
			return 0, err
		}
		return 0, errors.New("discovery document is too large")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
