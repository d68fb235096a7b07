package bridge

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// follow sends a GET to a WOPI URL the bridge returned (it carries its own token).
func (e *testEnv) follow(u, suffix string, hdr ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	p, err := url.Parse(u)
	if err != nil || !strings.HasPrefix(u, testPublic) || p.Query().Get("access_token") == "" {
		e.t.Fatalf("not a bridge URL with a token: %q", u)
	}
	return e.do(http.MethodGet, p.Path+suffix+"?"+p.RawQuery, nil, hdr...)
}

func TestFolderScope(t *testing.T) {
	e := newEnv(t)
	sub, err := e.store.CreateFolder(t.Context(), e.folder.ID, "sub")
	if err != nil {
		t.Fatal(err)
	}
	sibling, err := e.store.CreateFolder(t.Context(), e.root.ID, "sibling")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id string
		want     int
	}{
		{"tree root", e.folder.ID, http.StatusOK},
		{"below the tree root", sub.ID, http.StatusOK},
		{"storage root, above the tree", e.root.ID, http.StatusUnauthorized},
		{"sibling of the tree", sibling.ID, http.StatusUnauthorized},
		{"unknown", "nope", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, tok := range []string{e.token, e.mintFolder(e.folder.ID)} {
				w := e.wopi(http.MethodGet, e.folderPath(tc.id), tok, nil)
				wantStatus(t, w, tc.want)
				w = e.wopi(http.MethodGet, e.folderPath(tc.id)+"/children", tok, nil)
				wantStatus(t, w, tc.want)
			}
		})
	}
}

func TestCheckFolderInfo(t *testing.T) {
	e := newEnv(t)
	w := e.wopi(http.MethodGet, e.folderPath(e.folder.ID), e.token, nil)
	wantStatus(t, w, http.StatusOK)
	got := decodeJSON[map[string]any](t, w)
	for k, want := range map[string]any{"Name": "work", "UserCanCreateChildFile": true, "UserCanCreateChildContainer": true,
		"UserCanRename": true, "UserCanDelete": true} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	w = e.wopi(http.MethodGet, e.folderPath(e.folder.ID), e.mint(e.file.ID, modeView), nil)
	if got := decodeJSON[map[string]any](t, w); got["UserCanCreateChildFile"] != false || got["UserCanRename"] != false {
		t.Errorf("view token may write: %v", got)
	}
}

func TestEnumerate(t *testing.T) {
	e := newEnv(t)
	sub, err := e.store.CreateFolder(t.Context(), e.folder.ID, "sub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Create(t.Context(), e.folder.ID, "sheet.XLSX", strings.NewReader("s"), false, 0); err != nil {
		t.Fatal(err)
	}
	type children struct {
		ChildContainers []pointer
		ChildFiles      []childFile
	}
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{"", []string{"doc.docx", "sheet.XLSX"}},
		{".docx", []string{"doc.docx"}},
		{".xlsx,.pptx", []string{"sheet.XLSX"}},
		{".pdf", nil},
	} {
		w := e.wopi(http.MethodGet, e.folderPath(e.folder.ID)+"/children", e.token, nil, wopiclient.HeaderFileExtensionFilterList, tc.filter)
		wantStatus(t, w, http.StatusOK)
		c := decodeJSON[children](t, w)
		var names []string
		for _, f := range c.ChildFiles {
			names = append(names, f.Name)
			if f.Version == "" {
				t.Errorf("%s has no Version", f.Name)
			}
			wantStatus(t, e.follow(f.URL, ""), http.StatusOK)
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("filter %q: files %q, want %q", tc.filter, names, tc.want)
		}
		if len(c.ChildContainers) != 1 || c.ChildContainers[0].Name != "sub" {
			t.Errorf("containers = %+v", c.ChildContainers)
		}
	}

	type ancestry struct{ AncestorsWithRootFirst []pointer }
	a := decodeJSON[ancestry](t, e.wopi(http.MethodGet, e.filePath(e.file.ID)+"/ancestry", e.token, nil))
	if len(a.AncestorsWithRootFirst) != 1 || a.AncestorsWithRootFirst[0].Name != "work" {
		t.Fatalf("file ancestry = %+v", a)
	}
	wantStatus(t, e.follow(a.AncestorsWithRootFirst[0].URL, ""), http.StatusOK)
	a = decodeJSON[ancestry](t, e.wopi(http.MethodGet, e.folderPath(sub.ID)+"/ancestry", e.token, nil))
	if len(a.AncestorsWithRootFirst) != 1 || a.AncestorsWithRootFirst[0].Name != "work" {
		t.Errorf("sub ancestry = %+v", a)
	}
	w := e.wopi(http.MethodGet, e.folderPath(e.folder.ID)+"/ancestry", e.token, nil)
	wantStatus(t, w, http.StatusOK)
	if a := decodeJSON[ancestry](t, w); len(a.AncestorsWithRootFirst) != 0 || a.AncestorsWithRootFirst == nil {
		t.Errorf("tree root ancestry = %s", w.Body.String())
	}
}

func TestCreateChildContainer(t *testing.T) {
	tests := []struct {
		name      string
		hdr       []string
		want      int
		wantNames []string
	}{
		{"suggested", []string{wopiclient.HeaderSuggestedTarget, "new"}, 200, []string{"doc.docx", "new/", "old/"}},
		{"suggested taken", []string{wopiclient.HeaderSuggestedTarget, "old"}, 200, []string{"doc.docx", "old/", "old (1)/"}},
		{"exact", []string{wopiclient.HeaderRelativeTarget, "new"}, 200, []string{"doc.docx", "new/", "old/"}},
		{"exact taken", []string{wopiclient.HeaderRelativeTarget, "old"}, 409, []string{"doc.docx", "old/"}},
		{"traversal", []string{wopiclient.HeaderRelativeTarget, "../up"}, 400, []string{"doc.docx", "old/"}},
		{"suggested traversal", []string{wopiclient.HeaderSuggestedTarget, "a/b"}, 400, []string{"doc.docx", "old/"}},
		{"NUL", []string{wopiclient.HeaderRelativeTarget, "a+AAA-"}, 400, []string{"doc.docx", "old/"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if _, err := e.store.CreateFolder(t.Context(), e.folder.ID, "old"); err != nil {
				t.Fatal(err)
			}
			w := e.wopi(http.MethodPost, e.folderPath(e.folder.ID), e.token, nil,
				append([]string{wopiclient.HeaderOverride, "CREATE_CHILD_CONTAINER"}, tc.hdr...)...)
			wantStatus(t, w, tc.want)
			if got := e.names(e.folder.ID); !slices.Equal(got, tc.wantNames) {
				t.Errorf("folder = %q, want %q", got, tc.wantNames)
			}
			if tc.want == http.StatusOK {
				p := decodeJSON[struct{ ContainerPointer pointer }](t, w).ContainerPointer
				wantStatus(t, e.follow(p.URL, ""), http.StatusOK)
			}
			if tc.want == http.StatusBadRequest {
				if r, _ := header(w, wopiclient.HeaderInvalidContainerNameError); r == "" {
					t.Errorf("no X-WOPI-InvalidContainerNameError")
				}
			}
		})
	}
}

func TestCreateChildFile(t *testing.T) {
	tests := []struct {
		name      string
		hdr       []string
		want      int
		wantName  string
		wantNames []string
	}{
		{"suggested", []string{wopiclient.HeaderSuggestedTarget, "new.docx"}, 200, "new.docx", []string{"doc.docx", "new.docx"}},
		{"suggested taken", []string{wopiclient.HeaderSuggestedTarget, "doc.docx"}, 200, "doc (1).docx", []string{"doc (1).docx", "doc.docx"}},
		{"relative", []string{wopiclient.HeaderRelativeTarget, "new.docx"}, 200, "new.docx", []string{"doc.docx", "new.docx"}},
		{"relative taken", []string{wopiclient.HeaderRelativeTarget, "doc.docx"}, 409, "", []string{"doc.docx"}},
		{"conflicting", []string{wopiclient.HeaderRelativeTarget, "x.docx", wopiclient.HeaderSuggestedTarget, "x.docx"}, 501, "", []string{"doc.docx"}},
		{"traversal", []string{wopiclient.HeaderRelativeTarget, "../../x.docx"}, 400, "", []string{"doc.docx"}},
		{"absolute", []string{wopiclient.HeaderSuggestedTarget, "/x.docx"}, 400, "", []string{"doc.docx"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			w := e.wopi(http.MethodPost, e.folderPath(e.folder.ID), e.token, nil,
				append([]string{wopiclient.HeaderOverride, "CREATE_CHILD_FILE"}, tc.hdr...)...)
			wantStatus(t, w, tc.want)
			if got := e.names(e.folder.ID); !slices.Equal(got, tc.wantNames) {
				t.Errorf("folder = %q, want %q", got, tc.wantNames)
			}
			if e.content(e.file.ID) != "hello" {
				t.Errorf("existing file changed")
			}
			if tc.want == http.StatusOK {
				reply := decodeJSON[newFileReply](t, w)
				if reply.Name != tc.wantName {
					t.Errorf("Name = %q, want %q", reply.Name, tc.wantName)
				}
				wantStatus(t, e.follow(reply.URL, ""), http.StatusOK)
			}
		})
	}
}

func TestDeleteAndRenameContainer(t *testing.T) {
	e := newEnv(t)
	sub, err := e.store.CreateFolder(t.Context(), e.folder.ID, "sub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateFolder(t.Context(), e.folder.ID, "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Create(t.Context(), sub.ID, "in.docx", strings.NewReader("x"), false, 0); err != nil {
		t.Fatal(err)
	}
	post := func(id string, hdr ...string) *httptest.ResponseRecorder {
		return e.wopi(http.MethodPost, e.folderPath(id), e.token, nil, hdr...)
	}
	for _, tc := range []struct {
		name string
		want int
	}{
		{"../x", 400}, {"a/b", 400}, {"", 400}, {"other", 400}, {"renamed", 200},
	} {
		w := post(sub.ID, wopiclient.HeaderOverride, "RENAME_CONTAINER", wopiclient.HeaderRequestedName, tc.name)
		wantStatus(t, w, tc.want)
		if tc.want == 400 {
			if r, _ := header(w, wopiclient.HeaderInvalidContainerNameError); r == "" {
				t.Errorf("%q: no X-WOPI-InvalidContainerNameError", tc.name)
			}
			if f, _ := e.store.Folder(t.Context(), sub.ID); f.Name != "sub" {
				t.Errorf("%q: renamed to %q", tc.name, f.Name)
			}
		}
	}
	wantStatus(t, post(sub.ID, wopiclient.HeaderOverride, "DELETE_CONTAINER"), http.StatusConflict)
	files, _, _ := e.store.List(t.Context(), sub.ID)
	if err := e.store.Delete(t.Context(), files[0].ID); err != nil {
		t.Fatal(err)
	}
	view := e.mint(e.file.ID, modeView)
	wantStatus(t, e.wopi(http.MethodPost, e.folderPath(sub.ID), view, nil, wopiclient.HeaderOverride, "DELETE_CONTAINER"), http.StatusUnauthorized)
	wantStatus(t, post(sub.ID, wopiclient.HeaderOverride, "DELETE_CONTAINER"), http.StatusOK)
	wantStatus(t, post(sub.ID, wopiclient.HeaderOverride, "DELETE_CONTAINER"), http.StatusUnauthorized)
}

func TestEcosystem(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{e.filePath(e.file.ID), e.folderPath(e.folder.ID)} {
		w := e.wopi(http.MethodGet, path+"/ecosystem_pointer", e.token, nil)
		wantStatus(t, w, http.StatusOK)
		eco := decodeJSON[struct {
			URL string `json:"Url"`
		}](t, w).URL
		w = e.follow(eco, "")
		wantStatus(t, w, http.StatusOK)
		if got := decodeJSON[map[string]bool](t, w); !got["SupportsContainers"] {
			t.Errorf("CheckEcosystem = %s", w.Body.String())
		}
		w = e.follow(eco, "/root_container_pointer")
		wantStatus(t, w, http.StatusOK)
		p := decodeJSON[struct{ ContainerPointer pointer }](t, w).ContainerPointer
		if p.Name != "work" {
			t.Errorf("root container = %+v", p)
		}
		wantStatus(t, e.follow(p.URL, ""), http.StatusOK)
	}
	wantStatus(t, e.wopi(http.MethodGet, "/wopi/ecosystem/root_container_pointer", "INVALID", nil), http.StatusUnauthorized)
}

func TestShareURL(t *testing.T) {
	e := newEnv(t)
	view := e.mint(e.file.ID, modeView)
	for _, tc := range []struct {
		path, token, typ string
		want             int
	}{
		{e.filePath(e.file.ID), e.token, "ReadOnly", 200},
		{e.filePath(e.file.ID), e.token, "ReadWrite", 200},
		{e.filePath(e.file.ID), e.token, "UnknownType", 501},
		{e.filePath(e.file.ID), view, "ReadOnly", 200},
		{e.filePath(e.file.ID), view, "ReadWrite", 501},
		{e.folderPath(e.folder.ID), e.token, "ReadOnly", 200},
		{e.folderPath(e.folder.ID), e.token, "ReadWrite", 200},
		{e.folderPath(e.folder.ID), e.token, "UnknownType", 501},
	} {
		w := e.wopi(http.MethodPost, tc.path, tc.token, nil, wopiclient.HeaderOverride, "GET_SHARE_URL", wopiclient.HeaderURLType, tc.typ)
		wantStatus(t, w, tc.want)
		if tc.want == 200 {
			if u := decodeJSON[struct {
				ShareURL string `json:"ShareUrl"`
			}](t, w).ShareURL; !strings.HasPrefix(u, testPublic+"/") {
				t.Errorf("ShareUrl = %q", u)
			}
		}
	}
}
