package bridge

import (
	"context"
	"errors"
	"net/http"
	"path"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// fileNameMaxLength is what CheckFileInfo announces as FileNameMaxLength: the longest
// name, without extension, a rename may ask for (ONLYOFFICE's editor cuts names to it).
const fileNameMaxLength = 250

// brandName is the breadcrumb brand shown by WOPI clients that display one.
const brandName = "wopibridge"

// fileOverrides is the table of POST /wopi/files/{id} operations.
func (s *Server) fileOverrides() map[wopiclient.Override]wopiOp {
	return map[wopiclient.Override]wopiOp{
		wopiclient.OverrideLock:        {name: "Lock", write: true, fn: s.lock},
		wopiclient.OverrideUnlock:      {name: "Unlock", write: true, fn: s.unlock},
		wopiclient.OverrideRefreshLock: {name: "RefreshLock", write: true, fn: s.refreshLock},
		wopiclient.OverrideGetLock:     {name: "GetLock", fn: s.getLock},
		wopiclient.OverridePutRelative: {name: "PutRelativeFile", fn: s.putRelative},
		wopiclient.OverrideRenameFile:  {name: "RenameFile", write: true, fn: s.renameFile},
		wopiclient.OverrideDelete:      {name: "DeleteFile", write: true, fn: s.deleteFile},
		wopiclient.OverridePutUserInfo: {name: "PutUserInfo", fn: s.putUserInfo},
		wopiclient.OverrideGetShareURL: {name: "GetShareUrl", fn: s.fileShareURL},
	}
}

func (s *Server) fileOverride(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	return s.dispatch(s.fileOps, w, r, c)
}

// checkFileInfo answers GET /wopi/files/{id}.
func (s *Server) checkFileInfo(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	ctx := r.Context()
	// One storage call: with an upstream WOPI host, its CheckFileInfo for this user gives
	// the file and what the user may do, and the bridge never grants more.
	f, access, err := s.statAccess(ctx, c.id)
	if err != nil {
		return err
	}
	s.sawVersion(f)
	userInfo, err := s.userInfo(c.tok.User, f.ID)
	if err != nil {
		return err
	}
	edit := c.tok.canWrite() && access.Write
	s.wopiOpened(ctx, c, edit, access.Write)
	relative := c.tok.canWrite() && access.Create
	containers := s.containers() && !c.tok.fileScoped()
	// Capabilities follow the storage's: in front of another WOPI host, nothing it does
	// not announce is announced (SupportsRename false when it does not let this user
	// rename, no GetLock or long locks it does not state, its own OwnerId).
	owner := brandName
	if s.remote() {
		owner = access.Owner
	}
	cfi := wopiclient.CheckFileInfo{
		BaseFileName:      f.Name,
		UserID:            c.tok.User,
		Version:           f.Version,
		FileExtension:     path.Ext(f.Name),
		LastModifiedTime:  lastModified(f),
		FileNameMaxLength: fileNameMaxLength,

		UserFriendlyName: c.tok.displayName(),
		UserInfo:         userInfo,

		ReadOnly:                !edit,
		UserCanWrite:            edit,
		UserCanRename:           edit && access.Rename,
		UserCanNotWriteRelative: !relative,
		UserCanReview:           edit,

		SupportsLocks:              true,
		SupportsGetLock:            access.GetLock,
		SupportsExtendedLockLength: access.ExtendedLockLength,
		SupportsUpdate:             true,
		SupportsRename:             access.Rename,
		SupportsDeleteFile:         true,
		SupportsUserInfo:           true,
		SupportsContainers:         containers,
		SupportsEcosystem:          containers,
		SupportsFolders:            containers,
		SupportsFileCreation:       containers,
		SupportsReviewing:          true,
		SupportedShareURLTypes:     shareTypes(edit),

		FileURL:     s.fileURL.url(s.public, f.ID, c.tok.User, c.tok.Exp),
		HostViewURL: s.hostLinkURL(c.tok, f.ID, "view"),

		BreadcrumbBrandName: brandName,
		BreadcrumbBrandURL:  s.public + "/",
		PostMessageOrigin:   s.publicOrigin,

		// The bridge's host page closes, switches to edit and tracks edits itself.
		// Other pages keep the editor's own behaviour (Edit opens HostEditUrl).
		ClosePostMessage:            c.tok.Page,
		EditModePostMessage:         c.tok.Page,
		EditNotificationPostMessage: c.tok.Page,
	}
	if edit {
		cfi.HostEditURL = s.hostLinkURL(c.tok, f.ID, "edit")
	}
	cfi.BreadcrumbFolderName = s.breadcrumbFolder(ctx, f.FolderID)
	reply := checkFileInfoReply{CheckFileInfo: cfi}
	if f.Size >= 0 {
		reply.Size = &f.Size
	}
	if owner != "" {
		reply.OwnerID = &owner
	}
	return s.writeJSON(w, http.StatusOK, reply)
}

// checkFileInfoReply is CheckFileInfo with Size and OwnerId left out when the storage
// does not state them: an unknown size announced as 0 would make ONLYOFFICE replace
// the document with a blank template.
type checkFileInfoReply struct {
	wopiclient.CheckFileInfo
	Size    *int64  `json:"Size,omitempty"`
	OwnerID *string `json:"OwnerId,omitempty"`
}

// breadcrumbFolder is the name of a folder for display, "" when it cannot be had.
func (s *Server) breadcrumbFolder(ctx context.Context, id string) string {
	if id == "" {
		return ""
	}
	if name, ok := s.folderNames.get(id); ok {
		return name
	}
	f, err := s.store.Folder(ctx, id)
	if err != nil {
		return ""
	}
	name := folderName(f)
	s.folderNames.put(id, name)
	return name
}

func (t accessToken) displayName() string {
	if t.Name != "" {
		return t.Name
	}
	return t.User
}

// renameFile answers RENAME_FILE: X-WOPI-RequestedName (UTF-7) is the new name without
// extension; the extension is kept. A taken name gets a free variant ("name (1)"), as
// WOPI asks of hosts, and the reply's Name says which; only when none can be chosen is
// it a 400 with X-WOPI-InvalidFileNameError.
func (s *Server) renameFile(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	ctx := r.Context()
	requested, err := wopiclient.DecodeUTF7(r.Header.Get(wopiclient.HeaderRequestedName))
	if err != nil {
		return &nameError{name: r.Header.Get(wopiclient.HeaderRequestedName), reason: "the name is not valid UTF-7"}
	}
	lockID, err := lockHeader(r.Header, wopiclient.HeaderLock, false)
	if err != nil {
		return err
	}
	f, err := s.store.Stat(ctx, c.id)
	if err != nil {
		return err
	}
	name := requested + path.Ext(f.Name)
	if err := checkName(requested, false); err != nil {
		return err
	}
	if err := checkName(name, false); err != nil {
		return err
	}
	if name != f.Name {
		if f, err = s.renameFree(ctx, c.id, lockID, name, f.FolderID); err != nil {
			return err
		}
	}
	stem, _ := splitExt(f.Name)
	return s.writeJSON(w, http.StatusOK, struct {
		Name string `json:"Name"`
	}{stem})
}

// renameFree renames file id to name or, when name is taken, to a free variant of it
// chosen from the folder's listing. The storage may pick a free name itself (an upstream
// WOPI host): the File returned has the name used.
func (s *Server) renameFree(ctx context.Context, id, lockID, name, folderID string) (storage.File, error) {
	f, err := s.store.Rename(ctx, id, lockID, name)
	if !errors.Is(err, storage.ErrExists) {
		return f, err
	}
	taken := &nameError{name: name, reason: "a file with this name already exists in the folder; choose another name"}
	names, err := s.takenNames(ctx, folderID)
	if err != nil {
		return storage.File{}, taken
	}
	f, err = s.store.Rename(ctx, id, lockID, freeName(name, names))
	if errors.Is(err, storage.ErrExists) {
		return storage.File{}, taken // taken meanwhile
	}
	return f, err
}

// deleteFile answers DELETE; a locked file is a lock conflict.
func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	if err := s.store.Delete(r.Context(), c.id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// putUserInfo answers PUT_USER_INFO: the body is an opaque string the client wants back
// as UserInfo in this user's CheckFileInfo of this file.
func (s *Server) putUserInfo(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	body, err := readSmallBody(w, r, maxUserInfo)
	if err != nil {
		return err
	}
	if _, err := s.store.Stat(r.Context(), c.id); err != nil {
		return err
	}
	if err := s.setUserInfo(c.tok.User, c.id, string(body)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
