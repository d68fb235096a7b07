package wopiclient

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// A verifier whose waits move the fake clock, and count.
func waitingVerifier(t *testing.T, src *keySource, clock *fakeClock, waits *[]time.Duration) *ProofVerifier {
	t.Helper()
	var mu sync.Mutex
	v, err := NewProofVerifier(ProofVerifierOptions{
		Keys: src.Keys, Refresh: src.Refresh, PublicURL: mustURL(t, "https://bridge.example"), Now: clock.Now,
		MinRefreshInterval: 2 * time.Second, MaxRefreshWait: 5 * time.Second,
		Wait: func(_ context.Context, d time.Duration) error {
			mu.Lock()
			*waits = append(*waits, d)
			mu.Unlock()
			clock.Advance(d)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// DS rotating its keys twice within seconds: the second rotation's first request wants
// a refresh right after the first one's; it waits for the next allowed refresh rather
// than fail. After that refresh, only the keys DS now publishes verify.
func TestProofVerifierWaitsForTheNextRefresh(t *testing.T) {
	k := []*rsa.PrivateKey{testKey(t, 0), testKey(t, 1), testKey(t, 2)}
	d, e := testKey(t, 3), testKey(t, 4)
	clock := newFakeClock()
	ctx := context.Background()
	const target = "/wopi/files/f1?access_token=tok"
	src := &keySource{cur: ProofKeys{&k[0].PublicKey, &k[1].PublicKey}, next: ProofKeys{&k[2].PublicKey, &d.PublicKey}}
	var waits []time.Duration
	v := waitingVerifier(t, src, clock, &waits)

	// First rotation pair: one refresh, no wait.
	if err := v.Verify(ctx, signedRequest(t, "GET", target, k[2], d, "tok", clock.Now()), "tok"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(500 * time.Millisecond)
	// Two more rotations at once: neither key is cached.
	src.mu.Lock()
	src.next = ProofKeys{&e.PublicKey, &k[0].PublicKey}
	src.mu.Unlock()
	if err := v.Verify(ctx, signedRequest(t, "GET", target, e, k[0], "tok", clock.Now()), "tok"); err != nil {
		t.Fatalf("request right after a refresh: %v (waits %v)", err, waits)
	}
	if n := src.refreshes.Load(); n != 2 || len(waits) != 1 || waits[0] != 1500*time.Millisecond {
		t.Fatalf("%d refreshes, waits %v; want 2 and one wait of 1.5s", n, waits)
	}
	// Keys DS no longer publishes are refused after the refresh.
	if err := v.Verify(ctx, signedRequest(t, "GET", target, k[2], d, "tok", clock.Now()), "tok"); !errors.Is(err, ErrProofInvalid) {
		t.Fatalf("request signed with retired keys: %v", err)
	}
}

// A discovery whose proof keys are missing or unusable never replaces the last good
// keys, and is fetched again after RetryInterval rather than TTL.
func TestDiscoveryKeepsTheLastGoodProofKeys(t *testing.T) {
	a, b := testKey(t, 0), testKey(t, 1)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	doc := func(proofKey string) string {
		return `<?xml version="1.0" encoding="utf-8"?><wopi-discovery><net-zone name="external-http">` +
			`<app name="Word" favIconUrl="http://ds/f.ico"><action name="edit" ext="docx" default="true" urlsrc="http://ds/hosting/wopi/word/edit?&lt;ui=UI_LLCC&amp;&gt;&amp;"/></app>` +
			`</net-zone>` + proofKey + `</wopi-discovery>`
	}
	good := NewProofKeyInfo(&a.PublicKey, &b.PublicKey).Element()
	bad := map[string]string{
		"missing":    "",
		"1024 bits":  NewProofKeyInfo(&small.PublicKey, &small.PublicKey).Element(),
		"exponent 1": NewProofKeyInfo(&rsa.PublicKey{N: a.N, E: 1}, &rsa.PublicKey{N: b.N, E: 1}).Element(),
		"not base64": `<proof-key oldvalue="!" oldmodulus="!" oldexponent="!" value="!" modulus="!" exponent="!"/>`,
		"10000 bits": NewProofKeyInfo(&rsa.PublicKey{N: new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 9999), big.NewInt(1)), E: 65537}, &a.PublicKey).Element(),
	}
	wantErr := map[string]string{
		"missing": "no proof key", "1024 bits": "too small", "exponent 1": "exponent 1 is not usable",
		"not base64": "illegal base64", "10000 bits": "too large",
	}
	for name, el := range bad {
		t.Run(name, func(t *testing.T) {
			// With no good keys before: the error says what is wrong.
			ds := newFakeDS(t, doc(el))
			clock := newFakeClock()
			cache := newTestCache(t, ds.URL, clock)
			_, err := cache.ProofKeys(context.Background())
			if err == nil || !strings.Contains(err.Error(), wantErr[name]) {
				t.Fatalf("keys of a discovery with %s: %v, want %q", name, err, wantErr[name])
			}
			if name != "missing" && !errors.Is(err, ErrUnusableProofKey) {
				t.Errorf("%v is not ErrUnusableProofKey", err)
			}

			// Good keys, then DS publishes bad ones: the good ones stay.
			ds.set(http.StatusOK, doc(good))
			clock.Advance(2 * time.Hour)
			keys, err := cache.ProofKeys(context.Background())
			if err != nil || !keys.Current.Equal(&a.PublicKey) {
				t.Fatalf("after DS was fixed: %v", err)
			}
			ds.set(http.StatusOK, doc(el))
			n := ds.requests.Load()
			keys, err = cache.RefreshProofKeys(context.Background())
			if err != nil || !keys.Current.Equal(&a.PublicKey) || !keys.Old.Equal(&b.PublicKey) {
				t.Fatalf("a discovery with %s replaced the good keys: %v", name, err)
			}
			st := cache.Status()
			if st.KeysError == nil || !strings.Contains(st.KeysError.Error(), wantErr[name]) {
				t.Errorf("status does not say what is wrong with the keys: %v", st.KeysError)
			}
			// Fetched again soon (RetryInterval), not after the hour of TTL.
			clock.Advance(16 * time.Second)
			if _, err := cache.Get(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := ds.requests.Load(); got != n+2 {
				t.Fatalf("%d fetches after RetryInterval, want %d", got, n+2)
			}
			ds.set(http.StatusOK, doc(NewProofKeyInfo(&b.PublicKey, &a.PublicKey).Element()))
			clock.Advance(16 * time.Second)
			if keys, err := cache.ProofKeys(context.Background()); err != nil || !keys.Current.Equal(&b.PublicKey) {
				t.Fatalf("good keys again: %v", err)
			}
			if st := cache.Status(); st.KeysError != nil {
				t.Errorf("status still reports %v", st.KeysError)
			}
		})
	}
}

// The verifier asks a key source without usable keys to refresh (within the rate
// limit) before failing: DS fixed a moment later is used at once.
func TestProofVerifierRefreshesUnusableKeys(t *testing.T) {
	a := testKey(t, 0)
	clock := newFakeClock()
	src := &brokenKeySource{err: ErrNoProofKey}
	var waits []time.Duration
	v, err := NewProofVerifier(ProofVerifierOptions{
		Keys: src.Keys, Refresh: src.Refresh, PublicURL: mustURL(t, "https://bridge.example"), Now: clock.Now,
		Wait: func(_ context.Context, d time.Duration) error { waits = append(waits, d); clock.Advance(d); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	const target = "/wopi/files/f1?access_token=tok"
	if err := v.Verify(context.Background(), signedRequest(t, "GET", target, a, a, "tok", clock.Now()), "tok"); !errors.Is(err, ErrNoProofKey) {
		t.Fatalf("no keys: %v", err)
	}
	src.fixed = ProofKeys{&a.PublicKey, &a.PublicKey} // DS fixed
	clock.Advance(3 * time.Second)
	if err := v.Verify(context.Background(), signedRequest(t, "GET", target, a, a, "tok", clock.Now()), "tok"); err != nil {
		t.Fatalf("DS fixed: %v", err)
	}
	if src.refreshes != 2 || len(waits) != 0 {
		t.Errorf("%d refreshes, waits %v; want 2, none", src.refreshes, waits)
	}
}

// brokenKeySource has no usable keys until a refresh finds fixed ones.
type brokenKeySource struct {
	err       error
	keys      ProofKeys
	fixed     ProofKeys
	refreshes int
}

func (s *brokenKeySource) Keys(context.Context) (ProofKeys, error) {
	if s.keys.Current == nil {
		return ProofKeys{}, s.err
	}
	return s.keys, nil
}

func (s *brokenKeySource) Refresh(ctx context.Context) (ProofKeys, error) {
	s.refreshes++
	s.keys = s.fixed
	return s.Keys(ctx)
}
