package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sirupsen/logrus"

	"github.com/wopibridge/wopibridge/bridge"
	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage/fs"
)

// testLaunchSecret signs the launch tokens of the e2e scenarios.
var testLaunchSecret = []byte("e2e launch secret")

// bridgeUnderTest is the bridge serving on a real loopback listener over a temporary
// directory and state file.
type bridgeUnderTest struct {
	URL     string
	Storage *fs.FS
	Dir     string // the documents directory
}

// logWriter sends the bridge's log to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startBridge serves a bridge in this process; configure adjusts its options.
func startBridge(t *testing.T, configure ...func(*bridge.Options)) *bridgeUnderTest {
	t.Helper()
	tmp := t.TempDir()
	st, err := state.OpenBolt(filepath.Join(tmp, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	docs := filepath.Join(tmp, "data")
	backend, err := fs.New(fs.Options{Root: docs, State: st})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public, err := url.Parse("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	logger := logrus.New()
	logger.SetOutput(logWriter{t})
	logger.SetLevel(logrus.WarnLevel)
	opts := bridge.Options{
		PublicURL:    public,
		Storage:      backend,
		State:        st,
		LaunchSecret: testLaunchSecret,
		TokenTTL:     time.Hour,
		MaxFileSize:  100 << 20,
		Logger:       logger,
	}
	for _, c := range configure {
		c(&opts)
	}
	srv, err := bridge.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
		_ = srv.Close()
		_ = backend.Close()
	})
	return &bridgeUnderTest{URL: public.String(), Storage: backend, Dir: docs}
}

// launchToken signs a launch token for user sub with extra claims.
func launchToken(t *testing.T, sub string, claims jwt.MapClaims) string {
	t.Helper()
	c := jwt.MapClaims{"sub": sub, "name": "E2E " + sub, "exp": time.Now().Add(5 * time.Minute).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(testLaunchSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// apiCall sends a launch API request and decodes a JSON reply into out; it fails the test
// unless the status is want.
func (b *bridgeUnderTest) apiCall(t *testing.T, method, path, launch string, body io.Reader, want int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, b.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+launch)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
}

// apiFile is a file as the launch API describes it.
type apiFile struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	Version string `json:"version"`
}

// wopiSession is the reply of POST /api/v1/wopi/session.
type wopiSession struct {
	ActionURL      string `json:"actionUrl"`
	AccessToken    string `json:"accessToken"`
	AccessTokenTTL int64  `json:"accessTokenTtl"`
	WopiSrc        string `json:"wopiSrc"`
	FavIconURL     string `json:"favIconUrl"`
}

func (s wopiSession) String() string {
	return fmt.Sprintf("session for %s (token ttl %d)", s.WopiSrc, s.AccessTokenTTL)
}
