package bridge

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTrip(t *testing.T) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	c := newTokenCodec([]byte("secret"), clock.Now)
	want := accessToken{User: "u'1", Name: "Zoë", Mode: modeView, File: "f/1", Tree: "d1", Exp: clock.Now().Add(time.Minute).UnixMilli()}
	raw := c.sign(want)
	if strings.ContainsAny(raw, "'+/= %&?#") {
		t.Errorf("token %q is not URL-safe", raw)
	}
	got, err := c.verify(raw)
	if err != nil || got != want {
		t.Fatalf("verify = %+v, %v; want %+v", got, err, want)
	}
	other := newTokenCodec([]byte("other secret"), clock.Now)
	if _, err := other.verify(raw); !errors.Is(err, errUnauthenticated) {
		t.Errorf("verified with another secret: %v", err)
	}
	clock.t = clock.t.Add(time.Minute)
	if _, err := c.verify(raw); !errors.Is(err, errUnauthenticated) {
		t.Errorf("verified an expired token: %v", err)
	}
}

func TestTokenRejectsMalformedClaims(t *testing.T) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	c := newTokenCodec([]byte("secret"), clock.Now)
	exp := clock.Now().Add(time.Hour).UnixMilli()
	for _, bad := range []accessToken{
		{Mode: modeEdit, File: "f", Tree: "d", Exp: exp},                         // no user
		{User: "u", Mode: "admin", File: "f", Tree: "d", Exp: exp},               // unknown mode
		{User: "u", Mode: modeEdit, Tree: "d", Exp: exp},                         // no resource
		{User: "u", Mode: modeEdit, File: "f", Folder: "d", Tree: "d", Exp: exp}, // two resources
	} {
		if _, err := c.verify(c.sign(bad)); !errors.Is(err, errUnauthenticated) {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func FuzzVerifyToken(f *testing.F) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	c := newTokenCodec([]byte("secret"), clock.Now)
	claims := accessToken{User: "u", Mode: modeEdit, File: "f", Tree: "d", Exp: clock.Now().Add(time.Hour).UnixMilli()}
	valid := c.sign(claims)
	f.Add(valid)
	f.Add("INVALID")
	f.Add(".")
	f.Add(valid[:len(valid)-1])
	f.Add(valid + "A")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := c.verify(raw)
		if err != nil {
			if !errors.Is(err, errUnauthenticated) {
				t.Fatalf("error %v is not errUnauthenticated", err)
			}
			if len(raw) > 8 && strings.Contains(err.Error(), raw) {
				t.Fatalf("error repeats the token")
			}
			return
		}
		// Without the key, only the signed token (or an encoding of the same bytes)
		// verifies.
		if tok != claims {
			t.Fatalf("verified forged claims %+v from %q", tok, raw)
		}
	})
}

func TestQueryValue(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"access_token=a%2Bb&access_token_ttl=0", "a+b"},
		{"access_token_ttl=0&access_token=x", "x"},
		{"x_access_token=no&access_token=yes", "yes"},
		{"access_token=", ""},
		{"access_token=%zz", ""},
		{"", ""},
	} {
		if got := queryValue(tc.raw, "access_token"); got != tc.want {
			t.Errorf("queryValue(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}
