package wopitest

import (
	"slices"
	"strings"
)

// Profile describes how a host departs from the WOPI documentation: one field per
// quirk seen in a real host, each off in the zero value. Spec (the zero Profile) follows
// the documentation; WS, OCOnlyOffice and OCMicrosoft play the hosts measured in
// ../shared/reference/real-hosts.md (the row numbers below are that table's). To add a
// host, write its Profile next to them and add it to Profiles.
type Profile struct {
	// Name names the profile in test names.
	Name string

	// GetLockNotFound: GetLock on an unlocked file answers 404 with X-WOPI-Lock present
	// and empty, instead of 200 (row 1: both hosts).
	GetLockNotFound bool

	// Framing is how GetFile sends the bytes (row 2).
	Framing Framing

	// Omit lists CheckFileInfo properties the host leaves out (rows 3-5): "Size",
	// "LastModifiedTime", "OwnerId", "SupportsGetLock", "SupportsExtendedLockLength".
	Omit []string
	// TimeLayout is the layout of LastModifiedTime; wopiclient.TimeFormat when empty
	// (row 4: WS writes "2006-01-02 15:04:05.000", with a space and no zone).
	TimeLayout string

	// NoPutRelative: PutRelativeFile is 501 for every token, while CheckFileInfo
	// announces UserCanNotWriteRelative false to writers (row 6: WS).
	NoPutRelative bool
	// TakenNameAsLock: a PutRelativeFile onto a taken name is 409 with X-WOPI-Lock
	// present and empty, X-WOPI-LockFailureReason, X-WOPI-ValidRelativeTarget and a JSON
	// body, instead of a plain 409 (row 6: OC).
	TakenNameAsLock bool
	// OverwriteOnlyEmpty: OverwriteRelativeTarget does not replace an unlocked file that
	// is not empty (409 with an empty X-WOPI-Lock) (row 6: OC).
	OverwriteOnlyEmpty bool

	// NoRename: CheckFileInfo announces SupportsRename and UserCanRename false, yet
	// RenameFile is carried out (row 7: WS).
	NoRename bool
	// TokensBoundToName: an access token names the file by its name (its path), so the
	// file's tokens answer 404 once it is renamed (row 7: WS).
	TokensBoundToName bool

	// NotLockedStatus is the status of a PutFile naming a lock on a file that is not
	// locked: 409 when 0; OC answers 500 with the body "aborted: not locked" (row 8).
	NotLockedStatus int

	// LocksOwnedByApp: a lock belongs to the app whose token took it; another app's
	// token cannot unlock, refresh or replace it, and gets 500 (row 9: OC). See AppToken.
	LocksOwnedByApp bool

	// CheckProofs: every call without X-WOPI-Proof gets 500 "Internal Server Error", as
	// a host that checks proof keys answers calls it cannot verify (row 10: OC's
	// default). FileUrl-style access is not modelled.
	CheckProofs bool

	// PlainErrors: failures carry their reason in a text body only, never in
	// X-WOPI-ServerError (rows 8, 10, 11: OC writes them with http.Error).
	PlainErrors bool

	// RelativeTokensNoGetFile: GetFile with a token PutRelativeFile handed out is 500
	// (row 11: OC).
	RelativeTokensNoGetFile bool

	// ViewCanLock: a view-only token can Lock (row 13: OC).
	ViewCanLock bool
}

// Framing is how GetFile frames the file's bytes.
type Framing int

const (
	// FramingLength declares Content-Length.
	FramingLength Framing = iota
	// FramingChunkedClose sends every file chunked with Connection: close (WS).
	FramingChunkedClose
	// FramingChunkedFrom512 sends files of 512 bytes or more chunked, smaller ones with
	// Content-Length (OC).
	FramingChunkedFrom512
)

// Spec is the host that follows the WOPI documentation.
var Spec = Profile{Name: "spec"}

// WS plays cs3org/wopiserver v11.5.0.
var WS = Profile{
	Name:              "wopiserver",
	GetLockNotFound:   true,
	Framing:           FramingChunkedClose,
	TimeLayout:        "2006-01-02 15:04:05.000",
	NoPutRelative:     true,
	NoRename:          true,
	TokensBoundToName: true,
}

// OCOnlyOffice plays OpenCloud's collaboration service configured for ONLYOFFICE
// (with proof checking off: see OCProofs).
var OCOnlyOffice = Profile{
	Name:                    "opencloud-onlyoffice",
	GetLockNotFound:         true,
	Framing:                 FramingChunkedFrom512,
	Omit:                    []string{"Size", "LastModifiedTime", "OwnerId", "SupportsGetLock", "SupportsExtendedLockLength"},
	TakenNameAsLock:         true,
	OverwriteOnlyEmpty:      true,
	NotLockedStatus:         500,
	LocksOwnedByApp:         true,
	PlainErrors:             true,
	RelativeTokensNoGetFile: true,
	ViewCanLock:             true,
}

// OCMicrosoft plays OpenCloud's collaboration service configured for Microsoft Office
// Online: as OCOnlyOffice, with Size and the capabilities in CheckFileInfo.
var OCMicrosoft = func() Profile {
	p := OCOnlyOffice
	p.Name = "opencloud-microsoft"
	p.Omit = []string{"LastModifiedTime"}
	return p
}()

// OCProofs is OCOnlyOffice as OpenCloud is installed: checking proof keys.
var OCProofs = func() Profile {
	p := OCOnlyOffice
	p.Name = "opencloud-proofs"
	p.CheckProofs = true
	return p
}()

// Profiles are the hosts a WOPI client is tested against, the documented one first.
// OCProofs is not among them: no call of a client that cannot sign succeeds there.
func Profiles() []Profile {
	return []Profile{Spec, WS, OCOnlyOffice, OCMicrosoft}
}

// Omits reports whether the profile leaves property out of CheckFileInfo.
func (p Profile) Omits(property string) bool {
	return slices.ContainsFunc(p.Omit, func(o string) bool { return strings.EqualFold(o, property) })
}
