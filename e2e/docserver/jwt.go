package docserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Outgoing tokens: HS256, iat and exp = iat + 5 m (token.outbox.expires).
// Incoming tokens: any HS algorithm, 60 s clock tolerance.
const (
	outboxExpires  = 5 * time.Minute
	clockTolerance = 60 * time.Second
	bearerPrefix   = "Bearer "
)

var (
	errTokenInvalid = errors.New("token invalid")
	errTokenExpired = errors.New("token expired")
)

// jsonCompact marshals v the way JSON.stringify does: no HTML escaping, no
// trailing newline, struct fields in declaration order.
func jsonCompact(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("docserver: marshal %T: %v", v, err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// withTimes appends iat and exp to a JSON object, as jsonwebtoken does
// when signing a plain object.
func (s *Server) withTimes(object []byte) []byte {
	iat := s.now().Unix()
	exp := iat + int64(outboxExpires/time.Second)
	tail := fmt.Sprintf(`"iat":%d,"exp":%d}`, iat, exp)
	object = bytes.TrimSuffix(object, []byte("}"))
	if len(object) > 1 {
		tail = "," + tail
	}
	return append(append([]byte(nil), object...), tail...)
}

// outboxSecret signs what DS sends (callbacks, downloads).
func (s *Server) outboxSecret() string {
	if s.opts.JWTOutboxSecret != "" {
		return s.opts.JWTOutboxSecret
	}
	return s.opts.JWTSecret
}

// signClaims signs a JSON claims object with HS256 and secret, keeping
// the claims byte for byte (and so in DS's field order).
func signClaims(secret string, claims []byte) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	sig, err := jwt.SigningMethodHS256.Sign(signing, []byte(secret))
	if err != nil {
		panic(fmt.Sprintf("docserver: sign: %v", err))
	}
	return signing + "." + enc.EncodeToString(sig)
}

// bodyToken is the `token` field DS adds to a callback body: the body's own
// fields, flat, plus iat and exp.
// It is signed with the outbox secret.
func (s *Server) bodyToken(body []byte) string {
	return signClaims(s.outboxSecret(), s.withTimes(body))
}

// headerToken is the header JWT DS sends: {payload: <data>} plus iat and
// exp, signed with the outbox secret.
func (s *Server) headerToken(payload []byte) string {
	obj := append(append([]byte(`{"payload":`), payload...), '}')
	return signClaims(s.outboxSecret(), s.withTimes(obj))
}

// verify checks an incoming token with the inbox secret (browser tokens
// and command/convert tokens alike: a token signed with the outbox secret
// is refused when the two differ).
func (s *Server) verify(token string) (map[string]any, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) {
		return []byte(s.opts.JWTSecret), nil
	},
		jwt.WithValidMethods([]string{"HS256", "HS384", "HS512"}),
		jwt.WithLeeway(clockTolerance),
		jwt.WithTimeFunc(s.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("%w: %v", errTokenExpired, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", errTokenInvalid, err)
	}
	return claims, nil
}

// requestParams resolves the parameters of a command or conversion request
// as DS's getRequestParams does: with JWT on, the body `token` first, else
// the configured header after "Bearer "; the decoded claims replace the
// plain body, with a nested payload (and query) merged in.
func (s *Server) requestParams(body []byte, header func(string) string) (map[string]any, error) {
	params := map[string]any{}
	if len(body) > 0 {
		var m map[string]any
		if json.Unmarshal(body, &m) == nil && m != nil {
			params = m
		}
	}
	if !s.jwtOn() {
		return params, nil
	}
	token, _ := params["token"].(string)
	if token == "" {
		auth := header(s.opts.JWTHeader)
		if !strings.HasPrefix(auth, bearerPrefix) {
			return params, errTokenInvalid
		}
		token = strings.TrimPrefix(auth, bearerPrefix)
	}
	claims, err := s.verify(token)
	if err != nil {
		return params, err
	}
	out := map[string]any{}
	for k, v := range claims {
		out[k] = v
	}
	for _, nested := range []string{"payload", "query"} {
		if m, ok := claims[nested].(map[string]any); ok {
			for k, v := range m {
				out[k] = v
			}
		}
	}
	return out, nil
}

func (s *Server) jwtOn() bool { return s.opts.JWTSecret != "" }
