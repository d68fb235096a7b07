package bridge

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// The index page (GET /[?folder=<id>][&launch=<token>]): the files of a folder with
// their size and version, links to open each in either integration style or both side
// by side, an upload form and "new blank document". Uploads and new documents go
// through the launch API (POST /api/v1/files) from a small script, with the page's
// launch token as the bearer; every link carries the launch token the page was opened
// with. In demo mode the page acts for the demo user.

// blankKinds are the formats "new blank document" offers. The new file is empty:
// ONLYOFFICE fills an empty file from its own blank template when it opens it in WOPI
// style (its PutFile before the lock), after which it opens in either style.
var blankKinds = []blankKind{
	{"docx", "Document (.docx)"},
	{"xlsx", "Spreadsheet (.xlsx)"},
	{"pptx", "Presentation (.pptx)"},
}

type blankKind struct{ Ext, Label string }

type indexFile struct {
	ID, Name        string
	Size            string
	Empty           bool
	Version         string // shortened for display
	FullVersion     string
	Modified        string
	Docs, WOPI      string // editor pages
	View            string // WOPI host page in view mode
	Compare         string
	Timeline        string
	CompareWOPIOpen bool // the compare page opens WOPI first (an empty file)
}

type indexFolder struct{ Name, URL string }

type indexData struct {
	Nonce      string // of the inline script (CSP)
	User       string
	Demo       bool
	Crumbs     []indexFolder // from the root to the folder shown
	Here       string        // the folder shown, "" for the root
	Folders    []indexFolder
	Files      []indexFile
	OneFile    bool   // the launch token names one file
	CanWrite   bool   // upload and new documents
	NoDocs     bool   // no Document Server configured
	Notice     string // a listing that could not be made
	FolderID   string
	APIURL     string // POST here to upload
	OpenURL    string // /open/ prefix, for the script
	Launch     string // the launch token, "" in demo mode
	BlankKinds []blankKind
}

// indexHandler serves GET /. Without a launch token (outside demo mode) it says how to
// get one, rather than the API's Authorization hint.
func (s *Server) indexHandler() http.Handler {
	page := s.page("Index", s.indexPage)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if link := r.URL.Query().Get("link"); link != "" && launchFrom(r, true) == "" {
			// A bridge link (an upstream file's launch, exchanged): the page of its file.
			ri := info(r.Context())
			ri.face, ri.op = facePage, "Index"
			u, err := s.links.user(link, linkClaims(link).File)
			if err == nil {
				err = pageLinkOnly(r)
			}
			if err == nil {
				err = s.indexPage(w, r.WithContext(storage.WithUser(r.Context(), u.Sub)), u)
			}
			if err != nil {
				s.pageError(w, r, err)
			}
			return
		}
		if !s.launch.demo() && launchFrom(r, true) == "" {
			ri := info(r.Context())
			ri.face, ri.op = facePage, "Index"
			s.pageError(w, r, userErr(errUnauthenticated, "this bridge needs a launch token: open it from the application that integrates it, or add ?launch=<token signed with WOPIBRIDGE_LAUNCH_SECRET> to the address"))
			return
		}
		page.ServeHTTP(w, r)
	})
}

func (s *Server) indexPage(w http.ResponseWriter, r *http.Request, u launchUser) error {
	launch := ""
	if !u.Demo {
		launch = launchFrom(r, true)
	}
	d := &indexData{
		User:       u.Name,
		Demo:       u.Demo,
		OneFile:    u.File != "",
		CanWrite:   u.File == "" && u.canWrite(),
		NoDocs:     s.discovery == nil && s.docs.publicURL == nil,
		APIURL:     s.public + "/api/v1/files",
		OpenURL:    s.public + "/open/",
		Launch:     launch,
		BlankKinds: blankKinds,
	}
	if d.User == "" {
		d.User = u.Sub
	}
	links := indexLinks{s: s, u: u, launch: launch}
	_, links.upstream = s.store.(storage.Registrar)
	files, err := s.indexFiles(r, u, d, links)
	if err != nil {
		return err
	}
	for _, f := range files {
		d.Files = append(d.Files, links.file(f))
	}
	d.Nonce = s.pageHeaders(w)
	return indexTmpl.Execute(w, d)
}

// indexFiles lists the files the page shows (the launch token's one file, or a folder's)
// and fills in the folder navigation.
func (s *Server) indexFiles(r *http.Request, u launchUser, d *indexData, links indexLinks) ([]storage.File, error) {
	ctx := r.Context()
	if u.File != "" {
		f, err := s.store.Stat(ctx, u.File)
		if err != nil {
			return nil, s.launchStorageError(err, u.File)
		}
		return []storage.File{f}, nil
	}
	root, err := s.store.Root(ctx)
	if errors.Is(err, storage.ErrUnsupported) {
		// An upstream WOPI host: files come one at a time, through launch tokens.
		d.Notice = "This storage does not list its files: open documents from the application that integrates it (its launch token names the file)."
		d.CanWrite = false
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d.FolderID = root.ID
	if id := r.URL.Query().Get("folder"); id != "" {
		d.FolderID = id
	}
	crumbs, err := s.crumbs(r, d.FolderID, root.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, userErr(storage.ErrNotFound, "no folder with id %q: it may have been deleted or renamed", d.FolderID)
	}
	if err != nil {
		return nil, err
	}
	for _, c := range crumbs {
		name := c.Name
		if c.ID == root.ID {
			name = "Documents"
		}
		d.Crumbs = append(d.Crumbs, indexFolder{Name: name, URL: links.folder(c.ID)})
	}
	if n := len(crumbs); n > 1 {
		d.Here = crumbs[n-1].Name
	}
	files, folders, err := s.store.List(ctx, d.FolderID)
	if err != nil {
		return nil, err
	}
	for _, f := range folders {
		d.Folders = append(d.Folders, indexFolder{Name: f.Name, URL: links.folder(f.ID)})
	}
	return files, nil
}

// indexLinks builds the links of the index page, with the page's credential.
type indexLinks struct {
	s        *Server
	u        launchUser
	launch   string // "" in demo mode
	upstream bool   // the storage is an upstream WOPI host
}

// withLaunch is a bridge URL with the launch token the page came with.
func (l indexLinks) withLaunch(p string, q url.Values) string {
	if l.launch != "" {
		q.Set("launch", l.launch)
	}
	if len(q) == 0 {
		return l.s.public + p
	}
	return l.s.public + p + "?" + q.Encode()
}

func (l indexLinks) folder(id string) string {
	return l.withLaunch("/", url.Values{"folder": {id}})
}

// open is an editor page of file id.
func (l indexLinks) open(id string, q url.Values) string {
	if l.upstream && !l.u.Demo {
		// A launch token for an upstream holds the upstream's access token: the editor
		// pages get a link of the bridge's own instead.
		q.Set("link", l.s.pageLink(l.u, id))
		return l.s.public + "/open/" + url.PathEscape(id) + "?" + q.Encode()
	}
	return l.withLaunch("/open/"+url.PathEscape(id), q)
}

// compare is the compare page of file id: like open, never with a launch token that
// holds an upstream's token.
func (l indexLinks) compare(id string, q url.Values) string {
	if l.upstream && !l.u.Demo {
		q.Set("link", l.s.pageLink(l.u, id))
		return l.s.public + "/compare/" + url.PathEscape(id) + "?" + q.Encode()
	}
	return l.withLaunch("/compare/"+url.PathEscape(id), q)
}

// timeline is the timeline page of file id: like compare, never with a launch token
// that holds an upstream's token.
func (l indexLinks) timeline(id string) string {
	p := "/files/" + url.PathEscape(id) + "/timeline"
	if l.upstream && !l.u.Demo {
		return l.s.public + p + "?" + url.Values{"link": {l.s.pageLink(l.u, id)}}.Encode()
	}
	return l.withLaunch(p, url.Values{})
}

// file is the row of a file.
func (l indexLinks) file(f storage.File) indexFile {
	row := indexFile{
		ID: f.ID, Name: f.Name, Size: humanSize(f.Size), Empty: f.Size == 0,
		Version: shortVersion(f.Version), FullVersion: f.Version,
		Docs:     l.open(f.ID, url.Values{"style": {"docs"}}),
		WOPI:     l.open(f.ID, url.Values{"style": {"wopi"}}),
		View:     l.open(f.ID, url.Values{"style": {"wopi"}, "action": {"view"}}),
		Compare:  l.compare(f.ID, url.Values{}),
		Timeline: l.timeline(f.ID),
	}
	if !f.ModTime.IsZero() {
		row.Modified = f.ModTime.UTC().Format("2006-01-02 15:04 UTC")
	}
	if row.Empty {
		// DS fills an empty file when it opens it in WOPI style: that style goes first.
		row.Compare = l.compare(f.ID, url.Values{"first": {"wopi"}})
		row.CompareWOPIOpen = true
	}
	return row
}

// crumbs are the folders from the root down to id.
func (s *Server) crumbs(r *http.Request, id, rootID string) ([]storage.Folder, error) {
	var out []storage.Folder
	for range maxDepth {
		f, err := s.store.Folder(r.Context(), id)
		if err != nil {
			return nil, err
		}
		out = append([]storage.Folder{f}, out...)
		if f.ID == rootID || f.ParentID == "" {
			return out, nil
		}
		id = f.ParentID
	}
	return out, nil
}

// humanSize renders a byte count for people.
func humanSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KB", "MB", "GB", "TB"}
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, units[i])
	}
	return fmt.Sprintf("%.0f %s", v, units[i])
}

// shortVersion keeps a version readable in a table; the page shows the full one on hover.
func shortVersion(v string) string {
	if len(v) <= 14 {
		return v
	}
	return v[:12] + "…"
}

// docIcons label a file's icon by its kind (docClass).
var docIcons = map[string]string{"word": "W", "cell": "X", "slide": "P", "pdf": "PDF", "other": "•"}

// docClass styles a file's icon by its kind.
func docClass(name string) string {
	switch strings.TrimPrefix(strings.ToLower(path.Ext(name)), ".") {
	case "docx", "doc", "odt", "rtf", "txt", "docm", "dotx":
		return "word"
	case "xlsx", "xls", "ods", "csv", "xlsm", "xltx":
		return "cell"
	case "pptx", "ppt", "odp", "pptm", "potx":
		return "slide"
	case "pdf", "djvu", "xps", "oxps":
		return "pdf"
	}
	return "other"
}

var indexTmpl = template.Must(template.New("index").Funcs(template.FuncMap{
	"docClass": docClass,
	"docIcon":  func(name string) string { return docIcons[docClass(name)] },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wopibridge: documents</title>
<style>
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#f6f7f9}
header{background:#fff;border-bottom:1px solid #dde1e6}
.bar{max-width:64rem;margin:0 auto;padding:.8rem 1.2rem;display:flex;align-items:center;gap:1rem}
.brand{font-weight:700;font-size:1.1rem;letter-spacing:.01em}
.brand span{color:#4a6ee0}
.user{margin-left:auto;color:#57606a;font-size:.9rem}
.tag{display:inline-block;margin-left:.4rem;padding:0 .45rem;border-radius:1rem;background:#fff4d6;color:#7a5a00;font-size:.75rem}
main{max-width:64rem;margin:1.4rem auto;padding:0 1.2rem}
nav.crumbs{font-size:.95rem;margin-bottom:.8rem;color:#57606a}
nav.crumbs a{color:#4a6ee0;text-decoration:none}
nav.crumbs a:hover{text-decoration:underline}
.card{background:#fff;border:1px solid #dde1e6;border-radius:8px;margin-bottom:1.2rem}
.card h2{font-size:1rem;margin:0;padding:.75rem 1rem;border-bottom:1px solid #eceff2}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.55rem 1rem;border-bottom:1px solid #eceff2;vertical-align:middle}
tr:last-child td{border-bottom:none}
th{font-size:.78rem;text-transform:uppercase;letter-spacing:.04em;color:#57606a;font-weight:600}
td.num{white-space:nowrap;color:#57606a;font-variant-numeric:tabular-nums}
td.name{font-weight:500;word-break:break-word}
td.name a{color:inherit;text-decoration:none}
code{font:.82rem ui-monospace,SFMono-Regular,Menlo,monospace;color:#57606a}
.icon{display:inline-block;width:1.6rem;height:1.6rem;margin-right:.55rem;border-radius:4px;vertical-align:middle;color:#fff;font-size:.62rem;font-weight:700;text-align:center;line-height:1.6rem}
.word{background:#446995}.cell{background:#40865c}.slide{background:#aa5252}.pdf{background:#b34a2e}.other{background:#8a8f98}.dir{background:#d9a93b}
.actions{white-space:nowrap;text-align:right}
.btn{display:inline-block;padding:.25rem .6rem;margin-left:.25rem;border:1px solid #c9d1d9;border-radius:6px;background:#fff;color:#1f2328;text-decoration:none;font-size:.85rem}
.btn:hover{background:#f3f4f6}
.btn.primary{background:#4a6ee0;border-color:#4a6ee0;color:#fff}
.btn.primary:hover{background:#3b5cc8}
.btn.off{color:#9aa1a9;border-style:dashed;cursor:help}
.empty{padding:1.2rem 1rem;color:#57606a}
.note{padding:.7rem 1rem;border-radius:8px;margin-bottom:1.2rem;background:#fff4d6;border:1px solid #f0d58a}
.tools{display:grid;grid-template-columns:1fr 1fr;gap:1.2rem;align-items:start}
.tools .card{margin:0}
form{padding:1rem;display:flex;flex-wrap:wrap;gap:.6rem;align-items:center}
input[type=text],select{padding:.35rem .5rem;border:1px solid #c9d1d9;border-radius:6px;font:inherit;min-width:0}
input[type=text]{flex:1 1 10rem}
input[type=file]{flex:1 1 12rem;font-size:.9rem}
button{padding:.4rem .9rem;border:1px solid #4a6ee0;border-radius:6px;background:#4a6ee0;color:#fff;font:inherit;cursor:pointer}
button:hover{background:#3b5cc8}
button:disabled{opacity:.6;cursor:wait}
.hint{margin:0;padding:0 1rem 1rem;color:#57606a;font-size:.85rem}
output{flex-basis:100%;font-size:.9rem}
output:empty{display:none}
output.error{color:#b42318}
@media (max-width:44rem){.tools{grid-template-columns:1fr}.hide-narrow{display:none}}
</style>
</head><body>
<header><div class="bar"><div class="brand">wopi<span>bridge</span></div>
<div class="user">{{.User}}{{if .Demo}}<span class="tag" title="no launch secret: every request acts for this user">demo mode</span>{{end}}</div></div></header>
<main>
{{if .NoDocs}}<div class="note" id="no-docs">No ONLYOFFICE Docs is configured: set <code>WOPIBRIDGE_DOCS_URL</code> (and <code>WOPIBRIDGE_DOCS_PUBLIC_URL</code> when browsers reach it elsewhere) to open documents.</div>
{{end}}{{if .Notice}}<div class="note">{{.Notice}}</div>
{{end}}{{if gt (len .Crumbs) 1}}<nav class="crumbs">{{range $i, $c := .Crumbs}}{{if $i}} / {{end}}<a href="{{$c.URL}}">{{$c.Name}}</a>{{end}}</nav>
{{end}}<section class="card">
<h2>{{if .OneFile}}Your document{{else}}Files{{with .Here}} in {{.}}{{end}}{{end}}</h2>
{{if or .Folders .Files}}<table id="files">
<thead><tr><th>Name</th><th>Size</th><th class="hide-narrow">Version</th><th class="hide-narrow">Modified</th><th class="actions">Open</th></tr></thead>
<tbody>
{{range .Folders}}<tr class="folder"><td class="name" colspan="4"><a href="{{.URL}}"><span class="icon dir" aria-hidden="true"></span>{{.Name}}</a></td><td class="actions"><a class="btn" href="{{.URL}}">Browse</a></td></tr>
{{end}}{{range .Files}}<tr class="file" data-id="{{.ID}}" data-name="{{.Name}}">
<td class="name"><span class="icon {{docClass .Name}}" aria-hidden="true">{{docIcon .Name}}</span>{{.Name}}</td>
<td class="num">{{.Size}}</td>
<td class="num hide-narrow"><code title="{{.FullVersion}}">{{.Version}}</code></td>
<td class="num hide-narrow">{{.Modified}}</td>
<td class="actions">{{if .Empty}}<span class="btn off" title="This file is empty: ONLYOFFICE fills it from its blank template when it first opens in WOPI style; after that it opens in the Docs API style too.">Docs API</span>{{else}}<a class="btn docs" href="{{.Docs}}" title="Docs API: api.js with a signed editor config">Docs API</a>{{end}}<a class="btn primary wopi" href="{{.WOPI}}" title="WOPI: the host page posts an access token to ONLYOFFICE's WOPI editor">WOPI</a><a class="btn view" href="{{.View}}" title="WOPI, read-only">View</a><a class="btn compare" href="{{.Compare}}" title="{{if .CompareWOPIOpen}}Both styles side by side, WOPI first (it fills the empty file){{else}}Both styles side by side: Docs API edits, WOPI shows the same file read-only{{end}}">Compare</a><a class="btn timeline" href="{{.Timeline}}" title="Timeline: who opened the file in either style, who held the lock, when each save reached storage">Timeline</a></td>
</tr>
{{end}}</tbody></table>
{{else}}<p class="empty">No documents here yet.{{if .CanWrite}} Upload one, or create a new blank document below.{{end}}</p>
{{end}}</section>
{{if .CanWrite}}<div class="tools">
<section class="card"><h2>Upload a document</h2>
<form id="upload" action="{{.APIURL}}" method="post">
<input type="file" name="file" required aria-label="document to upload">
<button type="submit">Upload</button>
<output id="upload-status" aria-live="polite"></output>
</form></section>
<section class="card"><h2>New blank document</h2>
<form id="new" action="{{.APIURL}}" method="post">
<input type="text" name="name" value="New document" aria-label="name" maxlength="200">
<select name="ext" aria-label="kind">{{range .BlankKinds}}<option value="{{.Ext}}">{{.Label}}</option>{{end}}</select>
<button type="submit">Create and open</button>
<output id="new-status" aria-live="polite"></output>
</form>
<p class="hint">A new document starts as an empty file and opens in WOPI style, where ONLYOFFICE fills it from its blank template; after that it opens in either style.</p></section>
</div>
<script nonce="{{.Nonce}}">
(function () {
  var api = {{.APIURL}}, openURL = {{.OpenURL}}, launch = {{.Launch}}, folder = {{.FolderID}};

  // create stores a new file through the launch API; it resolves to the file's JSON and
  // rejects with the API's own error message.
  function create(name, body) {
    var headers = {"X-Requested-With": "wopibridge"};
    if (launch) {
      headers["Authorization"] = "Bearer " + launch;
    }
    var url = api + "?name=" + encodeURIComponent(name) + (folder ? "&folder=" + encodeURIComponent(folder) : "");
    return fetch(url, {method: "POST", headers: headers, body: body, credentials: "omit"}).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (reply) {
        if (!resp.ok) {
          var err = new Error(reply.error || ("HTTP " + resp.status));
          err.status = resp.status;
          throw err;
        }
        return reply;
      });
    });
  }
  function status(el, text, isError) {
    el.textContent = text;
    el.className = isError ? "error" : "";
  }

  var upload = document.getElementById("upload");
  upload.addEventListener("submit", function (e) {
    e.preventDefault();
    var input = upload.elements.file, out = document.getElementById("upload-status");
    if (!input.files.length) {
      status(out, "Choose a file first.", true);
      return;
    }
    var file = input.files[0], button = upload.querySelector("button");
    button.disabled = true;
    status(out, "Uploading " + file.name + "…");
    create(file.name, file).then(function () {
      window.location.reload();
    }, function (err) {
      button.disabled = false;
      status(out, "Upload failed: " + err.message, true);
    });
  });

  var blank = document.getElementById("new");
  blank.addEventListener("submit", function (e) {
    e.preventDefault();
    var out = document.getElementById("new-status"), button = blank.querySelector("button");
    var ext = blank.elements.ext.value;
    var base = blank.elements.name.value.trim().replace(/\.(docx|xlsx|pptx)$/i, "") || "New document";
    button.disabled = true;
    status(out, "Creating…");
    // A taken name gets a number, as desktop applications do.
    function attempt(n) {
      var name = base + (n > 1 ? " (" + n + ")" : "") + "." + ext;
      return create(name, new Blob([])).catch(function (err) {
        if (err.status === 409 && n < 50) {
          return attempt(n + 1);
        }
        throw err;
      });
    }
    attempt(1).then(function (f) {
      window.location.assign(openURL + encodeURIComponent(f.id) + "?style=wopi" + (launch ? "&launch=" + encodeURIComponent(launch) : ""));
    }, function (err) {
      button.disabled = false;
      status(out, "Could not create the document: " + err.message, true);
    });
  });
})();
</script>
{{end}}</main>
</body></html>
`))
