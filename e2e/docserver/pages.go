package docserver

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// handleWOPIEditor is POST /hosting/wopi/<documentType>/<view|edit>?…&wopisrc=…
// with the host page form (access_token, access_token_ttl,
// docs_api_config). DS answers with the editor page after CheckFileInfo
// and LOCK; the editor then connects and the file is fetched.
func (s *Server) handleWOPIEditor(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/hosting/wopi/"), "/")
	if r.Method != http.MethodPost || len(parts) != 2 || (parts[1] != "view" && parts[1] != "edit") {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	o := wopiOpen{docType: parts[0], mode: parts[1], query: map[string]string{}}
	for k, v := range r.URL.Query() {
		o.query[strings.ToLower(k)] = v[0]
	}
	o.wopiSrc = o.query["wopisrc"]
	if o.wopiSrc == "" {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	o.accessToken = r.PostForm.Get("access_token")
	o.ttl, _ = strconv.ParseInt(r.PostForm.Get("access_token_ttl"), 10, 64)
	if cfg := r.PostForm.Get("docs_api_config"); cfg != "" {
		json.Unmarshal([]byte(cfg), &o.docsAPIConfig)
	}
	prep, err := s.wopiPrepare(r.Context(), o)
	var params map[string]any
	usid := ""
	if err != nil {
		params = map[string]any{"key": nil, "fileInfo": map[string]any{}, "error": err.Error()}
	} else {
		params, usid = prep.render, prep.usid
		if s.abandonOpen() {
			s.log.add(Event{Time: s.now(), Type: Abandoned, Key: prep.key, Detail: prep.usid})
		} else {
			s.spawn(func() { s.wopiConnect(s.ctx, prep) })
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!DOCTYPE html><html><head><meta charset="utf-8"><title>ONLYOFFICE</title></head>`+
		`<body data-usid="%s"><div id="placeholder"></div><script>window.__wopiRenderParams = %s;</script></body></html>`,
		html.EscapeString(usid), strings.ReplaceAll(string(jsonCompact(params)), "</", `<\/`))
}

// WaitWOPISession waits until the editor of a page rendered by the WOPI
// editor route (its usid is the page's data-usid) has connected.
func (s *Server) WaitWOPISession(ctx context.Context, usid string) (*WOPISession, error) {
	if _, err := s.WaitFor(ctx, func(e Event) bool { return e.Type == Connected && e.Detail == usid }); err != nil {
		return nil, err
	}
	return s.WOPISession(usid), nil
}

// apiJS stands in for web-apps' api.js: DocsAPI.DocEditor keeps the config
// in window.__docsEditorConfig and reports it to the server so tests can
// see what a browser was given.
const apiJS = `(function (window, document) {
  var script = document.currentScript;
  var origin = script ? new URL(script.src, window.location.href).origin : "";
  window.DocsAPI = window.DocsAPI || {};
  window.DocsAPI.DocEditor = function (placeholderId, config) {
    window.__docsEditorConfig = config;
    try {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", origin + "/__test/editor-config", true);
      xhr.setRequestHeader("Content-Type", "text/plain;charset=UTF-8");
      xhr.send(JSON.stringify({placeholder: placeholderId, page: window.location.href, config: config}));
    } catch (e) {}
    var el = document.getElementById(placeholderId);
    if (el) {
      var frame = document.createElement("iframe");
      frame.name = "frameEditor";
      frame.setAttribute("data-docs-key", config && config.document ? config.document.key : "");
      frame.width = config && config.width || "100%";
      frame.height = config && config.height || "100%";
      el.parentNode.replaceChild(frame, el);
    }
    return {
      destroyEditor: function () {},
      refreshHistory: function () {},
      setHistoryData: function () {},
      requestClose: function () {}
    };
  };
  window.DocsAPI.DocEditor.version = function () { return "{{version}}"; };
})(window, document);
`

func (s *Server) handleAPIJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/javascript; charset=UTF-8")
	io.WriteString(w, strings.ReplaceAll(apiJS, "{{version}}", s.productVersion()))
}

// EditorConfigReport is what a page gave DocsAPI.DocEditor.
type EditorConfigReport struct {
	Placeholder string          `json:"placeholder"`
	Page        string          `json:"page"`
	Config      json.RawMessage `json:"config"`
}

// handleEditorConfig receives api.js's report (POST /__test/editor-config).
func (s *Server) handleEditorConfig(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	var rep EditorConfigReport
	if err := json.Unmarshal(body, &rep); err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	s.log.add(Event{Time: s.now(), Type: EditorConfig, Request: &RequestInfo{Method: r.Method, URL: rep.Page, Body: rep.Config},
		Detail: rep.Placeholder})
	w.WriteHeader(http.StatusNoContent)
}

// WaitEditorConfig waits for a page to hand api.js a config and returns it.
func (s *Server) WaitEditorConfig(ctx context.Context) (json.RawMessage, error) {
	e, err := s.WaitFor(ctx, func(e Event) bool { return e.Type == EditorConfig })
	if err != nil {
		return nil, err
	}
	return json.RawMessage(e.Request.Body), nil
}
