package wopiclient

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proof keys: a WOPI client signs every request it makes to a host with RSA-SHA256
// (PKCS#1 v1.5) over the access token, the upper-cased request URL and the
// X-WOPI-TimeStamp; X-WOPI-Proof is signed with its current key and X-WOPI-ProofOld
// with its previous one. Hosts verify against the keys published in discovery.

// Errors of proof verification; test them with errors.Is.
var (
	// ErrProofMissing: the request has no X-WOPI-Proof or no X-WOPI-TimeStamp.
	ErrProofMissing = errors.New("wopi: proof headers missing (X-WOPI-Proof, X-WOPI-TimeStamp)")
	// ErrProofInvalid: the signature matches neither the current nor the old key.
	ErrProofInvalid = errors.New("wopi: proof does not verify with the document server's proof keys")
	// ErrProofExpired: X-WOPI-TimeStamp is older than MaxProofAge.
	ErrProofExpired = errors.New("wopi: proof timestamp is older than 20 minutes " +
		"(a replayed request, or the clocks of the document server and the bridge disagree)")
	// ErrProofFuture: X-WOPI-TimeStamp is more than MaxProofClockSkew ahead.
	ErrProofFuture = errors.New("wopi: proof timestamp lies in the future " +
		"(the clocks of the document server and the bridge disagree; synchronise them with NTP)")
)

const (
	// MaxProofAge is how old a proof timestamp may be, as Microsoft specifies.
	MaxProofAge = 20 * time.Minute
	// MaxProofClockSkew is how far ahead of the host's clock a proof timestamp may be.
	// A timestamp from the future would otherwise stay replayable for longer than
	// MaxProofAge; a few minutes absorb ordinary clock drift between the machines.
	MaxProofClockSkew = 5 * time.Minute
)

// ticksAtUnixEpoch is 1970-01-01T00:00:00Z in .NET ticks (100 ns since 0001-01-01).
const ticksAtUnixEpoch = 621355968000000000

// Ticks converts a time to .NET ticks, the unit of X-WOPI-TimeStamp.
func Ticks(t time.Time) int64 {
	return ticksAtUnixEpoch + t.Unix()*10_000_000 + int64(t.Nanosecond())/100
}

// TimeFromTicks converts .NET ticks to a UTC time.
func TimeFromTicks(ticks int64) time.Time {
	// Split before subtracting so that no value overflows int64.
	sec := ticks/10_000_000 - ticksAtUnixEpoch/10_000_000
	rem := ticks % 10_000_000
	if rem < 0 {
		rem += 10_000_000
		sec--
	}
	return time.Unix(sec, rem*100).UTC()
}

// CheckTimestamp accepts a proof timestamp (in ticks) no older than MaxProofAge and no
// more than MaxProofClockSkew ahead of now.
func CheckTimestamp(ticks int64, now time.Time) error {
	if ticks <= 0 {
		return fmt.Errorf("%w: X-WOPI-TimeStamp %d is not a valid time", ErrProofInvalid, ticks)
	}
	ts := TimeFromTicks(ticks)
	switch {
	case now.Sub(ts) > MaxProofAge:
		return fmt.Errorf("%w: signed at %s, now %s", ErrProofExpired,
			ts.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case ts.Sub(now) > MaxProofClockSkew:
		return fmt.Errorf("%w: signed at %s, now %s", ErrProofFuture,
			ts.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// ProofInput builds the bytes a proof signs: the big-endian 32-bit length and UTF-8
// bytes of the access token (as issued, not URL-encoded), the same for the upper-cased
// request URL, then the length 8 and the ticks as a big-endian 64-bit integer.
func ProofInput(accessToken, url string, ticks int64) []byte {
	u := strings.ToUpper(url)
	b := make([]byte, 0, 4+len(accessToken)+4+len(u)+4+8)
	b = binary.BigEndian.AppendUint32(b, uint32(len(accessToken)))
	b = append(b, accessToken...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(u)))
	b = append(b, u...)
	b = binary.BigEndian.AppendUint32(b, 8)
	b = binary.BigEndian.AppendUint64(b, uint64(ticks))
	return b
}

// Sign computes a proof header value (base64 of the RSA-SHA256 PKCS#1 v1.5 signature of
// ProofInput), as a WOPI client does.
func Sign(key *rsa.PrivateKey, accessToken, url string, ticks int64) (string, error) {
	if key == nil {
		return "", errors.New("wopi: sign proof: no key")
	}
	h := sha256.Sum256(ProofInput(accessToken, url, ticks))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		return "", fmt.Errorf("wopi: sign proof: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// SignRequest sets X-WOPI-TimeStamp, X-WOPI-Proof and X-WOPI-ProofOld on req as a WOPI
// client does, for the URL req.URL.String(). old may be nil, in which case the current
// key signs both.
func SignRequest(req *http.Request, current, old *rsa.PrivateKey, accessToken string, now time.Time) error {
	if old == nil {
		old = current
	}
	ticks := Ticks(now)
	u := req.URL.String()
	proof, err := Sign(current, accessToken, u, ticks)
	if err != nil {
		return err
	}
	proofOld, err := Sign(old, accessToken, u, ticks)
	if err != nil {
		return err
	}
	req.Header.Set(HeaderTimeStamp, strconv.FormatInt(ticks, 10))
	req.Header.Set(HeaderProof, proof)
	req.Header.Set(HeaderProofOld, proofOld)
	return nil
}

// ProofKeys are the public halves of a WOPI client's current and previous proof keys.
// Old may be nil.
type ProofKeys struct {
	Current, Old *rsa.PublicKey
}

// Equal reports whether both keys are the same.
func (k ProofKeys) Equal(o ProofKeys) bool {
	return samePublicKey(k.Current, o.Current) && samePublicKey(k.Old, o.Old)
}

func samePublicKey(a, b *rsa.PublicKey) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}

// VerifyProof checks the proof headers of one request against the keys, accepting the
// three combinations Microsoft specifies:
//   - X-WOPI-Proof verifies with the current key (the usual case);
//   - X-WOPI-ProofOld verifies with the current key (the client rotated its keys and
//     the host's discovery is not yet refreshed);
//   - X-WOPI-Proof verifies with the old key (the host refreshed discovery before the
//     client started to sign with its new key).
//
// url is the full request URL as the client signed it; accessToken is the token as
// issued (URL-decoded). The result is nil or wraps ErrProofInvalid (or ErrNoProofKey).
func VerifyProof(keys ProofKeys, accessToken, url string, ticks int64, proof, proofOld string) error {
	if keys.Current == nil {
		return ErrNoProofKey
	}
	h := sha256.Sum256(ProofInput(accessToken, url, ticks))
	if verifySignature(keys.Current, h[:], proof) ||
		verifySignature(keys.Current, h[:], proofOld) ||
		verifySignature(keys.Old, h[:], proof) {
		return nil
	}
	return ErrProofInvalid
}

func verifySignature(key *rsa.PublicKey, digest []byte, b64 string) bool {
	if key == nil || b64 == "" {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		if sig, err = base64.RawStdEncoding.DecodeString(b64); err != nil {
			return false
		}
	}
	return rsa.VerifyPKCS1v15(key, crypto.SHA256, digest, sig) == nil
}

// ProofURL rebuilds the URL a WOPI client signed for r: the bridge's public base URL
// (which may carry a path prefix), then the request path as it came on the wire and
// the raw query. It never uses the Host header, which a proxy or an attacker chooses.
func ProofURL(publicBase *url.URL, r *http.Request) string {
	var b strings.Builder
	b.WriteString(publicBase.Scheme)
	b.WriteString("://")
	b.WriteString(publicBase.Host)
	b.WriteString(strings.TrimRight(publicBase.EscapedPath(), "/"))
	b.WriteString(r.URL.EscapedPath())
	if r.URL.RawQuery != "" {
		b.WriteByte('?')
		b.WriteString(r.URL.RawQuery)
	}
	return b.String()
}

// proofURLCandidates lists the URLs worth trying for a request: the rebuilt URL and,
// when its query holds %27, the same with ' restored. ONLYOFFICE signs the query it
// builds with encodeURIComponent, which leaves ' alone, but its HTTP client escapes '
// in http(s) queries, so a token containing ' arrives as %27 and the wire URL no longer
// matches the signed one.
func proofURLCandidates(u string) []string {
	base, query, ok := strings.Cut(u, "?")
	if !ok || !strings.Contains(query, "%27") {
		return []string{u}
	}
	return []string{u, base + "?" + strings.ReplaceAll(query, "%27", "'")}
}

// ProofVerifierOptions configures a ProofVerifier.
type ProofVerifierOptions struct {
	// Keys returns the proof keys of the current discovery (DiscoveryCache.ProofKeys).
	Keys func(ctx context.Context) (ProofKeys, error)
	// Refresh fetches discovery again and returns its keys
	// (DiscoveryCache.RefreshProofKeys). Concurrent calls should share one fetch.
	Refresh func(ctx context.Context) (ProofKeys, error)
	// PublicURL is the bridge's public base URL, the origin DS was given in WOPISrc.
	PublicURL *url.URL
	// MinRefreshInterval bounds how often failed verifications refresh discovery, so a
	// flood of forged requests cannot turn into a flood of discovery fetches.
	// Default 2s.
	MinRefreshInterval time.Duration
	// MaxRefreshWait is how long a failed verification may wait for the next allowed
	// refresh when one finished moments ago (DS rotating its keys twice within
	// seconds); a longer wait fails at once. Default 5s.
	MaxRefreshWait time.Duration
	// Wait pauses for d or until ctx ends; default a timer. Tests with a fake clock
	// move it instead.
	Wait func(ctx context.Context, d time.Duration) error
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// ProofVerifier checks the proof headers of incoming WOPI requests. When a signature
// does not verify with the cached keys it refreshes discovery once and tries again
// before rejecting, so a document server restarted with new keys does not turn every
// document read-only until the cache expires. Safe for concurrent use.
type ProofVerifier struct {
	keys        func(ctx context.Context) (ProofKeys, error)
	refresh     func(ctx context.Context) (ProofKeys, error)
	public      *url.URL
	minInterval time.Duration
	maxWait     time.Duration
	wait        func(ctx context.Context, d time.Duration) error
	now         func() time.Time

	mu          sync.Mutex
	lastRefresh time.Time // when the last refresh finished
}

// NewProofVerifier returns a verifier; Keys and PublicURL are required.
func NewProofVerifier(opts ProofVerifierOptions) (*ProofVerifier, error) {
	if opts.Keys == nil {
		return nil, errors.New("wopi: proof verifier: no key source")
	}
	if opts.PublicURL == nil || opts.PublicURL.Scheme == "" || opts.PublicURL.Host == "" {
		return nil, errors.New("wopi: proof verifier: the public URL must be absolute")
	}
	v := &ProofVerifier{
		keys:        opts.Keys,
		refresh:     opts.Refresh,
		public:      opts.PublicURL,
		minInterval: opts.MinRefreshInterval,
		maxWait:     opts.MaxRefreshWait,
		wait:        opts.Wait,
		now:         opts.Now,
	}
	if v.minInterval <= 0 {
		v.minInterval = 2 * time.Second
	}
	if v.maxWait <= 0 {
		v.maxWait = 5 * time.Second
	}
	if v.wait == nil {
		v.wait = sleep
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Verify checks r's proof headers for accessToken (the access_token query value,
// decoded). It returns nil, or an error wrapping ErrProofMissing, ErrProofExpired,
// ErrProofFuture or ErrProofInvalid; an error from the key source (discovery
// unreachable, ErrNoProofKey, ErrUnusableProofKey) is returned wrapped as it is. A key
// source without usable keys is asked to refresh first (within the rate limit): DS may
// have been fixed since.
func (v *ProofVerifier) Verify(ctx context.Context, r *http.Request, accessToken string) error {
	proof := r.Header.Get(HeaderProof)
	proofOld := r.Header.Get(HeaderProofOld)
	rawTicks := r.Header.Get(HeaderTimeStamp)
	if proof == "" || rawTicks == "" {
		return ErrProofMissing
	}
	ticks, err := strconv.ParseInt(strings.TrimSpace(rawTicks), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: X-WOPI-TimeStamp is not a number", ErrProofInvalid)
	}
	if err := CheckTimestamp(ticks, v.now()); err != nil {
		return err
	}
	candidates := proofURLCandidates(ProofURL(v.public, r))
	check := func(keys ProofKeys) error {
		err := ErrProofInvalid
		for _, u := range candidates {
			if err = VerifyProof(keys, accessToken, u, ticks, proof, proofOld); err == nil {
				return nil
			}
		}
		return err
	}

	keys, err := v.keys(ctx)
	if errors.Is(err, ErrNoProofKey) || errors.Is(err, ErrUnusableProofKey) {
		keys, err = v.refreshedKeys(ctx, ProofKeys{}, true)
	}
	if err != nil {
		return fmt.Errorf("wopi: proof keys: %w", err)
	}
	if err = check(keys); !errors.Is(err, ErrProofInvalid) {
		return err
	}
	fresh, err := v.refreshedKeys(ctx, keys, true)
	if err != nil {
		return fmt.Errorf("%w (refreshing discovery failed: %v)", ErrProofInvalid, err)
	}
	if fresh.Equal(keys) {
		return ErrProofInvalid
	}
	return check(fresh) // only the keys DS publishes now
}

// refreshedKeys returns keys other than seen if a refresh finished within
// MinRefreshInterval brought them; else it refreshes discovery, at most once per
// interval. When a refresh finished moments ago and wait is set, it waits (at most
// MaxRefreshWait) for the next allowed one rather than give up: DS may have rotated its
// keys twice within seconds.
func (v *ProofVerifier) refreshedKeys(ctx context.Context, seen ProofKeys, wait bool) (ProofKeys, error) {
	if v.refresh == nil {
		return v.keys(ctx)
	}
	v.mu.Lock()
	last := v.lastRefresh
	v.mu.Unlock()
	if d := last.Add(v.minInterval).Sub(v.now()); !last.IsZero() && d > 0 {
		keys, err := v.keys(ctx)
		if err == nil && !keys.Equal(seen) || !wait || d > v.maxWait {
			return keys, err
		}
		if err := v.wait(ctx, d); err != nil {
			return ProofKeys{}, err
		}
		v.mu.Lock()
		again := v.lastRefresh.After(last)
		v.mu.Unlock()
		if again { // another request refreshed while this one waited
			return v.keys(ctx)
		}
	}
	keys, err := v.refresh(ctx)
	v.mu.Lock()
	if now := v.now(); now.After(v.lastRefresh) {
		v.lastRefresh = now
	}
	v.mu.Unlock()
	return keys, err
}

// Keys parses the published keys: Current from modulus and exponent, Old from
// oldmodulus and oldexponent. The PUBLICKEYBLOB in value (oldvalue) is a fallback when
// modulus/exponent are absent and a cross-check when both are present: if they
// disagree the keys are refused. Old is nil when no old key is published.
func (p ProofKeyInfo) Keys() (ProofKeys, error) {
	cur, err := publishedKey(p.Modulus, p.Exponent, p.Value)
	if err != nil {
		return ProofKeys{}, fmt.Errorf("%w: the current key: %v", ErrUnusableProofKey, err)
	}
	if cur == nil {
		return ProofKeys{}, ErrNoProofKey
	}
	old, err := publishedKey(p.OldModulus, p.OldExponent, p.OldValue)
	if err != nil {
		return ProofKeys{}, fmt.Errorf("%w: the old key: %v", ErrUnusableProofKey, err)
	}
	return ProofKeys{Current: cur, Old: old}, nil
}

// publishedKey returns nil, nil when nothing is published.
func publishedKey(modulus, exponent, value string) (*rsa.PublicKey, error) {
	var fromParts, fromBlob *rsa.PublicKey
	var partsErr, blobErr error
	if modulus != "" || exponent != "" {
		fromParts, partsErr = keyFromModulusExponent(modulus, exponent)
	}
	if value != "" {
		var blob []byte
		if blob, blobErr = base64.StdEncoding.DecodeString(value); blobErr == nil {
			fromBlob, blobErr = ParsePublicKeyBlob(blob)
		}
	}
	switch {
	case fromParts != nil && fromBlob != nil:
		if !fromParts.Equal(fromBlob) {
			return nil, errors.New("modulus/exponent and the value blob are different keys")
		}
		return fromParts, nil
	case fromParts != nil:
		return fromParts, nil
	case fromBlob != nil:
		return fromBlob, nil
	case partsErr != nil:
		return nil, partsErr
	case blobErr != nil:
		return nil, fmt.Errorf("value: %w", blobErr)
	}
	return nil, nil
}

func keyFromModulusExponent(modulus, exponent string) (*rsa.PublicKey, error) {
	n, err := base64.StdEncoding.DecodeString(modulus)
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	e, err := base64.StdEncoding.DecodeString(exponent)
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	e = bytes.TrimLeft(e, "\x00")
	if len(e) == 0 || len(e) > 4 {
		return nil, errors.New("exponent: out of range")
	}
	var ev uint64
	for _, c := range e {
		ev = ev<<8 | uint64(c)
	}
	return newPublicKey(new(big.Int).SetBytes(n), ev)
}

// Proof key bounds: smaller keys are forgeable, larger ones only make every forged
// request expensive to check; ONLYOFFICE's are 2048 bits.
const (
	minProofKeyBits = 2048
	maxProofKeyBits = 8192
)

func newPublicKey(n *big.Int, e uint64) (*rsa.PublicKey, error) {
	if n.BitLen() < minProofKeyBits {
		return nil, fmt.Errorf("modulus of %d bits is too small (at least %d)", n.BitLen(), minProofKeyBits)
	}
	if n.BitLen() > maxProofKeyBits {
		return nil, fmt.Errorf("modulus of %d bits is too large (at most %d)", n.BitLen(), maxProofKeyBits)
	}
	if n.Bit(0) == 0 {
		return nil, errors.New("modulus is even")
	}
	if e < 3 || e > 1<<31-1 || e%2 == 0 {
		return nil, fmt.Errorf("exponent %d is not usable (an odd number from 3 to 2^31-1)", e)
	}
	return &rsa.PublicKey{N: n, E: int(e)}, nil
}

// Microsoft CryptoAPI PUBLICKEYBLOB layout: BLOBHEADER (type, version, reserved,
// algorithm), RSAPUBKEY (magic "RSA1", bit length, public exponent), then the modulus,
// all little-endian.
const (
	blobTypePublicKey = 0x06
	blobVersion       = 0x02
	calgRSAKeyX       = 0x0000a400
	calgRSASign       = 0x00002400
	blobMagicRSA1     = 0x31415352 // "RSA1"
	blobHeaderLen     = 20
)

// ParsePublicKeyBlob decodes a Microsoft PUBLICKEYBLOB (the discovery value attribute).
func ParsePublicKeyBlob(blob []byte) (*rsa.PublicKey, error) {
	if len(blob) < blobHeaderLen {
		return nil, errors.New("public key blob is too short")
	}
	le := binary.LittleEndian
	if blob[0] != blobTypePublicKey || blob[1] != blobVersion {
		return nil, errors.New("not a PUBLICKEYBLOB")
	}
	if alg := le.Uint32(blob[4:]); alg != calgRSAKeyX && alg != calgRSASign {
		return nil, fmt.Errorf("public key blob algorithm %#x is not RSA", alg)
	}
	if le.Uint32(blob[8:]) != blobMagicRSA1 {
		return nil, errors.New("public key blob is not an RSA1 public key")
	}
	bits := le.Uint32(blob[12:])
	if bits == 0 || bits%8 != 0 || bits > 16384 {
		return nil, fmt.Errorf("public key blob has an unusable bit length %d", bits)
	}
	mod := blob[blobHeaderLen:]
	if uint32(len(mod)) != bits/8 {
		return nil, fmt.Errorf("public key blob holds %d modulus bytes, its header says %d", len(mod), bits/8)
	}
	be := make([]byte, len(mod))
	for i, c := range mod {
		be[len(mod)-1-i] = c
	}
	return newPublicKey(new(big.Int).SetBytes(be), uint64(le.Uint32(blob[16:])))
}

// PublicKeyBlob encodes a public key as a Microsoft PUBLICKEYBLOB.
func PublicKeyBlob(pub *rsa.PublicKey) []byte {
	k := (pub.N.BitLen() + 7) / 8
	b := make([]byte, blobHeaderLen, blobHeaderLen+k)
	b[0], b[1] = blobTypePublicKey, blobVersion
	le := binary.LittleEndian
	le.PutUint32(b[4:], calgRSAKeyX)
	le.PutUint32(b[8:], blobMagicRSA1)
	le.PutUint32(b[12:], uint32(k*8))
	le.PutUint32(b[16:], uint32(pub.E))
	mod := pub.N.FillBytes(make([]byte, k))
	for i := len(mod) - 1; i >= 0; i-- {
		b = append(b, mod[i])
	}
	return b
}

// NewProofKeyInfo fills the discovery <proof-key> attributes for a current and an old
// public key (old nil: the current key is published as old too, as ONLYOFFICE's Docker
// image does).
func NewProofKeyInfo(current, old *rsa.PublicKey) ProofKeyInfo {
	if old == nil {
		old = current
	}
	enc := base64.StdEncoding.EncodeToString
	exp := func(k *rsa.PublicKey) string {
		return enc(big.NewInt(int64(k.E)).Bytes())
	}
	return ProofKeyInfo{
		Value:       enc(PublicKeyBlob(current)),
		Modulus:     enc(current.N.Bytes()),
		Exponent:    exp(current),
		OldValue:    enc(PublicKeyBlob(old)),
		OldModulus:  enc(old.N.Bytes()),
		OldExponent: exp(old),
	}
}

// Element renders the <proof-key/> element (attributes in the order ONLYOFFICE writes
// them), for a discovery document served by a simulated client.
func (p ProofKeyInfo) Element() string {
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	return `<proof-key oldvalue="` + esc(p.OldValue) + `" oldmodulus="` + esc(p.OldModulus) +
		`" oldexponent="` + esc(p.OldExponent) + `" value="` + esc(p.Value) +
		`" modulus="` + esc(p.Modulus) + `" exponent="` + esc(p.Exponent) + `"/>`
}
