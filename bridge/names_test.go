package bridge

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// TestInvisibleCharactersInNames: names with bidi controls, other Unicode format
// characters or C1 controls are refused with X-WOPI-InvalidFileNameError (and the
// container header for folders), and nothing is created or renamed.
func TestInvisibleCharactersInNames(t *testing.T) {
	names := map[string]string{
		"right-to-left override": "invoice\u202excod.docx",
		"left-to-right embed":    "a\u202ab.docx",
		"first strong isolate":   "a\u2068b.docx",
		"right-to-left mark":     "a\u200fb.docx",
		"zero width space":       "a\u200bb.docx",
		"soft hyphen":            "a\u00adb.docx",
		"byte order mark":        "\ufeffa.docx",
		"C1 control (NEL)":       "a\u0085b.docx",
		"C1 control (CSI)":       "a\u009bb.docx",
	}
	for what, name := range names {
		t.Run(what, func(t *testing.T) {
			e := newEnv(t)
			before := strings.Join(e.names(e.folder.ID), ",")
			utf7 := wopiclient.EncodeUTF7(name)
			w := e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, strings.NewReader("x"),
				wopiclient.HeaderOverride, "PUT_RELATIVE", wopiclient.HeaderRelativeTarget, utf7)
			wantStatus(t, w, http.StatusBadRequest)
			if v, ok := header(w, wopiclient.HeaderInvalidFileNameError); !ok || !strings.Contains(v, "invisible") {
				t.Errorf("PutRelativeFile: %s = %q", wopiclient.HeaderInvalidFileNameError, v)
			}
			w = e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, nil,
				wopiclient.HeaderOverride, "RENAME_FILE", wopiclient.HeaderRequestedName, wopiclient.EncodeUTF7(strings.TrimSuffix(name, ".docx")))
			wantStatus(t, w, http.StatusBadRequest)
			if _, ok := header(w, wopiclient.HeaderInvalidFileNameError); !ok {
				t.Errorf("RenameFile: no %s", wopiclient.HeaderInvalidFileNameError)
			}
			w = e.wopi(http.MethodPost, e.folderPath(e.folder.ID), e.token, nil,
				wopiclient.HeaderOverride, "CREATE_CHILD_CONTAINER", wopiclient.HeaderRelativeTarget, wopiclient.EncodeUTF7(strings.TrimSuffix(name, ".docx")))
			wantStatus(t, w, http.StatusBadRequest)
			if _, ok := header(w, wopiclient.HeaderInvalidContainerNameError); !ok {
				t.Errorf("CreateChildContainer: no %s", wopiclient.HeaderInvalidContainerNameError)
			}
			if got := strings.Join(e.names(e.folder.ID), ","); got != before {
				t.Errorf("folder = %s, was %s", got, before)
			}
			if got := e.stat(e.file.ID).Name; got != "doc.docx" {
				t.Errorf("file renamed to %q", got)
			}
		})
	}
}

// TestStorageRefusedName: a name the bridge's own checks accept but the storage refuses
// (a dot file) gets the WOPI name header and a message that says what to do, not a bare
// "malformed".
func TestStorageRefusedName(t *testing.T) {
	e := newEnv(t)
	w := e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, strings.NewReader("x"),
		wopiclient.HeaderOverride, "PUT_RELATIVE", wopiclient.HeaderRelativeTarget, ".hidden.docx")
	wantStatus(t, w, http.StatusBadRequest)
	if v, ok := header(w, wopiclient.HeaderInvalidFileNameError); !ok || !strings.Contains(v, "choose another") {
		t.Errorf("PutRelativeFile: %s = %q (present %v)", wopiclient.HeaderInvalidFileNameError, v, ok)
	}
	if !strings.Contains(w.Body.String(), "choose another") {
		t.Errorf("PutRelativeFile body = %q", w.Body.String())
	}
	w = e.wopi(http.MethodPost, e.folderPath(e.folder.ID), e.token, nil,
		wopiclient.HeaderOverride, "CREATE_CHILD_CONTAINER", wopiclient.HeaderRelativeTarget, ".hidden")
	wantStatus(t, w, http.StatusBadRequest)
	if v, ok := header(w, wopiclient.HeaderInvalidContainerNameError); !ok || !strings.Contains(v, "choose another") {
		t.Errorf("CreateChildContainer: %s = %q (present %v)", wopiclient.HeaderInvalidContainerNameError, v, ok)
	}
	w = e.wopi(http.MethodPost, e.folderPath(e.folder.ID), e.token, nil,
		wopiclient.HeaderOverride, "CREATE_CHILD_FILE", wopiclient.HeaderRelativeTarget, ".hidden.docx")
	wantStatus(t, w, http.StatusBadRequest)
	if _, ok := header(w, wopiclient.HeaderInvalidFileNameError); !ok {
		t.Errorf("CreateChildFile: no %s", wopiclient.HeaderInvalidFileNameError)
	}
}
