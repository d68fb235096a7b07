package bridge

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/wopiclient"
)

func TestScrubURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/wopi/files/1?access_token=secret&access_token_ttl=0", "/wopi/files/1?access_token=***&access_token_ttl=0"},
		{"/open/1?launch=eyJ.x.y&style=wopi", "/open/1?launch=***&style=wopi"},
		{"/wopi/fileurl/1?exp=1&sig=abc", "/wopi/fileurl/1?exp=1&sig=***"},
		{"/wopi/files/1?ACCESS_TOKEN=secret", "/wopi/files/1?ACCESS_TOKEN=***"},
		{"/healthz", "/healthz"},
	} {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := scrubURL(u); got != tc.want {
			t.Errorf("scrubURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// No credential reaches the log, whatever the outcome of the request.
func TestLogsHaveNoSecrets(t *testing.T) {
	e := newEnv(t, withLaunchSecret)
	launch := e.launch(jwt.SigningMethodHS256, launchSecret, nil)
	c := decodeJSON[wopiclient.CheckFileInfo](t, e.wopi(http.MethodGet, e.filePath(e.file.ID), e.token, nil))
	fu, _ := url.Parse(c.FileURL)
	e.wopi(http.MethodGet, e.filePath(e.file.ID)+"/contents", e.token, nil)
	e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, nil, wopiclient.HeaderOverride, "FROBNICATE")
	e.wopi(http.MethodGet, e.filePath("nope"), e.token, nil)
	e.do(http.MethodGet, e.filePath(e.file.ID), nil, "Authorization", "Bearer "+e.token)
	e.do(http.MethodGet, fu.RequestURI(), nil)
	e.do(http.MethodGet, "/api/v1/files", nil, bearerHdr(launch)...)
	e.do(http.MethodGet, "/api/v1/files", nil, bearerHdr(launch+"x")...)
	e.do(http.MethodGet, "/open/x?launch="+launch, nil)
	e.do(http.MethodGet, "/no/such/path?launch="+launch, nil)
	logs := e.logs.String()
	for name, secret := range map[string]string{
		"access token":       e.token,
		"token payload":      e.token[:strings.IndexByte(e.token, '.')],
		"launch token":       launch,
		"file URL signature": fu.Query().Get("sig"),
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("%s found in logs:\n%s", name, logs)
		}
	}
	for _, want := range []string{"request_id=", "face=wopi", "operation=CheckFileInfo", "file_id=" + e.file.ID, "face=api", "status=501", "status=404", "face=page"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	w := e.do(http.MethodGet, "/healthz", nil, "X-Request-ID", "abc-123")
	if got := w.Header().Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("kept id = %q", got)
	}
	w = e.do(http.MethodGet, "/healthz", nil, "X-Request-ID", "bad id\twith spaces")
	if got := w.Header().Get("X-Request-Id"); got == "" || strings.Contains(got, " ") {
		t.Errorf("made id = %q", got)
	}
}

func TestPanicIsLoggedAnd500(t *testing.T) {
	e := newEnv(t)
	h := e.srv.middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	w := httptestRecorder()
	h.ServeHTTP(w, httptestRequest(http.MethodGet, "/wopi/files/x", "", 0))
	wantStatus(t, w, http.StatusInternalServerError)
	if !strings.Contains(e.logs.String(), "panic: boom") {
		t.Errorf("panic not logged: %s", e.logs.String())
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	wantStatus(t, e.do(http.MethodGet, "/healthz", nil), http.StatusOK)
	wantStatus(t, e.do(http.MethodGet, "/readyz", nil), http.StatusOK)
	if err := e.state.Close(); err != nil {
		t.Fatal(err)
	}
	w := e.do(http.MethodGet, "/readyz", nil)
	wantStatus(t, w, http.StatusServiceUnavailable)
	if !strings.Contains(w.Body.String(), "state") {
		t.Errorf("body = %q", w.Body.String())
	}
}
