package bridge

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// rootDisplayName names the storage root when the backend gives it no name.
const rootDisplayName = "Files"

// folderOverrides is the table of POST /wopi/folders/{id} operations. It is built once,
// at start, and is empty for a storage without a folder tree (its Root answers
// storage.ErrUnsupported, as an upstream WOPI host's does): the operations are then
// 501, and CheckFileInfo advertises no containers.
func (s *Server) folderOverrides() map[wopiclient.Override]wopiOp {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.store.Root(ctx); errors.Is(err, storage.ErrUnsupported) {
		return map[wopiclient.Override]wopiOp{}
	}
	return map[wopiclient.Override]wopiOp{
		wopiclient.OverrideCreateChildContainer: {name: "CreateChildContainer", write: true, fn: s.createChildContainer},
		wopiclient.OverrideCreateChildFile:      {name: "CreateChildFile", write: true, fn: s.createChildFile},
		wopiclient.OverrideDeleteContainer:      {name: "DeleteContainer", write: true, fn: s.deleteContainer},
		wopiclient.OverrideRenameContainer:      {name: "RenameContainer", write: true, fn: s.renameContainer},
		wopiclient.OverrideGetShareURL:          {name: "GetShareUrl", fn: s.folderShareURL},
	}
}

// containers reports whether the storage has a folder tree the WOPI face offers as
// containers (see folderOverrides).
func (s *Server) containers() bool { return len(s.folderOps) > 0 }

func (s *Server) folderOverride(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	return s.dispatch(s.folderOps, w, r, c)
}

// pointer is a named WOPI URL with an access token (ContainerPointer, ancestors,
// children).
type pointer struct {
	Name string `json:"Name"`
	URL  string `json:"Url"`
}

func folderName(f storage.Folder) string {
	if f.Name == "" {
		return rootDisplayName
	}
	return f.Name
}

func (s *Server) folderPointer(t accessToken, f storage.Folder) pointer {
	return pointer{Name: folderName(f), URL: s.withToken(s.folderURL(f.ID), t.forFolder(f.ID))}
}

// checkFolderInfo answers GET /wopi/folders/{id} (CheckFolderInfo, CheckContainerInfo).
func (s *Server) checkFolderInfo(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	f, err := s.store.Folder(r.Context(), c.id)
	if err != nil {
		return err
	}
	edit := c.tok.canWrite()
	notRoot := f.ParentID != ""
	return s.writeJSON(w, http.StatusOK, struct {
		Name                        string   `json:"Name"`
		FolderName                  string   `json:"FolderName"`
		OwnerID                     string   `json:"OwnerId"`
		UserID                      string   `json:"UserId"`
		IsAnonymousUser             bool     `json:"IsAnonymousUser"`
		UserCanCreateChildContainer bool     `json:"UserCanCreateChildContainer"`
		UserCanCreateChildFile      bool     `json:"UserCanCreateChildFile"`
		UserCanDelete               bool     `json:"UserCanDelete"`
		UserCanRename               bool     `json:"UserCanRename"`
		SupportedShareURLTypes      []string `json:"SupportedShareUrlTypes"`
		SharingURL                  string   `json:"SharingUrl,omitempty"`
		BreadcrumbBrandName         string   `json:"BreadcrumbBrandName"`
		BreadcrumbBrandURL          string   `json:"BreadcrumbBrandUrl"`
		// Licensing properties, always present: a file created in the folder carries
		// the same values in its CheckFileInfo.
		LicenseCheckForEditIsEnabled bool `json:"LicenseCheckForEditIsEnabled"`
		IsEduUser                    bool `json:"IsEduUser"`
	}{
		Name:                        folderName(f),
		FolderName:                  folderName(f),
		OwnerID:                     brandName,
		UserID:                      c.tok.User,
		UserCanCreateChildContainer: edit,
		UserCanCreateChildFile:      edit,
		UserCanDelete:               edit && notRoot,
		UserCanRename:               edit && notRoot,
		SupportedShareURLTypes:      shareTypes(edit),
		SharingURL:                  s.folderPageURL(f.ID),
		BreadcrumbBrandName:         brandName,
		BreadcrumbBrandURL:          s.public + "/",
	})
}

// folderPageURL is the bridge page listing a folder.
func (s *Server) folderPageURL(id string) string {
	return s.public + "/?folder=" + url.QueryEscape(id)
}

type childFile struct {
	Name             string `json:"Name"`
	URL              string `json:"Url"`
	LastModifiedTime string `json:"LastModifiedTime"`
	Size             int64  `json:"Size"`
	Version          string `json:"Version"`
}

// folderChildren answers GET /wopi/folders/{id}/children, filtered by
// X-WOPI-FileExtensionFilterList (files only, case-insensitive).
func (s *Server) folderChildren(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	files, folders, err := s.store.List(r.Context(), c.id)
	if err != nil {
		return err
	}
	keep := extensionFilter(r.Header.Get(wopiclient.HeaderFileExtensionFilterList))
	reply := struct {
		ChildContainers []pointer   `json:"ChildContainers"`
		ChildFiles      []childFile `json:"ChildFiles"`
	}{ChildContainers: []pointer{}, ChildFiles: []childFile{}}
	for _, f := range folders {
		reply.ChildContainers = append(reply.ChildContainers, s.folderPointer(c.tok, f))
	}
	for _, f := range files {
		if !keep(f.Name) {
			continue
		}
		reply.ChildFiles = append(reply.ChildFiles, childFile{
			Name:             f.Name,
			URL:              s.withToken(s.wopiSrc(f.ID), c.tok.forFile(f.ID)),
			LastModifiedTime: f.ModTime.UTC().Format(wopiclient.TimeFormat),
			Size:             f.Size,
			Version:          f.Version,
		})
	}
	return s.writeJSON(w, http.StatusOK, reply)
}

// extensionFilter reads ".doc,.docx"; an empty list keeps everything.
func extensionFilter(list string) func(name string) bool {
	var exts []string
	for _, e := range strings.Split(list, ",") {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
			if !strings.HasPrefix(e, ".") {
				e = "." + e
			}
			exts = append(exts, e)
		}
	}
	return func(name string) bool {
		if len(exts) == 0 {
			return true
		}
		name = strings.ToLower(name)
		for _, e := range exts {
			if strings.HasSuffix(name, e) {
				return true
			}
		}
		return false
	}
}

// ancestors lists the folders from the token's tree root down to from (included).
func (s *Server) ancestors(ctx context.Context, t accessToken, from string) ([]pointer, error) {
	if t.fileScoped() {
		return nil, errFileScope
	}
	var chain []storage.Folder
	id := from
	for range maxDepth {
		f, err := s.store.Folder(ctx, id)
		if err != nil {
			return nil, err
		}
		chain = append(chain, f)
		if id == t.Tree {
			out := make([]pointer, 0, len(chain))
			for i := len(chain) - 1; i >= 0; i-- {
				out = append(out, s.folderPointer(t, chain[i]))
			}
			return out, nil
		}
		if f.ParentID == "" {
			break
		}
		id = f.ParentID
	}
	return nil, userErr(errUnauthenticated, "the access token is for another resource")
}

func (s *Server) ancestryReply(w http.ResponseWriter, list []pointer) error {
	return s.writeJSON(w, http.StatusOK, struct {
		AncestorsWithRootFirst []pointer `json:"AncestorsWithRootFirst"`
	}{list})
}

// fileAncestry answers GET /wopi/files/{id}/ancestry.
func (s *Server) fileAncestry(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	f, err := s.store.Stat(r.Context(), c.id)
	if err != nil {
		return err
	}
	list, err := s.ancestors(r.Context(), c.tok, f.FolderID)
	if err != nil {
		return err
	}
	return s.ancestryReply(w, list)
}

// folderAncestry answers GET /wopi/folders/{id}/ancestry; the tree root has none.
func (s *Server) folderAncestry(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	if c.id == c.tok.Tree {
		return s.ancestryReply(w, []pointer{})
	}
	f, err := s.store.Folder(r.Context(), c.id)
	if err != nil {
		return err
	}
	list, err := s.ancestors(r.Context(), c.tok, f.ParentID)
	if err != nil {
		return err
	}
	return s.ancestryReply(w, list)
}

// createChildContainer answers CREATE_CHILD_CONTAINER.
func (s *Server) createChildContainer(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	ctx := r.Context()
	t, err := parseTarget(r.Header, "", true)
	if err != nil {
		return err
	}
	name := t.name
	if !t.specific {
		taken, err := s.takenNames(ctx, c.id)
		if err != nil {
			return err
		}
		name = freeName(name, taken)
	}
	f, err := s.store.CreateFolder(ctx, c.id, name)
	if errors.Is(err, storage.ErrExists) {
		return userErr(storage.ErrExists, "a folder or file named %q already exists here; choose another name", name)
	}
	if err != nil {
		return err
	}
	return s.writeJSON(w, http.StatusOK, struct {
		ContainerPointer pointer `json:"ContainerPointer"`
	}{s.folderPointer(c.tok, f)})
}

// createChildFile answers CREATE_CHILD_FILE: a new empty file in this folder.
func (s *Server) createChildFile(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	t, err := parseTarget(r.Header, "", false)
	if err != nil {
		return err
	}
	f, err := s.createFile(r.Context(), c.id, t, http.NoBody)
	if err != nil {
		return err
	}
	return s.newFileReply(w, c.tok, f)
}

// deleteContainer answers DELETE_CONTAINER; only empty folders are deleted.
func (s *Server) deleteContainer(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	err := s.store.DeleteFolder(r.Context(), c.id)
	if errors.Is(err, storage.ErrNotEmpty) {
		return userErr(storage.ErrNotEmpty, "the folder is not empty: delete its files and folders first")
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// renameContainer answers RENAME_CONTAINER with X-WOPI-RequestedName (UTF-7).
func (s *Server) renameContainer(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	raw := r.Header.Get(wopiclient.HeaderRequestedName)
	name, err := wopiclient.DecodeUTF7(raw)
	if err != nil {
		return &nameError{name: raw, reason: "the name is not valid UTF-7", folder: true}
	}
	if err := checkName(name, true); err != nil {
		return err
	}
	s.folderNames.forget(c.id)
	f, err := s.store.RenameFolder(r.Context(), c.id, name)
	if errors.Is(err, storage.ErrExists) {
		return &nameError{name: name, reason: "a folder or file with this name already exists here; choose another name", folder: true}
	}
	if err != nil {
		return err
	}
	return s.writeJSON(w, http.StatusOK, struct {
		Name string `json:"Name"`
	}{folderName(f)})
}
