package bridge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// target is where PutRelativeFile, CreateChildFile or CreateChildContainer creates
// something: a suggested name (the host may change it) or a specific one (it may not).
type target struct {
	name      string
	specific  bool
	overwrite bool
}

// parseTarget reads X-WOPI-SuggestedTarget / X-WOPI-RelativeTarget (UTF-7) and
// X-WOPI-OverwriteRelativeTarget. Both targets at once is 501, as WOPI asks. A suggested
// value starting with "." is an extension for baseName's stem.
func parseTarget(h http.Header, baseName string, folder bool) (target, error) {
	suggested, hasSuggested := headerValue(h, wopiclient.HeaderSuggestedTarget)
	relative, hasRelative := headerValue(h, wopiclient.HeaderRelativeTarget)
	switch {
	case hasSuggested && hasRelative:
		return target{}, userErr(errNotImplemented, "send either %s or %s, not both", wopiclient.HeaderSuggestedTarget, wopiclient.HeaderRelativeTarget)
	case !hasSuggested && !hasRelative:
		return target{}, userErr(errBadRequest, "name the new item with %s or %s", wopiclient.HeaderSuggestedTarget, wopiclient.HeaderRelativeTarget)
	}
	raw := suggested
	if hasRelative {
		raw = relative
	}
	name, err := wopiclient.DecodeUTF7(raw)
	if err != nil {
		return target{}, &nameError{name: raw, reason: "the name is not valid UTF-7", folder: folder}
	}
	t := target{name: name, specific: hasRelative}
	if hasRelative {
		ow, err := parseBool(h.Get(wopiclient.HeaderOverwriteRelativeTarget))
		if err != nil {
			return target{}, userErr(errBadRequest, "%s must be true or false", wopiclient.HeaderOverwriteRelativeTarget)
		}
		t.overwrite = ow
	} else {
		if !folder && strings.HasPrefix(name, ".") {
			stem, _ := splitExt(baseName)
			t.name = stem + name
		}
		t.name = fitName(t.name)
	}
	if err := checkName(t.name, folder); err != nil {
		return target{}, err
	}
	return t, nil
}

func headerValue(h http.Header, name string) (string, bool) {
	vals := h.Values(name)
	if len(vals) == 0 {
		return "", false
	}
	return vals[0], true
}

// parseBool reads a WOPI boolean header (.NET writes "True"/"False"); empty is false.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, strconv.ErrSyntax
}

// takenNames lists the names in a folder, lower-cased, for choosing a free one.
func (s *Server) takenNames(ctx context.Context, folderID string) (map[string]bool, error) {
	files, folders, err := s.store.List(ctx, folderID)
	if err != nil {
		return nil, err
	}
	taken := make(map[string]bool, len(files)+len(folders))
	for _, f := range files {
		taken[strings.ToLower(f.Name)] = true
	}
	for _, f := range folders {
		taken[strings.ToLower(f.Name)] = true
	}
	return taken, nil
}

// createFile creates a file in folderID at t with body. In suggested mode a free name is
// chosen: by the storage when it can (storage.FreeNamer), from the folder's listing
// otherwise. In specific mode a taken name is a conflict (with a free name to suggest)
// unless t.overwrite, and a locked file is never overwritten.
func (s *Server) createFile(ctx context.Context, folderID string, t target, body io.Reader) (storage.File, error) {
	name := t.name
	if fn, ok := s.store.(storage.FreeNamer); ok && !t.specific {
		// The storage chooses the free name itself, in one step.
		return fn.CreateFree(ctx, folderID, name, body, s.maxSize)
	}
	if !t.specific {
		taken, err := s.takenNames(ctx, folderID)
		if err != nil {
			return storage.File{}, err
		}
		name = freeName(name, taken)
	}
	f, err := s.store.Create(ctx, folderID, name, body, t.specific && t.overwrite, s.maxSize)
	if errors.Is(err, storage.ErrExists) {
		if !t.specific {
			return storage.File{}, userErr(storage.ErrExists, "another file named %q appeared meanwhile: try again", name)
		}
		// The storage's own suggestion first (an upstream WOPI host's
		// X-WOPI-ValidRelativeTarget), else one chosen from the folder's listing.
		suggestion := ""
		var we *wopiclient.Error
		if errors.As(err, &we) && we.ValidTarget != "" {
			suggestion = we.ValidTarget
		} else if taken, lerr := s.takenNames(ctx, folderID); lerr == nil {
			suggestion = freeName(name, taken)
		}
		return storage.File{}, &nameTakenError{name: name, suggestion: suggestion}
	}
	return f, err
}

// newFileReply is the reply of PutRelativeFile and CreateChildFile.
type newFileReply struct {
	Name        string `json:"Name"`
	URL         string `json:"Url"`
	HostViewURL string `json:"HostViewUrl,omitempty"`
	HostEditURL string `json:"HostEditUrl,omitempty"`
}

// HostEditUrl is where ONLYOFFICE's convert-and-edit sends the browser to edit the
// converted copy; it carries a link for this user, so no launch token is needed.
func (s *Server) newFileReply(w http.ResponseWriter, t accessToken, f storage.File) error {
	nt := t.forFile(f.ID)
	reply := newFileReply{
		Name:        f.Name,
		URL:         s.withToken(s.wopiSrc(f.ID), nt),
		HostViewURL: s.hostLinkURL(nt, f.ID, "view"),
	}
	if nt.canWrite() {
		reply.HostEditURL = s.hostLinkURL(nt, f.ID, "edit")
	}
	return s.writeJSON(w, http.StatusOK, reply)
}

// putRelative answers PUT_RELATIVE: the body becomes a new file next to this one.
func (s *Server) putRelative(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	if !c.tok.canWrite() {
		// CheckFileInfo says UserCanNotWriteRelative for view tokens; WOPI answers 501.
		return userErr(errNotImplemented, "the access token is view-only: saving a copy needs an edit session")
	}
	ctx := r.Context()
	src, access, err := s.statAccess(ctx, c.id)
	if err != nil {
		return err
	}
	if !access.Create {
		return userErr(errNotImplemented, "the storage does not let this user create files next to this one (UserCanNotWriteRelative)")
	}
	t, err := parseTarget(r.Header, src.Name, false)
	if err != nil {
		return err
	}
	if c.tok.fileScoped() && t.overwrite && !strings.EqualFold(t.name, src.Name) {
		// A token for one file overwrites no other: an existing target is then a conflict.
		t.overwrite = false
	}
	if n, err := strconv.ParseInt(r.Header.Get(wopiclient.HeaderSize), 10, 64); err == nil && s.maxSize > 0 && n > s.maxSize {
		return s.tooLarge()
	}
	body, err := s.limitBody(w, r)
	if err != nil {
		return err
	}
	f, err := s.createFile(ctx, src.FolderID, t, body)
	s.wopiSaveTimeline(r, c, wopiOpPutRelative, "", f, "", err)
	if err != nil {
		return err
	}
	return s.newFileReply(w, c.tok, f)
}
