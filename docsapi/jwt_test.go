package docsapi

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestSignVerifyBodyRoundTrip(t *testing.T) {
	claims := json.RawMessage(`{"key":"k.1","status":2,"users":["u-1"],"nested":{"a":[1,2]},"exp":4102444800}`)
	tok, err := Sign(claims, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyBody(tok, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(claims) {
		t.Errorf("claims = %s, want %s", got, claims)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	seg, err := jwt.NewParser().DecodeSegment(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr map[string]any
	if err := json.Unmarshal(seg, &hdr); err != nil {
		t.Fatal(err)
	}
	if hdr["alg"] != "HS256" || hdr["typ"] != "JWT" {
		t.Errorf("header = %v, want alg HS256, typ JWT", hdr)
	}
}

func TestSignTimed(t *testing.T) {
	now := time.Unix(1795413377, 0)
	tok, err := SignTimed(map[string]any{"c": "version"}, testSecret, now, TokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	seg, err := jwt.NewParser().DecodeSegment(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(seg, &c); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"c": "version", "iat": float64(1795413377), "exp": float64(1795413677)}
	if len(c) != len(want) {
		t.Fatalf("claims = %v, want %v", c, want)
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
}

func TestSignRejects(t *testing.T) {
	tests := []struct {
		name   string
		claims any
		secret []byte
	}{
		{"empty secret", map[string]any{"a": 1}, nil},
		{"array", []int{1}, testSecret},
		{"string", "x", testSecret},
		{"null", nil, testSecret},
		{"unmarshalable", map[string]any{"f": func() {}}, testSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, err := Sign(tt.claims, tt.secret); err == nil {
				t.Errorf("Sign = %q, want error", tok)
			}
			if tok, err := SignTimed(tt.claims, tt.secret, time.Now(), time.Minute); err == nil {
				t.Errorf("SignTimed = %q, want error", tok)
			}
		})
	}
}

func TestVerifyBodyRejects(t *testing.T) {
	now := time.Now()
	claims := jwt.MapClaims{"key": "k", "status": 2}
	signWith := func(m jwt.SigningMethod, key any, c jwt.Claims) string {
		t.Helper()
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := SignTimed(claims, testSecret, now.Add(-10*time.Minute), TokenTTL)
	notYet := signWith(jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"key": "k", "nbf": now.Add(5 * time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrNoToken},
		{"alg none", signWith(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims), ErrBadToken},
		{"alg none by hand", handToken(`{"alg":"none","typ":"JWT"}`, `{"key":"k"}`, nil), ErrBadToken},
		{"HS384", signWith(jwt.SigningMethodHS384, testSecret, claims), ErrBadToken},
		{"HS512", signWith(jwt.SigningMethodHS512, testSecret, claims), ErrBadToken},
		{"RS256", signWith(jwt.SigningMethodRS256, rsaKey, claims), ErrBadToken},
		{"no alg", handToken(`{"typ":"JWT"}`, `{"key":"k"}`, testSecret), ErrBadToken},
		{"wrong secret", signWith(jwt.SigningMethodHS256, otherSecret, claims), ErrBadToken},
		{"expired", expired, ErrTokenExpired},
		{"not yet valid", notYet, ErrTokenExpired},
		{"two segments", "a.b", ErrBadToken},
		{"garbage", "not a token", ErrBadToken},
		{"bad base64", "!!!.@@@.###", ErrBadToken},
		{"claims null", handToken(`{"alg":"HS256","typ":"JWT"}`, `null`, testSecret), ErrBadToken},
		{"claims array", handToken(`{"alg":"HS256","typ":"JWT"}`, `[1,2]`, testSecret), ErrBadToken},
		{"claims string", handToken(`{"alg":"HS256","typ":"JWT"}`, `"x"`, testSecret), ErrBadToken},
		{"exp not a number", handToken(`{"alg":"HS256","typ":"JWT"}`, `{"exp":"soon"}`, testSecret), ErrBadToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyBody(tt.token, testSecret)
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyBody = %s, %v; want %v", got, err, tt.want)
			}
			if tt.want == ErrTokenExpired && !errors.Is(err, ErrBadToken) {
				t.Errorf("expired error %v does not match ErrBadToken", err)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func TestVerifyBodyNoSecret(t *testing.T) {
	tok, _ := Sign(map[string]any{"a": 1}, testSecret)
	if _, err := VerifyBody(tok, nil); !errors.Is(err, ErrNoSecret) {
		t.Errorf("err = %v, want ErrNoSecret", err)
	}
}

func TestVerifyBodyLeeway(t *testing.T) {
	tests := []struct {
		name    string
		expAgo  time.Duration
		wantErr error
	}{
		{"expired 30s ago, within clock skew", 30 * time.Second, nil},
		{"expired 90s ago", 90 * time.Second, ErrTokenExpired},
		{"no exp at all", 0, ErrBadToken}, // DS always sets exp: a token without one would never expire
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := map[string]any{"k": "v"}
			if tt.expAgo != 0 {
				c["exp"] = time.Now().Add(-tt.expAgo).Unix()
			}
			tok, err := Sign(c, testSecret)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyBody(tok, testSecret); !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		want   string
		err    error
	}{
		{"", "", ErrNoToken},
		{"   ", "", ErrNoToken},
		{"Bearer", "", ErrBadHeader},
		{"Bearer ", "", ErrBadHeader},
		{"Bearer  ", "", ErrBadHeader},
		{"Bearer\t", "", ErrBadHeader},
		{"Basic x", "", ErrBadHeader},
		{"Basic dXNlcjpwYXNz", "", ErrBadHeader},
		{"Bearerx.y.z", "", ErrBadHeader},
		{"x.y.z", "", ErrBadHeader},
		{"Bearer a.b c", "", ErrBadHeader},
		{"Bearer a.b\x00c", "", ErrBadHeader},
		{"Bearer a.b.c", "a.b.c", nil},
		{"bearer a.b.c", "a.b.c", nil},
		{"BEARER   a.b.c  ", "a.b.c", nil},
		{" Bearer a.b.c", "a.b.c", nil},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, err := BearerToken(tt.header)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestVerifyHeader(t *testing.T) {
	now := time.Now()
	payload := map[string]any{"key": "k", "status": 4}
	good := headerFor(t, payload, testSecret, now)
	flat, _ := SignTimed(payload, testSecret, now, TokenTTL)
	arrayPayload, _ := Sign(map[string]any{"payload": []int{1}}, testSecret)
	tests := []struct {
		name   string
		header string
		want   string
		err    error
	}{
		{"payload wrapper", good, `{"key":"k","status":4}`, nil},
		{"lower-case scheme", "bearer " + strings.TrimPrefix(good, "Bearer "), `{"key":"k","status":4}`, nil},
		{"empty", "", "", ErrNoToken},
		{"Bearer", "Bearer", "", ErrBadHeader},
		{"Bearer two spaces", "Bearer  ", "", ErrBadHeader},
		{"Basic", "Basic x", "", ErrBadHeader},
		{"bare token", strings.TrimPrefix(good, "Bearer "), "", ErrBadHeader},
		{"flat claims, no payload", BearerHeader(flat), "", ErrBadToken},
		{"payload not an object", BearerHeader(arrayPayload), "", ErrBadToken},
		{"wrong secret", headerFor(t, payload, otherSecret, now), "", ErrBadToken},
		{"expired", headerFor(t, payload, testSecret, now.Add(-time.Hour)), "", ErrTokenExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyHeader(tt.header, testSecret)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if string(got) != tt.want {
				t.Errorf("payload = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestVerifyDownload(t *testing.T) {
	// The fixture's claims, re-timed to now.
	var fixture struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(readTestdata(t, "download-get-header-claims.json"), &fixture); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name   string
		header string
		want   string
		err    error
	}{
		{"fixture", headerFor(t, fixture.Payload, testSecret, now), "https://bridge.example.net/dl/8c1d2a?v=17&sig=abc", nil},
		{"no url", headerFor(t, map[string]any{"key": "k"}, testSecret, now), "", ErrBadToken},
		{"url not a string", headerFor(t, map[string]any{"url": 7}, testSecret, now), "", ErrBadToken},
		{"wrong secret", headerFor(t, fixture.Payload, otherSecret, now), "", ErrBadToken},
		{"expired", headerFor(t, fixture.Payload, testSecret, now.Add(-10*time.Minute)), "", ErrTokenExpired},
		{"no header", "", "", ErrNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyDownload(tt.header, testSecret)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("VerifyDownload = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"", "Bearer", "Bearer ", "Bearer  ", "Basic x", "bearer a.b.c", "BEARER\ta", "Bearer a b", " \t", "Bearer \u00a0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := BearerToken(header)
		if err != nil {
			if tok != "" {
				t.Fatalf("token %q with error %v", tok, err)
			}
			if !errors.Is(err, ErrNoToken) && !errors.Is(err, ErrBadHeader) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if tok == "" || strings.ContainsFunc(tok, isSpaceOrControl) {
			t.Fatalf("token %q from %q", tok, header)
		}
		if !strings.HasSuffix(strings.TrimSpace(header), tok) ||
			!strings.EqualFold(strings.TrimSpace(header)[:6], "bearer") {
			t.Fatalf("token %q is not the credential of %q", tok, header)
		}
		// Verification of whatever came out never panics either.
		_, _ = VerifyHeader(header, testSecret)
	})
}
