package bridge

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/wopiclient"
)

func TestCheckFileInfo(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name  string
		mode  string
		check func(t *testing.T, c wopiclient.CheckFileInfo)
	}{
		{"edit", modeEdit, func(t *testing.T, c wopiclient.CheckFileInfo) {
			if !c.UserCanWrite || c.ReadOnly || !c.UserCanRename || c.UserCanNotWriteRelative {
				t.Errorf("edit permissions wrong: %+v", c)
			}
			if len(c.SupportedShareURLTypes) != 2 || c.HostEditURL == "" {
				t.Errorf("share types %v, HostEditUrl %q", c.SupportedShareURLTypes, c.HostEditURL)
			}
		}},
		{"view", modeView, func(t *testing.T, c wopiclient.CheckFileInfo) {
			if c.UserCanWrite || !c.ReadOnly || c.UserCanRename || !c.UserCanNotWriteRelative {
				t.Errorf("view permissions wrong: %+v", c)
			}
			if len(c.SupportedShareURLTypes) != 1 || c.HostEditURL != "" {
				t.Errorf("share types %v, HostEditUrl %q", c.SupportedShareURLTypes, c.HostEditURL)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.wopi(http.MethodGet, e.filePath(e.file.ID), e.mint(e.file.ID, tc.mode), nil)
			wantStatus(t, w, http.StatusOK)
			c := decodeJSON[wopiclient.CheckFileInfo](t, w)
			f := e.stat(e.file.ID)
			if c.BaseFileName != "doc.docx" || c.Size != 5 || c.Version != f.Version || c.UserID != "u-1" ||
				c.UserFriendlyName != "Ada" || c.OwnerID == "" || c.FileExtension != ".docx" {
				t.Errorf("file properties wrong: %+v", c)
			}
			if want := f.ModTime.UTC().Format(wopiclient.TimeFormat); c.LastModifiedTime != want {
				t.Errorf("LastModifiedTime = %q, want %q", c.LastModifiedTime, want)
			}
			if !c.SupportsLocks || !c.SupportsGetLock || !c.SupportsExtendedLockLength || !c.SupportsUpdate ||
				!c.SupportsRename || !c.SupportsDeleteFile || !c.SupportsUserInfo || !c.SupportsContainers || !c.SupportsEcosystem {
				t.Errorf("capabilities missing: %+v", c)
			}
			if !strings.HasPrefix(c.FileURL, testPublic+"/wopi/fileurl/") || c.BreadcrumbFolderName != "work" {
				t.Errorf("FileUrl %q, folder %q", c.FileURL, c.BreadcrumbFolderName)
			}
			tc.check(t, c)
		})
	}
}

// A token is accepted for its own file only, and only while it is valid; nothing else
// reveals whether a file exists.
func TestFileTokenScope(t *testing.T) {
	e := newEnv(t)
	other, err := e.store.Create(t.Context(), e.folder.ID, "other.docx", strings.NewReader("x"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	forged := e.token[:strings.IndexByte(e.token, '.')] + ".AAAA"
	tamperedPayload := "x" + e.token[1:]
	expired := e.srv.tokens.sign(accessToken{User: "u-1", Mode: modeEdit, File: e.file.ID, Tree: e.folder.ID,
		Exp: e.clock.Now().UnixMilli()})
	folderTok := e.mintFolder(e.folder.ID)
	tests := []struct {
		name, path, token string
		want              int
	}{
		{"own file", e.filePath(e.file.ID), e.token, http.StatusOK},
		{"another file's token", e.filePath(other.ID), e.token, http.StatusUnauthorized},
		{"forged signature", e.filePath(e.file.ID), forged, http.StatusUnauthorized},
		{"tampered claims", e.filePath(e.file.ID), tamperedPayload, http.StatusUnauthorized},
		{"expired", e.filePath(e.file.ID), expired, http.StatusUnauthorized},
		{"no token", e.filePath(e.file.ID), "", http.StatusUnauthorized},
		{"garbage", e.filePath(e.file.ID), "INVALID", http.StatusUnauthorized},
		{"folder token on a file", e.filePath(e.file.ID), folderTok, http.StatusUnauthorized},
		{"unknown file, its own token", e.filePath("nope"), e.mint("nope", modeEdit), http.StatusNotFound},
		{"contents with another file's token", e.filePath(other.ID) + "/contents", e.token, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.wopi(http.MethodGet, tc.path, tc.token, nil)
			wantStatus(t, w, tc.want)
			if tc.want == http.StatusUnauthorized && strings.Contains(w.Body.String(), "doc.docx") {
				t.Errorf("401 body reveals the file: %q", w.Body.String())
			}
		})
	}
	t.Run("bearer header", func(t *testing.T) {
		w := e.do(http.MethodGet, e.filePath(e.file.ID), nil, "Authorization", "Bearer "+e.token)
		wantStatus(t, w, http.StatusOK)
	})
	t.Run("expires with the clock", func(t *testing.T) {
		tok := e.mint(e.file.ID, modeEdit)
		e.clock.Add(time.Hour)
		w := e.wopi(http.MethodGet, e.filePath(e.file.ID), tok, nil)
		wantStatus(t, w, http.StatusUnauthorized)
	})
}

func TestRenameFile(t *testing.T) {
	tests := []struct {
		name      string
		requested string // raw header value
		lock      string
		want      int
		wantName  string // file name afterwards
		invalid   bool   // X-WOPI-InvalidFileNameError expected
	}{
		{"plain", "report", "", http.StatusOK, "report.docx", false},
		{"UTF-7", "madeup+AF8-renamed", "", http.StatusOK, "madeup_renamed.docx", false},
		{"same name", "doc", "", http.StatusOK, "doc.docx", false},
		{"traversal", "../../etc/passwd", "", http.StatusBadRequest, "doc.docx", true},
		{"absolute", "/tmp/x", "", http.StatusBadRequest, "doc.docx", true},
		{"backslash", "..\\x", "", http.StatusBadRequest, "doc.docx", true},
		{"NUL", "a+AAA-b", "", http.StatusBadRequest, "doc.docx", true},
		{"empty", "", "", http.StatusBadRequest, "doc.docx", true},
		{"dot dot", "..", "", http.StatusBadRequest, "doc.docx", true},
		{"too long", strings.Repeat("n", 300), "", http.StatusBadRequest, "doc.docx", true},
		{"bad UTF-7", "+2D0-", "", http.StatusBadRequest, "doc.docx", true},
		{"name taken: a free variant", "taken", "", http.StatusOK, "taken (1).docx", false},
		{"lock on unlocked file", "report", "L1", http.StatusConflict, "doc.docx", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if _, err := e.store.Create(t.Context(), e.folder.ID, "taken.docx", strings.NewReader("t"), false, 0); err != nil {
				t.Fatal(err)
			}
			w := e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, nil,
				wopiclient.HeaderOverride, "RENAME_FILE", wopiclient.HeaderRequestedName, tc.requested, wopiclient.HeaderLock, tc.lock)
			wantStatus(t, w, tc.want)
			if got := e.stat(e.file.ID).Name; got != tc.wantName {
				t.Errorf("name after = %q, want %q", got, tc.wantName)
			}
			reason, has := header(w, wopiclient.HeaderInvalidFileNameError)
			if has != tc.invalid || tc.invalid && reason == "" {
				t.Errorf("X-WOPI-InvalidFileNameError = %q (present %v), want present %v", reason, has, tc.invalid)
			}
			if tc.want == http.StatusOK {
				got := decodeJSON[struct{ Name string }](t, w)
				if got.Name+".docx" != tc.wantName {
					t.Errorf("reply Name = %q, want %q without extension", got.Name, tc.wantName)
				}
			}
			if e.content(e.file.ID) != "hello" {
				t.Errorf("content changed")
			}
		})
	}
}

func TestDeleteFile(t *testing.T) {
	e := newEnv(t)
	w := e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, nil, wopiclient.HeaderOverride, "LOCK", wopiclient.HeaderLock, "L1")
	wantStatus(t, w, http.StatusOK)
	w = e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, nil, wopiclient.HeaderOverride, "DELETE")
	wantStatus(t, w, http.StatusConflict)
	if got, _ := header(w, wopiclient.HeaderLock); got != "L1" {
		t.Errorf("X-WOPI-Lock = %q, want L1", got)
	}
	e.stat(e.file.ID)
	w = e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, nil, wopiclient.HeaderOverride, "UNLOCK", wopiclient.HeaderLock, "L1")
	wantStatus(t, w, http.StatusOK)
	w = e.wopi(http.MethodPost, e.filePath(e.file.ID), e.mint(e.file.ID, modeView), nil, wopiclient.HeaderOverride, "DELETE")
	wantStatus(t, w, http.StatusUnauthorized)
	w = e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, nil, wopiclient.HeaderOverride, "DELETE")
	wantStatus(t, w, http.StatusOK)
	w = e.wopi(http.MethodGet, e.filePath(e.file.ID), e.token, nil)
	wantStatus(t, w, http.StatusNotFound)
}

func TestPutUserInfo(t *testing.T) {
	e := newEnv(t)
	w := e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, strings.NewReader("PutUserInfoTest"), wopiclient.HeaderOverride, "PUT_USER_INFO")
	wantStatus(t, w, http.StatusOK)
	c := decodeJSON[wopiclient.CheckFileInfo](t, e.wopi(http.MethodGet, e.filePath(e.file.ID), e.token, nil))
	if c.UserInfo != "PutUserInfoTest" {
		t.Errorf("UserInfo = %q", c.UserInfo)
	}
	// Another user does not see it.
	other := e.srv.tokens.sign(accessToken{User: "u-2", Mode: modeEdit, File: e.file.ID, Tree: e.folder.ID, Exp: e.clock.Now().Add(time.Hour).UnixMilli()})
	c = decodeJSON[wopiclient.CheckFileInfo](t, e.wopi(http.MethodGet, e.filePath(e.file.ID), other, nil))
	if c.UserInfo != "" {
		t.Errorf("other user's UserInfo = %q", c.UserInfo)
	}
	w = e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, strings.NewReader(strings.Repeat("x", maxUserInfo+1)), wopiclient.HeaderOverride, "PUT_USER_INFO")
	wantStatus(t, w, http.StatusBadRequest)
}

func TestUnknownOverride(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{e.filePath(e.file.ID), e.filePath(e.file.ID) + "/contents"} {
		for _, ov := range []string{"ADD_ACTIVITIES", "FROBNICATE", ""} {
			w := e.wopi(http.MethodPost, path, e.token, nil, wopiclient.HeaderOverride, ov)
			wantStatus(t, w, http.StatusNotImplemented)
		}
	}
	w := e.wopi(http.MethodPost, e.folderPath(e.folder.ID), e.mintFolder(e.folder.ID), nil, wopiclient.HeaderOverride, "LOCK")
	wantStatus(t, w, http.StatusNotImplemented)
	w = e.wopi(http.MethodPost, "/wopi/ecosystem", e.token, nil, wopiclient.HeaderOverride, "GET_WOPI_SRC_WITH_ACCESS_TOKEN")
	wantStatus(t, w, http.StatusNotImplemented)
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ method, path string }{
		{http.MethodPut, e.filePath(e.file.ID)},
		{http.MethodDelete, e.filePath(e.file.ID)},
		{http.MethodPut, e.filePath(e.file.ID) + "/contents"},
		{http.MethodDelete, "/api/v1/files"},
	} {
		w := e.wopi(tc.method, tc.path, e.token, nil)
		wantStatus(t, w, http.StatusMethodNotAllowed)
	}
}
