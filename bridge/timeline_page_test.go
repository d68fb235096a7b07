package bridge

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/config"
)

func TestTimelinePage(t *testing.T) {
	e := newEnv(t, withLaunchSecret, withDS(newFakeDS(t), config.ProofOff))
	launch := e.launch(jwt.SigningMethodHS256, launchSecret, nil)
	w := e.do(http.MethodGet, "/files/"+e.file.ID+"/timeline?launch="+url.QueryEscape(launch), nil)
	wantStatus(t, w, http.StatusOK)
	page := w.Body.String()
	for k, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "Content-Type": "text/html; charset=utf-8"} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("CSP %q does not let the page's own script read the events API", csp)
	}
	divs := tags(page, "div")
	if len(divs) != 1 || divs[0].attrs["class"] != "wb-timeline" {
		t.Fatalf("timeline elements %+v", divs)
	}
	wantEvents := testPublic + "/api/v1/files/" + e.file.ID + "/events?" + url.Values{"launch": {launch}}.Encode()
	if got := divs[0].attrs["data-events"]; got != wantEvents {
		t.Errorf("data-events = %q, want %q", got, wantEvents)
	}
	if got := divs[0].attrs["data-file"]; got != e.file.ID {
		t.Errorf("data-file = %q", got)
	}
	scripts := tags(page, "script")
	if len(scripts) != 1 || scripts[0].attrs["src"] != testPublic+"/assets/timeline.js" {
		t.Errorf("scripts %+v: want only the timeline script", scripts)
	}
	if links := tags(page, "link"); len(links) != 1 || links[0].attrs["href"] != testPublic+"/assets/timeline.css" {
		t.Errorf("style sheets %+v", links)
	}
	hrefs := map[string]bool{}
	for _, a := range tags(page, "a") {
		hrefs[a.attrs["href"]] = true
	}
	for _, want := range []string{
		testPublic + "/?launch=" + url.QueryEscape(launch),
		testPublic + "/compare/" + e.file.ID + "?launch=" + url.QueryEscape(launch),
	} {
		if !hrefs[want] {
			t.Errorf("no link to %s in %v", want, hrefs)
		}
	}
	if !strings.Contains(page, "<h1>doc.docx</h1>") {
		t.Error("the page does not name the file")
	}

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, target string
			want         int
		}{
			{"no launch token", "/files/" + e.file.ID + "/timeline", http.StatusUnauthorized},
			{"no such file", "/files/nope/timeline?launch=" + url.QueryEscape(launch), http.StatusNotFound},
			{"a token for another file", "/files/" + e.file.ID + "/timeline?launch=" + url.QueryEscape(e.launch(jwt.SigningMethodHS256, launchSecret, jwt.MapClaims{"file": "another"})), http.StatusForbidden},
			{"a bad token", "/files/" + e.file.ID + "/timeline?launch=x" + url.QueryEscape(launch), http.StatusUnauthorized},
			{"a POST", "/files/" + e.file.ID + "/timeline?launch=" + url.QueryEscape(launch), http.StatusMethodNotAllowed},
		} {
			t.Run(tc.name, func(t *testing.T) {
				method := http.MethodGet
				if tc.want == http.StatusMethodNotAllowed {
					method = http.MethodPost
				}
				w := e.do(method, tc.target, nil)
				wantStatus(t, w, tc.want)
				if strings.Contains(w.Body.String(), "wb-timeline") {
					t.Error("an error answer drew the timeline")
				}
			})
		}
	})
}

// In demo mode the page acts for the demo user and its URLs carry no credential.
func TestTimelinePageDemoMode(t *testing.T) {
	e := newEnv(t)
	w := e.do(http.MethodGet, "/files/"+e.file.ID+"/timeline", nil)
	wantStatus(t, w, http.StatusOK)
	divs := tags(w.Body.String(), "div")
	if len(divs) != 1 || divs[0].attrs["data-events"] != testPublic+"/api/v1/files/"+e.file.ID+"/events" {
		t.Errorf("timeline elements %+v", divs)
	}
}

// The compare page mounts the same timeline script under its editors.
func TestComparePageTimeline(t *testing.T) {
	e := newEnv(t, withLaunchSecret, withDS(newFakeDS(t), config.ProofOff))
	launch := e.launch(jwt.SigningMethodHS256, launchSecret, nil)
	w := e.do(http.MethodGet, "/compare/"+e.file.ID+"?launch="+url.QueryEscape(launch), nil)
	wantStatus(t, w, http.StatusOK)
	page := w.Body.String()
	var timeline *tag
	for _, d := range tags(page, "div") {
		if d.attrs["id"] == "timeline" {
			timeline = &d
		}
	}
	if timeline == nil {
		t.Fatal("no timeline on the compare page")
	}
	wantEvents := testPublic + "/api/v1/files/" + e.file.ID + "/events?" + url.Values{"launch": {launch}}.Encode()
	if got := timeline.attrs["data-events"]; got != wantEvents || !strings.Contains(timeline.attrs["class"], "wb-timeline") {
		t.Errorf("timeline %+v, want data-events %q", timeline.attrs, wantEvents)
	}
	var src []string
	for _, s := range tags(page, "script") {
		if s.attrs["src"] != "" {
			src = append(src, s.attrs["src"])
		}
	}
	if len(src) != 1 || src[0] != testPublic+"/assets/timeline.js" {
		t.Errorf("scripts loaded %v, want the timeline script once", src)
	}
	link := ""
	for _, a := range tags(page, "a") {
		if a.attrs["class"] == "timeline-link" {
			link = a.attrs["href"]
		}
	}
	if want := testPublic + "/files/" + e.file.ID + "/timeline?launch=" + url.QueryEscape(launch); link != want {
		t.Errorf("timeline link %q, want %q", link, want)
	}
}

func TestAssets(t *testing.T) {
	e := newEnv(t)
	for name, ctype := range map[string]string{"timeline.js": "text/javascript; charset=utf-8", "timeline.css": "text/css; charset=utf-8"} {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile("assets/" + name)
			if err != nil {
				t.Fatal(err)
			}
			w := e.do(http.MethodGet, "/assets/"+name, nil)
			wantStatus(t, w, http.StatusOK)
			if w.Body.String() != string(want) {
				t.Errorf("served %d bytes, not the file's %d", w.Body.Len(), len(want))
			}
			etag := w.Header().Get("ETag")
			if got := w.Header().Get("Content-Type"); got != ctype || etag == "" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v", w.Header())
			}
			w = e.do(http.MethodGet, "/assets/"+name, nil, "If-None-Match", etag)
			wantStatus(t, w, http.StatusNotModified)
			if w.Body.Len() != 0 {
				t.Errorf("304 with a body of %d bytes", w.Body.Len())
			}
		})
	}
	for _, p := range []string{"/assets/nope.js", "/assets/", "/assets/timeline.js.map"} {
		if w := e.do(http.MethodGet, p, nil); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, w.Code)
		}
	}
}
