package wopi

import (
	"context"
	"fmt"
	"time"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// RegisterFromHost makes an upstream file known for a WOPI host that opened it in the
// bridge as an office app (its page posted access_token to the bridge's action URL):
// no integrator vouches for the user, so the user is the one the upstream's
// CheckFileInfo names for that token (UserId). The checks are Register's. It returns
// the file and the upstream's CheckFileInfo (name, rights, PostMessageOrigin).
func (b *Backend) RegisterFromHost(ctx context.Context, wopiSrc, accessToken string, ttl int64) (storage.File, *wopiclient.FileInfo, error) {
	src, err := b.canonical(wopiSrc)
	if err != nil {
		return storage.File{}, nil, err
	}
	id := fileID(src)
	switch {
	case accessToken == "":
		return storage.File{}, nil, fmt.Errorf("%w: no access_token posted for %s", storage.ErrUnauthorized, src)
	case ttl > 0 && ttl <= b.now().UnixMilli():
		return storage.File{}, nil, fmt.Errorf("%w: the access token for %s expired at %s (access_token_ttl)",
			storage.ErrUnauthorized, src, time.UnixMilli(ttl).UTC().Format(time.RFC3339))
	}
	info, err := b.client.CheckFileInfo(ctx, src, accessToken)
	if err != nil {
		return storage.File{}, nil, upstreamErr("register", id, err)
	}
	if info.UserID == "" {
		return storage.File{}, nil, fmt.Errorf("%w: the upstream's CheckFileInfo names no UserId for this token", storage.ErrUnauthorized)
	}
	rec, err := b.remember(id, src, folderID(id), info.BreadcrumbFolderName, info.UserID, credential{Token: accessToken, TTL: ttl})
	if err != nil {
		return storage.File{}, nil, err
	}
	return fileOf(id, rec.Folder, info), info, nil
}
