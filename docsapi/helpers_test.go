package docsapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var (
	testSecret  = []byte("outbox-secret-for-tests-0123456789")
	otherSecret = []byte("some-other-secret-0123456789abcdef")
)

// readTestdata returns testdata/name.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureFields returns the JSON object in testdata/name as fields, without
// its placeholder token.
func fixtureFields(t testing.TB, name string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(readTestdata(t, name), &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	delete(m, "token")
	return m
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signedBody returns fields as DS posts them: the plain fields plus a body
// token over them (flat claims, iat, exp = iat+300).
func signedBody(t testing.TB, fields map[string]json.RawMessage, secret []byte, now time.Time) []byte {
	t.Helper()
	tok, err := SignTimed(fields, secret, now, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]json.RawMessage, len(fields)+1)
	for k, v := range fields {
		out[k] = v
	}
	out["token"] = mustJSON(t, tok)
	return mustJSON(t, out)
}

// headerFor returns the JWT header value DS sends: {payload: fields}.
func headerFor(t testing.TB, fields any, secret []byte, now time.Time) string {
	t.Helper()
	tok, err := SignTimed(map[string]any{"payload": fields}, secret, now, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return BearerHeader(tok)
}

// handToken builds a JWT from raw header and claims JSON, signed with
// HMAC-SHA256 whatever the header says (or unsigned when secret is nil).
func handToken(header, claims string, secret []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	s := enc([]byte(header)) + "." + enc([]byte(claims))
	if secret == nil {
		return s + "."
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(s))
	return s + "." + enc(m.Sum(nil))
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return bytes.Equal(mustJSON(t, va), mustJSON(t, vb))
}
