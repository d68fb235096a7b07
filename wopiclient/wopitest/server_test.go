package wopitest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// TestRawProtocol checks replies a client library would never provoke.
func TestRawProtocol(t *testing.T) {
	srv := wopitest.NewServer(t)
	id, src := srv.AddFile("a.docx", []byte("content"))
	token := srv.Token(id, "alice", true)
	view := srv.Token(id, "bob", false)
	q := "?access_token=" + url.QueryEscape(token)
	cases := []struct {
		name    string
		method  string
		url     string
		headers map[string]string
		status  int
	}{
		{"unknown override", "POST", src + q, map[string]string{"X-WOPI-Override": "COBALT"}, 501},
		{"no override", "POST", src + q, nil, 501},
		{"PutFile without PUT", "POST", src + "/contents" + q, nil, 501},
		{"lock without X-WOPI-Lock", "POST", src + q, map[string]string{"X-WOPI-Override": "LOCK"}, 400},
		{"lock over 1024 bytes", "POST", src + q, map[string]string{"X-WOPI-Override": "LOCK", "X-WOPI-Lock": strings.Repeat("x", 1025)}, 400},
		{"both targets", "POST", src + q, map[string]string{"X-WOPI-Override": "PUT_RELATIVE", "X-WOPI-SuggestedTarget": ".pdf", "X-WOPI-RelativeTarget": "b.pdf"}, 501},
		{"no target", "POST", src + q, map[string]string{"X-WOPI-Override": "PUT_RELATIVE"}, 400},
		{"view token locks", "POST", src + "?access_token=" + url.QueryEscape(view), map[string]string{"X-WOPI-Override": "LOCK", "X-WOPI-Lock": "L"}, 401},
		{"no token", "GET", src, nil, 401},
		{"other path", "GET", srv.URL + "/wopi/folders/1" + q, nil, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	if srv.Lock(id) != "" || string(srv.Content(id)) != "content" {
		t.Error("a refused request changed the file")
	}
	for _, r := range srv.Requests() {
		if strings.Contains(r.Path, "tok-") || strings.Contains(r.Lock, "tok-") {
			t.Errorf("request log entry %+v holds a token", r)
		}
	}
	if n := len(srv.Requests()); n != len(cases) {
		t.Errorf("%d requests logged, want %d", n, len(cases))
	}
}

func TestFailNext(t *testing.T) {
	srv := wopitest.NewServer(t)
	id, src := srv.AddFile("a.docx", nil)
	token := srv.Token(id, "alice", true)
	srv.FailNext(wopitest.OpCheckFileInfo, 2, 500)
	var got []int
	for range 3 {
		resp, err := srv.Client().Get(src + "?access_token=" + url.QueryEscape(token))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	if got[0] != 500 || got[1] != 500 || got[2] != 200 {
		t.Errorf("statuses %v, want 500 500 200", got)
	}
	for i, r := range srv.Requests() {
		if r.Status != got[i] || r.Op != wopitest.OpCheckFileInfo {
			t.Errorf("log entry %d = %+v, want CheckFileInfo with status %d", i, r, got[i])
		}
	}
}

// TestProfiles checks that each profile answers as the host it plays
// (../shared/reference/real-hosts.md), on the wire.
func TestProfiles(t *testing.T) {
	call := func(t *testing.T, srv *wopitest.Server, method, u string, body string, hdr ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header[hdr[i]] = []string{hdr[i+1]}
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	type file struct {
		srv      *wopitest.Server
		id, src  string
		q        string // ?access_token=
		viewOnly string
	}
	open := func(t *testing.T, p wopitest.Profile, content string) file {
		srv := wopitest.NewServerProfile(t, p)
		id, src := srv.AddFile("a.docx", []byte(content))
		return file{srv: srv, id: id, src: src, q: "?access_token=" + url.QueryEscape(srv.Token(id, "alice", true)),
			viewOnly: "?access_token=" + url.QueryEscape(srv.Token(id, "bob", false))}
	}
	t.Run("GetLockOnUnlocked", func(t *testing.T) {
		for _, p := range []wopitest.Profile{wopitest.WS, wopitest.OCOnlyOffice} {
			f := open(t, p, "x")
			resp := call(t, f.srv, "POST", f.src+f.q, "", "X-WOPI-Override", "GET_LOCK")
			if lock, ok := resp.Header["X-Wopi-Lock"]; resp.StatusCode != 404 || !ok || lock[0] != "" {
				t.Errorf("%s: %d %q", p.Name, resp.StatusCode, lock)
			}
		}
	})
	t.Run("GetFileFraming", func(t *testing.T) {
		for _, tc := range []struct {
			p       wopitest.Profile
			n       int
			chunked bool
		}{{wopitest.Spec, 600, false}, {wopitest.WS, 10, true}, {wopitest.OCOnlyOffice, 511, false}, {wopitest.OCOnlyOffice, 512, true}} {
			f := open(t, tc.p, strings.Repeat("a", tc.n))
			resp := call(t, f.srv, "GET", f.src+"/contents"+f.q, "")
			b, _ := io.ReadAll(resp.Body)
			chunked := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
			if len(b) != tc.n || chunked != tc.chunked || chunked == (resp.ContentLength >= 0) {
				t.Errorf("%s %d bytes: read %d, chunked %v, Content-Length %d", tc.p.Name, tc.n, len(b), chunked, resp.ContentLength)
			}
			if tc.p.Framing == wopitest.FramingChunkedClose && !resp.Close {
				t.Errorf("%s: no Connection: close", tc.p.Name)
			}
		}
	})
	t.Run("CheckFileInfo", func(t *testing.T) {
		f := open(t, wopitest.OCOnlyOffice, "x")
		b, _ := io.ReadAll(call(t, f.srv, "GET", f.src+f.q, "").Body)
		for _, name := range []string{`"Size"`, `"LastModifiedTime"`, `"OwnerId"`, `"SupportsGetLock"`, `"SupportsExtendedLockLength"`} {
			if strings.Contains(string(b), name) {
				t.Errorf("OC OnlyOffice CheckFileInfo has %s: %s", name, b)
			}
		}
		f = open(t, wopitest.WS, "x")
		b, _ = io.ReadAll(call(t, f.srv, "GET", f.src+f.q, "").Body)
		if !regexp.MustCompile(`"LastModifiedTime":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"`).Match(b) ||
			!strings.Contains(string(b), `"SupportsRename":false`) || !strings.Contains(string(b), `"UserCanNotWriteRelative":false`) {
			t.Errorf("WS CheckFileInfo: %s", b)
		}
	})
	t.Run("PutRelative", func(t *testing.T) {
		f := open(t, wopitest.WS, "x")
		if resp := call(t, f.srv, "POST", f.src+f.q, "c", "X-WOPI-Override", "PUT_RELATIVE", "X-WOPI-SuggestedTarget", ".pdf"); resp.StatusCode != 501 {
			t.Errorf("WS PutRelativeFile: %d", resp.StatusCode)
		}
		f = open(t, wopitest.OCOnlyOffice, "x")
		f.srv.AddFile("b.docx", []byte("B"))
		resp := call(t, f.srv, "POST", f.src+f.q, "c", "X-WOPI-Override", "PUT_RELATIVE", "X-WOPI-RelativeTarget", "b.docx")
		b, _ := io.ReadAll(resp.Body)
		if lock, ok := resp.Header["X-Wopi-Lock"]; resp.StatusCode != 409 || !ok || lock[0] != "" || resp.Header.Get("X-WOPI-LockFailureReason") == "" ||
			resp.Header.Get("X-WOPI-ValidRelativeTarget") == "" || !strings.HasPrefix(string(b), "{") {
			t.Errorf("OC taken name: %d %v %s", resp.StatusCode, resp.Header, b)
		}
		resp = call(t, f.srv, "POST", f.src+f.q, "c", "X-WOPI-Override", "PUT_RELATIVE", "X-WOPI-RelativeTarget", "b.docx", "X-WOPI-OverwriteRelativeTarget", "true")
		if resp.StatusCode != 409 || string(f.srv.Content(f.srv.FileID("b.docx"))) != "B" {
			t.Errorf("OC overwrite of an unlocked non-empty file: %d", resp.StatusCode)
		}
	})
	t.Run("RenameBindsTokens", func(t *testing.T) {
		f := open(t, wopitest.WS, "x")
		if resp := call(t, f.srv, "POST", f.src+f.q, "", "X-WOPI-Override", "RENAME_FILE", "X-WOPI-RequestedName", "b"); resp.StatusCode != 200 || f.srv.Name(f.id) != "b.docx" {
			t.Fatalf("WS rename: %d, name %q", resp.StatusCode, f.srv.Name(f.id))
		}
		if resp := call(t, f.srv, "GET", f.src+f.q, ""); resp.StatusCode != 404 {
			t.Errorf("WS CheckFileInfo with the token from before the rename: %d", resp.StatusCode)
		}
	})
	t.Run("PutFileNotLocked", func(t *testing.T) {
		for p, want := range map[*wopitest.Profile]int{&wopitest.WS: 409, &wopitest.OCOnlyOffice: 500} {
			f := open(t, *p, "x")
			resp := call(t, f.srv, "POST", f.src+"/contents"+f.q, "y", "X-WOPI-Override", "PUT", "X-WOPI-Lock", "L1")
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != want || want == 500 && !strings.Contains(string(b), "not locked") {
				t.Errorf("%s: %d %s", p.Name, resp.StatusCode, b)
			}
		}
	})
	t.Run("LocksOwnedByApp", func(t *testing.T) {
		f := open(t, wopitest.OCOnlyOffice, "x")
		other := "?access_token=" + url.QueryEscape(f.srv.AppToken(f.id, "alice", true, "collabora"))
		if resp := call(t, f.srv, "POST", f.src+other, "", "X-WOPI-Override", "LOCK", "X-WOPI-Lock", "L1"); resp.StatusCode != 200 {
			t.Fatalf("lock: %d", resp.StatusCode)
		}
		if resp := call(t, f.srv, "POST", f.src+f.q, "", "X-WOPI-Override", "UNLOCK", "X-WOPI-Lock", "L1"); resp.StatusCode != 500 || f.srv.Lock(f.id) != "L1" {
			t.Errorf("unlock with another app's token: %d", resp.StatusCode)
		}
		f.srv.Advance(wopitest.LockDuration)
		if f.srv.Lock(f.id) != "" {
			t.Error("the lock outlived 30 minutes")
		}
	})
	t.Run("Proofs", func(t *testing.T) {
		f := open(t, wopitest.OCProofs, "x")
		resp := call(t, f.srv, "GET", f.src+f.q, "")
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 500 || strings.TrimSpace(string(b)) != "Internal Server Error" || resp.Header.Get("X-WOPI-ServerError") != "" {
			t.Errorf("call without proofs: %d %q", resp.StatusCode, b)
		}
	})
	t.Run("ViewTokenLocks", func(t *testing.T) {
		f := open(t, wopitest.OCOnlyOffice, "x")
		if resp := call(t, f.srv, "POST", f.src+f.viewOnly, "", "X-WOPI-Override", "LOCK", "X-WOPI-Lock", "L1"); resp.StatusCode != 200 {
			t.Errorf("OC view token Lock: %d", resp.StatusCode)
		}
	})
	t.Run("RelativeTokenGetFile", func(t *testing.T) {
		f := open(t, wopitest.OCOnlyOffice, "x")
		resp := call(t, f.srv, "POST", f.src+f.q, "copy", "X-WOPI-Override", "PUT_RELATIVE", "X-WOPI-SuggestedTarget", ".pdf")
		var nf struct{ Url string }
		if err := json.NewDecoder(resp.Body).Decode(&nf); err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(nf.Url)
		u.Path += "/contents"
		if resp := call(t, f.srv, "GET", u.String(), ""); resp.StatusCode != 500 {
			t.Errorf("GetFile with PutRelativeFile's token: %d", resp.StatusCode)
		}
	})
}
