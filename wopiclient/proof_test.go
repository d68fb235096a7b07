package wopiclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test keys are generated once per test binary; RSA-2048 generation is slow under -race.
var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 5)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

func testKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	return testKeys()[i]
}

func TestTicks(t *testing.T) {
	tests := []struct {
		time  time.Time
		ticks int64
	}{
		{time.Unix(0, 0), 621355968000000000},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		// X-WOPI-TimeStamp of the first request in the real DS capture.
		{time.Date(2026, 11, 23, 5, 53, 21, 332_000_000, time.UTC), 639310100013320000},
		{time.Date(2015, 8, 17, 0, 0, 0, 0, time.UTC), 635753664000000000},
		{time.Date(9999, 12, 31, 23, 59, 59, 999_999_900, time.UTC), 3155378975999999999},
	}
	for _, tt := range tests {
		if got := Ticks(tt.time); got != tt.ticks {
			t.Errorf("Ticks(%s) = %d, want %d", tt.time, got, tt.ticks)
		}
		if got := TimeFromTicks(tt.ticks); !got.Equal(tt.time) {
			t.Errorf("TimeFromTicks(%d) = %s, want %s", tt.ticks, got, tt.time)
		}
	}
	// Sub-tick precision is truncated.
	if got := Ticks(time.Unix(0, 199)); got != 621355968000000001 {
		t.Errorf("Ticks(199ns) = %d", got)
	}
}

func TestCheckTimestamp(t *testing.T) {
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		ticks int64
		want  error
	}{
		{"now", Ticks(now), nil},
		{"19m59s old", Ticks(now.Add(-19*time.Minute - 59*time.Second)), nil},
		{"exactly 20m old", Ticks(now.Add(-20 * time.Minute)), nil},
		{"20m and a tick old", Ticks(now.Add(-20*time.Minute)) - 1, ErrProofExpired},
		{"2015 (validator's TimestampOlderThan20Min)", Ticks(time.Date(2015, 8, 17, 0, 0, 0, 0, time.UTC)), ErrProofExpired},
		{"4m ahead", Ticks(now.Add(4 * time.Minute)), nil},
		{"6m ahead", Ticks(now.Add(6 * time.Minute)), ErrProofFuture},
		{"zero", 0, ErrProofInvalid},
		{"negative", -5, ErrProofInvalid},
		{"max", 1<<63 - 1, ErrProofFuture},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckTimestamp(tt.ticks, now)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("CheckTimestamp = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestProofInput(t *testing.T) {
	const token = "tök" // 4 bytes of UTF-8, not upper-cased
	const u = "http://h/wopi/files/a?access_token=t%C3%B6k"
	const upper = "HTTP://H/WOPI/FILES/A?ACCESS_TOKEN=T%C3%B6K"
	want := "00000004" + hex.EncodeToString([]byte(token)) +
		fmt.Sprintf("%08x", len(upper)) + hex.EncodeToString([]byte(upper)) +
		"00000008" + "0102030405060708"
	if got := hex.EncodeToString(ProofInput(token, u, 0x0102030405060708)); got != want {
		t.Errorf("ProofInput =\n%s\nwant\n%s", got, want)
	}
	if got := hex.EncodeToString(ProofInput("", "", 0)); got != "0000000000000000000000080000000000000000" {
		t.Errorf("empty ProofInput = %s", got)
	}
}

type msVectors struct {
	Keys  ProofKeyInfo `json:"keys"`
	Cases []struct {
		Name        string `json:"name"`
		Valid       bool   `json:"valid"`
		AccessToken string `json:"accessToken"`
		Ticks       int64  `json:"ticks"`
		URL         string `json:"url"`
		Proof       string `json:"proof"`
		ProofOld    string `json:"proofOld"`
	} `json:"cases"`
}

// Microsoft's published proof-key test vectors (testdata/README.md).
func TestProofMicrosoftVectors(t *testing.T) {
	var v msVectors
	if err := json.Unmarshal(readTestdata(t, "ms-proof-vectors.json"), &v); err != nil {
		t.Fatal(err)
	}
	keys, err := v.Keys.Keys() // also cross-checks the PUBLICKEYBLOBs against modulus/exponent
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) != 8 {
		t.Fatalf("%d cases, want 8", len(v.Cases))
	}
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			err := VerifyProof(keys, c.AccessToken, c.URL, c.Ticks, c.Proof, c.ProofOld)
			if c.Valid && err != nil {
				t.Fatalf("VerifyProof = %v, want nil", err)
			}
			if !c.Valid {
				if !errors.Is(err, ErrProofInvalid) {
					t.Fatalf("VerifyProof = %v, want ErrProofInvalid", err)
				}
				return
			}
			// Each valid case passes through the combination its name gives, and only it.
			h := sha256.Sum256(ProofInput(c.AccessToken, c.URL, c.Ticks))
			combos := map[string]bool{
				"proof/current":    verifySignature(keys.Current, h[:], c.Proof),
				"proofOld/current": verifySignature(keys.Current, h[:], c.ProofOld),
				"proof/old":        verifySignature(keys.Old, h[:], c.Proof),
			}
			var want string
			switch {
			case strings.HasPrefix(c.Name, "proofOld verifies with the current key"):
				want = "proofOld/current"
			case strings.HasPrefix(c.Name, "proof verifies with the current key"):
				want = "proof/current"
			case strings.HasPrefix(c.Name, "proof verifies with the old key"):
				want = "proof/old"
			}
			if !combos[want] {
				t.Errorf("combination %s does not verify: %v", want, combos)
			}
			// A mutated timestamp, token or URL fails.
			for name, err := range map[string]error{
				"ticks+1": VerifyProof(keys, c.AccessToken, c.URL, c.Ticks+1, c.Proof, c.ProofOld),
				"token":   VerifyProof(keys, c.AccessToken+"x", c.URL, c.Ticks, c.Proof, c.ProofOld),
				"url":     VerifyProof(keys, c.AccessToken, c.URL+"&x=1", c.Ticks, c.Proof, c.ProofOld),
			} {
				if !errors.Is(err, ErrProofInvalid) {
					t.Errorf("mutated %s: %v, want ErrProofInvalid", name, err)
				}
			}
			// The URL is compared upper-cased.
			if err := VerifyProof(keys, c.AccessToken, strings.ToLower(c.URL), c.Ticks, c.Proof, c.ProofOld); err != nil {
				t.Errorf("lower-cased URL: %v", err)
			}
		})
	}
}

type capturedRequest struct {
	Seq        int         `json:"seq"`
	Time       time.Time   `json:"time"`
	Method     string      `json:"method"`
	URL        string      `json:"url"`
	RawHeaders [][2]string `json:"rawHeaders"`
}

func loadCapturedRequests(t testing.TB) []capturedRequest {
	t.Helper()
	var out []capturedRequest
	sc := bufio.NewScanner(bytes.NewReader(readTestdata(t, "real-ds-wopi-requests.jsonl")))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r capturedRequest
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The real DocService's signed requests verify with the keys of its real discovery.
func TestProofRealDocumentServer(t *testing.T) {
	keys, err := parseTestdata(t, "discovery-real.xml").ProofKeys()
	if err != nil {
		t.Fatal(err)
	}
	public := mustURL(t, "http://127.0.0.1:9100") // the WOPISrc authority DS was given
	var signed []int
	needsQuoteVariant := 0
	for _, c := range loadCapturedRequests(t) {
		r := httptest.NewRequest(c.Method, c.URL, nil)
		r.Host = "attacker.example" // never used
		for _, h := range c.RawHeaders {
			r.Header.Add(h[0], h[1])
		}
		if r.Header.Get("X-WOPI-Proof") == "" {
			continue
		}
		signed = append(signed, c.Seq)
		t.Run(fmt.Sprintf("%d %s %s", c.Seq, c.Method, c.URL), func(t *testing.T) {
			token := r.URL.Query().Get("access_token")
			ticks, err := strconv.ParseInt(r.Header.Get("X-WOPI-TimeStamp"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			proof, proofOld := r.Header.Get("X-WOPI-Proof"), r.Header.Get("X-WOPI-ProofOld")

			v, err := NewProofVerifier(ProofVerifierOptions{
				Keys:      func(context.Context) (ProofKeys, error) { return keys, nil },
				PublicURL: public,
				Now:       func() time.Time { return c.Time },
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(context.Background(), r, token); err != nil {
				t.Fatalf("Verify: %v", err)
			}

			// Which key signs which header, as the openssl check found.
			signedURL := proofURLCandidates(ProofURL(public, r))
			u := signedURL[len(signedURL)-1]
			h := sha256.Sum256(ProofInput(token, u, ticks))
			got := [4]bool{
				verifySignature(keys.Current, h[:], proof), verifySignature(keys.Old, h[:], proof),
				verifySignature(keys.Current, h[:], proofOld), verifySignature(keys.Old, h[:], proofOld),
			}
			if got != [4]bool{true, false, false, true} {
				t.Errorf("proof/current, proof/old, proofOld/current, proofOld/old = %v", got)
			}
			if len(signedURL) > 1 {
				needsQuoteVariant++
				if err := VerifyProof(keys, token, signedURL[0], ticks, proof, proofOld); err == nil {
					t.Error("the wire URL with %27 verified; the capture says DS signed '")
				}
			}
			if err := VerifyProof(keys, token, u, ticks+1, proof, proofOld); !errors.Is(err, ErrProofInvalid) {
				t.Errorf("ticks+1: %v, want ErrProofInvalid", err)
			}
			if err := VerifyProof(ProofKeys{Current: keys.Old, Old: keys.Current}, token, u, ticks, proofOld, proof); err != nil {
				t.Errorf("headers and keys swapped: %v", err)
			}
		})
	}
	if len(signed) != 38 {
		t.Errorf("%d signed requests, want 38", len(signed))
	}
	if needsQuoteVariant != 2 {
		t.Errorf("%d requests needed the ' variant, want 2 (the token with ')", needsQuoteVariant)
	}
	// The same requests the independent openssl check verified.
	var checked []int
	for _, m := range regexp.MustCompile(`(?m)^\[(\d+)\] `).FindAllStringSubmatch(string(readTestdata(t, "real-ds-proof-verification.txt")), -1) {
		n, _ := strconv.Atoi(m[1])
		checked = append(checked, n)
	}
	if fmt.Sprint(checked) != fmt.Sprint(signed) {
		t.Errorf("openssl checked %v, the capture has signed %v", checked, signed)
	}
}

func TestProofRoundTrip(t *testing.T) {
	a, b, c := testKey(t, 0), testKey(t, 1), testKey(t, 2)
	const token = "tok-Ä+/=&' 1"
	const u = "https://bridge.example/wopi/files/f1?access_token=tok-%C3%84%2B%2F%3D%26'%201"
	ticks := Ticks(time.Now())
	sign := func(k *rsa.PrivateKey) string {
		s, err := Sign(k, token, u, ticks)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name            string
		host            ProofKeys
		proof, proofOld string
		ok              bool
	}{
		{"in sync", ProofKeys{&a.PublicKey, &b.PublicKey}, sign(a), sign(b), true},
		{"same key twice", ProofKeys{&a.PublicKey, &a.PublicKey}, sign(a), sign(a), true},
		{"no old key at the host", ProofKeys{Current: &a.PublicKey}, sign(a), sign(b), true},
		{"client rotated, host behind", ProofKeys{&a.PublicKey, &b.PublicKey}, sign(c), sign(a), true},
		{"host rotated, client behind", ProofKeys{&c.PublicKey, &a.PublicKey}, sign(a), sign(b), true},
		{"only proofOld matches the old key", ProofKeys{&a.PublicKey, &b.PublicKey}, sign(c), sign(b), false},
		{"unknown keys", ProofKeys{&a.PublicKey, &b.PublicKey}, sign(c), sign(c), false},
		{"empty proofs", ProofKeys{&a.PublicKey, &b.PublicKey}, "", "", false},
		{"not base64", ProofKeys{&a.PublicKey, &b.PublicKey}, "%%%", "***", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyProof(tt.host, token, u, ticks, tt.proof, tt.proofOld)
			if tt.ok && err != nil {
				t.Errorf("VerifyProof = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrProofInvalid) {
				t.Errorf("VerifyProof = %v, want ErrProofInvalid", err)
			}
		})
	}
	if err := VerifyProof(ProofKeys{}, token, u, ticks, sign(a), ""); !errors.Is(err, ErrNoProofKey) {
		t.Errorf("no keys: %v, want ErrNoProofKey", err)
	}
	if _, err := Sign(nil, token, u, ticks); err == nil {
		t.Error("Sign(nil): no error")
	}
}

func TestPublicKeyBlob(t *testing.T) {
	k := &testKey(t, 0).PublicKey
	got, err := ParsePublicKeyBlob(PublicKeyBlob(k))
	if err != nil || !got.Equal(k) {
		t.Fatalf("round trip: %v", err)
	}
	blob := PublicKeyBlob(k)
	for name, mutate := range map[string]func([]byte) []byte{
		"short":         func(b []byte) []byte { return b[:19] },
		"type":          func(b []byte) []byte { b[0] = 7; return b },
		"algorithm":     func(b []byte) []byte { b[5] = 0x66; return b },
		"magic":         func(b []byte) []byte { b[11] = '2'; return b },
		"length":        func(b []byte) []byte { return b[:len(b)-1] },
		"bit length":    func(b []byte) []byte { b[12] = 7; return b },
		"even exponent": func(b []byte) []byte { b[16] = 2; return b },
	} {
		b := mutate(bytes.Clone(blob))
		if _, err := ParsePublicKeyBlob(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestProofKeyInfoElement(t *testing.T) {
	a, b := testKey(t, 0), testKey(t, 1)
	doc := `<?xml version="1.0" encoding="utf-8"?><wopi-discovery><net-zone name="external-http"/>` +
		NewProofKeyInfo(&a.PublicKey, &b.PublicKey).Element() + `</wopi-discovery>`
	d, err := ParseDiscovery(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := d.ProofKeys()
	if err != nil || !keys.Equal(ProofKeys{&a.PublicKey, &b.PublicKey}) {
		t.Fatalf("keys = %v", err)
	}
	if info := NewProofKeyInfo(&a.PublicKey, nil); info.OldModulus != info.Modulus || info.Exponent != "AQAB" {
		t.Errorf("NewProofKeyInfo(a, nil) = %+v", info)
	}
}

func TestProofURL(t *testing.T) {
	tests := []struct {
		public, target, want string
	}{
		{"http://127.0.0.1:9100", "/wopi/files/abc?access_token=at-simple-123",
			"http://127.0.0.1:9100/wopi/files/abc?access_token=at-simple-123"},
		{"https://bridge.example/", "/wopi/files/abc/contents?access_token=a%2Bb",
			"https://bridge.example/wopi/files/abc/contents?access_token=a%2Bb"},
		{"https://example.com/office/bridge/", "/wopi/files/x%2Fy?access_token=t&access_token_ttl=0",
			"https://example.com/office/bridge/wopi/files/x%2Fy?access_token=t&access_token_ttl=0"},
		{"https://bridge.example", "/wopi/files/a'b?access_token=%27", "https://bridge.example/wopi/files/a'b?access_token=%27"},
		{"https://bridge.example", "/wopi/files/a", "https://bridge.example/wopi/files/a"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, tt.target, nil)
		r.Host = "internal:8080"
		r.Header.Set("X-Forwarded-Host", "evil.example")
		if got := ProofURL(mustURL(t, tt.public), r); got != tt.want {
			t.Errorf("ProofURL(%q, %q) = %q, want %q", tt.public, tt.target, got, tt.want)
		}
	}
	got := proofURLCandidates("http://h/wopi/files/a%27?access_token=x%27y")
	if len(got) != 2 || got[1] != "http://h/wopi/files/a%27?access_token=x'y" {
		t.Errorf("candidates = %q", got)
	}
}

// keySource plays the discovery cache for the verifier: Keys serves what it holds,
// Refresh loads next and counts.
type keySource struct {
	mu        sync.Mutex
	cur, next ProofKeys
	err       error
	refreshes atomic.Int64
}

func (s *keySource) Keys(context.Context) (ProofKeys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur, s.err
}

func (s *keySource) Refresh(context.Context) (ProofKeys, error) {
	s.refreshes.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = s.next
	return s.cur, s.err
}

func signedRequest(t *testing.T, method, target string, current, old *rsa.PrivateKey, token string, at time.Time) *http.Request {
	t.Helper()
	// The client signs the URL it was given (the public one); the request arrives
	// through a proxy at an internal address.
	out, err := http.NewRequest(method, "https://bridge.example"+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := SignRequest(out, current, old, token, at); err != nil {
		t.Fatal(err)
	}
	in := httptest.NewRequest(method, target, nil)
	in.Host = "10.0.0.5:8080"
	in.Header = out.Header.Clone()
	return in
}

func TestProofVerifier(t *testing.T) {
	a, b, c := testKey(t, 0), testKey(t, 1), testKey(t, 2)
	public := mustURL(t, "https://bridge.example")
	clock := newFakeClock()
	newVerifier := func(src *keySource) *ProofVerifier {
		v, err := NewProofVerifier(ProofVerifierOptions{Keys: src.Keys, Refresh: src.Refresh, PublicURL: public, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const target = "/wopi/files/f1?access_token=tok"
	ctx := context.Background()

	t.Run("valid, no refresh", func(t *testing.T) {
		src := &keySource{cur: ProofKeys{&a.PublicKey, &b.PublicKey}}
		r := signedRequest(t, "POST", target, a, b, "tok", clock.Now())
		if err := newVerifier(src).Verify(ctx, r, "tok"); err != nil {
			t.Fatal(err)
		}
		if src.refreshes.Load() != 0 {
			t.Error("refreshed discovery for a valid proof")
		}
	})

	t.Run("missing and malformed headers", func(t *testing.T) {
		src := &keySource{cur: ProofKeys{&a.PublicKey, nil}}
		v := newVerifier(src)
		for name, edit := range map[string]func(h http.Header){
			"no proof":     func(h http.Header) { h.Del("X-WOPI-Proof") },
			"no timestamp": func(h http.Header) { h.Del("X-WOPI-TimeStamp") },
		} {
			r := signedRequest(t, "GET", target, a, nil, "tok", clock.Now())
			edit(r.Header)
			if err := v.Verify(ctx, r, "tok"); !errors.Is(err, ErrProofMissing) {
				t.Errorf("%s: %v, want ErrProofMissing", name, err)
			}
		}
		r := signedRequest(t, "GET", target, a, nil, "tok", clock.Now())
		r.Header.Set("X-WOPI-TimeStamp", "12x")
		if err := v.Verify(ctx, r, "tok"); !errors.Is(err, ErrProofInvalid) {
			t.Errorf("bad timestamp: %v", err)
		}
		r = signedRequest(t, "GET", target, a, nil, "tok", clock.Now().Add(-21*time.Minute))
		if err := v.Verify(ctx, r, "tok"); !errors.Is(err, ErrProofExpired) {
			t.Errorf("old timestamp: %v", err)
		}
		r = signedRequest(t, "GET", target, a, nil, "tok", clock.Now().Add(time.Hour))
		if err := v.Verify(ctx, r, "tok"); !errors.Is(err, ErrProofFuture) {
			t.Errorf("future timestamp: %v", err)
		}
		if src.refreshes.Load() != 0 {
			t.Error("refreshed discovery for a request without a valid timestamp")
		}
	})

	t.Run("host name and token are bound", func(t *testing.T) {
		src := &keySource{cur: ProofKeys{&a.PublicKey, &b.PublicKey}, next: ProofKeys{&a.PublicKey, &b.PublicKey}}
		v := newVerifier(src)
		r := signedRequest(t, "GET", target, a, b, "tok", clock.Now())
		if err := v.Verify(ctx, r, "other"); !errors.Is(err, ErrProofInvalid) {
			t.Errorf("other token: %v", err)
		}
		other, _ := NewProofVerifier(ProofVerifierOptions{Keys: src.Keys, PublicURL: mustURL(t, "https://elsewhere.example"), Now: clock.Now})
		if err := other.Verify(ctx, r, "tok"); !errors.Is(err, ErrProofInvalid) {
			t.Errorf("other public URL: %v", err)
		}
	})

	t.Run("DS restarted with new keys: one refresh", func(t *testing.T) {
		src := &keySource{cur: ProofKeys{&a.PublicKey, &b.PublicKey}, next: ProofKeys{&c.PublicKey, &c.PublicKey}}
		v := newVerifier(src)
		for range 5 {
			r := signedRequest(t, "GET", target, c, c, "tok", clock.Now())
			if err := v.Verify(ctx, r, "tok"); err != nil {
				t.Fatal(err)
			}
		}
		if n := src.refreshes.Load(); n != 1 {
			t.Errorf("%d refreshes, want 1", n)
		}
	})

	t.Run("forged flood refreshes at most once per interval", func(t *testing.T) {
		src := &keySource{cur: ProofKeys{&a.PublicKey, &b.PublicKey}, next: ProofKeys{&a.PublicKey, &b.PublicKey}}
		// An interval longer than the longest wait: failures after a refresh give up
		// at once.
		v, err := NewProofVerifier(ProofVerifierOptions{Keys: src.Keys, Refresh: src.Refresh, PublicURL: public, Now: clock.Now,
			MinRefreshInterval: 10 * time.Second, MaxRefreshWait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 20 {
			r := signedRequest(t, "GET", target, c, c, "tok", clock.Now())
			wg.Go(func() {
				if err := v.Verify(ctx, r, "tok"); !errors.Is(err, ErrProofInvalid) {
					t.Errorf("forged: %v", err)
				}
			})
		}
		wg.Wait()
		// concurrent first failures may each refresh (the cache makes them one fetch);
		// sequential ones within the interval do not.
		first := src.refreshes.Load()
		for range 10 {
			r := signedRequest(t, "GET", target, c, c, "tok", clock.Now())
			_ = v.Verify(ctx, r, "tok")
		}
		if n := src.refreshes.Load(); n != first || first < 1 {
			t.Errorf("refreshes: %d after the burst, %d after 10 more; want no more", first, n)
		}
		clock.Advance(11 * time.Second)
		r := signedRequest(t, "GET", target, c, c, "tok", clock.Now())
		_ = v.Verify(ctx, r, "tok")
		if n := src.refreshes.Load(); n != first+1 {
			t.Errorf("after the interval: %d refreshes, want %d", n, first+1)
		}
	})

	t.Run("key source errors", func(t *testing.T) {
		boom := errors.New("DS unreachable")
		src := &keySource{err: boom}
		r := signedRequest(t, "GET", target, a, nil, "tok", clock.Now())
		err := newVerifier(src).Verify(ctx, r, "tok")
		if !errors.Is(err, boom) || errors.Is(err, ErrProofInvalid) {
			t.Errorf("Keys error: %v", err)
		}
		src = &keySource{err: ErrNoProofKey}
		if err := newVerifier(src).Verify(ctx, r, "tok"); !errors.Is(err, ErrNoProofKey) {
			t.Errorf("no keys: %v", err)
		}
	})

	t.Run("constructor", func(t *testing.T) {
		if _, err := NewProofVerifier(ProofVerifierOptions{PublicURL: public}); err == nil {
			t.Error("no Keys accepted")
		}
		if _, err := NewProofVerifier(ProofVerifierOptions{Keys: (&keySource{}).Keys, PublicURL: mustURL(t, "/x")}); err == nil {
			t.Error("relative public URL accepted")
		}
	})
}

// End to end: a Document Server restarted with new proof keys, the cache and the
// verifier; the first request after the restart refreshes discovery once.
func TestProofVerifierWithDiscoveryCache(t *testing.T) {
	a, b, c := testKey(t, 0), testKey(t, 1), testKey(t, 2)
	discovery := func(cur, old *rsa.PrivateKey) string {
		return `<?xml version="1.0" encoding="utf-8"?><wopi-discovery><net-zone name="external-http">` +
			`<app name="Word" favIconUrl="http://ds/f.ico"><action name="edit" ext="docx" default="true" urlsrc="http://ds/hosting/wopi/word/edit?&lt;ui=UI_LLCC&amp;&gt;&amp;"/></app>` +
			`</net-zone>` + NewProofKeyInfo(&cur.PublicKey, &old.PublicKey).Element() + `</wopi-discovery>`
	}
	ds := newFakeDS(t, discovery(a, b))
	clock := newFakeClock()
	cache := newTestCache(t, ds.URL, clock)
	v, err := NewProofVerifier(ProofVerifierOptions{
		Keys: cache.ProofKeys, Refresh: cache.RefreshProofKeys,
		PublicURL: mustURL(t, "https://bridge.example"), Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const target = "/wopi/files/f1/contents?access_token=tok"
	if err := v.Verify(ctx, signedRequest(t, "GET", target, a, b, "tok", clock.Now()), "tok"); err != nil {
		t.Fatal(err)
	}
	ds.set(http.StatusOK, discovery(c, c)) // restart with new keys
	if err := v.Verify(ctx, signedRequest(t, "POST", target, c, c, "tok", clock.Now()), "tok"); err != nil {
		t.Fatalf("first request after the restart: %v", err)
	}
	var wg sync.WaitGroup
	for range 10 {
		r := signedRequest(t, "GET", target, c, c, "tok", clock.Now())
		wg.Go(func() {
			if err := v.Verify(ctx, r, "tok"); err != nil {
				t.Errorf("after restart: %v", err)
			}
		})
	}
	wg.Wait()
	if n := ds.requests.Load(); n != 2 {
		t.Errorf("%d discovery requests, want 2 (initial + one refresh)", n)
	}
}
