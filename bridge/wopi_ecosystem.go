package bridge

import (
	"net/http"
	"net/url"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// The ecosystem is the entry to a user's containers. A token reaches its tree, so the
// ecosystem URL carries the same token and the root container is the tree root.

// ecosystemPointer answers GET /wopi/files/{id}/ecosystem_pointer and
// GET /wopi/folders/{id}/ecosystem_pointer.
func (s *Server) ecosystemPointer(w http.ResponseWriter, _ *http.Request, c *wopiCall) error {
	return s.writeJSON(w, http.StatusOK, struct {
		URL string `json:"Url"`
	}{s.public + "/wopi/ecosystem?" + wopiclient.ParamAccessToken + "=" + url.QueryEscape(c.raw)})
}

// checkEcosystem answers GET /wopi/ecosystem.
func (s *Server) checkEcosystem(w http.ResponseWriter, _ *http.Request, c *wopiCall) error {
	return s.writeJSON(w, http.StatusOK, struct {
		SupportsContainers bool `json:"SupportsContainers"`
	}{s.containers() && !c.tok.fileScoped()})
}

// rootContainerPointer answers GET /wopi/ecosystem/root_container_pointer.
func (s *Server) rootContainerPointer(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	if c.tok.fileScoped() {
		return errFileScope
	}
	f, err := s.store.Folder(r.Context(), c.tok.Tree)
	if err != nil {
		return err
	}
	return s.writeJSON(w, http.StatusOK, struct {
		ContainerPointer pointer `json:"ContainerPointer"`
	}{s.folderPointer(c.tok, f)})
}

// ecosystemOverride answers POST /wopi/ecosystem: no ecosystem operation is offered.
func (s *Server) ecosystemOverride(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	return s.dispatch(nil, w, r, c)
}
