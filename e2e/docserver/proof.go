package docserver

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// ticksAtUnixEpoch is 1970-01-01 in .NET ticks (100 ns since 0001-01-01).
const ticksAtUnixEpoch = 621355968000000000

// DotNetTicks converts t to .NET ticks with millisecond precision, as DS
// fills X-WOPI-TimeStamp.
func DotNetTicks(t time.Time) uint64 {
	return uint64(t.UnixMilli()*10000 + ticksAtUnixEpoch)
}

// ProofData is the byte string a WOPI proof signs: the access token and the
// upper-cased URL, each with a 4-byte big-endian length, then 8 and the
// timestamp as an 8-byte big-endian integer.
func ProofData(accessToken, url string, ticks uint64) []byte {
	upper := strings.ToUpper(url)
	out := make([]byte, 0, 4+len(accessToken)+4+len(upper)+4+8)
	out = binary.BigEndian.AppendUint32(out, uint32(len(accessToken)))
	out = append(out, accessToken...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(upper)))
	out = append(out, upper...)
	out = binary.BigEndian.AppendUint32(out, 8)
	out = binary.BigEndian.AppendUint64(out, ticks)
	return out
}

// signProof returns base64(RSA-PKCS#1 v1.5(SHA-256(data))).
func signProof(key *rsa.PrivateKey, data []byte) string {
	sum := sha256.Sum256(data)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(fmt.Sprintf("docserver: proof signature: %v", err))
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// VerifyProof checks a base64 X-WOPI-Proof value against a public key.
func VerifyProof(pub *rsa.PublicKey, accessToken, url string, ticks uint64, proof string) error {
	sig, err := base64.StdEncoding.DecodeString(proof)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(ProofData(accessToken, url, ticks))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

// publicKeyBlob encodes pub as a Microsoft CryptoAPI PUBLICKEYBLOB: BLOBHEADER
// (PUBLICKEYBLOB, version 2, CALG_RSA_KEYX), RSAPUBKEY ("RSA1", bit length,
// exponent), then the modulus little-endian.
func publicKeyBlob(pub *rsa.PublicKey) []byte {
	n := pub.N.Bytes()
	bitLen := uint32(len(n) * 8)
	out := []byte{0x06, 0x02, 0x00, 0x00}
	out = binary.LittleEndian.AppendUint32(out, 0x0000a400)
	out = append(out, "RSA1"...)
	out = binary.LittleEndian.AppendUint32(out, bitLen)
	out = binary.LittleEndian.AppendUint32(out, uint32(pub.E))
	for i := len(n) - 1; i >= 0; i-- {
		out = append(out, n[i])
	}
	return out
}

// proofKeyElement is discovery's <proof-key> with the attributes in DS's order.
func proofKeyElement(cur, old *rsa.PublicKey) string {
	b64 := base64.StdEncoding.EncodeToString
	exp := func(k *rsa.PublicKey) string { return b64(big.NewInt(int64(k.E)).Bytes()) }
	return fmt.Sprintf(`<proof-key oldvalue="%s" oldmodulus="%s" oldexponent="%s" value="%s" modulus="%s" exponent="%s"/>`,
		b64(publicKeyBlob(old)), b64(old.N.Bytes()), exp(old),
		b64(publicKeyBlob(cur)), b64(cur.N.Bytes()), exp(cur))
}

// ProofKeys returns the public halves of the current and the old proof key.
func (s *Server) ProofKeys() (current, old *rsa.PublicKey) {
	cur, o := s.signingKeys()
	return &cur.PublicKey, &o.PublicKey
}

func (s *Server) signingKeys() (current, old *rsa.PrivateKey) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	return s.proofKey, s.proofKeyOld
}

// RotateProofKeys is DS restarted with a new key pair configured the way
// ONLYOFFICE documents a rotation: the current key becomes the old one and
// next (a new 2048-bit key when nil) the current one. Discovery publishes
// the new pair at once (unless PublishProofKeyElement overrides it), and
// every request signed from now on uses it. Two rotations in a row leave
// neither key a verifier cached before them.
func (s *Server) RotateProofKeys(next *rsa.PrivateKey) error {
	if next == nil {
		var err error
		if next, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return fmt.Errorf("docserver: proof key: %w", err)
		}
	}
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	s.proofKey, s.proofKeyOld = next, s.proofKey
	if !s.published {
		s.proofKeyXML = proofKeyElement(&s.proofKey.PublicKey, &s.proofKeyOld.PublicKey)
	}
	return nil
}

// PublishProofKeyElement makes discovery publish element in place of the
// <proof-key> of the keys DS signs with: "" publishes none (a DS being
// reconfigured), UnusableProofKeyElement a key no verifier should accept.
// Requests are still signed with the real keys. ResetPublishedProofKeys
// undoes it.
func (s *Server) PublishProofKeyElement(element string) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	s.proofKeyXML, s.published = element, true
}

// ResetPublishedProofKeys makes discovery publish the keys DS signs with.
func (s *Server) ResetPublishedProofKeys() {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	s.proofKeyXML, s.published = proofKeyElement(&s.proofKey.PublicKey, &s.proofKeyOld.PublicKey), false
}

// Kinds of unusable published proof keys.
const (
	UnusableSmallKey    = "small"    // a 1024-bit modulus
	UnusableExponentOne = "exponent" // exponent 1: every signature "verifies"
	UnusableGarbage     = "garbage"  // attributes that are not base64 at all
)

// UnusableProofKeyElement is a <proof-key> element of the given kind of
// unusable key, as a misconfigured DS could publish it.
func UnusableProofKeyElement(kind string) (string, error) {
	switch kind {
	case UnusableSmallKey:
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			return "", err
		}
		return proofKeyElement(&k.PublicKey, &k.PublicKey), nil
	case UnusableExponentOne:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return "", err
		}
		pub := rsa.PublicKey{N: k.N, E: 1}
		return proofKeyElement(&pub, &pub), nil
	case UnusableGarbage:
		return `<proof-key oldvalue="!!" oldmodulus="!!" oldexponent="!!" value="!!" modulus="!!" exponent="!!"/>`, nil
	}
	return "", fmt.Errorf("docserver: unknown kind of unusable proof key %q", kind)
}
