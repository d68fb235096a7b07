package state

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRedisURL(t *testing.T) {
	type want struct {
		mode        redisMode
		addrs       []string
		db          int
		master      string
		user, pass  string
		sentPass    string
		wait        int
		waitTimeout time.Duration
		prefix      string
		tls         bool
		poolSize    int
	}
	tests := []struct {
		url  string
		want want
	}{
		{"redis://r:6380/2", want{mode: redisSingle, addrs: []string{"r:6380"}, db: 2, waitTimeout: defaultWaitTimeout, prefix: RedisKeyPrefix}},
		{"redis://:pw@r/0?wait=1&wait_timeout=500ms&pool_size=7", want{mode: redisSingle, addrs: []string{"r:6379"}, pass: "pw", wait: 1, waitTimeout: 500 * time.Millisecond, prefix: RedisKeyPrefix, poolSize: 7}},
		{"redis-sentinel://s1:26380,s2,[::1]:26381/3?master=mymaster", want{mode: redisSentinel, addrs: []string{"s1:26380", "s2:26379", "[::1]:26381"}, db: 3, master: "mymaster", wait: 1, waitTimeout: defaultWaitTimeout, prefix: RedisKeyPrefix}},
		{"redis-sentinel://app:pw@s1?master=m&wait=0&sentinel_password=spw&dial_timeout=3s", want{mode: redisSentinel, addrs: []string{"s1:26379"}, master: "m", user: "app", pass: "pw", sentPass: "spw", waitTimeout: defaultWaitTimeout, prefix: RedisKeyPrefix}},
		{"rediss-sentinel://s1:1/0?master=m&wait=2", want{mode: redisSentinel, addrs: []string{"s1:1"}, master: "m", wait: 2, waitTimeout: defaultWaitTimeout, prefix: RedisKeyPrefix, tls: true}},
		{"redis-cluster://n1:7000,n2:7001", want{mode: redisCluster, addrs: []string{"n1:7000", "n2:7001"}, wait: 1, waitTimeout: defaultWaitTimeout, prefix: RedisClusterKeyPrefix}},
		{"redis-cluster://:pw@n1/?wait=0&pool_size=3", want{mode: redisCluster, addrs: []string{"n1:6379"}, pass: "pw", waitTimeout: defaultWaitTimeout, prefix: RedisClusterKeyPrefix, poolSize: 3}},
		{"rediss-cluster://n1:7000/0", want{mode: redisCluster, addrs: []string{"n1:7000"}, wait: 1, waitTimeout: defaultWaitTimeout, prefix: RedisClusterKeyPrefix, tls: true}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			target, err := parseRedisURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			var got want
			got.mode, got.wait, got.waitTimeout, got.prefix = target.mode, target.wait, target.waitTimeout, target.prefix
			switch target.mode {
			case redisSingle:
				o := target.single
				got.addrs, got.db, got.user, got.pass, got.tls, got.poolSize = []string{o.Addr}, o.DB, o.Username, o.Password, o.TLSConfig != nil, o.PoolSize
			case redisSentinel:
				o := target.failover
				got.addrs, got.db, got.master, got.user, got.pass, got.sentPass, got.tls, got.poolSize = o.SentinelAddrs, o.DB, o.MasterName, o.Username, o.Password, o.SentinelPassword, o.TLSConfig != nil, o.PoolSize
			case redisCluster:
				o := target.cluster
				got.addrs, got.user, got.pass, got.tls, got.poolSize = o.Addrs, o.Username, o.Password, o.TLSConfig != nil, o.PoolSize
			}
			if !slices.Equal(got.addrs, tt.want.addrs) {
				t.Errorf("addrs = %q, want %q", got.addrs, tt.want.addrs)
			}
			got.addrs, tt.want.addrs = nil, nil
			if got.poolSize != tt.want.poolSize && tt.want.poolSize != 0 {
				t.Errorf("pool size = %d, want %d", got.poolSize, tt.want.poolSize)
			}
			got.poolSize, tt.want.poolSize = 0, 0
			if got.mode != tt.want.mode || got.db != tt.want.db || got.master != tt.want.master || got.user != tt.want.user ||
				got.pass != tt.want.pass || got.sentPass != tt.want.sentPass || got.wait != tt.want.wait ||
				got.waitTimeout != tt.want.waitTimeout || got.prefix != tt.want.prefix || got.tls != tt.want.tls {
				t.Errorf("parsed %+v\nwant   %+v", got, tt.want)
			}
			for _, secret := range []string{"pw", "spw"} {
				if strings.Contains(tt.url, secret) && strings.Contains(target.shown, ":"+secret+"@") || strings.Contains(target.shown, "="+secret) {
					t.Errorf("shown %q holds a password", target.shown)
				}
			}
		})
	}
}

func TestParseRedisURLErrors(t *testing.T) {
	const pw = "Sekr1t-pw"
	tests := []struct {
		url  string
		want string
	}{
		{"redis-sentinel://s1,s2/0", "needs ?master=<name>"},
		{"redis-sentinel://u:" + pw + "@s1/x?master=m", `database "x" is not a number`},
		{"redis-sentinel://s1,,s2?master=m", "empty host"},
		{"redis-sentinel://s1:99999?master=m", "bad port"},
		{"redis-sentinel://?master=m", "no host"},
		{"redis-sentinel://s1?master=m&wait=-1", "wait="},
		{"redis-sentinel://s1?master=m&wait=two", "wait="},
		{"redis-sentinel://s1?master=m&wait_timeout=soon", "wait_timeout="},
		{"redis-sentinel://:" + pw + "@s1?master=m&colour=blue", "colour"},
		{"redis-sentinel://s1?master=m&sentinel_password=" + pw + "&colour=blue", "colour"},
		{"redis-cluster://n1:7000/2", "only database 0"},
		{"redis-cluster://n1#frag", "no #fragment"},
		{"redis-cluster://:" + pw + "@n1?master=m", "master"},
		{"redis://:" + pw + "@r/0?wait=x", "wait="},
		{"redis+sentinel://s1", "unknown scheme"},
		{"sentinel:s1", "not a redis URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := parseRedisURL(tt.url)
			if err == nil {
				t.Fatal("parsed, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "WOPIBRIDGE_STATE") {
				t.Errorf("error %q, want one naming WOPIBRIDGE_STATE and saying %q", msg, tt.want)
			}
			if strings.Contains(msg, pw) {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
}
