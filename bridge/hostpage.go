package bridge

import (
	"html/template"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// The WOPI host page, as ONLYOFFICE documents it: a form that POSTs access_token and
// access_token_ttl to the action URL into the editor iframe, submitted on load; the
// favicon from discovery; a viewport meta tag; and a PostMessage listener that accepts
// messages from the editor's origin only.

// editorSandbox and editorAllow are the iframe attributes ONLYOFFICE's host page uses.
const (
	editorSandbox = "allow-scripts allow-same-origin allow-forms allow-popups allow-top-navigation allow-popups-to-escape-sandbox allow-downloads allow-modals"
	editorAllow   = "autoplay camera microphone display-capture"
)

var hostPageTmpl = template.Must(template.New("wopi").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, maximum-scale=1, minimum-scale=1, user-scalable=no">
<title>{{.Title}}</title>
{{if .FavIcon}}<link rel="shortcut icon" href="{{.FavIcon}}">
{{end}}<style>
html,body{margin:0;padding:0;height:100%;overflow:hidden;-ms-content-zooming:none}
#office_frame{position:absolute;top:0;left:0;right:0;bottom:0;width:100%;height:100%;margin:0;border:none;display:block}
#notice{position:absolute;top:0;left:0;right:0;padding:2rem;font:1rem system-ui,sans-serif;background:#fff}
</style>
</head><body>
{{define "office_frame"}}<form id="office_form" name="office_form" target="office_frame" action="{{.ActionURL}}" method="post">
<input name="access_token" value="{{.AccessToken}}" type="hidden">
<input name="access_token_ttl" value="{{.AccessTokenTTL}}" type="hidden">
</form>
<iframe id="office_frame" name="office_frame" title="{{.Title}}" allowfullscreen="true" sandbox="{{.Sandbox}}" allow="{{.Allow}}"></iframe>
{{end}}{{template "office_frame" .}}<div id="notice" hidden></div>
<script nonce="{{.Nonce}}">
(function () {
  var docsOrigin = {{.DocsOrigin}};
  var editURL = {{.EditURL}};
  var frame = document.getElementById("office_frame");
  var notice = document.getElementById("notice");

  function post(id, values) {
    frame.contentWindow.postMessage(JSON.stringify({MessageId: id, SendTime: Date.now(), Values: values || {}}), docsOrigin);
  }
  // A page that embeds this one (the compare page, same origin) learns when the editor is up.
  function tellParent(what) {
    if (window.parent !== window) {
      window.parent.postMessage({wopibridge: what, style: "wopi"}, window.location.origin);
    }
  }
  function show(text) {
    notice.textContent = text;
    notice.hidden = false;
  }

  window.addEventListener("message", function (e) {
    if (e.origin !== docsOrigin || e.source !== frame.contentWindow) {
      return;
    }
    var msg = e.data;
    if (typeof msg === "string") {
      try { msg = JSON.parse(msg); } catch (err) { return; }
    }
    if (!msg || typeof msg.MessageId !== "string") {
      return;
    }
    var values = msg.Values || {};
    switch (msg.MessageId) {
    case "App_LoadingStatus":
      post("Host_PostmessageReady");
      tellParent("ready");
      break;
    case "UI_Close":
      frame.remove();
      show("The document was closed. Reload this page to open it again.");
      tellParent("closed");
      break;
    case "UI_Edit":
      if (editURL) {
        window.location.assign(editURL);
      }
      break;
    case "File_Rename":
      if (typeof values.NewName === "string" && values.NewName !== "") {
        document.title = values.NewName;
      }
      break;
    case "Edit_Notification":
      document.documentElement.setAttribute("data-edited", "true");
      break;
    }
  }, false);

  document.getElementById("office_form").submit();
})();
</script>
</body></html>
`))

type hostPageData struct {
	Lang, Title    string
	FavIcon        string
	ActionURL      string
	AccessToken    string
	AccessTokenTTL int64
	Sandbox, Allow string
	DocsOrigin     string
	EditURL        string // where UI_Edit goes; "" when the user may not edit
	Nonce          string // of the inline script (CSP)
}

// newHostPageData is what a WOPI host page shows of the launch l, in language lang.
func newHostPageData(l *wopiLaunch, lang string) hostPageData {
	d := hostPageData{
		Lang:           cleanLang(lang),
		Title:          l.file.Name,
		FavIcon:        l.favIcon,
		ActionURL:      l.actionURL,
		AccessToken:    l.token,
		AccessTokenTTL: l.tokenTTL,
		Sandbox:        editorSandbox,
		Allow:          editorAllow,
		DocsOrigin:     l.docsOrigin,
	}
	if d.Lang == "" {
		d.Lang = "en"
	}
	return d
}

// wopiHostPage serves /open/{id}?style=wopi[&action=...]: the WOPI host page of the file
// for the user of the launch token or link. "edit" of a format DS only converts runs
// convert-and-edit.
func (s *Server) wopiHostPage(w http.ResponseWriter, r *http.Request, id string, u launchUser) error {
	q := r.URL.Query()
	if u.Lang == "" {
		u.Lang = acceptLanguage(r.Header.Get("Accept-Language"))
	}
	l, err := s.launchWOPI(r.Context(), id, q.Get("action"), u, true)
	if err != nil {
		return err
	}
	d := newHostPageData(l, u.Lang)
	if !wopiActions[l.action] && l.user.canWrite() {
		e := url.Values{}
		for k, v := range q {
			e[k] = v
		}
		e.Set("action", "edit")
		d.EditURL = s.public + "/open/" + url.PathEscape(id) + "?" + e.Encode()
	}
	d.Nonce = s.pageHeaders(w)
	return hostPageTmpl.Execute(w, d)
}

var comparePageTmpl = template.Must(template.New("compare").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}: Docs API and WOPI side by side</title>
<link rel="stylesheet" href="{{.TimelineCSS}}">
<style>
html,body{margin:0;padding:0;height:100%;overflow:hidden;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328}
body{display:flex;flex-direction:column;background:#f6f7f9}
header{display:flex;align-items:center;gap:.9rem;padding:.45rem .9rem;background:#fff;border-bottom:1px solid #dde1e6}
header h1{margin:0;font-size:1rem;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
header .sub{color:#57606a;font-size:.85rem;white-space:nowrap}
header a{color:#4a6ee0;text-decoration:none;white-space:nowrap}
header a:hover{text-decoration:underline}
header .swap{margin-left:auto;padding:.2rem .6rem;border:1px solid #c9d1d9;border-radius:6px;color:#1f2328;font-size:.85rem}
header .swap:hover{background:#f3f4f6;text-decoration:none}
main{flex:1;display:flex;min-height:0;gap:6px;padding:6px}
section{flex:1;display:flex;flex-direction:column;min-width:0;background:#fff;border:1px solid #dde1e6;border-radius:6px;overflow:hidden;position:relative}
h2{display:flex;align-items:center;gap:.6rem;margin:0;padding:.4rem .7rem;font-size:.9rem;font-weight:600;border-bottom:1px solid #eceff2}
h2 small{font-weight:400;color:#57606a;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.chip{padding:.05rem .55rem;border-radius:1rem;font-size:.8rem;color:#fff;background:#4a6ee0}
.chip.second{background:#8a8f98}
.chip.second.open{background:#40865c}
iframe{flex:1;width:100%;border:none}
.wait{position:absolute;top:2.3rem;left:0;right:0;bottom:0;display:flex;flex-direction:column;align-items:center;justify-content:center;gap:.8rem;color:#57606a;background:#fff}
.spinner{width:1.6rem;height:1.6rem;border:3px solid #dde1e6;border-top-color:#4a6ee0;border-radius:50%;animation:spin 1s linear infinite}
@keyframes spin{to{transform:rotate(360deg)}}
#timeline-band{flex:0 0 36%;min-height:11rem;overflow:auto;padding:6px 6px 8px;border-top:1px solid #dde1e6;background:#f6f7f9}
@media (max-width:50rem){main{flex-direction:column}header .sub{display:none}}
</style>
</head><body>
<header>
<a href="{{.Index}}" target="_top">&larr; Files</a>
<h1>{{.Title}}</h1>
<span class="sub">Docs API and WOPI side by side, on the same file</span>
<a class="timeline-link" href="{{.Timeline}}" target="_top">Timeline</a>
<a class="swap" href="{{.Swap}}" target="_top" title="Reload with the {{.Second.Label}} editor opening first and holding the lock">Open {{.Second.Label}} first</a>
</header>
<main>
<section><h2><span class="chip first">{{.First.Label}}</span><small>opens first and takes the lock</small></h2>
<iframe id="first" name="first" title="{{.Title}} ({{.First.Label}})" src="{{.First.URL}}" allowfullscreen="true" allow="{{.Allow}}; fullscreen"></iframe></section>
<section><h2><span class="chip second" id="second-chip">{{.Second.Label}}</span><small id="second-state">opens when the {{.First.Label}} editor is ready; read-only while it holds the lock</small></h2>
<div class="wait" id="second-wait"><div class="spinner"></div>Waiting for the {{.First.Label}} editor to open&hellip;</div>
<iframe id="second" name="second" title="{{.Title}} ({{.Second.Label}})" data-src="{{.Second.URL}}" allowfullscreen="true" allow="{{.Allow}}; fullscreen"></iframe></section>
</main>
<div id="timeline-band"><div class="wb-timeline wb-compact" id="timeline" data-events="{{.Events}}" data-file="{{.ID}}"></div></div>
<script src="{{.TimelineJS}}" nonce="{{.Nonce}}"></script>
<script nonce="{{.Nonce}}">
(function () {
  // The second editor opens once the first holds the lock, so that it opens read-only
  // instead of racing the first for the lock.
  var second = document.getElementById("second");
  var started = false;
  function start() {
    if (started) {
      return;
    }
    started = true;
    document.getElementById("second-wait").remove();
    document.getElementById("second-chip").className += " open";
    document.getElementById("second-state").textContent = "read-only while the " + {{.First.Label}} + " editor holds the lock";
    second.src = second.getAttribute("data-src");
  }
  window.addEventListener("message", function (e) {
    if (e.origin !== window.location.origin || !e.data || e.data.wopibridge !== "ready") {
      return;
    }
    if (e.source === document.getElementById("first").contentWindow) {
      start();
    }
  }, false);
  setTimeout(start, {{.FallbackMillis}});
})();
</script>
</body></html>
`))

type comparePane struct {
	Label string
	URL   string
}

// pageFile is the file of a page that only page links open (compare, timeline): its
// id from the path, which the launch token must be for, and what storage says of it.
func (s *Server) pageFile(r *http.Request, u launchUser) (string, storage.File, error) {
	id := mux.Vars(r)["id"]
	info(r.Context()).fileID = id
	if u.File != "" && u.File != id {
		return id, storage.File{}, userErr(errForbidden, "this launch token is for another file")
	}
	if err := pageLinkOnly(r); err != nil {
		return id, storage.File{}, err
	}
	f, err := s.store.Stat(r.Context(), id)
	if err != nil {
		return id, f, s.launchStorageError(err, id)
	}
	return id, f, nil
}

// compareFallbackMillis is when the second editor opens even if the first never said it is
// ready (an error page, a slow Document Server).
const compareFallbackMillis = 20000

// comparePage serves /compare/{id}?launch=...[&first=docs|wopi]: the file in both
// integration styles side by side, the first editing and the second read-only while
// the first holds the lock.
func (s *Server) comparePage(w http.ResponseWriter, r *http.Request, u launchUser) error {
	id, f, err := s.pageFile(r, u)
	if err != nil {
		return err
	}
	_, upstream := s.store.(storage.Registrar)
	pane := func(style, label string) comparePane {
		q := url.Values{"style": {style}}
		switch launch := launchFrom(r, true); {
		case u.Demo:
		case upstream:
			// A launch token for an upstream holds the upstream's access token: the
			// editor pages get a link of the bridge's own instead.
			q.Set("link", s.pageLink(u, id))
		case launch != "":
			q.Set("launch", launch)
		}
		return comparePane{Label: label, URL: s.public + "/open/" + url.PathEscape(id) + "?" + q.Encode()}
	}
	docs, wopi := pane("docs", "Docs API"), pane("wopi", "WOPI")
	first, second := docs, wopi
	switch v := r.URL.Query().Get("first"); v {
	case "", "docs":
	case "wopi":
		first, second = wopi, docs
	default:
		return userErr(errBadRequest, "first=%q: use first=docs or first=wopi", v)
	}
	// The index and the swapped compare page take the launch token the page came with.
	back, swap := url.Values{}, url.Values{"first": {"wopi"}}
	if first == wopi {
		swap.Set("first", "docs")
	}
	for k, v := range s.pageCredential(r, u, id) {
		back[k], swap[k] = v, v
	}
	index := s.public + "/"
	if len(back) > 0 {
		index += "?" + back.Encode()
	}
	timeline := s.public + "/files/" + url.PathEscape(id) + "/timeline"
	if len(back) > 0 {
		timeline += "?" + back.Encode()
	}
	js, css := s.timelineAssets()
	nonce := s.pageHeaders(w)
	return comparePageTmpl.Execute(w, struct {
		Nonce          string
		ID, Title      string
		First, Second  comparePane
		Index, Swap    string
		Allow          string
		FallbackMillis int
		Timeline       string
		Events         string
		TimelineJS     string
		TimelineCSS    string
	}{nonce, id, f.Name, first, second, index, s.public + "/compare/" + url.PathEscape(id) + "?" + swap.Encode(), editorAllow, compareFallbackMillis,
		timeline, s.eventsURL(r, u, id), js, css})
}
