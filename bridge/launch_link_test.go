package bridge

import (
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"

	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// L7: a launch token for an upstream holds the upstream's access token; pages never
// carry it: the first hit exchanges it for a bridge link, and the pages' own links
// (compare, its back and swap links, the editors) carry that link.
func TestUpstreamLaunchTokenExchangedForLink(t *testing.T) {
	e := newUpstreamEnv(t)
	f := e.addFile("a.docx", "A", "alice", true)
	launch := e.launchFor("alice", f, nil)
	_, s := e.session(launch, "")
	tok, _ := e.srv.tokens.verify(s.AccessToken)
	id := tok.File

	follow := func(target string) (string, string) {
		t.Helper()
		w := e.do(http.MethodGet, target, nil)
		if w.Code != http.StatusSeeOther {
			t.Fatalf("GET %s: %d, want a redirect without the launch token", strings.Split(target, "?")[0], w.Code)
		}
		loc := w.Header().Get("Location")
		u, _ := url.Parse(loc)
		if u.Query().Has("launch") || u.Query().Get("link") == "" || strings.Contains(loc, f.token) {
			t.Fatalf("redirected to %q", loc)
		}
		w = e.do(http.MethodGet, loc, nil)
		wantStatus(t, w, http.StatusOK)
		if strings.Contains(w.Body.String(), launch) || strings.Contains(w.Body.String(), f.token) {
			t.Fatalf("the page %s carries the launch token or the upstream token", u.Path)
		}
		return loc, w.Body.String()
	}
	loc, _ := follow("/open/" + id + "?style=wopi&launch=" + url.QueryEscape(launch))
	if u, _ := url.Parse(loc); u.Path != "/open/"+id || u.Query().Get("style") != "wopi" {
		t.Errorf("open redirected to %q", loc)
	}
	_, page := follow("/compare/" + id + "?first=wopi&launch=" + url.QueryEscape(launch))
	var back, swap string
	for _, a := range tags(page, "a") {
		switch {
		case a.attrs["class"] == "swap":
			swap = a.attrs["href"]
		case strings.Contains(a.attrs["href"], testPublic+"/?") || a.attrs["href"] == testPublic+"/":
			back = a.attrs["href"]
		}
	}
	for what, href := range map[string]string{"back": back, "swap": swap} {
		u, err := url.Parse(href)
		if err != nil || href == "" || u.Query().Has("launch") || u.Query().Get("link") == "" {
			t.Fatalf("%s link %q: want a bridge link", what, href)
		}
		w := e.do(http.MethodGet, strings.TrimPrefix(href, testPublic), nil)
		wantStatus(t, w, http.StatusOK)
		if strings.Contains(w.Body.String(), launch) {
			t.Errorf("the %s page carries the launch token", what)
		}
	}
	if u, _ := url.Parse(swap); u.Query().Get("first") != "docs" {
		t.Errorf("swap link %q", swap)
	}

	// The launch token's file is the only one it opens.
	other := e.addFile("b.docx", "B", "alice", true)
	w := e.do(http.MethodGet, "/compare/"+id+"x?launch="+url.QueryEscape(e.launchFor("alice", other, nil)), nil)
	wantStatus(t, w, http.StatusForbidden)
}

// With an upstream storage the timeline page carries a bridge link, never the launch
// token; the events API its script calls takes that link, for that file only.
func TestUpstreamTimelineEventsTakeThePageLink(t *testing.T) {
	e := newUpstreamEnv(t)
	f := e.addFile("a.docx", "A", "alice", true)
	launch := e.launchFor("alice", f, nil)
	_, s := e.session(launch, "")
	tok, _ := e.srv.tokens.verify(s.AccessToken)
	id := tok.File

	w := e.do(http.MethodGet, "/files/"+id+"/timeline?launch="+url.QueryEscape(launch), nil)
	wantStatus(t, w, http.StatusSeeOther)
	w = e.do(http.MethodGet, w.Header().Get("Location"), nil)
	wantStatus(t, w, http.StatusOK)
	var events string
	for _, d := range tags(w.Body.String(), "div") {
		if d.attrs["id"] == "timeline" {
			events = d.attrs["data-events"]
		}
	}
	u, err := url.Parse(events)
	if err != nil || u.Query().Get("link") == "" || u.Query().Has("launch") {
		t.Fatalf("the page's events URL %q: want one with a bridge link", events)
	}
	w = e.do(http.MethodGet, strings.TrimPrefix(events, testPublic), nil)
	wantStatus(t, w, http.StatusOK)
	if !strings.Contains(w.Body.String(), `"file":"`+id+`"`) || strings.Contains(w.Body.String(), f.token) {
		t.Fatalf("events answer %s", w.Body.String())
	}

	// The link is for its file only, and a forged one opens nothing.
	other := e.addFile("b.docx", "B", "alice", true)
	_, s2 := e.session(e.launchFor("alice", other, nil), "")
	tok2, _ := e.srv.tokens.verify(s2.AccessToken)
	q := u.Query()
	w = e.do(http.MethodGet, "/api/v1/files/"+tok2.File+"/events?"+q.Encode(), nil)
	if w.Code != http.StatusForbidden && w.Code != http.StatusUnauthorized {
		t.Errorf("another file's events with this link: %d, want 401 or 403", w.Code)
	}
	q.Set("link", q.Get("link")+"x")
	w = e.do(http.MethodGet, "/api/v1/files/"+id+"/events?"+q.Encode(), nil)
	wantStatus(t, w, http.StatusUnauthorized)
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("refusal Content-Type %q, want JSON", ct)
	}
}

// A timeline stream on upstream storage looks for a new holder (a GetLock call to the
// host with the user's token) every 15 s, not every second as on local storage.
func TestUpstreamTimelineStreamSparesTheHost(t *testing.T) {
	if got := newUpstreamEnv(t).srv.holderPoll(); got != eventsHolderPollUpstream || got < 10*time.Second {
		t.Errorf("upstream holder poll every %v, want %v", got, eventsHolderPollUpstream)
	}
	if got := newEnv(t).srv.holderPoll(); got != eventsHolderPoll {
		t.Errorf("local holder poll every %v, want %v", got, eventsHolderPoll)
	}
}

// A Lock refused by an upstream host names the lock that holds the file: its timeline
// event describes that lock without asking the host for it a second time.
func TestUpstreamLockConflictAsksTheHostOnce(t *testing.T) {
	e := newUpstreamEnv(t)
	f := e.addFile("a.docx", "A", "alice", true)
	_, s := e.session(e.launchFor("alice", f, nil), "")
	tok, _ := e.srv.tokens.verify(s.AccessToken)
	path := e.filePath(tok.File)
	wantStatus(t, e.wopi(http.MethodPost, path, s.AccessToken, nil, "X-WOPI-Override", "LOCK", "X-WOPI-Lock", "first"), http.StatusOK)
	e.up.ResetRequests()
	w := e.wopi(http.MethodPost, path, s.AccessToken, nil, "X-WOPI-Override", "LOCK", "X-WOPI-Lock", "second")
	wantStatus(t, w, http.StatusConflict)
	if got := e.up.Requests(); len(got) != 1 || got[0].Op != wopitest.OpLock {
		t.Errorf("upstream requests for one refused Lock: %+v, want the Lock alone", got)
	}
}
