package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseStorage(t *testing.T) {
	tests := []struct {
		spec    string
		want    string // String() of the result
		wantErr string
	}{
		{spec: "fs:./data", want: "fs:./data"},
		{spec: "  FS:/srv/my docs ", want: "fs:/srv/my docs"},
		{spec: "fs:C:\\docs", want: "fs:C:\\docs"},
		{spec: "wopi:https://wopi.example.com", want: "wopi:https://wopi.example.com"},
		{spec: "wopi:HTTPS://Wopi.Example.com:443/, http://10.0.0.1:80,http://[::1]:9000", want: "wopi:https://wopi.example.com,http://10.0.0.1,http://[::1]:9000"},
		{spec: "wopi:https://wopi.example.com:8443", want: "wopi:https://wopi.example.com:8443"},
		{spec: "", wantErr: "empty"},
		{spec: "data", wantErr: `"data" has no scheme`},
		{spec: "s3:bucket", wantErr: `unknown scheme "s3"`},
		{spec: "fs:", wantErr: "fs: needs a directory"},
		{spec: "wopi:", wantErr: "wopi: needs at least one upstream origin"},
		{spec: "wopi:https://a.example.com/path", wantErr: "only scheme://host[:port] is allowed"},
		{spec: "wopi:https://a.example.com?x", wantErr: "only scheme://host[:port] is allowed"},
		{spec: "wopi:https://user@a.example.com", wantErr: "only scheme://host[:port] is allowed"},
		{spec: "wopi:https://a.example.com:99999", wantErr: `bad port "99999"`},
		{spec: "wopi:ftp://a.example.com", wantErr: "want http:// or https://"},
		{spec: "wopi:https://", wantErr: "no host"},
		{spec: "wopi:https://a b", wantErr: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseStorage(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ParseStorage(%q) error = %v, want one containing %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseStorage(%q): %v", tt.spec, err)
			}
			if got.String() != tt.want {
				t.Errorf("ParseStorage(%q) = %q, want %q", tt.spec, got, tt.want)
			}
		})
	}
}

func TestParseState(t *testing.T) {
	tests := []struct {
		spec    string
		want    StateConfig
		wantErr string
	}{
		{spec: "bolt:/var/lib/wopibridge.db", want: StateConfig{Kind: StateBolt, Path: "/var/lib/wopibridge.db"}},
		{spec: "bolt:state.db", want: StateConfig{Kind: StateBolt, Path: "state.db"}},
		{spec: "redis://redis:6379/0", want: StateConfig{Kind: StateRedis, RedisURL: "redis://redis:6379/0"}},
		{spec: "redis://redis", want: StateConfig{Kind: StateRedis, RedisURL: "redis://redis"}},
		{spec: "rediss://:pw@redis.example.com:6380/3?dial_timeout=3s", want: StateConfig{Kind: StateRedis, RedisURL: "rediss://:pw@redis.example.com:6380/3?dial_timeout=3s"}},
		{spec: "redis-sentinel://:pw@s1:26379,s2,[::1]:26380/2?master=mymaster&wait=1", want: StateConfig{Kind: StateRedis, RedisURL: "redis-sentinel://:pw@s1:26379,s2,[::1]:26380/2?master=mymaster&wait=1"}},
		{spec: "redis-cluster://n1:7000,n2:7001", want: StateConfig{Kind: StateRedis, RedisURL: "redis-cluster://n1:7000,n2:7001"}},
		{spec: "rediss-cluster://n1:7000/0?wait=0", want: StateConfig{Kind: StateRedis, RedisURL: "rediss-cluster://n1:7000/0?wait=0"}},
		{spec: "redis-sentinel://s1,s2/0", wantErr: "needs ?master=<name>"},
		{spec: "redis-sentinel://s1,,s2/0?master=m", wantErr: "no host"},
		{spec: "redis-sentinel://s1:x/0?master=m", wantErr: `bad port "x"`},
		{spec: "redis-sentinel://s1/x?master=m", wantErr: `database "x" is not a number`},
		{spec: "redis-sentinel://s1?master=m&wait=some", wantErr: `wait="some"`},
		{spec: "redis-cluster://n1/3", wantErr: "only database 0"},
		{spec: "", wantErr: "empty"},
		{spec: "wopibridge.db", wantErr: "has no scheme"},
		{spec: "bolt:", wantErr: "bolt: needs a file"},
		{spec: "sqlite:x.db", wantErr: `unknown scheme "sqlite"`},
		{spec: "redis://", wantErr: "no host"},
		{spec: "redis://redis:6379/x", wantErr: `database "x" is not a number`},
		{spec: "redis://redis:6379/0#frag", wantErr: "not a redis URL"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseState(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ParseState(%q) error = %v, want one containing %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseState(%q): %v", tt.spec, err)
			}
			if got != tt.want {
				t.Errorf("ParseState(%q) = %+v, want %+v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestParseIPFilter(t *testing.T) {
	tests := []struct {
		spec    string
		want    IPFilter
		wantErr string
	}{
		{spec: "", want: nil},
		{spec: "*=allow", want: IPFilter{{"*", true}}},
		{spec: " 10.0.* = ALLOW , 192.168.1.0/24=allow, *=deny", want: IPFilter{{"10.0.*", true}, {"192.168.1.0/24", true}, {"*", false}}},
		{spec: "10.1.2.3/8=deny", want: IPFilter{{"10.0.0.0/8", false}}},
		{spec: "0:0:0:0:0:0:0:1=allow", want: IPFilter{{"::1", true}}},
		{spec: "::ffff:10.0.0.1=allow", want: IPFilter{{"10.0.0.1", true}}},
		{spec: "::ffff:10.0.0.0/104=allow", want: IPFilter{{"10.0.0.0/8", true}}},
		{spec: "FE80:*=deny", want: IPFilter{{"fe80:*", false}}},
		{spec: "10.*", wantErr: `rule 1 "10.*" has no =allow or =deny`},
		{spec: "10.*=allow,", wantErr: `rule 2 "" has no =allow or =deny`},
		{spec: "=allow", wantErr: "empty pattern"},
		{spec: "10.*=maybe", wantErr: `action "maybe" is neither allow nor deny`},
		{spec: "host.local=allow", wantErr: `pattern "host.local" may only hold`},
		{spec: "10.0.0.0/40=allow", wantErr: "is not a CIDR prefix"},
		{spec: "::ffff:10.0.0.0/8=allow", wantErr: "is not a CIDR prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseIPFilter(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ParseIPFilter(%q) error = %v, want one containing %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseIPFilter(%q): %v", tt.spec, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseIPFilter(%q) = %q, want %q", tt.spec, got, tt.want)
			}
		})
	}
}

func TestIPFilterAllow(t *testing.T) {
	tests := []struct {
		filter string
		addr   string
		want   bool
	}{
		{"", "203.0.113.9", true},
		{"*=allow", "203.0.113.9", true},
		{"10.0.*=allow,*=deny", "10.0.3.4", true},
		{"10.0.*=allow,*=deny", "10.1.3.4", false},
		{"10.0.*=allow", "10.1.3.4", false},
		{"10.0.0.5=deny,10.0.*=allow", "10.0.0.5", false},
		{"10.0.0.5=deny,10.0.*=allow", "10.0.0.50", true},
		{"192.168.0.0/16=allow,*=deny", "192.168.200.1", true},
		{"192.168.0.0/16=allow,*=deny", "::ffff:192.168.200.1", true},
		{"192.168.0.0/16=allow,*=deny", "192.169.0.1", false},
		{"::1=allow,*=deny", "::1", true},
		{"fe80:*=allow,*=deny", "fe80::1%eth0", true},
		{"*.*.*.1=allow,*=deny", "10.20.30.1", true},
		{"*.*.*.1=allow,*=deny", "10.20.30.11", false},
		{"1*1=allow,*=deny", "1.2.3.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.filter+"/"+tt.addr, func(t *testing.T) {
			f, err := ParseIPFilter(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Allow(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Allow(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestMatchWildcard(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"*", "", true},
		{"*", "abc", true},
		{"a*c", "abbbc", true},
		{"a*c", "abcd", false},
		{"a**", "a", true},
		{"*b*", "abc", true},
		{"*b*", "ac", false},
		{"a*b*c", "aXbYbZc", true},
		{"abc", "ab", false},
	}
	for _, tt := range tests {
		if got := matchWildcard(tt.pattern, tt.s); got != tt.want {
			t.Errorf("matchWildcard(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		s       string
		want    int64
		wantErr bool
	}{
		{s: "1024", want: 1024},
		{s: "100MiB", want: 100 << 20},
		{s: "1GiB", want: 1 << 30},
		{s: "1 gib", want: 1 << 30},
		{s: "512MB", want: 512e6},
		{s: "2kB", want: 2000},
		{s: "3K", want: 3 << 10},
		{s: "1T", want: 1 << 40},
		{s: "7b", want: 7},
		{s: "0", want: 0},
		{s: "", wantErr: true},
		{s: "MiB", wantErr: true},
		{s: "-1", wantErr: true},
		{s: "1.5GiB", wantErr: true},
		{s: "10 apples", wantErr: true},
		{s: "9223372036854775807", want: 1<<63 - 1},
		{s: "9223372036854775808", wantErr: true},
		{s: "8388608TiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			got, err := ParseSize(tt.s)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSize(%q) error = %v, want error %v", tt.s, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tt.s, got, tt.want)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1: "1", 1024: "1KiB", 1536: "1536", 100 << 20: "100MiB", 1 << 30: "1GiB", 3 << 40: "3TiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
