package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/e2e/docserver"
)

// fileURLLifetime bounds how long a FileUrl may stay valid: DS fetches it right after
// CheckFileInfo, and its converter logs it in full.
const fileURLLifetime = 15 * time.Minute

// In WOPI mode DS downloads through CheckFileInfo's FileUrl (unsigned, with
// X-WOPI-MaxExpectedSize), never GetFile. That URL is a bearer credential that DS's
// converter logs in full: it must be short-lived.
func TestWOPIFileUrlIsShortLived(t *testing.T) {
	e := newDocsEnv(t)
	f := e.upload("fileurl.docx", "v1")
	w := e.openWOPI(e.session("alice", f.ID, "edit"))
	if got := string(w.Content()); got != "v1" {
		t.Fatalf("DS loaded %q", got)
	}
	dl := wopiReplies(e.ds, docserver.OpFileURL)
	if len(dl) != 1 || !dl[0].OK() || len(wopiReplies(e.ds, docserver.OpGetFile)) != 0 {
		t.Fatalf("DS downloads: %d FileUrl (%v), %d GetFile", len(dl), dl, len(wopiReplies(e.ds, docserver.OpGetFile)))
	}
	req := dl[0].Request
	if req.Get("X-WOPI-MaxExpectedSize") != "104857600" || req.Get("X-WOPI-Proof") != "" {
		t.Errorf("FileUrl request headers %v", req.Header)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := strconv.ParseInt(u.Query().Get("exp"), 10, 64)
	if err != nil {
		t.Fatalf("FileUrl %s has no exp", req.URL)
	}
	if left := time.Until(time.UnixMilli(exp)); left > fileURLLifetime || left < time.Minute {
		t.Errorf("FileUrl valid for %v more, want minutes (at most %v)", left.Round(time.Second), fileURLLifetime)
	}

	// A drop-in for GetFile (Microsoft's validator asks it): after a save it serves the
	// current content, within its lifetime.
	if err := w.Save([]byte("v2"), true); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "v2" {
		t.Fatalf("FileUrl after a save: %d %q", resp.StatusCode, body)
	}
}
