package wopi

import (
	"context"
	"fmt"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// The upstream is reached through its file endpoints only, which know no containers:
// the backend has no folder tree. Each file's virtual folder (see the package doc) can
// be described and created in, nothing more.

// Root is storage.ErrUnsupported: there is no top folder to start from.
func (b *Backend) Root(context.Context) (storage.Folder, error) {
	return storage.Folder{}, fmt.Errorf("%w: wopi storage has no root folder: files are opened from launch tokens that name their WOPISrc",
		storage.ErrUnsupported)
}

// Folder describes the virtual folder of a known file.
func (b *Backend) Folder(_ context.Context, id string) (storage.Folder, error) {
	anchor, err := b.virtual(id)
	if err != nil {
		return storage.Folder{}, err
	}
	rec, err := b.cached(anchor)
	if err != nil {
		return storage.Folder{}, err
	}
	return storage.Folder{ID: id, Name: rec.FolderName}, nil
}

// List is storage.ErrUnsupported: the upstream is not asked to enumerate folders.
func (b *Backend) List(_ context.Context, folderID string) ([]storage.File, []storage.Folder, error) {
	return nil, nil, b.unsupported(folderID, "listing a folder")
}

// CreateFolder is storage.ErrUnsupported.
func (b *Backend) CreateFolder(_ context.Context, parentID, _ string) (storage.Folder, error) {
	return storage.Folder{}, b.unsupported(parentID, "creating folders")
}

// RenameFolder is storage.ErrUnsupported.
func (b *Backend) RenameFolder(_ context.Context, id, _ string) (storage.Folder, error) {
	return storage.Folder{}, b.unsupported(id, "renaming folders")
}

// DeleteFolder is storage.ErrUnsupported.
func (b *Backend) DeleteFolder(_ context.Context, id string) error {
	return b.unsupported(id, "deleting folders")
}

// virtual checks that id is the virtual folder of a known file and returns the file.
func (b *Backend) virtual(id string) (string, error) {
	anchor, ok := anchorOf(id)
	if !ok {
		return "", fmt.Errorf("%w: no folder %q", storage.ErrNotFound, id)
	}
	if _, err := b.cached(anchor); err != nil {
		return "", err
	}
	return anchor, nil
}

// unsupported is storage.ErrUnsupported for a known folder, storage.ErrNotFound for
// anything else.
func (b *Backend) unsupported(id, what string) error {
	if _, err := b.virtual(id); err != nil {
		return err
	}
	return fmt.Errorf("%w: wopi storage: %s is not possible through an upstream WOPI host's file endpoints", storage.ErrUnsupported, what)
}
