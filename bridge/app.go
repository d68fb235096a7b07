package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/wopibridge/wopibridge/bridge/officeapp"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// The office-app face (app_*.go): the bridge as an office app that WOPI hosts register
// by its discovery URL, beside the WOPI host face. A host reads /hosting/discovery
// (ONLYOFFICE Docs' apps and actions, pointing at the bridge, with the bridge's proof
// keys), its page posts access_token and access_token_ttl to an action URL
// (/hosting/wopi/{app}/{action}?WOPISrc=...), and the bridge opens the upstream
// document in ONLYOFFICE in the configured style, with the same sessions, locks, saves
// and spool as a launch token's. Every call the bridge makes to the host is signed
// with the keys the discovery publishes (officeapp.Keys, wopiclient.ProofSigner).

// AppOptions configure the office-app face.
type AppOptions struct {
	// Keys are the bridge's proof keys, published in its discovery; nil: the bridge
	// publishes no discovery of its own and opens nothing through the entry point.
	Keys *officeapp.Keys
	// Style is how the entry point shows documents; wopi when empty.
	Style config.AppStyle
}

// appFace is the office-app face's state.
type appFace struct {
	keys  *officeapp.Keys
	style config.AppStyle
	base  *url.URL // the bridge's public URL
}

func newAppFace(o AppOptions, public *url.URL) *appFace {
	a := &appFace{keys: o.Keys, style: o.Style, base: public}
	if a.style == "" {
		a.style = config.AppStyleWOPI
	}
	return a
}

// hostRegistrar is a storage whose files a WOPI host opens through the entry point (an
// upstream WOPI host: wopi.Backend).
type hostRegistrar interface {
	RegisterFromHost(ctx context.Context, wopiSrc, accessToken string, ttl int64) (storage.File, *wopiclient.FileInfo, error)
}

// appPage is the adapter of the office-app face: errors as readable HTML (a person
// sees them in the host's frame), and face "page" for the log.
func (s *Server) appPage(op string, fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r.Context())
		ri.face, ri.op = facePage, op
		if err := fn(w, r); err != nil {
			s.pageError(w, r, err)
		}
	})
}

// appDiscovery serves GET /hosting/discovery.
func (s *Server) appDiscovery(w http.ResponseWriter, r *http.Request) error {
	if s.app.keys == nil {
		return userErr(errNotFound, "this bridge has no proof keys of its own, so it is no office app WOPI hosts can register")
	}
	d, err := s.discoveryDoc(r.Context())
	if err != nil {
		return err
	}
	keys, err := s.app.keys.Public()
	if err != nil {
		return err
	}
	body, err := officeapp.Discovery(officeapp.DiscoveryOptions{
		DS: d, Base: s.app.base, DocsPublic: s.docs.publicURL, Keys: keys,
	})
	if err != nil {
		return userErrCause(errDocsUnavailable, err, "the bridge's discovery cannot be made from ONLYOFFICE Docs' discovery")
	}
	h := w.Header()
	h.Set("Content-Type", "text/xml; charset=utf-8")
	// Hosts cache discovery themselves; a proxy must not keep keys after a rotation.
	h.Set("Cache-Control", "no-cache")
	_, err = w.Write(body)
	return err
}

// maxCapabilities bounds DS's capabilities reply.
const maxCapabilities = 64 << 10

// appCapabilities serves GET /hosting/capabilities: DS's answer, but for convert-to.
func (s *Server) appCapabilities(w http.ResponseWriter, r *http.Request) error {
	if s.docs.url == nil {
		return userErr(errNoDocs, "no ONLYOFFICE Docs is configured: set WOPIBRIDGE_DOCS_URL")
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, s.docs.url.JoinPath(officeapp.CapabilitiesPath).String(), nil)
	if err != nil {
		return err
	}
	resp, err := s.docs.http.Do(req)
	if err != nil {
		return userErrCause(errDocsUnavailable, err, "ONLYOFFICE Docs' capabilities could not be read: check WOPIBRIDGE_DOCS_URL")
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxCapabilities))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("ONLYOFFICE Docs answered %s", resp.Status)
	}
	if err != nil {
		return userErrCause(errDocsUnavailable, err, "ONLYOFFICE Docs' capabilities could not be read: check WOPIBRIDGE_DOCS_URL")
	}
	body, err := officeapp.Capabilities(raw)
	if err != nil {
		return userErrCause(errDocsUnavailable, err, "ONLYOFFICE Docs' capabilities are unusable")
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, err = w.Write(body)
	return err
}

// appRegisterError says why the entry point cannot open a host's WOPISrc.
func appRegisterError(err error, src string) error {
	switch {
	case errors.Is(err, storage.ErrOriginNotAllowed):
		return userErrCause(errForbidden, err, "the WOPISrc is on %s, which is not a WOPI host this bridge may call: add that origin to WOPIBRIDGE_STORAGE (wopi:<origin>[,<origin>...]) if it is trusted", originOf(src))
	case errors.Is(err, storage.ErrInvalidWOPISrc):
		return userErrCause(errBadRequest, err, "the WOPISrc is not the absolute http(s) URL of a file's /wopi/files/<id> endpoint")
	case errors.Is(err, storage.ErrUnauthorized):
		return userErrCause(errForbidden, err, "the WOPI host refused the posted access_token (expired, revoked or for another file), or named no user for it: open the document again from the host")
	case errors.Is(err, storage.ErrNotFound):
		return userErrCause(storage.ErrNotFound, err, "the WOPI host has no file at this WOPISrc")
	}
	return registerError(err, src)
}

// fingerprint names the current (or old) public key for messages: the first bytes of
// the SHA-256 of its modulus, as "wopibridge proof-keys rotate" prints them.
func (a *appFace) fingerprint(current bool) string {
	pub, err := a.keys.Public()
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	k := pub.Old
	if current {
		k = pub.Current
	}
	if k == nil {
		return "(none)"
	}
	sum := sha256.Sum256(k.N.Bytes())
	return "sha256:" + hex.EncodeToString(sum[:8])
}
