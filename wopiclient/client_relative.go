package wopiclient

import (
	"context"
	"io"
	"net/http"
	"strconv"
)

// RelativeTarget names the file PutRelativeFile creates next to the one it is sent to.
type RelativeTarget struct {
	// Name is the new file's name. In suggested mode a name starting with "." is an
	// extension: the new file takes the source's name with that extension.
	Name string
	// Suggested sends X-WOPI-SuggestedTarget: the host may change the name to a free
	// one. Otherwise X-WOPI-RelativeTarget: the host uses the name or fails.
	Suggested bool
	// Overwrite replaces an existing unlocked file of that name (relative mode only).
	Overwrite bool
	// Conversion marks the new file as a conversion of the source
	// (X-WOPI-FileConversion).
	Conversion bool
}

// NewFile is the reply to PutRelativeFile.
type NewFile struct {
	Name string `json:"Name"`
	// URL is the new file's WOPISrc with an access token for it: a credential, never
	// to be logged. SplitAccessToken takes it apart.
	URL         string `json:"Url"`
	HostViewURL string `json:"HostViewUrl,omitempty"`
	HostEditURL string `json:"HostEditUrl,omitempty"`
}

// PutRelativeFile creates a new file next to src from body (size bytes, or -1 when
// unknown). A taken name in relative mode without Overwrite fails with ErrTargetExists
// (Error.ValidTarget may name a free one); an existing locked file with Overwrite fails
// with ErrLockConflict; a name the host refuses fails with ErrInvalidName.
func (c *Client) PutRelativeFile(ctx context.Context, src, token string, t RelativeTarget, body io.Reader, size int64) (*NewFile, error) {
	k, err := newCall("PutRelativeFile", OverridePutRelative, http.MethodPost, src, token)
	if err != nil {
		return nil, err
	}
	if t.Suggested {
		k.header.Set(HeaderSuggestedTarget, EncodeUTF7(t.Name))
	} else {
		k.header.Set(HeaderRelativeTarget, EncodeUTF7(t.Name))
		k.header.Set(HeaderOverwriteRelativeTarget, strconv.FormatBool(t.Overwrite))
	}
	if t.Conversion {
		k.header.Set(HeaderFileConversion, "true")
	}
	if size >= 0 {
		k.header.Set(HeaderSize, strconv.FormatInt(size, 10))
	}
	k.header.Set("Content-Type", "application/octet-stream")
	k.body, k.size = body, size
	resp, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	nf := &NewFile{}
	if err := k.decodeJSON(resp, nf); err != nil {
		return nil, err
	}
	if nf.URL == "" {
		return nil, k.protocolError("the reply has no Url for the new file")
	}
	return nf, nil
}

// RenameFile renames the file to name, given without extension (the host keeps the
// extension), under lock (empty on an unlocked file). It returns the name the host
// reports, without extension; empty when the host does not say.
func (c *Client) RenameFile(ctx context.Context, src, token, lock, name string) (string, error) {
	k, err := newCall("RenameFile", OverrideRenameFile, http.MethodPost, src, token)
	if err != nil {
		return "", err
	}
	k.header.Set(HeaderRequestedName, EncodeUTF7(name))
	if lock != "" {
		k.header.Set(HeaderLock, lock)
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		return "", err
	}
	var reply struct {
		Name string `json:"Name"`
	}
	if err := k.decodeJSON(resp, &reply); err != nil {
		return "", err
	}
	return reply.Name, nil
}

// DeleteFile removes the file; a locked file fails with ErrLockConflict.
func (c *Client) DeleteFile(ctx context.Context, src, token string) error {
	k, err := newCall("DeleteFile", OverrideDelete, http.MethodPost, src, token)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		return err
	}
	drain(resp.Body)
	return nil
}
