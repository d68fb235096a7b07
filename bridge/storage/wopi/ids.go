package wopi

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// Refusals of a WOPISrc (the storage package's). Both are storage.ErrUnauthorized too.
var (
	ErrOriginNotAllowed = storage.ErrOriginNotAllowed
	ErrInvalidWOPISrc   = storage.ErrInvalidWOPISrc
)

// idLength is the length of a file id: 130 bits of the SHA-256.
const idLength = 26

// folderPrefix starts the id of a file's virtual folder.
const folderPrefix = "dir-"

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// fileID is the id of the file at the canonical WOPISrc src.
func fileID(src string) string {
	sum := sha256.Sum256([]byte(src))
	return strings.ToLower(idEncoding.EncodeToString(sum[:]))[:idLength]
}

// validID reports whether id has the shape of a file id, so that other strings are
// never looked up.
func validID(id string) bool {
	if len(id) != idLength {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// folderID is the id of the virtual folder holding file id.
func folderID(id string) string { return folderPrefix + id }

// anchorOf is the file whose virtual folder folder is.
func anchorOf(folder string) (string, bool) {
	id, ok := strings.CutPrefix(folder, folderPrefix)
	return id, ok && validID(id)
}

// originOf is the origin of u as scheme://host:port, lower case, with the port always
// written, for comparing origins.
func originOf(u *url.URL) (string, error) {
	if u == nil {
		return "", errors.New("no origin given")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("origin %s: want http:// or https://", u.Redacted())
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("origin %s: no host", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// checkURL lets the client call only allowed origins, redirect targets included.
func (b *Backend) checkURL(u *url.URL) error {
	o, err := originOf(u)
	if err != nil {
		return err
	}
	if !b.origins[o] {
		return fmt.Errorf("%s is not an allowed upstream origin (allowed: %s)", o, b.allowed)
	}
	return nil
}

// canonical checks a WOPISrc and gives its canonical form, the one ids derive from and
// requests go to.
func (b *Backend) canonical(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: the WOPISrc is not a URL", ErrInvalidWOPISrc)
	case u.Opaque != "" || u.Host == "" || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")):
		return "", fmt.Errorf("%w: the WOPISrc must be an absolute http or https URL", ErrInvalidWOPISrc)
	case u.User != nil:
		return "", fmt.Errorf("%w: the WOPISrc must not hold user information", ErrInvalidWOPISrc)
	}
	origin, err := originOf(u)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidWOPISrc, err)
	}
	if !b.origins[origin] {
		return "", fmt.Errorf("%w: the WOPISrc is on %s; allowed upstream origins are %s (add the origin to WOPIBRIDGE_STORAGE if it is trusted)",
			ErrOriginNotAllowed, origin, b.allowed)
	}
	c := url.URL{Scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Host), Path: u.Path, RawPath: u.RawPath}
	if port := u.Port(); (c.Scheme == "http" && port == "80") || (c.Scheme == "https" && port == "443") {
		c.Host = strings.ToLower(u.Hostname())
		if strings.Contains(c.Host, ":") {
			c.Host = "[" + c.Host + "]"
		}
	}
	if c.Path == "" {
		c.Path = "/"
	}
	if u.RawQuery != "" {
		q := u.Query()
		q.Del(wopiclient.ParamAccessToken)
		q.Del(wopiclient.ParamAccessTokenTTL)
		c.RawQuery = q.Encode()
	}
	return c.String(), nil
}
