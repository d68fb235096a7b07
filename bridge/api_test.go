package bridge

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/config"
)

var launchSecret = []byte("launch-secret-for-tests")

func withLaunchSecret(o *Options) { o.LaunchSecret = launchSecret }

// launch signs a launch token; claims override the defaults (sub u-1, exp in 5 minutes).
func (e *testEnv) launch(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	e.t.Helper()
	c := jwt.MapClaims{"sub": "u-1", "name": "Ada", "exp": e.clock.Now().Add(5 * time.Minute).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func bearerHdr(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func TestLaunchTokens(t *testing.T) {
	e := newEnv(t, withLaunchSecret)
	hs256 := jwt.SigningMethodHS256
	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"valid", e.launch(hs256, launchSecret, nil), http.StatusOK},
		{"missing", "", http.StatusUnauthorized},
		{"wrong secret", e.launch(hs256, []byte("other"), nil), http.StatusUnauthorized},
		{"HS384", e.launch(jwt.SigningMethodHS384, launchSecret, nil), http.StatusUnauthorized},
		{"alg none", e.launch(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil), http.StatusUnauthorized},
		{"expired", e.launch(hs256, launchSecret, jwt.MapClaims{"exp": e.clock.Now().Add(-time.Hour).Unix()}), http.StatusUnauthorized},
		{"no exp", e.launch(hs256, launchSecret, jwt.MapClaims{"exp": nil}), http.StatusUnauthorized},
		{"no sub", e.launch(hs256, launchSecret, jwt.MapClaims{"sub": nil}), http.StatusUnauthorized},
		{"bad mode", e.launch(hs256, launchSecret, jwt.MapClaims{"mode": "admin"}), http.StatusUnauthorized},
		{"garbage", "not.a.jwt", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(http.MethodGet, "/api/v1/files", nil, bearerHdr(tc.token)...)
			wantStatus(t, w, tc.want)
			if tc.want != http.StatusOK {
				if msg := decodeJSON[map[string]string](t, w)["error"]; msg == "" {
					t.Errorf("no error message: %s", w.Body.String())
				}
			}
		})
	}
	t.Run("query parameter is for pages only", func(t *testing.T) {
		w := e.do(http.MethodGet, "/api/v1/files?launch="+e.launch(hs256, launchSecret, nil), nil)
		wantStatus(t, w, http.StatusUnauthorized)
	})
}

func TestUpload(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		body   string
		claims jwt.MapClaims
		want   int
	}{
		{"ok", "name=new.docx", "content", nil, http.StatusCreated},
		{"into a folder", "name=new.docx&folder=FOLDER", "content", nil, http.StatusCreated},
		{"no name", "", "content", nil, http.StatusBadRequest},
		{"traversal", "name=" + url.QueryEscape("../../escape.docx"), "content", nil, http.StatusBadRequest},
		{"absolute", "name=" + url.QueryEscape("/tmp/escape.docx"), "content", nil, http.StatusBadRequest},
		{"NUL", "name=" + url.QueryEscape("a\x00.docx"), "content", nil, http.StatusBadRequest},
		{"dot dot", "name=..", "content", nil, http.StatusBadRequest},
		{"exists", "name=taken.docx", "content", nil, http.StatusConflict},
		{"too large", "name=big.docx", strings.Repeat("x", 65), nil, http.StatusRequestEntityTooLarge},
		{"unknown folder", "name=new.docx&folder=nope", "content", nil, http.StatusNotFound},
		{"view token", "name=new.docx", "content", jwt.MapClaims{"mode": "view"}, http.StatusForbidden},
		{"file token", "name=new.docx", "content", jwt.MapClaims{"file": "x"}, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withLaunchSecret, func(o *Options) { o.MaxFileSize = 64 })
			if _, err := e.store.Create(t.Context(), e.root.ID, "taken.docx", strings.NewReader("keep"), false, 0); err != nil {
				t.Fatal(err)
			}
			before := e.names(e.root.ID)
			q := strings.ReplaceAll(tc.query, "FOLDER", e.folder.ID)
			w := e.do(http.MethodPost, "/api/v1/files?"+q, strings.NewReader(tc.body), bearerHdr(e.launch(jwt.SigningMethodHS256, launchSecret, tc.claims))...)
			wantStatus(t, w, tc.want)
			if tc.want != http.StatusCreated {
				if got := e.names(e.root.ID); !slices.Equal(got, before) {
					t.Errorf("root changed: %q → %q", before, got)
				}
				if got := decodeJSON[map[string]string](t, w)["error"]; got == "" {
					t.Errorf("no error message")
				}
				return
			}
			f := decodeJSON[fileJSON](t, w)
			if f.Name != "new.docx" || f.Size != int64(len(tc.body)) || f.ID == "" || f.Version == "" {
				t.Errorf("reply = %+v", f)
			}
			if e.content(f.ID) != tc.body {
				t.Errorf("content = %q", e.content(f.ID))
			}
			w = e.do(http.MethodGet, "/api/v1/files/"+f.ID, nil, bearerHdr(e.launch(jwt.SigningMethodHS256, launchSecret, nil))...)
			wantStatus(t, w, http.StatusOK)
			if got := decodeJSON[fileJSON](t, w); got != f {
				t.Errorf("describe = %+v, want %+v", got, f)
			}
		})
	}
}

func TestListAndDescribe(t *testing.T) {
	e := newEnv(t, withLaunchSecret)
	tok := e.launch(jwt.SigningMethodHS256, launchSecret, nil)
	w := e.do(http.MethodGet, "/api/v1/files?folder="+e.folder.ID, nil, bearerHdr(tok)...)
	wantStatus(t, w, http.StatusOK)
	if got := decodeJSON[[]fileJSON](t, w); len(got) != 1 || got[0].ID != e.file.ID {
		t.Errorf("list = %+v", got)
	}
	w = e.do(http.MethodGet, "/api/v1/files", nil, bearerHdr(tok)...)
	if got := w.Body.String(); strings.TrimSpace(got) != "[]" {
		t.Errorf("root list = %s", got)
	}
	one := e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"file": e.file.ID})
	w = e.do(http.MethodGet, "/api/v1/files", nil, bearerHdr(one)...)
	if got := decodeJSON[[]fileJSON](t, w); len(got) != 1 || got[0].ID != e.file.ID {
		t.Errorf("list with file claim = %+v", got)
	}
	wantStatus(t, e.do(http.MethodGet, "/api/v1/files/"+e.file.ID, nil, bearerHdr(one)...), http.StatusOK)
	wantStatus(t, e.do(http.MethodGet, "/api/v1/files/other", nil, bearerHdr(one)...), http.StatusForbidden)
	wantStatus(t, e.do(http.MethodGet, "/api/v1/files/nope", nil, bearerHdr(tok)...), http.StatusNotFound)
}

func TestWOPISession(t *testing.T) {
	e := newEnv(t, withLaunchSecret, withDS(newFakeDS(t), config.ProofOff))
	hs := jwt.SigningMethodHS256
	tests := []struct {
		name     string
		query    string
		claims   jwt.MapClaims
		want     int
		wantMode string
	}{
		{"file claim", "", jwt.MapClaims{"file": "FILE"}, 200, modeEdit},
		{"file param", "?file=FILE", nil, 200, modeEdit},
		{"view action", "?file=FILE&action=view", nil, 200, modeView},
		{"view token defaults to view", "?file=FILE", jwt.MapClaims{"mode": "view"}, 200, modeView},
		{"view token asks edit", "?file=FILE&action=edit", jwt.MapClaims{"mode": "view"}, 403, ""},
		{"convert needs edit", "?file=FILE&action=convert", jwt.MapClaims{"mode": "view"}, 403, ""},
		{"other file than the claim", "?file=other", jwt.MapClaims{"file": "FILE"}, 403, ""},
		{"no file", "", nil, 400, ""},
		{"unknown action", "?file=FILE&action=print", nil, 400, ""},
		{"unknown file", "?file=nope", nil, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims := jwt.MapClaims{}
			for k, v := range tc.claims {
				if v == "FILE" {
					v = e.file.ID
				}
				claims[k] = v
			}
			q := strings.ReplaceAll(tc.query, "FILE", e.file.ID)
			w := e.do(http.MethodPost, "/api/v1/wopi/session"+q, nil, bearerHdr(e.launch(hs, launchSecret, claims))...)
			wantStatus(t, w, tc.want)
			if tc.want != http.StatusOK {
				return
			}
			s := decodeJSON[sessionJSON](t, w)
			if s.WopiSrc != testPublic+"/wopi/files/"+e.file.ID {
				t.Errorf("wopiSrc = %q", s.WopiSrc)
			}
			if s.AccessTokenTTL != e.clock.Now().Add(time.Hour).UnixMilli() {
				t.Errorf("accessTokenTtl = %d", s.AccessTokenTTL)
			}
			tok, err := e.srv.tokens.verify(s.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			wantTree := e.folder.ID
			if tc.claims["file"] != nil {
				wantTree = "" // a launch limited to the file reaches no folder
			}
			if tok.Mode != tc.wantMode || tok.User != "u-1" || tok.Name != "Ada" || tok.File != e.file.ID || tok.Tree != wantTree {
				t.Errorf("token = %+v", tok)
			}
			wantStatus(t, e.wopi(http.MethodGet, e.filePath(e.file.ID), s.AccessToken, nil), http.StatusOK)
		})
	}
}

func TestDemoMode(t *testing.T) {
	e := newEnv(t, withDS(newFakeDS(t), config.ProofOff))
	w := e.do(http.MethodPost, "/api/v1/wopi/session?file="+e.file.ID, nil)
	wantStatus(t, w, http.StatusOK)
	tok, err := e.srv.tokens.verify(decodeJSON[sessionJSON](t, w).AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if tok.User != demoUser || tok.Name != demoUserName || tok.Mode != modeEdit {
		t.Errorf("demo token = %+v", tok)
	}
}
