package docsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ClockSkew is the leeway allowed on exp and nbf, the same clock tolerance
// DS applies to the tokens it receives.
const ClockSkew = 60 * time.Second

// TokenTTL is the lifetime DS gives the tokens it sends (outbox expires 5m);
// the command and conversion clients use it for theirs.
const TokenTTL = 5 * time.Minute

// Token errors. ErrTokenExpired and ErrBadHeader also match ErrBadToken.
var (
	// ErrNoSecret: signing or verifying needs a non-empty secret.
	ErrNoSecret = errors.New("docsapi: no JWT secret configured")
	// ErrNoToken: a secret is set but the request carries no token.
	ErrNoToken = errors.New("docsapi: no token: DS sends one in the body and in its JWT header when its JWT is enabled")
	// ErrBadToken: the token is malformed, not HS256, or its signature does
	// not verify with the secret.
	ErrBadToken = errors.New("docsapi: invalid token")
	// ErrTokenExpired: the token verifies but is past exp (or before nbf),
	// beyond ClockSkew.
	ErrTokenExpired = fmt.Errorf("%w: expired or not yet valid (check the clocks of DS and this host)", ErrBadToken)
	// ErrBadHeader: the JWT header is present but is not "Bearer <token>".
	ErrBadHeader = fmt.Errorf("%w: header is not \"Bearer <token>\"", ErrBadToken)
)

// parser verifies the tokens DS sends (callbacks, downloads). They must expire: DS
// always sets exp, and a token without one would be good forever.
var parser = jwt.NewParser(
	jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
	jwt.WithLeeway(ClockSkew),
	jwt.WithExpirationRequired(),
)

// Sign returns an HS256 JWT whose payload is claims marshalled to JSON. The
// claims must marshal to a JSON object; they are signed exactly as they
// marshal, with nothing added.
func Sign(claims any, secret []byte) (string, error) {
	raw, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("docsapi: marshal claims: %w", err)
	}
	return signRaw(raw, secret)
}

// SignTimed is Sign with iat = now and exp = now+ttl added to the claims'
// top level, as DS does on the tokens it sends.
func SignTimed(claims any, secret []byte, now time.Time, ttl time.Duration) (string, error) {
	raw, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("docsapi: marshal claims: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return "", errors.New("docsapi: claims must be a JSON object")
	}
	fields["iat"] = json.RawMessage(fmt.Sprint(now.Unix()))
	fields["exp"] = json.RawMessage(fmt.Sprint(now.Add(ttl).Unix()))
	raw, err = json.Marshal(fields)
	if err != nil {
		return "", fmt.Errorf("docsapi: marshal claims: %w", err)
	}
	return signRaw(raw, secret)
}

func signRaw(raw json.RawMessage, secret []byte) (string, error) {
	if len(secret) == 0 {
		return "", ErrNoSecret
	}
	if !isObject(raw) {
		return "", errors.New("docsapi: claims must be a JSON object")
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, &rawClaims{raw: raw}).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("docsapi: sign: %w", err)
	}
	return s, nil
}

// BearerHeader is the header value carrying token, as DS sends and expects it.
func BearerHeader(token string) string { return "Bearer " + token }

// BearerToken extracts the token from a "Bearer <token>" header value. The
// scheme is case-insensitive. An empty value gives ErrNoToken; anything
// else that is not a scheme followed by one non-empty token gives
// ErrBadHeader.
func BearerToken(headerValue string) (string, error) {
	v := strings.TrimSpace(headerValue)
	if v == "" {
		return "", ErrNoToken
	}
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", ErrBadHeader
	}
	tok := strings.TrimLeft(rest, " \t")
	if tok == "" || strings.ContainsFunc(tok, isSpaceOrControl) {
		return "", ErrBadHeader
	}
	return tok, nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// VerifyBody verifies an HS256 token as DS puts it in a JSON body (flat
// claims) and returns the claims object, including any iat and exp, as JSON.
func VerifyBody(token string, secret []byte) (json.RawMessage, error) {
	if len(secret) == 0 {
		return nil, ErrNoSecret
	}
	if token == "" {
		return nil, ErrNoToken
	}
	c := &rawClaims{}
	_, err := parser.ParseWithClaims(token, c, func(*jwt.Token) (any, error) {
		// An undecodable or non-object payload never reaches validation.
		if !isObject(c.raw) {
			return nil, errors.New("claims are not a JSON object")
		}
		return secret, nil
	})
	switch {
	case err == nil:
		return c.raw, nil
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return nil, fmt.Errorf("%w: no exp claim (DS sets one on every token it sends)", ErrBadToken)
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, ErrTokenExpired
	default:
		return nil, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
}

// VerifyHeader verifies the token in a header value of the form
// "Bearer <jwt>" and returns its payload claim: DS wraps what it signs in
// {"payload": {...}} when the token travels in a header.
func VerifyHeader(headerValue string, secret []byte) (json.RawMessage, error) {
	tok, err := BearerToken(headerValue)
	if err != nil {
		return nil, err
	}
	raw, err := VerifyBody(tok, secret)
	if err != nil {
		return nil, err
	}
	var wrapper struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(raw, &wrapper); err != nil || !isObject(wrapper.Payload) {
		return nil, fmt.Errorf("%w: no payload object in header token", ErrBadToken)
	}
	return wrapper.Payload, nil
}

// VerifyDownload verifies the header DS sends when it downloads
// document.url (claims {"payload":{"url":...}}) and returns the signed URL.
// The caller must check that it names the resource being requested.
func VerifyDownload(headerValue string, secret []byte) (string, error) {
	payload, err := VerifyHeader(headerValue, secret)
	if err != nil {
		return "", err
	}
	var p struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.URL == "" {
		return "", fmt.Errorf("%w: no url in download token", ErrBadToken)
	}
	return p.URL, nil
}

func isObject(raw []byte) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{'
}

// rawClaims keeps the claims exactly as signed, and reads only the time
// claims the validator checks.
type rawClaims struct {
	raw           json.RawMessage
	exp, nbf, iat *jwt.NumericDate
}

func (c *rawClaims) MarshalJSON() ([]byte, error) { return c.raw, nil }

func (c *rawClaims) UnmarshalJSON(b []byte) error {
	var t struct {
		Exp *jwt.NumericDate `json:"exp"`
		Nbf *jwt.NumericDate `json:"nbf"`
		Iat *jwt.NumericDate `json:"iat"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	c.raw = append(json.RawMessage(nil), b...)
	c.exp, c.nbf, c.iat = t.Exp, t.Nbf, t.Iat
	return nil
}

func (c *rawClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.exp, nil }
func (c *rawClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.nbf, nil }
func (c *rawClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.iat, nil }
func (c *rawClaims) GetIssuer() (string, error)                   { return "", nil }
func (c *rawClaims) GetSubject() (string, error)                  { return "", nil }
func (c *rawClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }
