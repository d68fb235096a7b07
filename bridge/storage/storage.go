// Package storage is the contract between the bridge and the place documents live.
//
// A Backend stores files in folders and enforces the WOPI lock rules on every write, so
// that a backend whose locks live elsewhere (an upstream WOPI host) and one whose locks
// live in the bridge's state store (fs) behave the same to both faces.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
)

// Errors every backend returns, wrapped or not; callers test them with errors.Is.
var (
	ErrNotFound     = errors.New("storage: not found")
	ErrExists       = errors.New("storage: already exists")
	ErrInvalidName  = errors.New("storage: invalid name")
	ErrTooLarge     = errors.New("storage: content too large")
	ErrNotEmpty     = errors.New("storage: folder not empty")
	ErrUnauthorized = errors.New("storage: access denied")
	ErrUnsupported  = errors.New("storage: operation not supported")
	ErrUnavailable  = errors.New("storage: temporarily unavailable")

	// Refusals of a Registrar's wopiSrc; both are ErrUnauthorized too.
	ErrOriginNotAllowed = fmt.Errorf("%w: upstream origin not allowed", ErrUnauthorized)
	ErrInvalidWOPISrc   = fmt.Errorf("%w: invalid WOPISrc", ErrUnauthorized)
)

// LockConflictError reports that a lock-guarded operation was refused. Current is the
// lock the file holds now; empty when the file is not locked (for example a PutFile
// with a lock on an unlocked file, or one without a lock on a non-empty unlocked file).
type LockConflictError struct {
	Current string
	Reason  string
}

func (e *LockConflictError) Error() string {
	if e.Reason != "" {
		return "storage: lock conflict: " + e.Reason
	}
	if e.Current == "" {
		return "storage: lock conflict: file is not locked"
	}
	return "storage: lock conflict: file is locked by another lock"
}

// File describes one document.
type File struct {
	ID       string    // stable across rename and edit
	Name     string    // base name with extension, e.g. "report.docx"
	FolderID string    // id of the containing folder
	Size     int64     // bytes; SizeUnknown when the storage does not say (never 0 then)
	Version  string    // changes on every content change, never reused for other content
	ModTime  time.Time // last content change; zero when the storage does not say
}

// SizeUnknown is the Size of a file whose storage does not state it (an upstream WOPI
// host whose CheckFileInfo has no Size, or whose GetFile declares no length).
const SizeUnknown = -1

// Folder describes one folder (a WOPI container). The root has an empty ParentID.
type Folder struct {
	ID       string
	Name     string
	ParentID string
}

// Lock is the lock a file holds.
type Lock struct {
	ID      string    // the client's lock string, opaque, at most 1024 bytes
	Expires time.Time // WOPI locks expire after 30 minutes unless refreshed
}

// LockDuration is how long a WOPI lock lives without a refresh.
const LockDuration = 30 * time.Minute

// MaxLockLength is the longest lock id accepted (WOPI's extended lock length).
const MaxLockLength = 1024

// Backend is the storage contract. Every method is safe for concurrent use. Reads and
// writes stream: no method holds a whole document in memory.
//
// Lock rules (WOPI): a write with lockID on a file locked with the same id succeeds; a
// write on a file locked with another id, or with a lock on an unlocked file, is a
// *LockConflictError; a PutFile without a lock on an unlocked file succeeds only when the
// file is empty (0 bytes). Rename follows the same rules except that a rename without a
// lock on an unlocked file succeeds whatever its size. An expired lock counts as no lock.
// A lock id that is empty or longer than MaxLockLength is a *LockConflictError with a
// Reason, and changes nothing.
//
// Lock, Unlock, RefreshLock and UnlockAndRelock do not change a file's Version (WOPI
// clients compare it across a lock). Unknown ids, and ids of the wrong kind (a folder id
// given to Stat), are ErrNotFound. The package storagetest holds the conformance suite
// every backend passes.
type Backend interface {
	// Stat describes a file.
	Stat(ctx context.Context, id string) (File, error)
	// Open returns the file's content and its description at the moment of opening.
	// The reader is an io.ReadSeeker too when the backend can seek (fs does).
	Open(ctx context.Context, id string) (io.ReadCloser, File, error)
	// Put replaces the content of an existing file atomically, under the lock rules.
	// A body longer than limit (when limit > 0) is ErrTooLarge and changes nothing.
	Put(ctx context.Context, id, lockID string, body io.Reader, limit int64) (File, error)
	// Create makes a new file named name in folderID. If the name exists: ErrExists unless
	// overwrite, in which case the existing file is replaced unless it is locked
	// (*LockConflictError); the replaced file keeps its id. Names that are empty, ".", "..",
	// or hold a path separator or NUL are ErrInvalidName, as are names the backend cannot
	// store (too long, reserved).
	Create(ctx context.Context, folderID, name string, body io.Reader, overwrite bool, limit int64) (File, error)
	// Rename gives a file a new base name (extension included) in the same folder, under
	// the lock rules. A taken name is ErrExists, except in a backend whose storage picks
	// a free name itself, as WOPI asks of hosts (an upstream WOPI host may): the file then
	// takes the name the storage picked, and the File returned carries it.
	Rename(ctx context.Context, id, lockID, name string) (File, error)
	// Delete removes a file; a locked file is a *LockConflictError.
	Delete(ctx context.Context, id string) error

	// Lock takes the lock, or refreshes it when it already holds lockID.
	Lock(ctx context.Context, id, lockID string) (File, error)
	// Unlock releases lockID.
	Unlock(ctx context.Context, id, lockID string) (File, error)
	// RefreshLock extends lockID.
	RefreshLock(ctx context.Context, id, lockID string) (File, error)
	// UnlockAndRelock replaces oldLockID with lockID in one step.
	UnlockAndRelock(ctx context.Context, id, oldLockID, lockID string) (File, error)
	// GetLock returns the current lock id, empty when unlocked.
	GetLock(ctx context.Context, id string) (string, error)

	// Root is the top folder.
	Root(ctx context.Context) (Folder, error)
	// Folder describes a folder.
	Folder(ctx context.Context, id string) (Folder, error)
	// List returns the files and subfolders of a folder, each sorted by name (bytewise).
	List(ctx context.Context, folderID string) ([]File, []Folder, error)
	// CreateFolder makes a subfolder; a taken name is ErrExists.
	CreateFolder(ctx context.Context, parentID, name string) (Folder, error)
	// RenameFolder renames a folder in place; a taken name is ErrExists. The root is
	// ErrUnsupported.
	RenameFolder(ctx context.Context, id, name string) (Folder, error)
	// DeleteFolder removes an empty folder (ErrNotEmpty otherwise). The root is
	// ErrUnsupported.
	DeleteFolder(ctx context.Context, id string) error
}

// Checker is implemented by backends that can report whether they are reachable (readyz).
type Checker interface {
	Check(ctx context.Context) error
}

type userKey struct{}

// WithUser names the user on whose behalf the storage operations of ctx run. Backends
// whose credentials are per user (an upstream WOPI host) use that user's; others ignore
// it. Background work runs without a user.
func WithUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, userKey{}, user)
}

// UserFrom returns the user WithUser put in ctx.
func UserFrom(ctx context.Context) (string, bool) {
	u, ok := ctx.Value(userKey{}).(string)
	return u, ok && u != ""
}

// Registrar is implemented by backends whose files are made known by the integrator's
// launch token (an upstream WOPI host): Register checks the upstream file and the
// user's upstream token and returns the bridge's file for it. A wopiSrc on an origin
// the backend may not call is ErrOriginNotAllowed, one that is not a usable WOPISrc
// ErrInvalidWOPISrc, both refused before any request; a token the upstream refuses is
// ErrUnauthorized.
type Registrar interface {
	Register(ctx context.Context, wopiSrc, accessToken string, ttl int64, user string) (File, error)
}

// Access is what the user of a context may do to a file, as the storage grants it.
type Access struct {
	Write  bool // change the content and lock the file
	Rename bool // rename the file
	Create bool // create files next to it (save a copy, convert)

	// What the storage itself offers, for a backend that fronts another WOPI host (its
	// CheckFileInfo's SupportsGetLock, SupportsExtendedLockLength, OwnerId): the bridge
	// announces no more to its own clients.
	GetLock            bool   // GetLock answers
	ExtendedLockLength bool   // lock ids up to MaxLockLength bytes, not only 256
	Owner              string // the file's owner id; empty when the storage names none
}

// FullAccess is the access of a backend that grants every user everything: the bridge's
// own tokens and launch tokens decide alone.
func FullAccess() Access {
	return Access{Write: true, Rename: true, Create: true, GetLock: true, ExtendedLockLength: true}
}

// Permissioner is implemented by backends whose storage decides per user what may be
// done to a file (an upstream WOPI host's UserCanWrite, ReadOnly, UserCanRename and
// UserCanNotWriteRelative). Callers then never grant more than it says.
type Permissioner interface {
	// StatAccess describes file id as Stat does, with what the context's user (see
	// WithUser) may do to it, in one round trip to the storage.
	StatAccess(ctx context.Context, id string) (File, Access, error)
}

// FreeNamer is implemented by backends whose storage picks a free name itself when the
// one asked for is taken (an upstream WOPI host's PutRelativeFile with
// X-WOPI-SuggestedTarget), for callers that cannot list a folder to choose one.
type FreeNamer interface {
	// CreateFree makes a new file in folderID named name, or a similar free name the
	// storage chooses when name is taken; the File returned carries the name used. A
	// body longer than limit (when limit > 0) is ErrTooLarge.
	CreateFree(ctx context.Context, folderID, name string, body io.Reader, limit int64) (File, error)
}

type fenceKey struct{}

// Fence is a condition a write must still meet when it lands: Check runs in the
// state-store transaction that commits the write, and its error refuses the write.
// Only a backend that keeps its records in Store applies it (the fs backend, checking
// right before the rename that replaces the file); others cannot, and ignore it.
type Fence struct {
	Store state.Store
	Check func(tx state.Tx) error
}

// WithFence makes the writes of ctx check f as they land.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceFrom returns the fence WithFence put in ctx.
func FenceFrom(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok && f.Check != nil
}
