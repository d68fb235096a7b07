package bridge

import (
	"context"
	"errors"
	"net/url"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// What a launch may do depends on the storage as well as on the launch token. With an
// upstream WOPI host (a storage.Registrar) files enter through the launch token's
// wopisrc and access_token, and the upstream's CheckFileInfo says what the user may do
// (a storage.Permissioner): the bridge never hands out more.

// resolveLaunch registers the upstream file a launch token names, if any: the user is
// then limited to that file, and sessions never outlive the upstream token. The upstream
// credential does not travel further than this.
func (s *Server) resolveLaunch(ctx context.Context, u launchUser) (launchUser, error) {
	up := u.upstream
	u.upstream = nil
	if up == nil {
		return u, nil
	}
	reg, ok := s.store.(storage.Registrar)
	if !ok {
		return u, userErr(errBadRequest, "the launch token names a wopisrc, but this bridge serves files from its own directory (WOPIBRIDGE_STORAGE=fs:...): name the file with the file claim instead")
	}
	switch {
	case up.token == "":
		return u, userErr(errBadRequest, "the launch token has a wopisrc but no access_token: add the user's access token for that file on the upstream WOPI host")
	case up.ttl > 0 && up.ttl <= s.now().UnixMilli():
		return u, userErr(errForbidden, "the launch token's access_token_ttl has passed: get a new access token for the file from the application")
	}
	f, err := reg.Register(ctx, up.src, up.token, up.ttl, u.Sub)
	if err != nil {
		return u, registerError(err, up.src)
	}
	if u.File != "" && u.File != f.ID {
		return u, userErr(errForbidden, "the launch token's file claim %q is not the file its wopisrc names (%q): drop the file claim, or make it agree", u.File, f.ID)
	}
	u.File = f.ID
	if up.ttl > 0 && (u.Until == 0 || up.ttl < u.Until) {
		u.Until = up.ttl
	}
	return u, nil
}

// registerError says why an upstream file could not be registered; the cause (free of
// tokens) stays in the log.
func registerError(err error, src string) error {
	switch {
	case errors.Is(err, storage.ErrOriginNotAllowed):
		return userErrCause(errForbidden, err, "the launch token's wopisrc is on %s, which is not an upstream this bridge may call: add that origin to WOPIBRIDGE_STORAGE (wopi:<origin>[,<origin>...]) if it is trusted", originOf(src))
	case errors.Is(err, storage.ErrInvalidWOPISrc):
		return userErrCause(errBadRequest, err, "the launch token's wopisrc is not a usable WOPISrc: give the absolute http(s) URL of the file's /wopi/files/<id> endpoint on the upstream WOPI host")
	case errors.Is(err, storage.ErrUnauthorized):
		return userErrCause(errForbidden, err, "the upstream WOPI host refused the launch token's access_token (expired, revoked or for another file): get a new one from the application")
	case errors.Is(err, storage.ErrNotFound):
		return userErrCause(storage.ErrNotFound, err, "the upstream WOPI host has no file at the launch token's wopisrc")
	case errors.Is(err, storage.ErrUnavailable):
		var pm interface{ PublicMessage() string }
		if errors.As(err, &pm) {
			// The upstream answered, and what it answered is not an outage to wait out.
			return userErrCause(storage.ErrUnavailable, err, "%s", pm.PublicMessage())
		}
		return userErrCause(storage.ErrUnavailable, err, "the upstream WOPI host could not be reached or failed: try again shortly")
	}
	return err
}

// originOf is scheme://host of a URL, for messages: never its path or query, which may
// hold a token.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "an unreadable origin"
	}
	return u.Scheme + "://" + u.Host
}

// launchStorageError says why a launch cannot open file id, for the errors the storage
// gives when a user reaches a file (not found, or not granted).
func (s *Server) launchStorageError(err error, id string) error {
	_, upstream := s.store.(storage.Registrar)
	switch {
	case errors.Is(err, storage.ErrNotFound) && upstream:
		return userErrCause(storage.ErrNotFound, err, "no file with id %q: files of the upstream WOPI host are opened with a launch token naming their wopisrc and access_token", id)
	case errors.Is(err, storage.ErrNotFound):
		return userErrCause(storage.ErrNotFound, err, "no file with id %q", id)
	case errors.Is(err, storage.ErrUnauthorized):
		return userErrCause(errForbidden, err, "the upstream WOPI host does not let this user open file %q (no unexpired access token of theirs, or the token was refused): open it again from the application with a launch token naming its wopisrc and access_token", id)
	}
	return err
}

// statAccess describes a file with what the request's user may do to it: what the
// storage grants when it decides per user, everything otherwise.
func (s *Server) statAccess(ctx context.Context, id string) (storage.File, storage.Access, error) {
	if p, ok := s.store.(storage.Permissioner); ok {
		return p.StatAccess(ctx, id)
	}
	f, err := s.store.Stat(ctx, id)
	return f, storage.FullAccess(), err
}

// access is what the request's user may do to file id; it asks the storage only when
// the storage decides per user.
func (s *Server) access(ctx context.Context, id string) (storage.Access, error) {
	p, ok := s.store.(storage.Permissioner)
	if !ok {
		return storage.FullAccess(), nil
	}
	_, a, err := p.StatAccess(ctx, id)
	return a, err
}

// viewOnlyByStorage limits u to viewing when the storage does not let it write.
func viewOnlyByStorage(u launchUser, a storage.Access) launchUser {
	if !a.Write && u.Mode == modeEdit {
		u.Mode = modeView
		u.storageViewOnly = true
	}
	return u
}
