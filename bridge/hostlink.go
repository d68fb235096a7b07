package bridge

import (
	"crypto/hmac"
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// Host page links. CheckFileInfo's HostViewUrl and HostEditUrl, and the HostEditUrl of a
// PutRelativeFile reply, point at the bridge's WOPI host page (/open/{id}?style=wopi).
// ONLYOFFICE sends the browser there without a launch token: after convert-and-edit it
// replaces the top window with the HostEditUrl of the converted copy, and a viewer's
// Edit button opens HostEditUrl. So those URLs carry their own credential, a link:
//
//	link=base64url(JSON claims) "." base64url(HMAC-SHA256(key, first part))
//
// signed with a key derived from the bridge secret, for one user and one file, in the
// mode of the access token it was made from. A link expires after hostLinkTTL, and never
// after that access token; sessions opened through it end when that token would have.
// A link therefore grants nothing the access token (which the editor page already holds)
// does not. When no launch secret is set (demo mode) pages need no credential, and a
// link only says who the user is.

// hostLinkTTL is how long a host page link stays valid.
const hostLinkTTL = time.Hour

type hostLink struct {
	User  string `json:"u"`
	Name  string `json:"n,omitempty"`
	Mode  string `json:"m"`
	File  string `json:"f"`
	Exp   int64  `json:"x"`           // the link's expiry, ms since the epoch
	Until int64  `json:"e"`           // expiry of the access token it was made from
	Page  bool   `json:"p,omitempty"` // a page link (pageLink): also opens the index and compare pages
}

type linkCodec struct {
	mac *macPool
	now func() time.Time
}

func newLinkCodec(secret []byte, now func() time.Time) *linkCodec {
	return &linkCodec{mac: newMACPool(deriveKey(secret, "host page link v1")), now: now}
}

func (c *linkCodec) sign(l hostLink) string {
	claims, err := json.Marshal(l)
	if err != nil {
		panic("bridge: marshal host link: " + err.Error()) // strings and ints: cannot fail
	}
	payload := b64.EncodeToString(claims)
	return payload + "." + b64.EncodeToString(c.mac.sum([]byte(payload)))
}

// user verifies a link for file id and returns who it acts for.
func (c *linkCodec) user(raw, id string) (launchUser, error) {
	invalid := userErr(errUnauthenticated, "this link is not valid: it was not issued by this bridge (or WOPIBRIDGE_SECRET changed); open the document again from the application")
	if len(raw) > maxTokenLen {
		return launchUser{}, invalid
	}
	payload, sig, ok := strings.Cut(raw, ".")
	if !ok {
		return launchUser{}, invalid
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, c.mac.sum([]byte(payload))) {
		return launchUser{}, invalid
	}
	claims, err := b64.DecodeString(payload)
	var l hostLink
	if err != nil || json.Unmarshal(claims, &l) != nil || l.User == "" || (l.Mode != modeEdit && l.Mode != modeView) {
		return launchUser{}, invalid
	}
	if l.File != id {
		return launchUser{}, userErr(errForbidden, "this link is for another file")
	}
	if c.now().UnixMilli() >= l.Exp {
		return launchUser{}, userErr(errUnauthenticated, "this link has expired: open the document again from the application")
	}
	return launchUser{Sub: l.User, Name: l.Name, File: l.File, Mode: l.Mode, Until: l.Until}, nil
}

// hostPageURL is the bridge's WOPI host page of a file, without a credential (share
// URLs: whoever follows one brings their own launch token).
func (s *Server) hostPageURL(fileID, action string) string {
	return s.public + "/open/" + url.PathEscape(fileID) + "?style=wopi&action=" + action
}

// hostLinkURL is the host page of a file with a link for the user and mode of t
// (HostViewUrl, HostEditUrl).
func (s *Server) hostLinkURL(t accessToken, fileID, action string) string {
	exp := s.now().Add(hostLinkTTL).UnixMilli()
	if t.Exp < exp {
		exp = t.Exp
	}
	link := s.links.sign(hostLink{User: t.User, Name: t.Name, Mode: t.Mode, File: fileID, Exp: exp, Until: t.Exp})
	return s.hostPageURL(fileID, action) + "&link=" + link
}

// pageLink is a link for u to the editor pages of a file (the compare page's frames),
// valid for hostLinkTTL and never after u.Until.
func (s *Server) pageLink(u launchUser, fileID string) string {
	exp := s.now().Add(hostLinkTTL).UnixMilli()
	if u.Until > 0 && u.Until < exp {
		exp = u.Until
	}
	return s.links.sign(hostLink{User: u.Sub, Name: u.Name, Mode: u.Mode, File: fileID, Exp: exp, Until: u.Until, Page: true})
}
