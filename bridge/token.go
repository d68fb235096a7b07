package bridge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// Access tokens are the bridge's WOPI credentials. Format:
//
//	base64url(JSON claims) "." base64url(HMAC-SHA256(key, first part))
//
// URL-safe, free of "'" (which DS signs differently from what it sends), and cheap to
// verify. The key is derived from the bridge secret for this one purpose.
//
// Scope: a token names one user and one resource. A file token (File set) is accepted
// on that file only. A token may also name Tree, the folder the file was opened from:
// folder (container) operations are accepted on Tree and the folders below it, and the
// ecosystem answers with Tree as the root container. A token without Tree (a launch
// limited to one file, or an upstream file) reaches its file and nothing else: no folder,
// ecosystem or ancestry route accepts it, and PutRelativeFile does not overwrite another
// file with it. Tokens the bridge hands out in WOPI
// replies (new files, children, ancestors) inherit user, mode, expiry and tree, so a
// token never reaches further or lives longer than the one it came from.

// Access modes.
const (
	modeEdit = "edit"
	modeView = "view"
)

// maxTokenLen bounds what the bridge parses as a token.
const maxTokenLen = 4096

type accessToken struct {
	User   string `json:"u"`
	Name   string `json:"n,omitempty"`
	Mode   string `json:"m"`
	File   string `json:"f,omitempty"` // the file this token is for; empty for folder tokens
	Folder string `json:"d,omitempty"` // the folder this token is for; empty for file tokens
	Tree   string `json:"t"`           // root of the folders the token reaches; "": none (file scope)
	Exp    int64  `json:"e"`           // expiry, milliseconds since the Unix epoch
	Page   bool   `json:"p,omitempty"` // opened through the bridge's WOPI host page
}

func (t accessToken) canWrite() bool { return t.Mode == modeEdit }

// fileScoped reports whether the token reaches its own file only (no folder tree).
func (t accessToken) fileScoped() bool { return t.Tree == "" }

// errFileScope refuses a folder-level request made with a file-scoped token.
var errFileScope = userErr(errUnauthenticated, "the access token is limited to one file: it reaches no folder, ecosystem or other file")

// forFile derives a token for another file of the same tree.
func (t accessToken) forFile(id string) accessToken {
	t.File, t.Folder = id, ""
	return t
}

// forFolder derives a token for a folder of the same tree.
func (t accessToken) forFolder(id string) accessToken {
	t.File, t.Folder = "", id
	return t
}

// tokenCodec signs and verifies access tokens.
type tokenCodec struct {
	mac *macPool
	now func() time.Time
	// verified remembers the claims of tokens whose signature checked out, so that the
	// requests of an editing session (one token, many requests) skip decoding; expiry is
	// still checked every time.
	verified *lru.Cache[string, accessToken]
}

// verifiedTokens is how many verified tokens are remembered.
const verifiedTokens = 4096

func newTokenCodec(secret []byte, now func() time.Time) *tokenCodec {
	cache, err := lru.New[string, accessToken](verifiedTokens)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	return &tokenCodec{mac: newMACPool(deriveKey(secret, "wopi access token v1")), now: now, verified: cache}
}

// deriveKey gives each use of the bridge secret its own key.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// macPool hands out HMAC-SHA256 states for one key; building one costs more than the
// MAC of a short message.
type macPool struct{ p sync.Pool }

func newMACPool(key []byte) *macPool {
	return &macPool{p: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

// sum is the MAC of the concatenated parts.
func (m *macPool) sum(parts ...[]byte) []byte {
	h := m.p.Get().(hash.Hash)
	h.Reset()
	for _, p := range parts {
		h.Write(p)
	}
	out := h.Sum(nil)
	m.p.Put(h)
	return out
}

var b64 = base64.RawURLEncoding

func (c *tokenCodec) sign(t accessToken) string {
	claims, err := json.Marshal(t)
	if err != nil {
		panic(fmt.Sprintf("bridge: marshal access token: %v", err)) // plain strings and ints: cannot fail
	}
	payload := make([]byte, b64.EncodedLen(len(claims)))
	b64.Encode(payload, claims)
	sig := c.mac.sum(payload)
	out := make([]byte, 0, len(payload)+1+b64.EncodedLen(len(sig)))
	out = append(out, payload...)
	out = append(out, '.')
	out = b64.AppendEncode(out, sig)
	return string(out)
}

// verify checks signature and expiry. Every failure is errUnauthenticated with a reason
// for the log; the token itself is never part of the error.
func (c *tokenCodec) verify(raw string) (accessToken, error) {
	var t accessToken
	if raw == "" {
		return t, userErr(errUnauthenticated, "no access token: send access_token in the query or Authorization: Bearer")
	}
	if len(raw) > maxTokenLen {
		return t, userErr(errUnauthenticated, "access token too long")
	}
	if t, ok := c.verified.Get(raw); ok {
		return c.unexpired(t)
	}
	dot := strings.IndexByte(raw, '.')
	if dot < 0 {
		return t, userErr(errUnauthenticated, "access token malformed")
	}
	payload, sig := raw[:dot], raw[dot+1:]
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, c.mac.sum([]byte(payload))) {
		return t, userErr(errUnauthenticated, "access token signature invalid: it was not issued by this server (or its secret changed)")
	}
	claims, err := b64.DecodeString(payload)
	if err != nil {
		return t, userErr(errUnauthenticated, "access token malformed")
	}
	if err := json.Unmarshal(claims, &t); err != nil || t.User == "" || (t.Mode != modeEdit && t.Mode != modeView) || (t.File == "") == (t.Folder == "") {
		return accessToken{}, userErr(errUnauthenticated, "access token malformed")
	}
	c.verified.Add(raw, t)
	return c.unexpired(t)
}

func (c *tokenCodec) unexpired(t accessToken) (accessToken, error) {
	if c.now().UnixMilli() >= t.Exp {
		return accessToken{}, userErr(errUnauthenticated, "access token expired: open the document again to get a new one")
	}
	return t, nil
}

// tokenFrom reads the access token of a WOPI request: the access_token query parameter
// (all DS sends), else an Authorization: Bearer header.
func tokenFrom(r *http.Request) string {
	if t := queryValue(r.URL.RawQuery, wopiclient.ParamAccessToken); t != "" {
		return t
	}
	return bearer(r)
}

// queryValue is the first value of key in a raw query, without parsing all of it.
func queryValue(rawQuery, key string) string {
	for rawQuery != "" {
		var kv string
		kv, rawQuery, _ = strings.Cut(rawQuery, "&")
		if k, v, _ := strings.Cut(kv, "="); k == key {
			u, err := url.QueryUnescape(v)
			if err != nil {
				return ""
			}
			return u
		}
	}
	return ""
}

// bearer returns the token of an "Authorization: Bearer <token>" header, or "".
func bearer(r *http.Request) string {
	v := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(v) < 7 || !strings.EqualFold(v[:7], "bearer ") {
		return ""
	}
	return strings.TrimSpace(v[7:])
}
