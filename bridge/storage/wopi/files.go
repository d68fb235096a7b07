package wopi

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// fileOf describes file id in folder from its CheckFileInfo.
func fileOf(id, folder string, info *wopiclient.FileInfo) storage.File {
	f := storage.File{
		ID:       id,
		Name:     info.BaseFileName,
		FolderID: folder,
		Size:     info.Size, // wopiclient.SizeUnknown when the host does not say
		Version:  info.Version,
	}
	if f.Size < 0 {
		f.Size = storage.SizeUnknown
	}
	// Unreadable or absent is the zero time: unknown.
	f.ModTime, _ = wopiclient.ParseTime(info.LastModifiedTime)
	if f.Version == "" {
		f.Version = info.LastModifiedTime
	}
	return f
}

func (b *Backend) stat(ctx context.Context, h handle, op string) (storage.File, error) {
	info, err := b.client.CheckFileInfo(ctx, h.src, h.token)
	if err != nil {
		return storage.File{}, upstreamErr(op, h.id, err)
	}
	return fileOf(h.id, h.folder, info), nil
}

// Stat is CheckFileInfo.
func (b *Backend) Stat(ctx context.Context, id string) (storage.File, error) {
	h, err := b.handle(ctx, id)
	if err != nil {
		return storage.File{}, err
	}
	return b.stat(ctx, h, "stat")
}

// StatAccess is Stat with the permissions the same CheckFileInfo grants the context's
// user: write when UserCanWrite and not ReadOnly, rename when the host supports it and
// UserCanRename, create when not UserCanNotWriteRelative. WOPI's absent booleans are
// false, so a host that states no permission grants none.
func (b *Backend) StatAccess(ctx context.Context, id string) (storage.File, storage.Access, error) {
	h, err := b.handle(ctx, id)
	if err != nil {
		return storage.File{}, storage.Access{}, err
	}
	info, err := b.client.CheckFileInfo(ctx, h.src, h.token)
	if err != nil {
		return storage.File{}, storage.Access{}, upstreamErr("stat", h.id, err)
	}
	a := accessOf(info)
	// A host may announce what it then refuses (cs3org/wopiserver's PutRelativeFile):
	// what it answered 501 lately is not offered.
	if a.Create && b.health.lacksOp(h.src, "PutRelativeFile") {
		a.Create = false
	}
	if a.Rename && b.health.lacksOp(h.src, "RenameFile") {
		a.Rename = false
	}
	return fileOf(h.id, h.folder, info), a, nil
}

func accessOf(info *wopiclient.FileInfo) storage.Access {
	write := info.UserCanWrite && !info.ReadOnly
	return storage.Access{
		Write:              write,
		Rename:             write && canRename(info),
		Create:             !info.UserCanNotWriteRelative,
		GetLock:            info.SupportsGetLock,
		ExtendedLockLength: info.SupportsExtendedLockLength,
		Owner:              info.OwnerID,
	}
}

// canRename: the host supports RenameFile and lets the user rename. A host that says
// neither may still carry a rename out (cs3org/wopiserver does, and then refuses the
// file's tokens), so none is sent to it.
func canRename(info *wopiclient.FileInfo) bool { return info.SupportsRename && info.UserCanRename }

// Open is CheckFileInfo, then GetFile. The description comes from before the content
// (a change in between makes the version look older than the bytes, never newer), and
// GetFile's X-WOPI-ItemVersion, when sent, describes the bytes exactly. The size is the
// GetFile reply's own Content-Length, storage.SizeUnknown when it declares none (a
// chunked reply): CheckFileInfo's Size may be absent, or stale by the time the bytes
// flow. A body that ends short of its declared length, or is cut, fails the read. The
// reader does not seek.
func (b *Backend) Open(ctx context.Context, id string) (io.ReadCloser, storage.File, error) {
	h, err := b.handle(ctx, id)
	if err != nil {
		return nil, storage.File{}, err
	}
	f, err := b.stat(ctx, h, "open")
	if err != nil {
		return nil, storage.File{}, err
	}
	c, err := b.client.GetFile(ctx, h.src, h.token, 0)
	if err != nil {
		return nil, storage.File{}, upstreamErr("open", id, err)
	}
	f.Size = c.Size
	if f.Size < 0 {
		f.Size = storage.SizeUnknown
	}
	if c.ItemVersion != "" {
		f.Version = c.ItemVersion
	}
	return c, f, nil
}

// Put is PutFile under lockID; the upstream applies the lock rules.
func (b *Backend) Put(ctx context.Context, id, lockID string, body io.Reader, limit int64) (storage.File, error) {
	h, err := b.handle(ctx, id)
	if err != nil {
		return storage.File{}, err
	}
	if lockID != "" {
		if err := checkLock(lockID, b.currentLock(ctx, h)); err != nil {
			return storage.File{}, err
		}
	}
	r, n, release, err := b.sized(body, limit)
	if err != nil {
		return storage.File{}, err
	}
	defer release()
	version, err := b.client.PutFile(ctx, h.src, h.token, lockID, r, n)
	if err != nil {
		return storage.File{}, upstreamErr("put", id, err)
	}
	f, err := b.stat(ctx, h, "put")
	if err != nil {
		return storage.File{}, err
	}
	f.Size = n
	if version != "" {
		f.Version = version
	}
	return f, nil
}

// Create is PutRelativeFile (relative mode) next to the file whose virtual folder
// folderID is. The new file is registered with the token the upstream hands out for it
// (the anchor's token when it hands out none).
func (b *Backend) Create(ctx context.Context, folderID, name string, body io.Reader, overwrite bool, limit int64) (storage.File, error) {
	return b.create(ctx, folderID, wopiclient.RelativeTarget{Name: name, Overwrite: overwrite}, body, limit)
}

// CreateFree is PutRelativeFile in suggested mode: the upstream keeps name when it is
// free and picks another one when it is not.
func (b *Backend) CreateFree(ctx context.Context, folderID, name string, body io.Reader, limit int64) (storage.File, error) {
	return b.create(ctx, folderID, wopiclient.RelativeTarget{Name: name, Suggested: true}, body, limit)
}

func (b *Backend) create(ctx context.Context, folderID string, target wopiclient.RelativeTarget, body io.Reader, limit int64) (storage.File, error) {
	name := target.Name
	anchor, ok := anchorOf(folderID)
	if !ok {
		return storage.File{}, fmt.Errorf("%w: no folder %q", storage.ErrNotFound, folderID)
	}
	h, err := b.handle(ctx, anchor)
	if err != nil {
		return storage.File{}, err
	}
	if err := checkName(name); err != nil {
		return storage.File{}, err
	}
	r, n, release, err := b.sized(body, limit)
	if err != nil {
		return storage.File{}, err
	}
	defer release()
	nf, err := b.client.PutRelativeFile(ctx, h.src, h.token, target, r, n)
	if err != nil {
		return storage.File{}, upstreamErr(fmt.Sprintf("create %q in", name), folderID, err)
	}
	rawSrc, token, ttl, err := wopiclient.SplitAccessToken(nf.URL)
	if err != nil {
		return storage.File{}, fmt.Errorf("wopi storage: the upstream created %q next to file %s but answered an unusable Url: %w", name, anchor, err)
	}
	src, err := b.canonical(rawSrc)
	if err != nil {
		return storage.File{}, fmt.Errorf("wopi storage: the upstream created %q next to file %s at a WOPISrc that is refused: %w", name, anchor, err)
	}
	if token == "" {
		token = h.token
	}
	if ttl == 0 {
		ttl = h.ttl
	}
	id := fileID(src)
	rec, err := b.remember(id, src, folderID, h.folderName, h.user, credential{Token: token, TTL: ttl})
	if err != nil {
		return storage.File{}, err
	}
	return b.stat(ctx, handle{id: id, src: src, folder: rec.Folder, user: h.user, token: token, ttl: ttl}, "create")
}

// Rename is RenameFile, which keeps the file's extension: name must end with it.
func (b *Backend) Rename(ctx context.Context, id, lockID, name string) (storage.File, error) {
	h, err := b.handle(ctx, id)
	if err != nil {
		return storage.File{}, err
	}
	if err := checkName(name); err != nil {
		return storage.File{}, err
	}
	if lockID != "" {
		if err := checkLock(lockID, b.currentLock(ctx, h)); err != nil {
			return storage.File{}, err
		}
	}
	info, err := b.client.CheckFileInfo(ctx, h.src, h.token)
	if err != nil {
		return storage.File{}, upstreamErr("rename", h.id, err)
	}
	if !canRename(info) {
		return storage.File{}, fmt.Errorf("%w: rename %s: the upstream does not offer renaming this file to this user (SupportsRename %v, UserCanRename %v)",
			storage.ErrUnsupported, id, info.SupportsRename, info.UserCanRename)
	}
	cur := fileOf(h.id, h.folder, info)
	ext := path.Ext(cur.Name)
	stem, ok := strings.CutSuffix(name, ext)
	switch {
	case !ok:
		return storage.File{}, fmt.Errorf("%w: rename %s: WOPI hosts keep a file's extension on rename: choose a name ending in %q",
			storage.ErrUnsupported, id, ext)
	case stem == "" || strings.HasSuffix(stem, "."):
		return storage.File{}, fmt.Errorf("%w: %q leaves no name before the extension %q", storage.ErrInvalidName, name, ext)
	}
	got, err := b.client.RenameFile(ctx, h.src, h.token, lockID, stem)
	if err != nil {
		return storage.File{}, upstreamErr("rename", id, err)
	}
	// The upstream may have picked another free name: its reply says which. It is not
	// asked again: a host may bind its tokens to the file's name.
	if got == "" {
		got = stem
	}
	cur.Name = got + ext
	return cur, nil
}

// Delete is DeleteFile; the file's record goes with it.
func (b *Backend) Delete(ctx context.Context, id string) error {
	h, err := b.handle(ctx, id)
	if err != nil {
		return err
	}
	if err := b.client.DeleteFile(ctx, h.src, h.token); err != nil {
		return upstreamErr("delete", id, err)
	}
	return b.forget(id)
}

// checkName refuses names no WOPI host stores: empty, dot names, path separators of
// either kind, control characters, more than 255 bytes.
func checkName(name string) error {
	reason := ""
	switch {
	case name == "" || name == "." || name == "..":
		reason = "a file needs a name other than \"\", \".\" or \"..\""
	case strings.ContainsAny(name, `/\`):
		reason = "a file name cannot hold / or \\"
	case len(name) > 255:
		reason = "a file name is at most 255 bytes long"
	case strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		reason = "a file name cannot hold control characters"
	}
	if reason == "" {
		return nil
	}
	return fmt.Errorf("%w: %q: %s", storage.ErrInvalidName, name, reason)
}
