// Package wopi is the storage backend over an upstream WOPI host: a storage that already
// speaks WOPI, which the bridge drives as a WOPI client (wopiclient.Client). Content,
// names and locks live upstream; the bridge keeps only which upstream file each of its
// ids stands for and the upstream access tokens it may use. There is no local lock
// table: every lock operation is the upstream's, so a WOPI client talking to the
// upstream directly and one talking through the bridge see the same lock.
//
// # Files and ids
//
// Files enter through Register, with the WOPISrc and upstream access token an
// integrator puts in a launch token. The bridge id of a file is derived from its
// canonical WOPISrc (lower-case scheme and host, default port dropped, path as sent,
// query without access_token and access_token_ttl, no fragment): the first 26
// characters of the lower-case base32 of its SHA-256 ([a-z2-7]). The same upstream file
// therefore has one id for every user, and co-editors share one key and one lock. The
// id stays when the upstream renames the file, as long as the WOPISrc stays.
//
// Only WOPISrc origins in Options.Origins are called, redirects included; anything else
// is refused before a request is made (ErrOriginNotAllowed), so a launch token cannot
// make the bridge reach arbitrary hosts.
//
// # Credentials
//
// The state store (bucket "wopi.files") maps each id to its WOPISrc, its folder and the
// upstream tokens registered for it: one per user (the latest of that user), each with
// its access_token_ttl and a registration sequence. An operation uses the token of the
// user its context names (WithUser); without a user (background work such as lock
// refreshes or spooled saves) it uses the most recently registered unexpired token of
// the file, as ONLYOFFICE Docs does for its own background calls. When there is no
// usable token the operation fails with storage.ErrUnauthorized: the user must open the
// file again. A user who has not registered the file is never lent another user's
// token. Expired tokens are dropped when the file is registered again. The records
// last read are kept in memory for a few seconds (see load), so the requests of an
// editing session do not each read the state store. The tokens
// are credentials: they are never logged nor put in an error, and the state store must
// be protected like the bridge's own secret, which it holds too.
//
// # Folders
//
// WOPI's file endpoints know no containers, so the backend has no folder tree: Root,
// List, CreateFolder, RenameFolder and DeleteFolder are storage.ErrUnsupported. Each
// file has a virtual folder, "dir-" + its id, which stands for the upstream folder
// holding it: Create in it is a PutRelativeFile relative to that file (in relative
// mode, so the name is exact), which puts conflict copies and Save As results next to
// the file; CreateFree (storage.FreeNamer) is the same in suggested mode, where the
// upstream picks a free name. Files created that way take the folder id they were created in; a
// registered file's folder is its own virtual folder. Folder describes a virtual folder
// (named after the upstream's BreadcrumbFolderName).
//
// # Mapping
//
// Stat is CheckFileInfo (Version, or LastModifiedTime when the host gives no Version; a
// Size or LastModifiedTime the host does not state is storage.SizeUnknown or the zero
// time, never 0 or year 1); Open is CheckFileInfo then GetFile, whose own
// Content-Length (storage.SizeUnknown when it sends the bytes chunked) and
// X-WOPI-ItemVersion describe the bytes; Put is PutFile, after spooling a body of
// unknown length to a temp file, since WOPI hosts want a Content-Length; Rename is
// RenameFile, which keeps the extension (a new extension is storage.ErrUnsupported),
// is never sent to a host that does not announce it for the user (SupportsRename,
// UserCanRename), and may land on another free name when the one asked for is taken,
// as WOPI asks of hosts (the File returned carries the name the host answered);
// Delete is DeleteFile; the lock operations are their WOPI namesakes (a GetLock 404
// with an empty X-WOPI-Lock, as real hosts answer an unlocked file, is no lock).
// Upstream replies map as: 409 to *storage.LockConflictError with the upstream's
// X-WOPI-Lock (or storage.ErrExists for a taken name, whose free-name suggestion stays
// in the wrapped *wopiclient.Error), a 5xx that says the file is not locked (OpenCloud's
// "aborted: not locked") to *storage.LockConflictError too, 401/403 to
// storage.ErrUnauthorized, 404 to storage.ErrNotFound, 412/413 to storage.ErrTooLarge,
// 400 on a name to storage.ErrInvalidName, 501 to storage.ErrUnsupported, other 5xx,
// network failures and timeouts to storage.ErrUnavailable (wrapping the cause). A
// refusal by the host (401, 501, 500) carries a PublicMessage saying what the host
// answered: a 500 is not an outage to wait out (hosts answer it for proofs they cannot
// verify, for a lock that is gone, for tokens they no longer take).
//
// UpstreamState reports how the upstream answered the latest calls, for readiness.
//
// # Permissions
//
// StatAccess (storage.Permissioner) is Stat with what the upstream's CheckFileInfo
// grants the context's user: write when UserCanWrite and not ReadOnly, rename when
// SupportsRename and UserCanRename as well, create next to the file unless
// UserCanNotWriteRelative, and the host's own SupportsGetLock,
// SupportsExtendedLockLength and OwnerId. An operation the host answered 501 although
// it announced it (cs3org/wopiserver's PutRelativeFile) is not granted for ten minutes.
// The bridge hands out and announces no more than that.
package wopi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// Options configure New.
type Options struct {
	// Origins are the upstream WOPI hosts that may be called, each scheme://host[:port].
	Origins []*url.URL
	// State keeps ids, WOPISrcs and upstream tokens.
	State state.Store
	// HTTP sends every upstream request; http.DefaultClient when nil. Give one client
	// with timeouts: its connections are reused.
	HTTP *http.Client
	// UserAgent is sent upstream when set.
	UserAgent string
	// TempDir holds bodies of unknown length while they are sent; os.TempDir() when
	// empty.
	TempDir string
	// Now is the clock tokens expire by; time.Now when nil.
	Now func() time.Time
}

// Backend is the upstream WOPI backend.
type Backend struct {
	origins map[string]bool // originKey of each allowed origin
	allowed string          // the allowed origins, for messages
	state   state.Store
	records *expirable.LRU[string, *record] // see load
	client  *wopiclient.Client
	tempDir string
	now     func() time.Time
	health  health // the outcome of recent upstream calls, for readiness reports
}

var (
	_ storage.Backend      = (*Backend)(nil)
	_ storage.Registrar    = (*Backend)(nil)
	_ storage.Checker      = (*Backend)(nil)
	_ storage.Permissioner = (*Backend)(nil)
	_ storage.FreeNamer    = (*Backend)(nil)
)

// New makes the backend.
func New(opts Options) (*Backend, error) {
	if opts.State == nil {
		return nil, errors.New("wopi storage: no state store given")
	}
	if len(opts.Origins) == 0 {
		return nil, errors.New("wopi storage: no upstream origin given (use wopi:https://wopi.example.com)")
	}
	b := &Backend{
		origins: map[string]bool{},
		state:   opts.State,
		records: newRecordCache(),
		tempDir: opts.TempDir,
		now:     opts.Now,
	}
	var errs []error
	for _, o := range opts.Origins {
		key, err := originOf(o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if b.allowed != "" {
			b.allowed += ", "
		}
		b.allowed += key
		b.origins[key] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("wopi storage: %w", err)
	}
	if b.tempDir == "" {
		b.tempDir = os.TempDir()
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.client = &wopiclient.Client{HTTP: opts.HTTP, UserAgent: opts.UserAgent, CheckURL: b.checkURL, Observe: b.health.observe}
	b.health.now = b.now
	return b, nil
}

// Check reports whether the state store answers. The upstream is not called: which
// token to call it with belongs to a user's request.
func (b *Backend) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.state.View(func(tx state.Tx) error {
		_, err := tx.Get(bucket, "-")
		return err
	})
}

// WithUser returns a context whose storage operations use the upstream token user
// registered (storage.WithUser). Without a user, operations use the most recently
// registered token of the file.
func WithUser(ctx context.Context, user string) context.Context {
	return storage.WithUser(ctx, user)
}

func userFrom(ctx context.Context) (string, bool) { return storage.UserFrom(ctx) }

// Register makes an upstream file known: wopiSrc must be on an allowed origin
// (ErrOriginNotAllowed otherwise, with no request made), and the upstream must accept
// accessToken in CheckFileInfo. The token is kept as user's (ttl: its
// access_token_ttl, milliseconds since the Unix epoch, 0 when unknown) and becomes the
// file's most recent one. Registering again, by the same or another user, gives the
// same file id.
func (b *Backend) Register(ctx context.Context, wopiSrc, accessToken string, ttl int64, user string) (storage.File, error) {
	src, err := b.canonical(wopiSrc)
	if err != nil {
		return storage.File{}, err
	}
	id := fileID(src)
	switch {
	case user == "":
		return storage.File{}, errors.New("wopi storage: Register needs the user the access token belongs to")
	case accessToken == "":
		return storage.File{}, fmt.Errorf("%w: no upstream access token given for %s: the launch token needs access_token", storage.ErrUnauthorized, src)
	case ttl > 0 && ttl <= b.now().UnixMilli():
		return storage.File{}, fmt.Errorf("%w: the upstream access token for %s expired at %s: get a new one from the application",
			storage.ErrUnauthorized, src, time.UnixMilli(ttl).UTC().Format(time.RFC3339))
	}
	info, err := b.client.CheckFileInfo(ctx, src, accessToken)
	if err != nil {
		return storage.File{}, upstreamErr("register", id, err)
	}
	rec, err := b.remember(id, src, folderID(id), info.BreadcrumbFolderName, user, credential{Token: accessToken, TTL: ttl})
	if err != nil {
		return storage.File{}, err
	}
	return fileOf(id, rec.Folder, info), nil
}

// FileID is the id a WOPISrc has (or would have once registered), without calling
// the upstream.
func (b *Backend) FileID(wopiSrc string) (string, error) {
	src, err := b.canonical(wopiSrc)
	if err != nil {
		return "", err
	}
	return fileID(src), nil
}

// FileInfo is the upstream's CheckFileInfo of the file for the context's user (see
// WithUser): permissions, user name and the host's other properties.
func (b *Backend) FileInfo(ctx context.Context, id string) (*wopiclient.FileInfo, error) {
	h, err := b.handle(ctx, id)
	if err != nil {
		return nil, err
	}
	info, err := b.client.CheckFileInfo(ctx, h.src, h.token)
	if err != nil {
		return nil, upstreamErr("check file info", id, err)
	}
	return info, nil
}
