package wopitest_test

import (
	"io"
	"net/http"
	"net/url"
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
