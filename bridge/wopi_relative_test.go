package bridge

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/wopiclient"
)

func TestPutRelativeFile(t *testing.T) {
	long := strings.Repeat("long", 130) + ".docx"
	tests := []struct {
		name      string
		hdr       []string
		want      int
		wantName  string   // reply Name
		wantNames []string // folder listing afterwards
		validName string   // X-WOPI-ValidRelativeTarget on 409, decoded
	}{
		{"suggested extension", []string{wopiclient.HeaderSuggestedTarget, ".pdf"}, 200, "doc.pdf",
			[]string{"doc.docx", "doc.pdf", "taken.docx"}, ""},
		{"suggested name", []string{wopiclient.HeaderSuggestedTarget, "copy.docx"}, 200, "copy.docx",
			[]string{"copy.docx", "doc.docx", "taken.docx"}, ""},
		{"suggested name taken", []string{wopiclient.HeaderSuggestedTarget, "taken.docx"}, 200, "taken (1).docx",
			[]string{"doc.docx", "taken (1).docx", "taken.docx"}, ""},
		{"suggested UTF-7", []string{wopiclient.HeaderSuggestedTarget, "made+AF8-up.docx"}, 200, "made_up.docx",
			[]string{"doc.docx", "made_up.docx", "taken.docx"}, ""},
		{"suggested too long is shortened", []string{wopiclient.HeaderSuggestedTarget, long}, 200, long[:maxNameBytes-5] + ".docx",
			nil, ""},
		{"relative", []string{wopiclient.HeaderRelativeTarget, "new.docx"}, 200, "new.docx",
			[]string{"doc.docx", "new.docx", "taken.docx"}, ""},
		{"relative taken", []string{wopiclient.HeaderRelativeTarget, "taken.docx"}, 409, "",
			[]string{"doc.docx", "taken.docx"}, "taken (1).docx"},
		{"relative taken, overwrite false", []string{wopiclient.HeaderRelativeTarget, "taken.docx", wopiclient.HeaderOverwriteRelativeTarget, "False"}, 409, "",
			[]string{"doc.docx", "taken.docx"}, "taken (1).docx"},
		{"relative taken, overwrite", []string{wopiclient.HeaderRelativeTarget, "taken.docx", wopiclient.HeaderOverwriteRelativeTarget, "True"}, 200, "taken.docx",
			[]string{"doc.docx", "taken.docx"}, ""},
		{"relative too long", []string{wopiclient.HeaderRelativeTarget, long}, 400, "", []string{"doc.docx", "taken.docx"}, ""},
		{"both headers", []string{wopiclient.HeaderRelativeTarget, "a.docx", wopiclient.HeaderSuggestedTarget, "a.docx"}, 501, "",
			[]string{"doc.docx", "taken.docx"}, ""},
		{"no target", nil, 400, "", []string{"doc.docx", "taken.docx"}, ""},
		{"traversal", []string{wopiclient.HeaderRelativeTarget, "../escape.docx"}, 400, "", []string{"doc.docx", "taken.docx"}, ""},
		{"suggested traversal", []string{wopiclient.HeaderSuggestedTarget, "../../escape.docx"}, 400, "", []string{"doc.docx", "taken.docx"}, ""},
		{"absolute", []string{wopiclient.HeaderRelativeTarget, "/etc/escape.docx"}, 400, "", []string{"doc.docx", "taken.docx"}, ""},
		{"NUL", []string{wopiclient.HeaderRelativeTarget, "a+AAA-.docx"}, 400, "", []string{"doc.docx", "taken.docx"}, ""},
		{"bad overwrite", []string{wopiclient.HeaderRelativeTarget, "x.docx", wopiclient.HeaderOverwriteRelativeTarget, "maybe"}, 400, "",
			[]string{"doc.docx", "taken.docx"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			taken, err := e.store.Create(t.Context(), e.folder.ID, "taken.docx", strings.NewReader("keep"), false, 0)
			if err != nil {
				t.Fatal(err)
			}
			w := e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, strings.NewReader("copy"),
				append([]string{wopiclient.HeaderOverride, "PUT_RELATIVE"}, tc.hdr...)...)
			wantStatus(t, w, tc.want)
			if tc.wantNames != nil {
				if got := e.names(e.folder.ID); !slices.Equal(got, tc.wantNames) {
					t.Errorf("folder = %q, want %q", got, tc.wantNames)
				}
			}
			if tc.want != http.StatusOK || !strings.Contains(tc.name, "overwrite") {
				if got := e.content(taken.ID); got != "keep" && tc.want != http.StatusOK {
					t.Errorf("taken.docx content = %q", got)
				}
			}
			if tc.validName != "" {
				raw, _ := header(w, wopiclient.HeaderValidRelativeTarget)
				if got, _ := wopiclient.DecodeUTF7(raw); got != tc.validName {
					t.Errorf("X-WOPI-ValidRelativeTarget = %q (%q), want %q", raw, got, tc.validName)
				}
			}
			if tc.want != http.StatusOK {
				return
			}
			reply := decodeJSON[newFileReply](t, w)
			if reply.Name != tc.wantName {
				t.Errorf("Name = %q, want %q", reply.Name, tc.wantName)
			}
			u, err := url.Parse(reply.URL)
			if err != nil || !strings.HasPrefix(reply.URL, testPublic+"/wopi/files/") || u.Query().Get("access_token") == "" {
				t.Fatalf("Url = %q", reply.URL)
			}
			// The new file's token works on the new file and carries its content.
			w = e.do(http.MethodGet, u.Path+"/contents?"+u.RawQuery, nil)
			wantStatus(t, w, http.StatusOK)
			if w.Body.String() != "copy" {
				t.Errorf("new file content = %q", w.Body.String())
			}
			// ... and not on the original.
			w = e.do(http.MethodGet, e.filePath(e.file.ID)+"?"+u.RawQuery, nil)
			wantStatus(t, w, http.StatusUnauthorized)
		})
	}
}

func TestPutRelativeLockedTarget(t *testing.T) {
	e := newEnv(t)
	taken, err := e.store.Create(t.Context(), e.folder.ID, "taken.docx", strings.NewReader("keep"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Lock(t.Context(), taken.ID, "TL"); err != nil {
		t.Fatal(err)
	}
	w := e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, strings.NewReader("copy"), wopiclient.HeaderOverride, "PUT_RELATIVE",
		wopiclient.HeaderRelativeTarget, "taken.docx", wopiclient.HeaderOverwriteRelativeTarget, "true")
	wantStatus(t, w, http.StatusConflict)
	if got, _ := header(w, wopiclient.HeaderLock); got != "TL" {
		t.Errorf("X-WOPI-Lock = %q", got)
	}
	if e.content(taken.ID) != "keep" {
		t.Errorf("locked file overwritten")
	}
}

func TestPutRelativeViewToken(t *testing.T) {
	e := newEnv(t)
	w := e.wopi(http.MethodPost, e.filePath(e.file.ID), e.mint(e.file.ID, modeView), strings.NewReader("copy"),
		wopiclient.HeaderOverride, "PUT_RELATIVE", wopiclient.HeaderSuggestedTarget, ".pdf")
	wantStatus(t, w, http.StatusNotImplemented)
	if got := e.names(e.folder.ID); len(got) != 1 {
		t.Errorf("folder = %q", got)
	}
}

func TestPutRelativeTooLarge(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxFileSize = 8 })
	w := e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, strings.NewReader("0123456789"),
		wopiclient.HeaderOverride, "PUT_RELATIVE", wopiclient.HeaderRelativeTarget, "big.docx")
	wantStatus(t, w, http.StatusRequestEntityTooLarge)
	if got := e.names(e.folder.ID); len(got) != 1 {
		t.Errorf("folder = %q", got)
	}
}

func TestFreeName(t *testing.T) {
	taken := map[string]bool{"a.docx": true, "a (1).docx": true, "b": true, ".cfg": true}
	for _, tc := range []struct{ in, want string }{
		{"a.docx", "a (2).docx"},
		{"A.DOCX", "A (2).DOCX"},
		{"b", "b (1)"},
		{".cfg", ".cfg (1)"},
		{"c.docx", "c.docx"},
	} {
		if got := freeName(tc.in, taken); got != tc.want {
			t.Errorf("freeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := strings.Repeat("é", 200) + ".docx"
	got := freeName(fitName(long), map[string]bool{strings.ToLower(fitName(long)): true})
	if len(got) > maxNameBytes || !strings.HasSuffix(got, " (1).docx") {
		t.Errorf("freeName(long) = %q (%d bytes)", got, len(got))
	}
}
