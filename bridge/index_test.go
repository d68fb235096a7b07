package bridge

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/config"
)

// indexRows are the file rows of an index page: name -> the hrefs of its links by class.
func indexRows(t *testing.T, page string) map[string]map[string]string {
	t.Helper()
	rows := map[string]map[string]string{}
	for _, chunk := range strings.Split(page, `<tr class="file"`)[1:] {
		chunk, _, _ = strings.Cut(chunk, "</tr>")
		name := tags(`<tr`+chunk, "tr")[0].attrs["data-name"]
		links := map[string]string{}
		for _, a := range tags(chunk, "a") {
			cls := strings.Fields(a.attrs["class"])
			links[cls[len(cls)-1]] = a.attrs["href"]
		}
		rows[name] = links
	}
	return rows
}

func TestIndexDemoMode(t *testing.T) {
	e := newEnv(t, withDS(newFakeDS(t), config.ProofOff))
	ctx := context.Background()
	if _, err := e.store.Create(ctx, e.root.ID, "a&b report.docx", strings.NewReader("12345"), false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Create(ctx, e.root.ID, "blank.xlsx", strings.NewReader(""), false, 0); err != nil {
		t.Fatal(err)
	}
	w := e.do(http.MethodGet, "/", nil)
	wantStatus(t, w, http.StatusOK)
	page := w.Body.String()
	if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", w.Header())
	}
	for _, want := range []string{"demo mode", "Demo User", `id="upload"`, `id="new"`, "a&amp;b report.docx", "5 B", `value="xlsx"`} {
		if !strings.Contains(page, want) {
			t.Errorf("index page lacks %q", want)
		}
	}
	if strings.Contains(page, "No ONLYOFFICE Docs is configured") {
		t.Error("says no DS is configured, with one configured")
	}
	rows := indexRows(t, page)
	doc := rows["a&b report.docx"]
	if doc == nil {
		t.Fatalf("rows %v", rows)
	}
	id := e.idOf(t, e.root.ID, "a&b report.docx")
	for class, want := range map[string]string{
		"docs":     testPublic + "/open/" + id + "?style=docs",
		"wopi":     testPublic + "/open/" + id + "?style=wopi",
		"view":     testPublic + "/open/" + id + "?action=view&style=wopi",
		"compare":  testPublic + "/compare/" + id,
		"timeline": testPublic + "/files/" + id + "/timeline",
	} {
		if doc[class] != want {
			t.Errorf("%s link = %q, want %q (demo mode: no launch token)", class, doc[class], want)
		}
	}
	// An empty file opens in WOPI style first (DS fills it from its template).
	blank := rows["blank.xlsx"]
	if _, ok := blank["docs"]; ok {
		t.Error("an empty file offers the Docs API link")
	}
	if !strings.HasSuffix(blank["compare"], "?first=wopi") {
		t.Errorf("empty file compare link %q", blank["compare"])
	}
	// The folder "work" is listed and browsable.
	if !strings.Contains(page, `href="`+testPublic+`/?folder=`+e.folder.ID+`"`) {
		t.Error("no link to the work folder")
	}
	w = e.do(http.MethodGet, "/?folder="+e.folder.ID, nil)
	wantStatus(t, w, http.StatusOK)
	if rows := indexRows(t, w.Body.String()); rows["doc.docx"] == nil || len(rows) != 1 {
		t.Errorf("work folder rows %v", rows)
	}
	if !strings.Contains(w.Body.String(), "Files in work") {
		t.Error("no folder name in the work folder's page")
	}
	wantStatus(t, e.do(http.MethodGet, "/?folder=nope", nil), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodHead, "/", nil), http.StatusOK)
}

func TestIndexWithLaunchToken(t *testing.T) {
	e := newEnv(t, withLaunchSecret, withDS(newFakeDS(t), config.ProofOff))
	launch := e.launch(jwt.SigningMethodHS256, launchSecret, nil)

	t.Run("no token says how to get one", func(t *testing.T) {
		w := e.do(http.MethodGet, "/", nil)
		wantStatus(t, w, http.StatusUnauthorized)
		if !strings.Contains(w.Body.String(), "launch token") || !strings.Contains(w.Header().Get("Content-Type"), "text/html") {
			t.Errorf("%s", w.Body.String())
		}
	})
	t.Run("bad token", func(t *testing.T) {
		wantStatus(t, e.do(http.MethodGet, "/?launch=forged", nil), http.StatusUnauthorized)
	})
	t.Run("links carry the token", func(t *testing.T) {
		w := e.do(http.MethodGet, "/?folder="+e.folder.ID+"&launch="+url.QueryEscape(launch), nil)
		wantStatus(t, w, http.StatusOK)
		page := w.Body.String()
		rows := indexRows(t, page)
		for class, href := range rows["doc.docx"] {
			u, err := url.Parse(href)
			if err != nil || u.Query().Get("launch") != launch {
				t.Errorf("%s link %q has no launch token", class, href)
			}
		}
		if strings.Contains(page, "demo mode") || !strings.Contains(page, "Ada") {
			t.Error("user line")
		}
		// The upload script sends the token as a bearer.
		if !strings.Contains(page, `"Bearer "`) || !strings.Contains(page, `var api = "`+testPublic+`/api/v1/files"`) {
			t.Error("upload script")
		}
	})
	t.Run("one-file token", func(t *testing.T) {
		one := e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"file": e.file.ID})
		w := e.do(http.MethodGet, "/?launch="+url.QueryEscape(one), nil)
		wantStatus(t, w, http.StatusOK)
		if rows := indexRows(t, w.Body.String()); len(rows) != 1 || rows["doc.docx"] == nil {
			t.Errorf("rows %v", rows)
		}
		if strings.Contains(w.Body.String(), `id="upload"`) {
			t.Error("a one-file token is offered uploads")
		}
	})
	t.Run("view token", func(t *testing.T) {
		view := e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"mode": "view"})
		w := e.do(http.MethodGet, "/?launch="+url.QueryEscape(view), nil)
		wantStatus(t, w, http.StatusOK)
		if strings.Contains(w.Body.String(), `id="upload"`) || strings.Contains(w.Body.String(), `id="new"`) {
			t.Error("a view token is offered uploads")
		}
	})
}

func TestIndexWithoutDocumentServer(t *testing.T) {
	e := newEnv(t)
	w := e.do(http.MethodGet, "/", nil)
	wantStatus(t, w, http.StatusOK)
	if !strings.Contains(w.Body.String(), "WOPIBRIDGE_DOCS_URL") {
		t.Error("the index does not say that no DS is configured")
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KB", 150000: "146 KB", 3 << 20: "3.0 MB", 5 << 40: "5.0 TB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// idOf is the id of the file named name in a folder.
func (e *testEnv) idOf(t *testing.T, folderID, name string) string {
	t.Helper()
	files, _, err := e.store.List(context.Background(), folderID)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Name == name {
			return f.ID
		}
	}
	t.Fatalf("no %s", name)
	return ""
}

// With an upstream WOPI host the index shows the launch token's file, and its editor
// links carry a link of the bridge's own, never the upstream's access token.
func TestIndexUpstream(t *testing.T) {
	e := newUpstreamEnv(t)
	f := e.addFile("upstream.docx", "U", "alice", true)
	launch := e.launchFor("alice", f, nil)
	// The launch token holds the upstream's token: it is exchanged for a bridge link.
	w := e.do(http.MethodGet, "/?launch="+url.QueryEscape(launch), nil)
	wantStatus(t, w, http.StatusSeeOther)
	loc := w.Header().Get("Location")
	if strings.Contains(loc, "launch=") || !strings.Contains(loc, "link=") || strings.Contains(loc, f.token) {
		t.Fatalf("redirect to %q", loc)
	}
	w = e.do(http.MethodGet, loc, nil)
	wantStatus(t, w, http.StatusOK)
	page := w.Body.String()
	rows := indexRows(t, page)
	if len(rows) != 1 || rows["upstream.docx"] == nil {
		t.Fatalf("rows %v", rows)
	}
	for class, href := range rows["upstream.docx"] {
		u, _ := url.Parse(href)
		switch {
		case u.Query().Get("link") == "" || u.Query().Has("launch"):
			t.Errorf("%s link %q: want a link credential", class, href)
		}
	}
	if strings.Contains(page, `id="upload"`) {
		t.Error("uploads offered on an upstream")
	}
	if strings.Contains(page, f.token) || strings.Contains(page, launch) {
		t.Error("the upstream access token, or the launch token holding it, is on the page")
	}
	// A link opens the editor page.
	wantStatus(t, e.do(http.MethodGet, strings.TrimPrefix(rows["upstream.docx"]["wopi"], testPublic), nil), http.StatusOK)

	// Without a file in the launch token there is nothing to list.
	w = e.do(http.MethodGet, "/?launch="+url.QueryEscape(e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"sub": "alice"})), nil)
	wantStatus(t, w, http.StatusOK)
	if !strings.Contains(w.Body.String(), "does not list its files") {
		t.Errorf("page:\n%s", w.Body.String())
	}
}
