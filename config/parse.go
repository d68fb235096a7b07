package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

const (
	storageHint = "use fs:<dir> or wopi:<origin>[,<origin>...]"
	stateHint   = "use bolt:<file>, redis://host:port/db, redis-sentinel://host:port,host:port/db?master=name or redis-cluster://host:port,host:port"
)

// ParseStorage parses a WOPIBRIDGE_STORAGE value: fs:<dir>, or
// wopi:<origin>[,<origin>...] where each origin is scheme://host[:port].
func ParseStorage(spec string) (StorageConfig, error) {
	spec = strings.TrimSpace(spec)
	scheme, rest, ok := strings.Cut(spec, ":")
	if !ok {
		if spec == "" {
			return StorageConfig{}, fmt.Errorf("empty (%s)", storageHint)
		}
		return StorageConfig{}, fmt.Errorf("%q has no scheme (%s)", spec, storageHint)
	}
	switch StorageKind(strings.ToLower(scheme)) {
	case StorageFS:
		if rest == "" {
			return StorageConfig{}, fmt.Errorf("fs: needs a directory (use fs:<dir>, e.g. fs:./data)")
		}
		return StorageConfig{Kind: StorageFS, Dir: rest}, nil
	case StorageWOPI:
		var origins []*url.URL
		var errs []error
		for _, o := range strings.Split(rest, ",") {
			o = strings.TrimSpace(o)
			if o == "" {
				continue
			}
			u, err := parseOrigin(o)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			origins = append(origins, u)
		}
		if err := errors.Join(errs...); err != nil {
			return StorageConfig{}, err
		}
		if len(origins) == 0 {
			return StorageConfig{}, errors.New("wopi: needs at least one upstream origin (use wopi:https://wopi.example.com[,<origin>...])")
		}
		return StorageConfig{Kind: StorageWOPI, Origins: origins}, nil
	default:
		return StorageConfig{}, fmt.Errorf("unknown scheme %q (%s)", scheme, storageHint)
	}
}

// String is the storage spec that ParseStorage reads back to the same value.
func (s StorageConfig) String() string {
	switch s.Kind {
	case StorageFS:
		return "fs:" + s.Dir
	case StorageWOPI:
		parts := make([]string, len(s.Origins))
		for i, o := range s.Origins {
			parts[i] = urlString(o)
		}
		return "wopi:" + strings.Join(parts, ",")
	}
	return string(s.Kind) + ":"
}

// parseOrigin parses scheme://host[:port] into its normal form: lower case, default
// port left out.
func parseOrigin(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("origin %q: %v (use scheme://host[:port])", s, errors.Unwrap(err))
	}
	if u.Path == "/" {
		u.Path = ""
	}
	if err := checkOrigin(u); err != nil {
		return nil, err
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" || strings.Contains(host, ":") {
		host = net.JoinHostPort(host, port)
		host = strings.TrimSuffix(host, ":")
	}
	return &url.URL{Scheme: u.Scheme, Host: host}, nil
}

// checkOrigin reports whether u is an http(s) origin: scheme://host[:port] only.
func checkOrigin(u *url.URL) error {
	if u == nil {
		return errors.New("origin is missing")
	}
	s := u.Redacted()
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("origin %q: want http:// or https:// (use scheme://host[:port])", s)
	}
	if err := checkHost(u.Host); err != nil {
		return fmt.Errorf("origin %q: %v (use scheme://host[:port])", s, err)
	}
	if u.User != nil || u.Path != "" || u.RawPath != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("origin %q: only scheme://host[:port] is allowed, without user, path, query or fragment", s)
	}
	return nil
}

// checkHost accepts host[:port] where host is a DNS name or an IP literal.
func checkHost(hostport string) error {
	if hostport == "" {
		return errors.New("no host")
	}
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host, port = hostport[:i], hostport[i+1:]
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Errorf("bad port %q", port)
		}
	}
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return fmt.Errorf("bad host %q", host)
		}
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return fmt.Errorf("bad IPv6 address %q", host)
		}
		return nil
	}
	if host == "" {
		return errors.New("no host")
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return fmt.Errorf("bad host %q", host)
		}
	}
	return nil
}

// ParseState parses a WOPIBRIDGE_STATE value: bolt:<file>, or Redis as one server
// (redis://host:port/db), a Sentinel-watched master
// (redis-sentinel://host:port,host:port/db?master=name) or a Cluster
// (redis-cluster://host:port,host:port); rediss, rediss-sentinel and rediss-cluster
// for TLS. User, password and query options are kept for the client, which reads
// them (bridge/state).
func ParseState(spec string) (StateConfig, error) {
	spec = strings.TrimSpace(spec)
	scheme, rest, ok := strings.Cut(spec, ":")
	if !ok {
		if spec == "" {
			return StateConfig{}, fmt.Errorf("empty (%s)", stateHint)
		}
		return StateConfig{}, fmt.Errorf("%q has no scheme (%s)", spec, stateHint)
	}
	switch strings.ToLower(scheme) {
	case "bolt":
		if rest == "" {
			return StateConfig{}, errors.New("bolt: needs a file (use bolt:<file>, e.g. bolt:/var/lib/wopibridge/wopibridge.db)")
		}
		return StateConfig{Kind: StateBolt, Path: rest}, nil
	case "redis", "rediss", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster":
		if err := checkRedisURL(spec); err != nil {
			return StateConfig{}, err
		}
		return StateConfig{Kind: StateRedis, RedisURL: spec}, nil
	default:
		return StateConfig{}, fmt.Errorf("unknown scheme %q (%s)", scheme, stateHint)
	}
}

// String is the state spec that ParseState reads back to the same value. It holds the
// Redis password, if any; use Redacted to print it.
func (s StateConfig) String() string {
	switch s.Kind {
	case StateBolt:
		return "bolt:" + s.Path
	case StateRedis:
		return s.RedisURL
	}
	return string(s.Kind) + ":"
}

func (s StateConfig) redacted() string {
	if s.Kind == StateRedis {
		if u, err := parseRedisURL(s.RedisURL); err == nil {
			return u.Redacted()
		}
		return "redis://(unparsable)"
	}
	return s.String()
}

// parseRedisURL parses the Redis forms of WOPIBRIDGE_STATE; in the Sentinel and Cluster
// forms the host is a comma-separated list, which net/url does not take when it holds
// IPv6 literals, so the list is cut out before and put back after. A
// sentinel_password option is replaced in what Redacted shows.
func parseRedisURL(s string) (*url.URL, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !strings.Contains(scheme, "-") {
		return url.Parse(s)
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hosts := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	u, err := url.Parse("x://" + userinfo + "host" + tail)
	if err != nil {
		return nil, err
	}
	u.Scheme, u.Host = scheme, hosts
	if q := u.Query(); q.Has("sentinel_password") {
		q.Set("sentinel_password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u, nil
}

func checkRedisURL(s string) error {
	u, err := parseRedisURL(s)
	if err != nil {
		return fmt.Errorf("redis URL: %v (%s)", errors.Unwrap(err), stateHint)
	}
	shown := u.Redacted()
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "redis", "rediss", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster":
	default:
		return fmt.Errorf("%q: want redis://, redis-sentinel:// or redis-cluster:// (%s)", shown, stateHint)
	}
	if u.Opaque != "" || u.Fragment != "" {
		return fmt.Errorf("%q: not a redis URL (%s)", shown, stateHint)
	}
	hosts := []string{u.Host}
	if scheme != "redis" && scheme != "rediss" {
		hosts = strings.Split(u.Host, ",")
	}
	for _, h := range hosts {
		if err := checkHost(h); err != nil {
			return fmt.Errorf("%q: %v (%s)", shown, err, stateHint)
		}
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db != "" {
		if _, err := strconv.ParseUint(db, 10, 31); err != nil {
			return fmt.Errorf("%q: database %q is not a number (%s)", shown, db, stateHint)
		}
	}
	q := u.Query()
	if strings.HasSuffix(scheme, "-sentinel") && q.Get("master") == "" {
		return fmt.Errorf("%q: needs ?master=<name>, the master's name as the sentinels know it (%s)", shown, stateHint)
	}
	if strings.HasSuffix(scheme, "-cluster") && db != "" && db != "0" {
		return fmt.Errorf("%q: Redis Cluster has only database 0 (%s)", shown, stateHint)
	}
	if v := q.Get("wait"); v != "" {
		if _, err := strconv.ParseUint(v, 10, 31); err != nil {
			return fmt.Errorf("%q: wait=%q: want the number of replicas that must hold each write (%s)", shown, v, stateHint)
		}
	}
	return nil
}

// parseBaseURL parses an absolute base URL and trims its trailing slashes. Whether it
// is acceptable is checkBaseURL's business.
func parseBaseURL(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%v (%s)", errors.Unwrap(err), urlHint)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}

// urlHint says what a base URL should look like.
const urlHint = "use an absolute URL such as https://host.example.com[/path]"

// checkBaseURL reports whether u is an absolute http(s) URL without query, fragment
// or credentials. The error says what is wrong; callers add how to fix it.
func checkBaseURL(u *url.URL) error {
	s := u.Redacted()
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q is not an absolute http:// or https:// URL", s)
	}
	if u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	if err := checkHost(u.Host); err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not contain a user or password", s)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("%q must not contain a query or fragment", s)
	}
	return nil
}

// parseListen returns the host part of a host:port listen address.
func parseListen(addr string) (host string, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port (use e.g. 127.0.0.1:8080, or :8080 for every interface)", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return host, nil
}

// isLoopback reports whether a listen host is reachable only from this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && a.Unmap().IsLoopback()
}

// isUnspecified reports whether a listen host means every interface.
func isUnspecified(host string) bool {
	if host == "" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseSize parses a byte count: a whole number with an optional unit, either binary
// (KiB, MiB, GiB, TiB, or K, M, G, T) or decimal (kB, MB, GB, TB). Case is ignored.
func ParseSize(s string) (int64, error) {
	const hint = "use bytes or a unit, e.g. 512MB, 100MiB, 1GiB"
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	if t == "" || strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("%q is not a size (%s)", s, hint)
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// FormatSize writes n with the largest binary unit that divides it exactly, so that
// ParseSize reads it back to n.
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
