package state

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// The forms of WOPIBRIDGE_STATE that name Redis:
//
//	redis://[[user]:password@]host[:port][/db][?option=value...]         one server (rediss:// for TLS)
//	redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db]?master=name[&option=value...]
//	redis-cluster://[[user]:password@]host[:port][,host[:port]...][?option=value...]
//
// (rediss-sentinel:// and rediss-cluster:// for TLS). In the Sentinel form the hosts
// are the sentinels (port 26379 by default) and the user and password are the
// master's; sentinel_username and sentinel_password, when the sentinels want their
// own, are options. In the Cluster form the hosts are seed nodes (port 6379 by
// default) and there is no database. The other options are go-redis's (dial_timeout,
// read_timeout, pool_size ...), plus:
//
//	wait=N          after each write, wait until N replicas have it (Redis WAIT) before
//	                the write counts as done; default 1 for Sentinel and Cluster, 0 for
//	                one server
//	wait_timeout=D  how long to wait for them (default 2s); fewer replicas by then
//	                fails the write
const (
	redisSchemeSentinel    = "redis-sentinel"
	redisSchemeSentinelTLS = "rediss-sentinel"
	redisSchemeCluster     = "redis-cluster"
	redisSchemeClusterTLS  = "rediss-cluster"

	defaultSentinelPort = "26379"
	defaultRedisPort    = "6379"

	defaultHAWait      = 1
	defaultWaitTimeout = 2 * time.Second
)

// RedisClusterKeyPrefix starts every key in Redis Cluster: the hash tag puts all of the
// store's hashes in one slot, where a transaction over several of them is allowed.
const RedisClusterKeyPrefix = "{wopibridge}:"

// redisMode says what a WOPIBRIDGE_STATE Redis URL points at.
type redisMode string

const (
	redisSingle   redisMode = "server"
	redisSentinel redisMode = "sentinel"
	redisCluster  redisMode = "cluster"
)

// redisTarget is a parsed Redis URL: how to build the client, and what the store
// does on top of it.
type redisTarget struct {
	mode        redisMode
	shown       string   // the URL with passwords replaced, for messages
	secrets     []string // passwords, kept out of messages
	wait        int
	waitTimeout time.Duration
	prefix      string

	single   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
}

// client builds the go-redis client for the target.
func (t *redisTarget) client() redis.UniversalClient {
	off := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	switch t.mode {
	case redisSentinel:
		return redis.NewFailoverClient(t.failover)
	case redisCluster:
		if t.cluster.MaintNotificationsConfig == nil {
			t.cluster.MaintNotificationsConfig = off
		}
		return redis.NewClusterClient(t.cluster)
	default:
		if t.single.MaintNotificationsConfig == nil {
			// Maintenance notifications are a Redis Enterprise feature: elsewhere the
			// handshake is a wasted round trip per connection.
			t.single.MaintNotificationsConfig = off
		}
		return redis.NewClient(t.single)
	}
}

// parseRedisURL reads any of the Redis forms of WOPIBRIDGE_STATE. Errors name
// WOPIBRIDGE_STATE and never show a password.
func parseRedisURL(raw string) (*redisTarget, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New("WOPIBRIDGE_STATE: not a redis URL: want redis://, redis-sentinel:// or redis-cluster://")
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss":
		return parseSingle(raw)
	case redisSchemeSentinel, redisSchemeSentinelTLS:
		return parseMulti(redisSentinel, scheme, rest)
	case redisSchemeCluster, redisSchemeClusterTLS:
		return parseMulti(redisCluster, scheme, rest)
	default:
		return nil, fmt.Errorf("WOPIBRIDGE_STATE: unknown scheme %q: want redis://, rediss://, redis-sentinel:// or redis-cluster://", scheme)
	}
}

func parseSingle(raw string) (*redisTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// *url.Error repeats the URL, password included: keep only its cause.
		if cause := errors.Unwrap(err); cause != nil {
			err = cause
		}
		return nil, fmt.Errorf("WOPIBRIDGE_STATE: bad redis URL: %w", err)
	}
	t := &redisTarget{mode: redisSingle, shown: u.Redacted(), prefix: RedisKeyPrefix}
	if p, ok := u.User.Password(); ok && p != "" {
		t.secrets = append(t.secrets, p)
	}
	q := u.Query()
	if err := t.takeWait(q, 0); err != nil {
		return nil, err
	}
	u.RawQuery = q.Encode()
	t.single, err = redis.ParseURL(u.String())
	if err != nil {
		return nil, t.redact(fmt.Errorf("WOPIBRIDGE_STATE: redis URL %s: %w", t.shown, err))
	}
	return t, nil
}

// parseMulti reads the Sentinel and Cluster forms, whose host part is a list that
// net/url does not take (IPv6 literals among several hosts), so the list is cut out
// first and the rest parsed as a URL.
func parseMulti(mode redisMode, scheme, rest string) (*redisTarget, error) {
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hostlist := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostlist = authority[:i+1], authority[i+1:]
	}
	u, err := url.Parse("x://" + userinfo + "host" + tail)
	if err != nil {
		if cause := errors.Unwrap(err); cause != nil {
			err = cause
		}
		return nil, fmt.Errorf("WOPIBRIDGE_STATE: bad %s URL: %w", scheme, err)
	}
	u.Scheme, u.Host = scheme, hostlist
	q := u.Query()
	shownURL := *u
	if q.Has("sentinel_password") {
		sq := url.Values{}
		for k, v := range q {
			sq[k] = v
		}
		sq.Set("sentinel_password", "xxxxx")
		shownURL.RawQuery = sq.Encode()
	}
	t := &redisTarget{mode: mode, shown: shownURL.Redacted(), prefix: RedisKeyPrefix}
	user := u.User.Username()
	password, _ := u.User.Password()
	if password != "" {
		t.secrets = append(t.secrets, password)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("WOPIBRIDGE_STATE: %s: a redis URL has no #fragment", t.shown)
	}
	port := defaultSentinelPort
	if mode == redisCluster {
		port = defaultRedisPort
	}
	addrs, err := splitHosts(hostlist, port)
	if err != nil {
		return nil, fmt.Errorf("WOPIBRIDGE_STATE: %s: %w", t.shown, err)
	}
	if err := t.takeWait(q, defaultHAWait); err != nil {
		return nil, err
	}
	db := strings.Trim(u.Path, "/")

	// The remaining options go to go-redis's own parser, through the one-server URL
	// form it reads, with the first host; the real address list is set after.
	base := "redis"
	if strings.HasPrefix(strings.ToLower(scheme), "rediss") {
		base = "rediss"
	}
	if mode == redisSentinel {
		master := q.Get("master")
		q.Del("master")
		if master == "" {
			return nil, fmt.Errorf("WOPIBRIDGE_STATE: %s: needs ?master=<name>, the master's name as the sentinels know it", t.shown)
		}
		if db != "" {
			if _, err := strconv.ParseUint(db, 10, 31); err != nil {
				return nil, fmt.Errorf("WOPIBRIDGE_STATE: %s: database %q is not a number", t.shown, db)
			}
		}
		sentUser, sentPass := q.Get("sentinel_username"), q.Get("sentinel_password")
		q.Del("sentinel_username")
		q.Del("sentinel_password")
		if sentPass != "" {
			t.secrets = append(t.secrets, sentPass)
		}
		q.Set("master_name", master)
		fu := url.URL{Scheme: base, Host: addrs[0], Path: "/" + db, RawQuery: q.Encode()}
		t.failover, err = redis.ParseFailoverURL(fu.String())
		if err != nil {
			return nil, t.redact(fmt.Errorf("WOPIBRIDGE_STATE: %s: %w", t.shown, err))
		}
		t.failover.SentinelAddrs = addrs
		t.failover.Username, t.failover.Password = user, password
		t.failover.SentinelUsername, t.failover.SentinelPassword = sentUser, sentPass
		return t, nil
	}
	if db != "" && db != "0" {
		return nil, fmt.Errorf("WOPIBRIDGE_STATE: %s: Redis Cluster has only database 0; drop the /%s", t.shown, db)
	}
	cu := url.URL{Scheme: base, Host: addrs[0], RawQuery: q.Encode()}
	t.cluster, err = redis.ParseClusterURL(cu.String())
	if err != nil {
		return nil, t.redact(fmt.Errorf("WOPIBRIDGE_STATE: %s: %w", t.shown, err))
	}
	t.cluster.Addrs = addrs
	t.cluster.Username, t.cluster.Password = user, password
	t.prefix = RedisClusterKeyPrefix
	return t, nil
}

// takeWait reads and removes the wait options.
func (t *redisTarget) takeWait(q url.Values, def int) error {
	t.wait, t.waitTimeout = def, defaultWaitTimeout
	if v := q.Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("WOPIBRIDGE_STATE: %s: wait=%q: want the number of replicas (0 or more)", t.shown, v)
		}
		t.wait = n
	}
	if v := q.Get("wait_timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("WOPIBRIDGE_STATE: %s: wait_timeout=%q: want a positive duration such as 2s", t.shown, v)
		}
		t.waitTimeout = d
	}
	q.Del("wait")
	q.Del("wait_timeout")
	return nil
}

// splitHosts reads "h1:p1,h2,[::1]:p3", filling in the default port.
func splitHosts(list, port string) ([]string, error) {
	if list == "" {
		return nil, errors.New("no host")
	}
	var addrs []string
	for _, h := range strings.Split(list, ",") {
		if h == "" {
			return nil, fmt.Errorf("empty host in %q", list)
		}
		host, p, err := net.SplitHostPort(h)
		if err != nil {
			// No port: a name, an IPv4 address or a bracketed IPv6 one.
			host, p = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), port
		}
		if host == "" || strings.ContainsAny(host, "[]/ @") {
			return nil, fmt.Errorf("bad host %q", h)
		}
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return nil, fmt.Errorf("bad port in %q", h)
		}
		addrs = append(addrs, net.JoinHostPort(host, p))
	}
	return addrs, nil
}

func (t *redisTarget) redact(err error) error {
	for _, s := range t.secrets {
		err = redact(err, s)
	}
	return err
}
