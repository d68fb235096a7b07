package bridge

import (
	"html/template"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// page is the adapter of browser pages: launch token from ?launch= (or Authorization),
// and errors rendered as a readable HTML page.
func (s *Server) page(op string, fn func(w http.ResponseWriter, r *http.Request, u launchUser) error) http.Handler {
	return s.pageWith(op, false, fn)
}

// linkPage is page that also accepts a host page link (?link=, see hostlink.go) for the
// file of the path, in place of a launch token.
func (s *Server) linkPage(op string, fn func(w http.ResponseWriter, r *http.Request, u launchUser) error) http.Handler {
	return s.pageWith(op, true, fn)
}

func (s *Server) pageWith(op string, links bool, fn func(w http.ResponseWriter, r *http.Request, u launchUser) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r.Context())
		ri.face, ri.op = facePage, op
		var u launchUser
		var err error
		if link := r.URL.Query().Get("link"); links && link != "" {
			u, err = s.links.user(link, mux.Vars(r)["id"])
		} else if u, err = s.launch.user(launchFrom(r, true)); err == nil {
			u, err = s.resolveLaunch(r.Context(), u)
		}
		if err == nil {
			// The storage acts for the page's user (an upstream WOPI host: with their token).
			r = r.WithContext(storage.WithUser(r.Context(), u.Sub))
			err = fn(w, r, u)
		}
		if err != nil {
			s.pageError(w, r, err)
		}
	})
}

var errorPage = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>wopibridge: {{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}h1{font-size:1.3rem}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Message}}</p></body></html>
`))

func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	info(r.Context()).err = err
	if headerWritten(w) {
		return
	}
	status := statusOf(err)
	s.pageHeaders(w)
	w.WriteHeader(status)
	_ = errorPage.Execute(w, struct{ Title, Message string }{http.StatusText(status), publicMessage(err)})
}

// openPage serves GET /open/{id}?style=docs|wopi&launch=...: the editor page of a file
// in either integration style.
func (s *Server) openPage(w http.ResponseWriter, r *http.Request, u launchUser) error {
	id := mux.Vars(r)["id"]
	info(r.Context()).fileID = id
	if u.File != "" && u.File != id {
		return userErr(errForbidden, "this launch token is for another file")
	}
	switch style := r.URL.Query().Get("style"); style {
	case "", "docs":
		return s.docsPage(w, r, id, u)
	case "wopi":
		return s.wopiHostPage(w, r, id, u)
	default:
		return userErr(errBadRequest, "unknown style %q: use style=docs (Docs API) or style=wopi", style)
	}
}

var docsPageTmpl = template.Must(template.New("docs").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, maximum-scale=1, minimum-scale=1, user-scalable=no">
<title>{{.Title}}</title>
<style>html,body{margin:0;padding:0;height:100%;overflow:hidden}#editor{height:100%}</style>
<script src="{{.APIJS}}" nonce="{{.Nonce}}"></script>
</head><body>
<div id="editor"></div>
<script nonce="{{.Nonce}}">
(function () {
  var config = {{.Config}};
  if (typeof DocsAPI === "undefined") {
    document.getElementById("editor").textContent = "ONLYOFFICE Docs could not be loaded from " + {{.APIJS}} + ": check WOPIBRIDGE_DOCS_PUBLIC_URL.";
    return;
  }
  // A page that embeds this one (the compare page, same origin) learns when the editor is up.
  config.events = config.events || {};
  config.events.onDocumentReady = function () {
    if (window.parent !== window) {
      window.parent.postMessage({wopibridge: "ready", style: "docs"}, window.location.origin);
    }
  };
  window.docEditor = new DocsAPI.DocEditor("editor", config);
})();
</script>
</body></html>
`))

// docsPage is the Docs API editor page: api.js from DS's public URL, and the signed
// config handed to DocsAPI.DocEditor.
func (s *Server) docsPage(w http.ResponseWriter, r *http.Request, id string, u launchUser) error {
	apiJS, err := s.docs.apiJSURL()
	if err != nil {
		return err
	}
	cfg, err := s.editorConfig(r.Context(), id, u)
	if err != nil {
		return err
	}
	nonce := s.pageHeaders(w)
	return docsPageTmpl.Execute(w, struct {
		Title, APIJS, Nonce string
		Config              any
	}{cfg.Document.Title, apiJS, nonce, cfg})
}
