package bridge

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// fileJSON describes a file in the launch API.
type fileJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	Version string `json:"version"`
}

func toFileJSON(f storage.File) fileJSON {
	return fileJSON{ID: f.ID, Name: f.Name, Size: f.Size, Version: f.Version}
}

// listFiles answers GET /api/v1/files[?folder=<id>]: the files of a folder (the root by
// default), or only the launch token's file when it names one.
func (s *Server) listFiles(w http.ResponseWriter, r *http.Request, u launchUser) error {
	ctx := r.Context()
	if u.File != "" {
		f, err := s.store.Stat(ctx, u.File)
		if err != nil {
			return s.launchStorageError(err, u.File)
		}
		return s.writeJSON(w, http.StatusOK, []fileJSON{toFileJSON(f)})
	}
	folderID, err := s.folderParam(r)
	if err != nil {
		return err
	}
	files, _, err := s.store.List(ctx, folderID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return userErr(storage.ErrNotFound, "no folder with id %q", folderID)
	case errors.Is(err, storage.ErrUnsupported):
		return s.noFolders(err)
	case err != nil:
		return err
	}
	out := make([]fileJSON, 0, len(files))
	for _, f := range files {
		out = append(out, toFileJSON(f))
	}
	return s.writeJSON(w, http.StatusOK, out)
}

// folderParam is the ?folder= of a request, the root folder by default.
func (s *Server) folderParam(r *http.Request) (string, error) {
	if id := r.URL.Query().Get("folder"); id != "" {
		return id, nil
	}
	root, err := s.store.Root(r.Context())
	if errors.Is(err, storage.ErrUnsupported) {
		return "", s.noFolders(err)
	}
	if err != nil {
		return "", err
	}
	return root.ID, nil
}

// noFolders is the answer to listing or uploading on a storage without folders.
func (s *Server) noFolders(err error) error {
	if _, ok := s.store.(storage.Registrar); ok {
		return userErrCause(storage.ErrUnsupported, err, "this bridge fronts an upstream WOPI host (WOPIBRIDGE_STORAGE=wopi:...), whose folders it cannot list or upload to: open files with a launch token naming their wopisrc and access_token")
	}
	return userErrCause(storage.ErrUnsupported, err, "the storage has no folders to list or upload to")
}

// uploadFile answers POST /api/v1/files?name=<name>[&folder=<id>] with the raw body as
// content: 201 and the new file.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request, u launchUser) error {
	if u.File != "" || !u.canWrite() {
		return userErr(errForbidden, "this launch token does not allow uploads: it is limited to one file or to viewing")
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		return userErr(errBadRequest, "give the file name: POST /api/v1/files?name=<name>")
	}
	if err := checkName(name, false); err != nil {
		return err
	}
	folderID, err := s.folderParam(r)
	if err != nil {
		return err
	}
	body, err := s.limitBody(w, r)
	if err != nil {
		return err
	}
	f, err := s.store.Create(r.Context(), folderID, name, body, false, s.maxSize)
	switch {
	case errors.Is(err, storage.ErrExists):
		return userErr(storage.ErrExists, "a file named %q already exists in this folder: choose another name", name)
	case errors.Is(err, storage.ErrNotFound):
		return userErr(storage.ErrNotFound, "no folder with id %q", folderID)
	case errors.Is(err, storage.ErrInvalidName):
		return userErr(errBadRequest, "invalid file name %q: the storage refused it", name)
	case err != nil:
		return err
	}
	w.Header().Set("Location", "/api/v1/files/"+f.ID)
	return s.writeJSON(w, http.StatusCreated, toFileJSON(f))
}

// describeFile answers GET /api/v1/files/{id}.
func (s *Server) describeFile(w http.ResponseWriter, r *http.Request, u launchUser) error {
	id := mux.Vars(r)["id"]
	info(r.Context()).fileID = id
	if u.File != "" && u.File != id {
		return userErr(errForbidden, "this launch token is for another file")
	}
	f, err := s.store.Stat(r.Context(), id)
	if err != nil {
		return s.launchStorageError(err, id)
	}
	return s.writeJSON(w, http.StatusOK, toFileJSON(f))
}
