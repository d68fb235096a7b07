package wopiclient

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The signing side of proof keys, for a WOPI client that calls hosts which check them
// (OpenCloud does by default): every request carries X-WOPI-TimeStamp (the time in
// .NET ticks), X-WOPI-Proof (signed with the current key) and X-WOPI-ProofOld (signed
// with the old key), each the base64 RSA-SHA256 PKCS#1 v1.5 signature of ProofInput
// over the access token, the upper-cased request URL and the ticks. PKCS#1 v1.5
// signatures are deterministic: the same key and input give the same bytes.

// SignProof is the value of a proof header for one request: accessToken as issued
// (not URL-encoded), url as the request is sent (scheme, host, path and query).
func SignProof(key *rsa.PrivateKey, accessToken, url string, ticks int64) (string, error) {
	if key == nil {
		return "", errors.New("wopi: sign proof: no key")
	}
	digest := sha256.Sum256(ProofInput(accessToken, url, ticks))
	// A nil random source: signing needs none (Go ignores it and blinds on its own).
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("wopi: sign proof: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// ProofSigner signs the requests of a WOPI client with its current and old proof keys.
// Set it as Transport.Proof: every request the transport sends is signed, the ones on
// its direct path (bodiless GETs) and redirects included. Safe for concurrent use if
// Keys is.
type ProofSigner struct {
	// Keys returns the current and the old private key; old may be nil (the current
	// key then signs X-WOPI-ProofOld too, as a client that never rotated does).
	Keys func() (current, old *rsa.PrivateKey, err error)
	// Now is the clock of X-WOPI-TimeStamp; time.Now when nil.
	Now func() time.Time
}

// Sign sets the proof headers on req for the URL it is sent to and the access token
// in its access_token query parameter (decoded, as issued).
func (s *ProofSigner) Sign(req *http.Request) error {
	if s == nil || s.Keys == nil {
		return errors.New("wopi: sign proof: no keys")
	}
	cur, old, err := s.Keys()
	if err != nil {
		return fmt.Errorf("wopi: sign proof: %w", err)
	}
	if old == nil {
		old = cur
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ticks := Ticks(now())
	u := req.URL.String()
	token := req.URL.Query().Get(ParamAccessToken)
	proof, err := SignProof(cur, token, u, ticks)
	if err != nil {
		return err
	}
	proofOld := proof // the same key signs the same bytes alike: sign once
	if !old.Equal(cur) {
		if proofOld, err = SignProof(old, token, u, ticks); err != nil {
			return err
		}
	}
	req.Header.Set(HeaderTimeStamp, strconv.FormatInt(ticks, 10))
	req.Header.Set(HeaderProof, proof)
	req.Header.Set(HeaderProofOld, proofOld)
	return nil
}

// signed is req with proof headers, for a RoundTripper, which must not change the
// request it is given: a shallow copy with its own header.
func (s *ProofSigner) signed(req *http.Request) (*http.Request, error) {
	r := new(http.Request)
	*r = *req
	r.Header = req.Header.Clone()
	if r.Header == nil {
		r.Header = http.Header{}
	}
	if err := s.Sign(r); err != nil {
		return nil, err
	}
	return r, nil
}
