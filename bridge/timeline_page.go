package bridge

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/gorilla/mux"
)

// The timeline page (GET /files/{id}/timeline?launch=...) draws a file's events (package
// events) as a person reads them: one lane per integration style, lock spans as bars, saves
// as marks as wide as they took, refusals and conflicts in red, who holds the file now, and
// every event in a table below with its reason, holder and outcome. The drawing is made in
// the browser by assets/timeline.js from the events API and its live stream; the compare
// page mounts the same script under its two editors.

//go:embed assets/timeline.js assets/timeline.css
var assetFiles embed.FS

// asset is one static file of the pages, served from memory.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// assetTypes are the content types of the assets, by extension.
var assetTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

// loadAssets reads the embedded assets once.
func loadAssets() map[string]asset {
	out := map[string]asset{}
	entries, err := assetFiles.ReadDir("assets")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	for _, e := range entries {
		b, err := assetFiles.ReadFile("assets/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = asset{body: b, ctype: assetTypes[path.Ext(e.Name())], etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out
}

// assetsHandler serves GET /assets/{name}: the pages' scripts and styles, which hold no
// secret and are the same for everyone. They are revalidated by ETag, so that a new
// version of the bridge is picked up at once.
func (s *Server) assetsHandler() http.Handler {
	files := loadAssets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r.Context())
		ri.face, ri.op = facePage, "Asset"
		a, ok := files[mux.Vars(r)["name"]]
		if !ok {
			s.pageError(w, r, userErr(errNotFound, "no such asset: %s", r.URL.Path))
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}

// timelineAssets are the URLs of the timeline's script and style sheet.
func (s *Server) timelineAssets() (js, css string) {
	return s.public + "/assets/timeline.js", s.public + "/assets/timeline.css"
}

// eventsURL is the events API of file id with the page's credential, for the script
// (EventSource cannot send an Authorization header).
func (s *Server) eventsURL(r *http.Request, u launchUser, id string) string {
	u0 := s.public + "/api/v1/files/" + url.PathEscape(id) + "/events"
	if q := s.pageCredential(r, u, id); len(q) > 0 {
		u0 += "?" + q.Encode()
	}
	return u0
}

var timelinePageTmpl = template.Must(template.New("timeline").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}: timeline</title>
<link rel="stylesheet" href="{{.CSS}}">
<style>
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#f6f7f9}
header{display:flex;align-items:center;gap:1rem;padding:.6rem 1.2rem;background:#fff;border-bottom:1px solid #dde1e6}
header h1{margin:0;font-size:1.05rem;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
header a{color:#4a6ee0;text-decoration:none;white-space:nowrap}
header a:hover{text-decoration:underline}
header .sub{color:#57606a;font-size:.85rem;white-space:nowrap}
header .right{margin-left:auto;display:flex;gap:.8rem}
main{max-width:80rem;margin:1rem auto;padding:0 1.2rem}
</style>
</head><body>
<header>
<a href="{{.Index}}">&larr; Files</a>
<h1>{{.Title}}</h1>
<span class="sub">timeline of both integration styles</span>
<span class="right"><a href="{{.Compare}}">Compare side by side</a></span>
</header>
<main>
<div class="wb-timeline" id="timeline" data-events="{{.Events}}" data-file="{{.ID}}"></div>
</main>
<script src="{{.JS}}" nonce="{{.Nonce}}"></script>
</body></html>
`))

// timelinePage serves /files/{id}/timeline?launch=...: the file's timeline.
func (s *Server) timelinePage(w http.ResponseWriter, r *http.Request, u launchUser) error {
	id, f, err := s.pageFile(r, u)
	if err != nil {
		return err
	}
	cred := s.pageCredential(r, u, id)
	index, compare := s.public+"/", s.public+"/compare/"+url.PathEscape(id)
	if len(cred) > 0 {
		index += "?" + cred.Encode()
		compare += "?" + cred.Encode()
	}
	js, css := s.timelineAssets()
	nonce := s.pageHeaders(w)
	return timelinePageTmpl.Execute(w, struct {
		ID, Title, Events, Index, Compare, JS, CSS, Nonce string
	}{id, f.Name, s.eventsURL(r, u, id), index, compare, js, css, nonce})
}
