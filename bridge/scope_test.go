package bridge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// scopeEnv is a bridge with a launch secret, "doc.docx" and its sibling "salaries.docx"
// in the work folder, and access tokens minted through the launch API: one from a launch
// limited to doc.docx (the file claim), and one from a launch that names the file only in
// the query (it reaches the folder tree).
type scopeEnv struct {
	*testEnv
	salaries string // id of the sibling
	scoped   func(mode string) string
	tree     func(mode string) string
}

func newScopeEnv(t *testing.T) *scopeEnv {
	e := newEnv(t, withLaunchSecret, withDS(newFakeDS(t), config.ProofOff))
	f, err := e.store.Create(t.Context(), e.folder.ID, "salaries.docx", strings.NewReader("secret"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	session := func(claims jwt.MapClaims, query string) string {
		w := e.do(http.MethodPost, "/api/v1/wopi/session?file="+e.file.ID+query, nil,
			bearerHdr(e.launch(jwt.SigningMethodHS256, launchSecret, claims))...)
		wantStatus(t, w, http.StatusOK)
		return decodeJSON[sessionJSON](t, w).AccessToken
	}
	return &scopeEnv{
		testEnv:  e,
		salaries: f.ID,
		scoped: func(mode string) string {
			return session(jwt.MapClaims{"file": e.file.ID, "mode": mode}, "")
		},
		tree: func(mode string) string { return session(jwt.MapClaims{"mode": mode}, "") },
	}
}

// TestFileScopedTokenFolderRoutes: a token from a launch limited to one file is refused
// by every folder route (CheckFolderInfo, EnumerateChildren, folder ancestry, ecosystem
// pointer of a folder) and by CreateChildFile/CreateChildContainer; a token of the tree
// gets through the same routes.
func TestFileScopedTokenFolderRoutes(t *testing.T) {
	e := newScopeEnv(t)
	routes := []struct {
		name, method, path string
		hdr                []string
	}{
		{"CheckFolderInfo", http.MethodGet, e.folderPath(e.folder.ID), nil},
		{"EnumerateChildren", http.MethodGet, e.folderPath(e.folder.ID) + "/children", nil},
		{"folder EnumerateAncestors", http.MethodGet, e.folderPath(e.folder.ID) + "/ancestry", nil},
		{"folder GetEcosystem", http.MethodGet, e.folderPath(e.folder.ID) + "/ecosystem_pointer", nil},
		{"CreateChildFile", http.MethodPost, e.folderPath(e.folder.ID),
			[]string{wopiclient.HeaderOverride, "CREATE_CHILD_FILE", wopiclient.HeaderSuggestedTarget, "planted.docx"}},
		{"CreateChildContainer", http.MethodPost, e.folderPath(e.folder.ID),
			[]string{wopiclient.HeaderOverride, "CREATE_CHILD_CONTAINER", wopiclient.HeaderSuggestedTarget, "planted"}},
	}
	scoped, tree := e.scoped(modeEdit), e.tree(modeEdit)
	for _, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			w := e.wopi(rt.method, rt.path, scoped, nil, rt.hdr...)
			wantStatus(t, w, http.StatusUnauthorized)
			if !strings.Contains(w.Body.String(), "limited to one file") {
				t.Errorf("body = %q", w.Body.String())
			}
			wantStatus(t, e.wopi(rt.method, rt.path, tree, nil, rt.hdr...), http.StatusOK)
		})
	}
	// Only the tree token's two creations are there.
	if got := strings.Count(strings.Join(e.names(e.folder.ID), ","), "planted"); got != 2 {
		t.Errorf("folder holds %v: want planted.docx and planted/ only", e.names(e.folder.ID))
	}
}

// TestFileScopedTokenEcosystem: the ecosystem says no containers and gives no root
// container to a file-scoped token, and its file ancestry is refused.
func TestFileScopedTokenEcosystem(t *testing.T) {
	e := newScopeEnv(t)
	for _, mode := range []string{modeView, modeEdit} {
		scoped := e.scoped(mode)
		w := e.wopi(http.MethodGet, "/wopi/ecosystem", scoped, nil)
		wantStatus(t, w, http.StatusOK)
		if got := decodeJSON[map[string]bool](t, w); got["SupportsContainers"] {
			t.Errorf("%s: CheckEcosystem = %s", mode, w.Body.String())
		}
		wantStatus(t, e.wopi(http.MethodGet, "/wopi/ecosystem/root_container_pointer", scoped, nil), http.StatusUnauthorized)
		wantStatus(t, e.wopi(http.MethodGet, e.filePath(e.file.ID)+"/ancestry", scoped, nil), http.StatusUnauthorized)
	}
	tree := e.tree(modeView)
	wantStatus(t, e.wopi(http.MethodGet, "/wopi/ecosystem/root_container_pointer", tree, nil), http.StatusOK)
	wantStatus(t, e.wopi(http.MethodGet, e.filePath(e.file.ID)+"/ancestry", tree, nil), http.StatusOK)
}

// TestFileScopedTokenCheckFileInfo: CheckFileInfo announces no containers, ecosystem or
// folders for a file-scoped token, and does for a token of the tree.
func TestFileScopedTokenCheckFileInfo(t *testing.T) {
	e := newScopeEnv(t)
	check := func(tok string, want bool) {
		t.Helper()
		w := e.wopi(http.MethodGet, e.filePath(e.file.ID), tok, nil)
		wantStatus(t, w, http.StatusOK)
		got := decodeJSON[map[string]any](t, w)
		for _, k := range []string{"SupportsContainers", "SupportsEcosystem", "SupportsFolders", "SupportsFileCreation"} {
			if got[k] == true != want { // false fields may be left out
				t.Errorf("%s = %v, want %v", k, got[k], want)
			}
		}
	}
	check(e.scoped(modeEdit), false)
	check(e.scoped(modeView), false)
	check(e.tree(modeEdit), true)
}

// TestFileScopedTokenPutRelativeOverwrite: PutRelativeFile with a file-scoped token does
// not overwrite a sibling (409, the sibling unchanged, no token for it), still creates new
// files; a token of the tree may overwrite.
func TestFileScopedTokenPutRelativeOverwrite(t *testing.T) {
	e := newScopeEnv(t)
	put := func(tok, target string) *httptest.ResponseRecorder {
		return e.wopi(http.MethodPost, e.filePath(e.file.ID), tok, strings.NewReader("planted"),
			wopiclient.HeaderOverride, "PUT_RELATIVE",
			wopiclient.HeaderRelativeTarget, target,
			wopiclient.HeaderOverwriteRelativeTarget, "true")
	}
	w := put(e.scoped(modeEdit), "salaries.docx")
	wantStatus(t, w, http.StatusConflict)
	if strings.Contains(w.Body.String(), "access_token") {
		t.Errorf("conflict reply carries a token: %q", w.Body.String())
	}
	if got := e.content(e.salaries); got != "secret" {
		t.Fatalf("salaries.docx = %q after a scoped overwrite", got)
	}
	w = put(e.scoped(modeEdit), "new.docx")
	wantStatus(t, w, http.StatusOK)
	if name := decodeJSON[newFileReply](t, w).Name; name != "new.docx" {
		t.Errorf("new file = %q", name)
	}
	wantStatus(t, put(e.tree(modeEdit), "salaries.docx"), http.StatusOK)
	if got := e.content(e.salaries); got != "planted" {
		t.Errorf("salaries.docx = %q after the tree token's overwrite", got)
	}
}

// TestFileScopedTokenDerived: tokens the bridge hands out from a file-scoped token (a
// new file's Url) stay file-scoped.
func TestFileScopedTokenDerived(t *testing.T) {
	e := newScopeEnv(t)
	w := e.wopi(http.MethodPost, e.filePath(e.file.ID), e.scoped(modeEdit), strings.NewReader("x"),
		wopiclient.HeaderOverride, "PUT_RELATIVE", wopiclient.HeaderSuggestedTarget, ".docx")
	wantStatus(t, w, http.StatusOK)
	u := decodeJSON[newFileReply](t, w).URL
	wantStatus(t, e.follow(u, ""), http.StatusOK)
	wantStatus(t, e.follow(u, "/ancestry"), http.StatusUnauthorized)
}

// TestUpstreamTokenFileScoped: every launch on an upstream WOPI host gets a token for
// its file only: no ecosystem root, and PutRelativeFile does not overwrite another
// upstream file with it.
func TestUpstreamTokenFileScoped(t *testing.T) {
	e := newUpstreamEnv(t)
	f := e.addFile("memo.docx", "M", "alice", true)
	other := e.addFile("salaries.docx", "secret", "alice", true)
	_, s := e.session(e.launchFor("alice", f, nil), "")
	tok, err := e.srv.tokens.verify(s.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Tree != "" {
		t.Fatalf("upstream token reaches the tree %q", tok.Tree)
	}
	wantStatus(t, e.wopi(http.MethodGet, "/wopi/ecosystem/root_container_pointer", s.AccessToken, nil), http.StatusUnauthorized)
	w := e.wopi(http.MethodPost, e.filePath(tok.File), s.AccessToken, strings.NewReader("planted"),
		wopiclient.HeaderOverride, "PUT_RELATIVE",
		wopiclient.HeaderRelativeTarget, "salaries.docx",
		wopiclient.HeaderOverwriteRelativeTarget, "true")
	if w.Code == http.StatusOK {
		t.Fatalf("PutRelativeFile overwrote a sibling: %s", w.Body.String())
	}
	if got := string(e.up.Content(other.id)); got != "secret" {
		t.Fatalf("salaries.docx = %q", got)
	}
}
