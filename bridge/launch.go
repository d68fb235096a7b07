package bridge

import (
	"errors"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Launch tokens are how an integrator says who may open what (DESIGN 1.4): HS256 JWTs
// signed with the launch secret, from "Authorization: Bearer" (JSON API) or "?launch="
// (pages). Without a launch secret the bridge runs in demo mode and every request acts
// for the demo user.

// The demo user of demo mode.
const (
	demoUser     = "demo"
	demoUserName = "Demo User"
)

// launchLeeway tolerates clock skew between the integrator and the bridge.
const launchLeeway = 30 * time.Second

// launchUser is who a launch API request acts for, and what the launch token allows.
type launchUser struct {
	Sub  string
	Name string
	File string // when set, the only file this user may reach
	Mode string // modeEdit or modeView
	Lang string
	Demo bool
	// Until caps the access tokens minted for this user (ms since the epoch; 0: no cap).
	// A host page link carries the expiry of the access token it came from, so a session
	// opened through it never outlives that token.
	Until int64
	// upstream is the file on an upstream WOPI host the launch token names (wopi
	// storage); nil otherwise, and once resolveLaunch registered it. It holds a
	// credential: never log it or show it.
	upstream *upstreamFile
	// storageViewOnly: the storage, not the launch token, limits this user to viewing.
	storageViewOnly bool
}

// upstreamFile is a launch token's wopisrc, access_token and access_token_ttl.
type upstreamFile struct {
	src   string
	token string
	ttl   int64 // ms since the epoch; 0 unknown
}

func (u launchUser) canWrite() bool { return u.Mode == modeEdit }

type launchClaims struct {
	jwt.RegisteredClaims
	Name           string `json:"name,omitempty"`
	File           string `json:"file,omitempty"`
	Mode           string `json:"mode,omitempty"`
	Lang           string `json:"lang,omitempty"`
	WopiSrc        string `json:"wopisrc,omitempty"`
	AccessToken    string `json:"access_token,omitempty"`
	AccessTokenTTL int64  `json:"access_token_ttl,omitempty"`
}

type launchVerifier struct {
	key    []byte
	parser *jwt.Parser
}

func newLaunchVerifier(secret []byte, now func() time.Time) *launchVerifier {
	return &launchVerifier{
		key: secret,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithTimeFunc(now),
			jwt.WithLeeway(launchLeeway),
		),
	}
}

func (v *launchVerifier) demo() bool { return len(v.key) == 0 }

// user verifies a launch token. The token never appears in the error.
func (v *launchVerifier) user(raw string) (launchUser, error) {
	if v.demo() {
		return launchUser{Sub: demoUser, Name: demoUserName, Mode: modeEdit, Demo: true}, nil
	}
	if raw == "" {
		return launchUser{}, userErr(errUnauthenticated, "no launch token: send Authorization: Bearer <JWT signed with WOPIBRIDGE_LAUNCH_SECRET>")
	}
	var c launchClaims
	_, err := v.parser.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return v.key, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return launchUser{}, userErr(errUnauthenticated, "the launch token has expired: ask the integrating application for a new one")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return launchUser{}, userErr(errUnauthenticated, "the launch token has no exp claim: launch tokens must expire")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return launchUser{}, userErr(errUnauthenticated, "the launch token is not signed with WOPIBRIDGE_LAUNCH_SECRET using HS256")
	case err != nil:
		return launchUser{}, userErr(errUnauthenticated, "the launch token is invalid (%v)", err)
	case c.Subject == "":
		return launchUser{}, userErr(errUnauthenticated, "the launch token has no sub claim: it must name the user")
	}
	mode := c.Mode
	switch mode {
	case "":
		mode = modeEdit
	case modeEdit, modeView:
	default:
		return launchUser{}, userErr(errUnauthenticated, "the launch token's mode is %q: use edit or view", c.Mode)
	}
	u := launchUser{Sub: c.Subject, Name: c.Name, File: c.File, Mode: mode, Lang: c.Lang}
	switch {
	case c.WopiSrc != "":
		u.upstream = &upstreamFile{src: c.WopiSrc, token: c.AccessToken, ttl: c.AccessTokenTTL}
	case c.AccessToken != "" || c.AccessTokenTTL != 0:
		return launchUser{}, userErr(errBadRequest, "the launch token has access_token but no wopisrc: name the upstream file the token is for")
	}
	return u, nil
}

// launchFrom reads the launch token of a request: the Authorization bearer, and for pages
// (query true) the launch query parameter.
func launchFrom(r *http.Request, query bool) string {
	if t := bearer(r); t != "" {
		return t
	}
	if query {
		return r.URL.Query().Get("launch")
	}
	return ""
}
