package config

import (
	"net/netip"
	"reflect"
	"testing"
)

// The parsers must never panic, must only accept what Validate accepts, and must read
// their own String() output back to the same value.

func FuzzParseStorage(f *testing.F) {
	for _, s := range []string{"fs:./data", "fs:", "wopi:https://a.example.com,http://[::1]:8080/", "wopi:,", "s3:x", "wopi:http://a:0", "wopi:https://%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := ParseStorage(spec)
		if err != nil {
			return
		}
		c := Default()
		c.Storage = s
		c.State = DefaultState(s)
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseStorage(%q) = %q, which Validate refuses: %v", spec, s, err)
		}
		again, err := ParseStorage(s.String())
		if err != nil {
			t.Fatalf("ParseStorage(%q) = %q, which does not parse again: %v", spec, s, err)
		}
		if !reflect.DeepEqual(again, s) {
			t.Fatalf("ParseStorage(%q) = %#v, but its String() parses to %#v", spec, s, again)
		}
	})
}

func FuzzParseState(f *testing.F) {
	for _, s := range []string{"bolt:x.db", "bolt:", "redis://r:6379/0", "rediss://:p@r/1?x=y", "redis-sentinel://:p@s1,[::1]:1/0?master=m&sentinel_password=q", "redis-cluster://n1,n2:7001", "redis://", "redis:x", "etcd://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := ParseState(spec)
		if err != nil {
			return
		}
		c := Default()
		c.State = s
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseState(%q) = %+v, which Validate refuses: %v", spec, s, err)
		}
		again, err := ParseState(s.String())
		if err != nil || again != s {
			t.Fatalf("ParseState(%q) = %+v, but its String() parses to %+v, %v", spec, s, again, err)
		}
	})
}

func FuzzParseIPFilter(f *testing.F) {
	for _, s := range []string{"*=allow", "10.0.*=allow,*=deny", "10.0.0.0/8=deny", "::ffff:1.2.3.4/120=allow", "=", "a=b=c", ",,"} {
		f.Add(s, "10.0.0.1")
	}
	f.Fuzz(func(t *testing.T, spec, addr string) {
		rules, err := ParseIPFilter(spec)
		if err != nil {
			return
		}
		c := Default()
		c.IPFilter = rules
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseIPFilter(%q) = %q, which Validate refuses: %v", spec, rules, err)
		}
		again, err := ParseIPFilter(rules.String())
		if err != nil || !reflect.DeepEqual(again, rules) {
			t.Fatalf("ParseIPFilter(%q) = %q, but its String() parses to %q, %v", spec, rules, again, err)
		}
		if a, err := netip.ParseAddr(addr); err == nil {
			rules.Allow(a)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1GiB", "512MB", "100 mib", "0", "-1", "9223372036854775807", "8388608TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
		again, err := ParseSize(FormatSize(n))
		if err != nil || again != n {
			t.Fatalf("ParseSize(%q) = %d, but FormatSize gives %q which parses to %d, %v", s, n, FormatSize(n), again, err)
		}
	})
}
