package bridge

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/docsapi"
	"github.com/wopibridge/wopibridge/wopiclient"
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// The rows of ../shared/reference/real-hosts.md, each against the wopitest profile of
// the hosts that behave so (and the documented host, which must keep working).

// hostSession is alice's WOPI edit session through the bridge on a new upstream file.
type hostSession struct {
	f    upFile
	id   string // the bridge's file id
	path string // the bridge's WOPISrc path
	tok  string // the bridge's access token
}

func (e *upstreamEnv) hostSession(name string, content []byte) hostSession {
	e.t.Helper()
	id, src := e.up.AddFile(name, content)
	tok := e.up.Token(id, "alice", true)
	f := upFile{id: id, src: src, token: tok, ttl: e.up.TokenTTL(tok)}
	r, s := e.session(e.launchFor("alice", f, nil), "?action=edit")
	if r.code != http.StatusOK {
		e.t.Fatalf("session on %s: %d %s", e.up.Profile().Name, r.code, r.body)
	}
	at, err := e.srv.tokens.verify(s.AccessToken)
	if err != nil {
		e.t.Fatal(err)
	}
	return hostSession{f: f, id: at.File, path: e.filePath(at.File), tok: s.AccessToken}
}

// cfi is the bridge's CheckFileInfo for the session, as sent.
func (e *upstreamEnv) cfi(s hostSession) map[string]any {
	e.t.Helper()
	w := e.wopi(http.MethodGet, s.path, s.tok, nil)
	wantStatus(e.t.(*testing.T), w, http.StatusOK)
	var props map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &props); err != nil {
		e.t.Fatal(err)
	}
	return props
}

func eachHost(t *testing.T, fn func(t *testing.T, e *upstreamEnv)) {
	for _, p := range wopitest.Profiles() {
		t.Run(p.Name, func(t *testing.T) { fn(t, newProfileEnv(t, p)) })
	}
}

// Row 1: GetLock on an unlocked file is 404 with an empty X-WOPI-Lock on both hosts.
// The bridge takes it for "not locked": its WOPI face answers 200 with the empty lock,
// and the Docs API face opens the file for editing.
func TestHostsGetLockOnUnlockedFile(t *testing.T) {
	eachHost(t, func(t *testing.T, e *upstreamEnv) {
		s := e.hostSession("a.docx", []byte("unlocked"))
		w := e.wopi(http.MethodPost, s.path, s.tok, nil, wopiclient.HeaderOverride, "GET_LOCK")
		lock, sent := header(w, wopiclient.HeaderLock)
		if w.Code != http.StatusOK || !sent || lock != "" {
			t.Errorf("GET_LOCK on an unlocked file: %d, X-WOPI-Lock %q (sent %v); want 200 with an empty lock", w.Code, lock, sent)
		}
		w = e.do(http.MethodPost, "/api/v1/docs/config", nil, bearerHdr(e.launchFor("alice", s.f, nil))...)
		if w.Code != http.StatusOK {
			t.Fatalf("Docs API config of an unlocked file: %d %s", w.Code, w.Body.String())
		}
		if cfg := decodeJSON[docsConfigJSON](t, w).Config; cfg.EditorConfig.Mode != docsapi.ModeEdit {
			t.Errorf("Docs API config of an unlocked file: mode %s, want edit", cfg.EditorConfig.Mode)
		}
	})
}

// Rows 2 and 3: GetFile framing (chunked from 512 bytes on OC, always on WS) and an
// absent Size. GetFile, document.url and FileUrl give the upstream's bytes, with a
// Content-Length only when the upstream's GetFile declared one.
func TestHostsContentAsSent(t *testing.T) {
	sizes := []int{100, 600, 3 << 20}
	eachHost(t, func(t *testing.T, e *upstreamEnv) {
		for _, n := range sizes {
			content := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
			s := e.hostSession("f"+strconv.Itoa(n)+".docx", content)
			declared := e.up.Profile().Framing == wopitest.FramingLength ||
				e.up.Profile().Framing == wopitest.FramingChunkedFrom512 && n < 512
			cfi := e.cfi(s)
			fileURL, _ := cfi["FileUrl"].(string)
			exp := e.clock.Now().Add(time.Hour).UnixMilli()
			for what, target := range map[string]string{
				"GetFile":      s.path + "/contents?access_token=" + s.tok,
				"document.url": strings.TrimPrefix(e.srv.docs.urls.downloadURL(testPublic, s.id, cfi["Version"].(string), exp), testPublic),
				"FileUrl":      strings.TrimPrefix(fileURL, testPublic),
			} {
				w := e.do(http.MethodGet, target, nil)
				if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), content) {
					t.Errorf("%d bytes, %s: %d with %d bytes, want the %d bytes", n, what, w.Code, w.Body.Len(), n)
				}
				cl := w.Header().Get("Content-Length")
				if declared && cl != strconv.Itoa(n) || !declared && cl != "" {
					t.Errorf("%d bytes, %s: Content-Length %q; the upstream declared one: %v", n, what, cl, declared)
				}
			}
		}
	})
}

// Row 2: a CheckFileInfo Size that no longer holds when the bytes flow (a save in
// between) does not cut or pad them.
func TestHostsStaleSize(t *testing.T) {
	eachHost(t, func(t *testing.T, e *upstreamEnv) {
		content := bytes.Repeat([]byte("s"), 600)
		s := e.hostSession("stale.docx", content)
		if !e.up.Profile().Omits("Size") {
			e.up.SetProperties(s.f.id, map[string]any{"Size": 3})
		}
		w := e.wopi(http.MethodGet, s.path+"/contents", s.tok, nil)
		if cl := w.Header().Get("Content-Length"); w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), content) || cl != "" && cl != "600" {
			t.Errorf("GetFile with a stale Size: %d with %d bytes, Content-Length %q; want the 600", w.Code, w.Body.Len(), cl)
		}
	})
}

// Row 2: a body the upstream cuts is a broken reply, never a complete-looking 200.
func TestHostsCutBodyIsAnError(t *testing.T) {
	eachHost(t, func(t *testing.T, e *upstreamEnv) {
		front := httptest.NewServer(e.srv)
		t.Cleanup(front.Close)
		for _, n := range []int{600, 1 << 20} {
			s := e.hostSession("cut"+strconv.Itoa(n)+".docx", bytes.Repeat([]byte("x"), n))
			e.up.CutGetFiles(1)
			resp, err := front.Client().Get(front.URL + s.path + "/contents?access_token=" + s.tok)
			if err != nil {
				continue // refused before a reply: an error, as it should be
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK {
				t.Errorf("%d-byte file cut by the upstream: a complete 200 with %d bytes (Content-Length %q)", n, len(got), resp.Header.Get("Content-Length"))
			}
		}
	})
}

// X-WOPI-MaxExpectedSize holds for a file whose size the upstream does not state.
func TestHostsMaxExpectedSizeOnUnknownSize(t *testing.T) {
	e := newProfileEnv(t, wopitest.OCOnlyOffice)
	front := httptest.NewServer(e.srv)
	t.Cleanup(front.Close)
	s := e.hostSession("big.docx", bytes.Repeat([]byte("y"), 4096))
	req, _ := http.NewRequest(http.MethodGet, front.URL+s.path+"/contents?access_token="+s.tok, nil)
	req.Header.Set(wopiclient.HeaderMaxExpectedSize, "1000")
	resp, err := front.Client().Do(req)
	if err != nil {
		return // cut before the status: refused
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode == http.StatusOK {
		t.Errorf("a 4096-byte file of unknown size under X-WOPI-MaxExpectedSize 1000: complete 200 with %d bytes", len(got))
	}
}

// Rows 3-5 and 7: CheckFileInfo through the bridge announces what the upstream states
// and no more: no Size or LastModifiedTime it does not know (never 0, never year 1),
// the upstream's OwnerId, GetLock, extended lock length and rename support. PutFile
// replies follow.
func TestHostsCheckFileInfoFollowsUpstream(t *testing.T) {
	eachHost(t, func(t *testing.T, e *upstreamEnv) {
		s := e.hostSession("a.docx", []byte("hello"))
		p := e.up.Profile()
		got := e.cfi(s)
		c := &wopiclient.Client{HTTP: e.up.Client()}
		upInfo, err := c.CheckFileInfo(t.Context(), s.f.src, s.f.token)
		if err != nil {
			t.Fatal(err)
		}
		up := upInfo.Properties()
		for _, name := range []string{"Size", "OwnerId"} {
			if _, ok := up[name]; ok != (got[name] != nil) {
				t.Errorf("%s: upstream states it %v, bridge %v", name, ok, got[name])
			}
		}
		if size, ok := got["Size"].(float64); ok && size != 5 {
			t.Errorf("Size = %v, want 5", size)
		}
		if got["OwnerId"] != nil && got["OwnerId"] != upInfo.OwnerID {
			t.Errorf("OwnerId = %v, upstream's %q", got["OwnerId"], upInfo.OwnerID)
		}
		lmt, _ := got["LastModifiedTime"].(string)
		switch {
		case !p.Omits("LastModifiedTime"):
			want, _ := wopiclient.ParseTime(upInfo.LastModifiedTime)
			if g, ok := wopiclient.ParseTime(lmt); !ok || !g.Equal(want) {
				t.Errorf("LastModifiedTime = %q, upstream's %q", lmt, upInfo.LastModifiedTime)
			}
		case lmt != "" || got["LastModifiedTime"] != nil:
			t.Errorf("LastModifiedTime = %v, the upstream states none", got["LastModifiedTime"])
		}
		for name, want := range map[string]bool{
			"SupportsGetLock":            upInfo.SupportsGetLock,
			"SupportsExtendedLockLength": upInfo.SupportsExtendedLockLength,
			"SupportsRename":             upInfo.SupportsRename && upInfo.UserCanRename,
			"UserCanRename":              upInfo.SupportsRename && upInfo.UserCanRename,
		} {
			if got[name] != want {
				t.Errorf("%s = %v, want %v (upstream: %s)", name, got[name], want, up[name])
			}
		}

		wantStatus(t, e.wopi(http.MethodPost, s.path, s.tok, nil, wopiclient.HeaderOverride, "LOCK", wopiclient.HeaderLock, "L1"), http.StatusOK)
		w := e.wopi(http.MethodPost, s.path+"/contents", s.tok, strings.NewReader("v2"), wopiclient.HeaderOverride, "PUT", wopiclient.HeaderLock, "L1")
		wantStatus(t, w, http.StatusOK)
		var put map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &put)
		if v, ok := put["LastModifiedTime"]; ok && (p.Omits("LastModifiedTime") || strings.HasPrefix(v.(string), "0001")) {
			t.Errorf("PutFile reply LastModifiedTime = %v; the upstream states %q", v, e.cfi(s)["LastModifiedTime"])
		}
		if string(e.up.Content(s.f.id)) != "v2" {
			t.Errorf("upstream holds %q", e.up.Content(s.f.id))
		}
	})
}

// Row 7: wopiserver renames although it says it does not, and then refuses the
// file's tokens. The bridge never sends it a RenameFile; where the upstream renames,
// the bridge answers the name it reports.
func TestHostsRename(t *testing.T) {
	eachHost(t, func(t *testing.T, e *upstreamEnv) {
		s := e.hostSession("report.docx", []byte("R"))
		e.up.ResetRequests()
		w := e.wopi(http.MethodPost, s.path, s.tok, nil, wopiclient.HeaderOverride, "RENAME_FILE", wopiclient.HeaderRequestedName, "final")
		if e.up.Profile().NoRename {
			if w.Code != http.StatusNotImplemented {
				t.Errorf("RENAME_FILE on a host that announces no rename: %d %s", w.Code, w.Body.String())
			}
			if got := e.usersOf(wopitest.OpRenameFile); len(got) != 0 || e.up.Name(s.f.id) != "report.docx" {
				t.Errorf("RenameFile sent upstream (%d), upstream name %q", len(got), e.up.Name(s.f.id))
			}
		} else {
			wantStatus(t, w, http.StatusOK)
			if got := decodeJSON[struct{ Name string }](t, w).Name; got != "final" || e.up.Name(s.f.id) != "final.docx" {
				t.Errorf("rename: reply %q, upstream name %q", got, e.up.Name(s.f.id))
			}
		}
		w = e.wopi(http.MethodGet, s.path+"/contents", s.tok, nil)
		if w.Code != http.StatusOK || w.Body.String() != "R" {
			t.Errorf("GetFile after the rename: %d %q", w.Code, w.Body.String())
		}
	})
}

// Row 6: wopiserver's PutRelativeFile is 501 (the bridge says so, not "try again");
// OpenCloud's taken name is a 409 with lock headers and a free name, which goes back
// to the client. An overwrite of another file is refused whatever the host would do.
func TestHostsPutRelative(t *testing.T) {
	eachHost(t, func(t *testing.T, e *upstreamEnv) {
		s := e.hostSession("report.docx", []byte("R"))
		e.up.AddFile("taken.docx", []byte("T"))
		w := e.wopi(http.MethodPost, s.path, s.tok, strings.NewReader("copy"),
			wopiclient.HeaderOverride, "PUT_RELATIVE", wopiclient.HeaderRelativeTarget, "taken.docx")
		if e.up.Profile().NoPutRelative {
			reason, _ := header(w, wopiclient.HeaderServerError)
			if w.Code != http.StatusNotImplemented || !strings.Contains(reason, "upstream WOPI host does not offer PutRelativeFile") {
				t.Errorf("PUT_RELATIVE on a host without it: %d %q", w.Code, reason)
			}
			// Once refused, it is no longer offered, though the host still announces it.
			if got := e.cfi(s)["UserCanNotWriteRelative"]; got != true {
				t.Errorf("UserCanNotWriteRelative after the host refused PutRelativeFile: %v", got)
			}
			return
		}
		suggestion, _ := header(w, wopiclient.HeaderValidRelativeTarget)
		if w.Code != http.StatusConflict || suggestion != wopiclient.EncodeUTF7("taken (1).docx") {
			t.Errorf("PUT_RELATIVE onto a taken name: %d, X-WOPI-ValidRelativeTarget %q; want 409 with the upstream's free name", w.Code, suggestion)
		}
		w = e.wopi(http.MethodPost, s.path, s.tok, strings.NewReader("copy"),
			wopiclient.HeaderOverride, "PUT_RELATIVE", wopiclient.HeaderRelativeTarget, "taken.docx",
			wopiclient.HeaderOverwriteRelativeTarget, "true")
		// Every token on upstream storage reaches its own file only: an overwrite of
		// another file is answered as the taken name it is, and nothing is sent that
		// could overwrite it (whatever the host would do: OpenCloud refuses unlocked
		// non-empty files anyway).
		takenID := e.up.FileID("taken.docx")
		suggestion, _ = header(w, wopiclient.HeaderValidRelativeTarget)
		if w.Code != http.StatusConflict || suggestion == "" || string(e.up.Content(takenID)) != "T" {
			t.Errorf("overwriting another file: %d, X-WOPI-ValidRelativeTarget %q, upstream holds %q", w.Code, suggestion, e.up.Content(takenID))
		}
	})
}

// Rows 8 and 9: a lock lapses after 30 minutes; OpenCloud then answers a PutFile under
// it 500 "aborted: not locked". That is a missing lock (409, empty X-WOPI-Lock), not
// an outage to wait out.
func TestHostsPutFileAfterLockLapsed(t *testing.T) {
	eachHost(t, func(t *testing.T, e *upstreamEnv) {
		s := e.hostSession("a.docx", []byte("v1"))
		wantStatus(t, e.wopi(http.MethodPost, s.path, s.tok, nil, wopiclient.HeaderOverride, "LOCK", wopiclient.HeaderLock, "L1"), http.StatusOK)
		e.up.Advance(wopitest.LockDuration + time.Minute)
		w := e.wopi(http.MethodPost, s.path+"/contents", s.tok, strings.NewReader("v2"), wopiclient.HeaderOverride, "PUT", wopiclient.HeaderLock, "L1")
		lock, sent := header(w, wopiclient.HeaderLock)
		if w.Code != http.StatusConflict || !sent || lock != "" {
			t.Errorf("PutFile after the lock lapsed: %d, X-WOPI-Lock %q (sent %v): %s", w.Code, lock, sent, w.Body.String())
		}
		if strings.Contains(e.logs.String(), "event=spooled") || string(e.up.Content(s.f.id)) != "v1" {
			t.Errorf("the refused save was kept for a replay, or written: upstream %q", e.up.Content(s.f.id))
		}
	})
}

// Row 9: on OpenCloud a lock belongs to the app that took it; the bridge's Unlock of
// another app's lock is refused with 500, which the bridge reports as the upstream's
// refusal.
func TestHostsLockOfAnotherApp(t *testing.T) {
	e := newProfileEnv(t, wopitest.OCOnlyOffice)
	s := e.hostSession("a.docx", []byte("v1"))
	other := e.up.AppToken(s.f.id, "carol", true, "collabora")
	c := &wopiclient.Client{HTTP: e.up.Client()}
	if err := c.Lock(t.Context(), s.f.src, other, "theirs"); err != nil {
		t.Fatal(err)
	}
	w := e.wopi(http.MethodPost, s.path, s.tok, nil, wopiclient.HeaderOverride, "UNLOCK", wopiclient.HeaderLock, "theirs")
	reason, _ := header(w, wopiclient.HeaderServerError)
	if w.Code < 500 || strings.Contains(reason, "temporarily unavailable") || !strings.Contains(reason, "500") {
		t.Errorf("Unlock of another app's lock: %d %q", w.Code, reason)
	}
	if e.up.Lock(s.f.id) != "theirs" {
		t.Errorf("upstream lock %q", e.up.Lock(s.f.id))
	}
}

// Rows 10 and 11: OpenCloud checks proofs by default and refuses the bridge's unsigned
// calls with a bare 500. The bridge says what that may be, not "try again shortly",
// and /readyz shows the upstream failing.
func TestHostsProofRefusal(t *testing.T) {
	e := newProfileEnv(t, wopitest.OCProofs)
	w := e.do(http.MethodGet, "/readyz", nil)
	if !strings.Contains(w.Body.String(), "upstream: ok") {
		t.Errorf("/readyz before any call:\n%s", w.Body.String())
	}
	id, src := e.up.AddFile("a.docx", []byte("A"))
	tok := e.up.Token(id, "alice", true)
	r, _ := e.session(e.launchFor("alice", upFile{id: id, src: src, token: tok, ttl: e.up.TokenTTL(tok)}, nil), "")
	if r.code < 500 || strings.Contains(r.body, "temporarily unavailable") || !strings.Contains(r.body, "proof") {
		t.Errorf("session on a host that checks proofs: %d %s", r.code, r.body)
	}
	w = e.do(http.MethodGet, "/readyz", nil)
	if body := w.Body.String(); !strings.Contains(body, "upstream: failing: ") || !strings.Contains(body, "500") || !strings.Contains(body, "proof") {
		t.Errorf("/readyz after the refusal:\n%s", body)
	}
}

// Row 11: OpenCloud refuses GetFile with the token its own PutRelativeFile handed out
// (500): a refusal the bridge reports as such.
func TestHostsRelativeTokenRefused(t *testing.T) {
	e := newProfileEnv(t, wopitest.OCOnlyOffice)
	s := e.hostSession("report.docx", []byte("R"))
	w := e.wopi(http.MethodPost, s.path, s.tok, strings.NewReader("copy"),
		wopiclient.HeaderOverride, "PUT_RELATIVE", wopiclient.HeaderSuggestedTarget, ".pdf")
	wantStatus(t, w, http.StatusOK)
	reply := decodeJSON[newFileReply](t, w)
	w = e.do(http.MethodGet, strings.Replace(strings.TrimPrefix(reply.URL, testPublic), "?", "/contents?", 1), nil)
	reason, _ := header(w, wopiclient.HeaderServerError)
	if w.Code < 500 || strings.Contains(reason, "temporarily unavailable") || !strings.Contains(reason, "500") {
		t.Errorf("GetFile of the copy: %d %q", w.Code, reason)
	}
	if !strings.Contains(e.do(http.MethodGet, "/readyz", nil).Body.String(), "upstream: failing: ") {
		t.Error("/readyz does not show the failing upstream")
	}
	// The next call that works clears it.
	wantStatus(t, e.wopi(http.MethodGet, s.path, s.tok, nil), http.StatusOK)
	if body := e.do(http.MethodGet, "/readyz", nil).Body.String(); !strings.Contains(body, "upstream: ok") {
		t.Errorf("/readyz after a call that worked:\n%s", body)
	}
}

// Row 13: OpenCloud lets a view token Lock; the bridge does not.
func TestHostsViewTokenCannotLock(t *testing.T) {
	e := newProfileEnv(t, wopitest.OCOnlyOffice)
	id, src := e.up.AddFile("a.docx", []byte("A"))
	view := e.up.Token(id, "viewer", false)
	_, s := e.session(e.launchFor("viewer", upFile{id: id, src: src, token: view, ttl: e.up.TokenTTL(view)}, nil), "")
	at, err := e.srv.tokens.verify(s.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	w := e.wopi(http.MethodPost, e.filePath(at.File), s.AccessToken, nil, wopiclient.HeaderOverride, "LOCK", wopiclient.HeaderLock, "L1")
	if w.Code != http.StatusUnauthorized || e.up.Lock(id) != "" {
		t.Errorf("LOCK with a view session: %d, upstream lock %q", w.Code, e.up.Lock(id))
	}
}

// A token the upstream refuses is said to be the upstream's, not the bridge's.
func TestHostsRevokedUpstreamToken(t *testing.T) {
	eachHost(t, func(t *testing.T, e *upstreamEnv) {
		s := e.hostSession("a.docx", []byte("A"))
		e.up.RevokeToken(s.f.token)
		w := e.wopi(http.MethodGet, s.path, s.tok, nil)
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "upstream WOPI host refused its access token") {
			t.Errorf("CheckFileInfo with a revoked upstream token: %d %s", w.Code, w.Body.String())
		}
	})
}
