package bridge

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/config"
)

// createFile adds a file to the work folder.
func (e *testEnv) createFile(name, content string) string {
	e.t.Helper()
	f, err := e.store.Create(context.Background(), e.folder.ID, name, strings.NewReader(content), false, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return f.ID
}

func TestWOPISessionActionURL(t *testing.T) {
	e := newEnv(t, withLaunchSecret, withDS(newFakeDS(t), config.ProofOff))
	legacy := e.createFile("old.doc", "binary")
	unknown := e.createFile("notes.xyz", "?")
	sheet := e.createFile("sums.xlsx", "x")
	wordIcon := docsPublic + "/web-apps/apps/documenteditor/main/resources/img/favicon.ico"
	tests := []struct {
		name     string
		file     string
		action   string
		claims   jwt.MapClaims
		want     int
		wantURL  string // prefix of actionUrl
		wantMode string
		wantIcon string
		wantErr  string // in the error message
	}{
		{"docx default edit", e.file.ID, "", nil, 200, "/hosting/wopi/word/edit?", modeEdit, wordIcon, ""},
		{"docx view token default view", e.file.ID, "", jwt.MapClaims{"mode": "view"}, 200, "/hosting/wopi/word/view?", modeView, wordIcon, ""},
		{"docx view", e.file.ID, "view", nil, 200, "/hosting/wopi/word/view?", modeView, wordIcon, ""},
		{"docx embedview", e.file.ID, "embedview", nil, 200, "/hosting/wopi/word/view?embed=1&", modeView, wordIcon, ""},
		{"docx editnew", e.file.ID, "editnew", nil, 200, "/hosting/wopi/word/edit?", modeEdit, wordIcon, ""},
		{"xlsx edit", sheet, "edit", nil, 200, "/hosting/wopi/cell/edit?", modeEdit,
			docsPublic + "/web-apps/apps/spreadsheeteditor/main/resources/img/favicon.ico", ""},
		{"doc default is view", legacy, "", nil, 200, "/hosting/wopi/word/view?", modeView, wordIcon, ""},
		{"doc convert", legacy, "convert", nil, 200, "/hosting/wopi/convert-and-edit/doc/docx?", modeEdit, wordIcon, ""},
		{"doc edit", legacy, "edit", nil, 400, "", "", "", "action=convert"},
		{"docx convert", e.file.ID, "convert", nil, 400, "", "", "", "cannot convert .docx files: use action=view or action=embedview or action=edit or action=editnew"},
		{"unknown extension", unknown, "view", nil, 400, "", "", "", "cannot open .xyz files"},
		{"convert with a view token", legacy, "convert", jwt.MapClaims{"mode": "view"}, 403, "", "", "", "viewing only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims := jwt.MapClaims{"file": tc.file, "lang": "de-DE"}
			for k, v := range tc.claims {
				claims[k] = v
			}
			q := ""
			if tc.action != "" {
				q = "?action=" + tc.action
			}
			w := e.do(http.MethodPost, "/api/v1/wopi/session"+q, nil, bearerHdr(e.launch(jwt.SigningMethodHS256, launchSecret, claims))...)
			wantStatus(t, w, tc.want)
			if tc.want != http.StatusOK {
				if !strings.Contains(w.Body.String(), tc.wantErr) {
					t.Errorf("error %s does not say %q", w.Body.String(), tc.wantErr)
				}
				return
			}
			s := decodeJSON[sessionJSON](t, w)
			if !strings.HasPrefix(s.ActionURL, docsPublic+tc.wantURL) {
				t.Errorf("actionUrl = %q, want %s%s...", s.ActionURL, docsPublic, tc.wantURL)
			}
			if strings.ContainsAny(s.ActionURL, "<>") {
				t.Errorf("actionUrl keeps placeholders: %q", s.ActionURL)
			}
			for _, want := range []string{"rs=de-DE&", "ui=de-DE&", "WOPISrc=" + url.QueryEscape(testPublic+"/wopi/files/"+tc.file)} {
				if !strings.Contains(s.ActionURL, want) {
					t.Errorf("actionUrl %q lacks %q", s.ActionURL, want)
				}
			}
			if s.FavIconURL != tc.wantIcon {
				t.Errorf("favIconUrl = %q, want %q", s.FavIconURL, tc.wantIcon)
			}
			tok, err := e.srv.tokens.verify(s.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Mode != tc.wantMode || tok.File != tc.file {
				t.Errorf("token = %+v, want mode %s for %s", tok, tc.wantMode, tc.file)
			}
		})
	}
}

func TestWOPISessionWithoutLang(t *testing.T) {
	e := newEnv(t, withDS(newFakeDS(t), config.ProofOff))
	w := e.do(http.MethodPost, "/api/v1/wopi/session?file="+e.file.ID, nil)
	wantStatus(t, w, http.StatusOK)
	u := decodeJSON[sessionJSON](t, w).ActionURL
	want := docsPublic + "/hosting/wopi/word/edit?WOPISrc=" + url.QueryEscape(e.srv.wopiSrc(e.file.ID))
	if u != want {
		t.Errorf("actionUrl = %q, want %q", u, want)
	}
}

// Without a Document Server the launch API still hands out WOPI sessions, for other
// WOPI clients (a bridge in front of this one): no action URL, a working token.
func TestWOPISessionNoDocumentServer(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ query, mode string }{{"", modeEdit}, {"&action=edit", modeEdit}, {"&action=view", modeView}} {
		w := e.do(http.MethodPost, "/api/v1/wopi/session?file="+e.file.ID+tc.query, nil)
		wantStatus(t, w, http.StatusOK)
		s := decodeJSON[sessionJSON](t, w)
		if s.ActionURL != "" || s.FavIconURL != "" || s.WopiSrc != e.srv.wopiSrc(e.file.ID) {
			t.Errorf("session%s = %+v, want no action URL and the file's WOPISrc", tc.query, s)
		}
		tok, err := e.srv.tokens.verify(s.AccessToken)
		if err != nil || tok.Mode != tc.mode || tok.File != e.file.ID {
			t.Errorf("session%s token = %+v, %v; want mode %s", tc.query, tok, err, tc.mode)
		}
		wantStatus(t, e.wopi(http.MethodGet, e.filePath(e.file.ID), s.AccessToken, nil), http.StatusOK)
	}
	wantStatus(t, e.do(http.MethodPost, "/api/v1/wopi/session?file="+e.file.ID+"&action=print", nil), http.StatusBadRequest)
	// The host page needs DS's editor: 503 naming the setting.
	w := e.do(http.MethodGet, "/open/"+e.file.ID+"?style=wopi", nil)
	wantStatus(t, w, http.StatusServiceUnavailable)
	if !strings.Contains(w.Body.String(), "WOPIBRIDGE_DOCS_URL") {
		t.Errorf("host page body = %s", w.Body.String())
	}
}

func TestWOPISessionDiscoveryFailures(t *testing.T) {
	ds := newFakeDS(t)
	e := newEnv(t, withDS(ds, config.ProofOff))
	session := func() *httpResult {
		w := e.do(http.MethodPost, "/api/v1/wopi/session?file="+e.file.ID, nil)
		return &httpResult{w.Code, w.Body.String()}
	}

	ds.setStatus(http.StatusNotFound)
	if r := session(); r.code != http.StatusBadGateway || !strings.Contains(r.body, "WOPI is disabled") {
		t.Errorf("WOPI off in DS: %d %s", r.code, r.body)
	}
	ds.setStatus(0)
	e.clock.Add(time.Minute) // past the retry pause after a failed fetch
	if r := session(); r.code != http.StatusOK {
		t.Fatalf("DS up: %d %s", r.code, r.body)
	}
	// DS goes down and the cached copy expires: the last good copy is still served.
	ds.setStatus(http.StatusInternalServerError)
	e.clock.Add(2 * time.Hour)
	if r := session(); r.code != http.StatusOK {
		t.Errorf("DS down after a good fetch: %d %s", r.code, r.body)
	}
}

type httpResult struct {
	code int
	body string
}

func TestReadyzNeedsDiscovery(t *testing.T) {
	ds := newFakeDS(t)
	ds.setStatus(http.StatusBadGateway)
	e := newEnv(t, withDS(ds, config.ProofRequire))
	w := e.do(http.MethodGet, "/readyz", nil)
	wantStatus(t, w, http.StatusServiceUnavailable)
	if !strings.Contains(w.Body.String(), "discovery") {
		t.Errorf("readyz = %q", w.Body.String())
	}

	ds.setStatus(0)
	e.clock.Add(time.Minute)
	wantStatus(t, e.do(http.MethodGet, "/readyz", nil), http.StatusOK)

	// DS stops publishing keys: the last good ones are kept (requests signed with them
	// still work), and readyz says so.
	ds.setKeys(nil, nil)
	e.clock.Add(2 * time.Hour)
	w = e.do(http.MethodGet, "/readyz", nil)
	wantStatus(t, w, http.StatusOK)
	if !strings.Contains(w.Body.String(), "the last good ones are kept") || !strings.Contains(w.Body.String(), "no proof key") {
		t.Errorf("readyz = %q", w.Body.String())
	}

	// Proofs required, and DS never published keys: every WOPI request would fail.
	bare := newFakeDS(t)
	bare.setKeys(nil, nil)
	e = newEnv(t, withDS(bare, config.ProofRequire))
	w = e.do(http.MethodGet, "/readyz", nil)
	wantStatus(t, w, http.StatusServiceUnavailable)
	if !strings.Contains(w.Body.String(), "proof keys: failed") {
		t.Errorf("readyz = %q", w.Body.String())
	}
}

func TestReadyzWithoutDocumentServer(t *testing.T) {
	e := newEnv(t)
	wantStatus(t, e.do(http.MethodGet, "/readyz", nil), http.StatusOK)
}

func TestProofRequireNeedsDocumentServer(t *testing.T) {
	pub, _ := url.Parse(testPublic)
	e := newEnv(t)
	_, err := New(Options{PublicURL: pub, Storage: e.store, State: e.state, Proof: config.ProofRequire})
	if err == nil || !strings.Contains(err.Error(), "Proof require") {
		t.Errorf("New = %v", err)
	}
}
