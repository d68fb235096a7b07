package bridge

import (
	"html/template"
	"net/http"
)

// The pages of the office-app entry point are the bridge's two editor pages, shown in
// the WOPI host's frame, with one addition: they relay what the editor says to the
// host's page (the messages WOPI defines, to PostMessageOrigin from the host's
// CheckFileInfo), so the host sees the app load and close, and pass the host's
// messages on to the editor.

// It shares the form and the editor frame of the bridge's own host page.
var appWOPIPageTmpl = template.Must(template.Must(hostPageTmpl.Clone()).New("app-wopi").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, maximum-scale=1, minimum-scale=1, user-scalable=no">
<title>{{.Title}}</title>
{{if .FavIcon}}<link rel="shortcut icon" href="{{.FavIcon}}">
{{end}}<style>
html,body{margin:0;padding:0;height:100%;overflow:hidden;-ms-content-zooming:none}
#office_frame{position:absolute;top:0;left:0;right:0;bottom:0;width:100%;height:100%;margin:0;border:none;display:block}
</style>
</head><body>
{{template "office_frame" .}}<script nonce="{{.Nonce}}">
(function () {
  var docsOrigin = {{.DocsOrigin}};
  var hostOrigin = {{.HostOrigin}};
  var frame = document.getElementById("office_frame");
  window.addEventListener("message", function (e) {
    if (e.origin === docsOrigin && e.source === frame.contentWindow) {
      // The editor speaks to its host: that is the WOPI host's page above this one.
      if (hostOrigin && window.parent !== window) {
        window.parent.postMessage(e.data, hostOrigin);
      }
    } else if (hostOrigin && e.origin === hostOrigin && e.source === window.parent) {
      frame.contentWindow.postMessage(e.data, docsOrigin);
    }
  }, false);
  document.getElementById("office_form").submit();
})();
</script>
</body></html>
`))

type appWOPIPageData struct {
	hostPageData
	HostOrigin string
}

// appWOPIPage shows the document in DS's WOPI editor, the bridge being its WOPI host.
func (s *Server) appWOPIPage(w http.ResponseWriter, r *http.Request, id, action string, u launchUser, hostOrigin, framers string) error {
	l, err := s.launchWOPI(r.Context(), id, action, u, true)
	if err != nil {
		return err
	}
	d := appWOPIPageData{hostPageData: newHostPageData(l, u.Lang), HostOrigin: hostOrigin}
	d.Nonce = s.pageHeadersFramedBy(w, framers)
	return appWOPIPageTmpl.Execute(w, d)
}

var appDocsPageTmpl = template.Must(template.New("app-docs").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, maximum-scale=1, minimum-scale=1, user-scalable=no">
<title>{{.Title}}</title>
<style>html,body{margin:0;padding:0;height:100%;overflow:hidden}#editor{height:100%}</style>
<script src="{{.APIJS}}"></script>
</head><body>
<div id="editor"></div>
<script nonce="{{.Nonce}}">
(function () {
  var config = {{.Config}};
  var hostOrigin = {{.HostOrigin}};
  // The WOPI host's page learns what a WOPI editor would tell it.
  function tellHost(id, values) {
    if (hostOrigin && window.parent !== window) {
      window.parent.postMessage(JSON.stringify({MessageId: id, SendTime: Date.now(), Values: values || {}}), hostOrigin);
    }
  }
  if (typeof DocsAPI === "undefined") {
    document.getElementById("editor").textContent = "ONLYOFFICE Docs could not be loaded from " + {{.APIJS}} + ": check WOPIBRIDGE_DOCS_PUBLIC_URL.";
    return;
  }
  config.events = config.events || {};
  config.events.onDocumentReady = function () {
    tellHost("App_LoadingStatus", {Status: "Document_Loaded", DocumentLoadedTime: Date.now()});
  };
  config.events.onDocumentStateChange = function (e) {
    if (e && e.data) {
      tellHost("Edit_Notification");
    }
  };
  if (hostOrigin) {
    config.events.onRequestClose = function () {
      tellHost("UI_Close");
    };
  }
  window.docEditor = new DocsAPI.DocEditor("editor", config);
})();
</script>
</body></html>
`))

// appDocsPage shows the document in DS's Docs API editor, with a config of the
// bridge's (its key, lock and saves are a Docs API session's).
func (s *Server) appDocsPage(w http.ResponseWriter, r *http.Request, id string, u launchUser, hostOrigin, framers string) error {
	apiJS, err := s.docs.apiJSURL()
	if err != nil {
		return err
	}
	cfg, err := s.editorConfig(r.Context(), id, u)
	if err != nil {
		return err
	}
	nonce := s.pageHeadersFramedBy(w, framers)
	return appDocsPageTmpl.Execute(w, struct {
		Nonce, Title, APIJS, HostOrigin string
		Config                          any
	}{nonce, cfg.Document.Title, apiJS, hostOrigin, cfg})
}
