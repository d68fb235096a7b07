package docserver

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Header orders as the real DS writes them.
var (
	orderCheckFileInfo = []string{"Accept", "User-Agent", "Connection", "X-WOPI-Proof", "X-WOPI-ProofOld", "X-WOPI-TimeStamp", "X-WOPI-ClientVersion", "X-WOPI-CorrelationId", "X-WOPI-SessionId", "Accept-Encoding", "Host"}
	orderLock          = []string{"Accept", "Content-Type", "User-Agent", "Connection", "X-WOPI-Override", "X-WOPI-Lock", "X-WOPI-Proof", "X-WOPI-ProofOld", "X-WOPI-TimeStamp", "X-WOPI-ClientVersion", "X-WOPI-CorrelationId", "X-WOPI-SessionId", "Accept-Encoding", "Host", "Content-Length"}
	orderUnlock        = []string{"Accept", "Content-Type", "User-Agent", "Connection", "X-WOPI-Override", "X-WOPI-Lock", "X-WOPI-Proof", "X-WOPI-ProofOld", "X-WOPI-TimeStamp", "X-WOPI-ClientVersion", "X-WOPI-CorrelationId", "Accept-Encoding", "Host", "Content-Length"}
	orderGetFile       = []string{"Accept", "User-Agent", "Connection", "X-WOPI-MaxExpectedSize", "X-WOPI-Proof", "X-WOPI-ProofOld", "X-WOPI-TimeStamp", "X-WOPI-ClientVersion", "X-WOPI-CorrelationId", "Accept-Encoding", "Host"}
	orderTemplatePut   = []string{"Accept", "Content-Type", "User-Agent", "Connection", "X-WOPI-Override", "X-WOPI-Editors", "X-WOPI-Proof", "X-WOPI-ProofOld", "X-WOPI-TimeStamp", "X-WOPI-ClientVersion", "X-WOPI-CorrelationId", "X-WOPI-SessionId", "Content-Length", "Accept-Encoding", "Host"}
	orderSavePut       = []string{"Accept", "Content-Type", "User-Agent", "Connection", "X-WOPI-Override", "X-WOPI-Lock", "X-WOPI-Editors", "X-WOPI-Proof", "X-WOPI-ProofOld", "X-WOPI-TimeStamp", "X-WOPI-ClientVersion", "X-WOPI-CorrelationId", "X-LOOL-WOPI-IsModifiedByUser", "X-LOOL-WOPI-IsAutosave", "X-LOOL-WOPI-IsExitSave", "Content-Length", "Accept-Encoding", "Host"}
	orderFileURL       = []string{"Accept", "User-Agent", "Connection", "X-WOPI-MaxExpectedSize", "Accept-Encoding", "Host"}
	orderCallback      = []string{"Accept", "Content-Type", "User-Agent", "Connection", "Authorization", "Content-Length", "Accept-Encoding", "Host"}
	orderDownload      = []string{"Accept", "User-Agent", "Connection", "Authorization", "Accept-Encoding", "Host"}
)

func TestDiscoveryProofKeysVerifySignatures(t *testing.T) {
	s, err := New(Options{WOPIEnabled: true}) // generated keys
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	d, raw := fetchDiscovery(t, s)
	if strings.Contains(raw, "\n") || strings.Contains(raw, "127.0.0.1:8000") {
		t.Errorf("discovery must be one line on the server's own base URL")
	}
	edit := d.action("edit", "docx")
	if want := s.URL() + "/hosting/wopi/word/edit?<rs=DC_LLCC&><dchat=DISABLE_CHAT&>"; !strings.HasPrefix(edit, want) {
		t.Errorf("docx edit urlsrc = %q, want prefix %q", edit, want)
	}
	if d.ProofKey.Exponent != "AQAB" || d.ProofKey.OldExponent != "AQAB" {
		t.Errorf("exponents %q %q, want AQAB", d.ProofKey.Exponent, d.ProofKey.OldExponent)
	}
	cur := keyFromModulus(t, d.ProofKey.Modulus, d.ProofKey.Exponent)
	old := keyFromModulus(t, d.ProofKey.OldModulus, d.ProofKey.OldExponent)
	if cur.N.Cmp(old.N) == 0 {
		t.Error("current and old proof keys are the same; DS is configured with two")
	}
	for _, c := range []struct {
		blob string
		want *rsa.PublicKey
	}{{d.ProofKey.Value, cur}, {d.ProofKey.OldValue, old}} {
		if got := keyFromBlob(t, c.blob); got.N.Cmp(c.want.N) != 0 || got.E != c.want.E {
			t.Error("PUBLICKEYBLOB value does not match modulus/exponent")
		}
	}

	// The forwarded host rewrites every URL, as in DS.
	req, _ := http.NewRequest("GET", s.URL()+"/hosting/discovery", nil)
	req.Header.Set("X-Forwarded-Host", "docs.example.net")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	fwd, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(fwd), `urlsrc="https://docs.example.net/hosting/wopi/word/edit?`) || strings.Contains(string(fwd), s.URL()) {
		t.Error("X-Forwarded-Host/Proto not applied to urlsrc")
	}

	// Signatures made during a session verify with the discovery keys,
	// including a token whose ' is escaped on the wire only.
	host := newWOPIHost(t)
	src := host.add("Tricky.Id-1", &hostFile{info: editableInfo("t.docx", "u-1", 4), content: []byte("data")})
	ctx := testContext(t)
	w, err := s.OpenWOPI(ctx, edit+"wopisrc="+url.QueryEscape(src), "a+b/c=d&e f~é!*'()", 1795416800992, "")
	if err != nil {
		t.Fatal(err)
	}
	if w.Key() != "Tricky.Id-1" {
		t.Errorf("key = %q", w.Key())
	}
	reqs := host.requests()
	if len(reqs) != 3 {
		t.Fatalf("host got %d requests, want CheckFileInfo, LOCK, GetFile", len(reqs))
	}
	for _, r := range reqs {
		if !strings.Contains(r.Target, "?access_token=a%2Bb%2Fc%3Dd%26e%20f~%C3%A9!*%27()") {
			t.Errorf("wire target %q", r.Target)
		}
		verifyRawProof(t, r, cur, old)
	}

	resp, err = http.Get(s.URL() + "/hosting/capabilities")
	if err != nil {
		t.Fatal(err)
	}
	var caps map[string]any
	json.NewDecoder(resp.Body).Decode(&caps)
	resp.Body.Close()
	if caps["hasTemplateSource"] != true || caps["productVersion"] != "9.3.1" {
		t.Errorf("capabilities = %v", caps)
	}

	off := newServer(t, Options{})
	for _, p := range []string{"/hosting/discovery", "/hosting/capabilities", "/hosting/wopi/word/edit?wopisrc=x"} {
		resp, err := http.Post(off.URL()+p, "application/x-www-form-urlencoded", strings.NewReader("access_token=x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("WOPI disabled: %s answered %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestWOPISessionSequenceAndHeaders(t *testing.T) {
	s := newServer(t, Options{WOPIEnabled: true})
	host := newWOPIHost(t)
	src := host.add("doc-1", &hostFile{info: editableInfo("Plan.docx", "u-1", 5), content: []byte("hello")})
	d, _ := fetchDiscovery(t, s)
	ctx := testContext(t)
	action := d.action("edit", "docx") + "wopisrc=" + url.QueryEscape(src)
	before := DotNetTicks(time.Now())
	w, err := s.OpenWOPI(ctx, action, "tok-1", 1795416800992, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(w.Content()); got != "hello" {
		t.Errorf("content = %q", got)
	}
	if err := w.Edit([]byte("v2")); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(nil, false); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(nil, false); !errors.Is(err, ErrNotModified) {
		t.Errorf("second Save without changes: %v, want ErrNotModified", err)
	}
	w.Edit([]byte("v3"))
	w.Close()
	if _, err := s.WaitFor(ctx, Match{Type: Reply, Op: OpUnlock}.Fn()); err != nil {
		t.Fatal(err)
	}

	reqs := host.requests()
	type step struct {
		method, path, override string
		order                  []string
	}
	want := []step{
		{"GET", "/wopi/files/doc-1", "", orderCheckFileInfo},
		{"POST", "/wopi/files/doc-1", "LOCK", orderLock},
		{"GET", "/wopi/files/doc-1/contents", "", orderGetFile},
		{"POST", "/wopi/files/doc-1/contents", "PUT", orderSavePut},
		{"POST", "/wopi/files/doc-1/contents", "PUT", append(slices.Clone(orderSavePut[:15]), "X-LOOL-WOPI-Timestamp", "Content-Length", "Accept-Encoding", "Host")},
		{"POST", "/wopi/files/doc-1", "UNLOCK", orderUnlock},
	}
	if len(reqs) != len(want) {
		t.Fatalf("host got %d requests, want %d", len(reqs), len(want))
	}
	cur, old := s.ProofKeys()
	usid := reqs[0].Get("X-WOPI-SessionId")
	correlations := map[string]bool{}
	for i, r := range reqs {
		st := want[i]
		path, query, _ := strings.Cut(r.Target, "?")
		if r.Method != st.method || path != st.path || r.Get("X-WOPI-Override") != st.override {
			t.Errorf("request %d = %s %s %q, want %s %s %q", i, r.Method, path, r.Get("X-WOPI-Override"), st.method, st.path, st.override)
		}
		if got := r.Names(); !reflect.DeepEqual(got, st.order) {
			t.Errorf("request %d headers\n got %v\nwant %v", i, got, st.order)
		}
		if query != "access_token=tok-1" || r.Has("Authorization") {
			t.Errorf("request %d: token must travel only in the query (%q, Authorization %v)", i, query, r.Has("Authorization"))
		}
		if r.Get("User-Agent") != "Node.js/6.13" || r.Get("X-WOPI-ClientVersion") != "9.3.1.1" || r.Get("Accept-Encoding") != "gzip, compress, deflate, br" {
			t.Errorf("request %d: standard headers %v", i, r.Header)
		}
		var ticks uint64
		fmt.Sscan(r.Get("X-WOPI-TimeStamp"), &ticks)
		if ticks < before || ticks > DotNetTicks(time.Now()) || ticks%10000 != 0 {
			t.Errorf("request %d: X-WOPI-TimeStamp %d is not the send time in ms-precision ticks", i, ticks)
		}
		if c := r.Get("X-WOPI-CorrelationId"); correlations[c] || len(c) != 36 {
			t.Errorf("request %d: X-WOPI-CorrelationId %q not a fresh UUID", i, c)
		} else {
			correlations[c] = true
		}
		if r.Method == "POST" && r.Get("X-WOPI-Override") != "PUT" && r.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("request %d: Content-Type %q", i, r.Get("Content-Type"))
		}
		if lock := r.Get("X-WOPI-Lock"); r.Method == "POST" && lock != "doc-1" {
			t.Errorf("request %d: X-WOPI-Lock %q, want the sanitised file id", i, lock)
		}
		verifyRawProof(t, r, cur, old)
	}
	if usid == "" || reqs[1].Get("X-WOPI-SessionId") != usid || usid != w.SessionID() {
		t.Errorf("X-WOPI-SessionId: CheckFileInfo %q, LOCK %q, session %q", usid, reqs[1].Get("X-WOPI-SessionId"), w.SessionID())
	}
	if reqs[2].Get("X-WOPI-MaxExpectedSize") != "104857600" {
		t.Errorf("GetFile X-WOPI-MaxExpectedSize = %q", reqs[2].Get("X-WOPI-MaxExpectedSize"))
	}
	flags := func(r rawRequest) string {
		return r.Get("X-LOOL-WOPI-IsModifiedByUser") + "/" + r.Get("X-LOOL-WOPI-IsAutosave") + "/" + r.Get("X-LOOL-WOPI-IsExitSave")
	}
	if got := flags(reqs[3]); got != "true/false/false" {
		t.Errorf("Save-button PutFile flags = %s, want true/false/false", got)
	}
	if got := flags(reqs[4]); got != "true/false/true" {
		t.Errorf("final PutFile flags = %s, want true/false/true", got)
	}
	if reqs[4].Get("X-LOOL-WOPI-Timestamp") != "2026-11-01T10:01:00.0000000Z" {
		t.Errorf("final PutFile X-LOOL-WOPI-Timestamp = %q, want the previous PutFile's LastModifiedTime", reqs[4].Get("X-LOOL-WOPI-Timestamp"))
	}
	for _, i := range []int{3, 4} {
		if reqs[i].Get("X-WOPI-Editors") != "u-1" || reqs[i].Get("Content-Type") != mimeType("docx") {
			t.Errorf("PutFile %d: editors %q, type %q", i, reqs[i].Get("X-WOPI-Editors"), reqs[i].Get("Content-Type"))
		}
	}
	if string(reqs[3].Body) != "v2" || string(reqs[4].Body) != "v3" {
		t.Errorf("PutFile bodies %q, %q", reqs[3].Body, reqs[4].Body)
	}
}

func TestWOPIOpenVariants(t *testing.T) {
	s := newServer(t, Options{WOPIEnabled: true, RefreshLockInterval: 30 * time.Millisecond})
	host := newWOPIHost(t)
	ctx := testContext(t)
	byPath := func(path string) []rawRequest {
		var out []rawRequest
		for _, r := range host.requests() {
			if p, _, _ := strings.Cut(r.Target, "?"); strings.HasPrefix(p, path) {
				out = append(out, r)
			}
		}
		return out
	}

	t.Run("size 0: template PutFile before LOCK", func(t *testing.T) {
		src := host.add("zero", &hostFile{info: editableInfo("new.docx", "user-1", 0)})
		w, err := s.OpenWOPI(ctx, src, "tok-zero", 0, "edit")
		if err != nil {
			t.Fatal(err)
		}
		reqs := byPath("/wopi/files/zero")
		if len(reqs) != 3 {
			t.Fatalf("got %d requests, want CheckFileInfo, PutFile, LOCK (no GetFile)", len(reqs))
		}
		put := reqs[1]
		if put.Get("X-WOPI-Override") != "PUT" || !reflect.DeepEqual(put.Names(), orderTemplatePut) {
			t.Errorf("template PutFile headers %v", put.Names())
		}
		if put.Has("X-WOPI-Lock") || put.Has("X-LOOL-WOPI-IsExitSave") || put.Get("X-WOPI-Editors") != "user-1" {
			t.Errorf("template PutFile must have no lock and no X-LOOL flags: %v", put.Header)
		}
		if !bytes.HasPrefix(put.Body, []byte("PK")) || !bytes.Equal(w.Content(), put.Body) {
			t.Error("template body is not the blank docx the editor shows")
		}
		if reqs[2].Get("X-WOPI-Override") != "LOCK" {
			t.Errorf("third request %q, want LOCK", reqs[2].Get("X-WOPI-Override"))
		}
		if size := w.RenderParams()["fileInfo"].(map[string]any)["Size"]; size != float64(len(put.Body)) {
			t.Errorf("fileInfo.Size = %v after the template PutFile", size)
		}
	})

	t.Run("LOCK 409 reopens in view mode", func(t *testing.T) {
		src := host.add("lock409", &hostFile{info: editableInfo("l.docx", "u-1", 3), content: []byte("abc"), lockStatus: 409})
		w, err := s.OpenWOPI(ctx, src, "tok-409", 1, "edit")
		if err != nil {
			t.Fatal(err)
		}
		if w.Mode() != "view" || !w.ForcedView() || w.Key() != "view.lock409.2026-11-01T10_00_00.0000000Z" {
			t.Errorf("mode %q forced %v key %q", w.Mode(), w.ForcedView(), w.Key())
		}
		if _, err := s.WaitFor(ctx, Match{Type: ViewFallback, Key: "view.lock409.2026-11-01T10_00_00.0000000Z"}.Fn()); err != nil {
			t.Error(err)
		}
		if err := w.Edit([]byte("x")); !errors.Is(err, ErrViewOnly) {
			t.Errorf("Edit in view: %v", err)
		}
	})

	t.Run("UserCanWrite false: view without LOCK", func(t *testing.T) {
		info := editableInfo("ro.docx", "u-1", 3)
		info["UserCanWrite"] = false
		src := host.add("ro", &hostFile{info: info, content: []byte("abc")})
		w, err := s.OpenWOPI(ctx, src, "tok-ro", 1, "edit")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range byPath("/wopi/files/ro") {
			if r.Method == "POST" {
				t.Errorf("unexpected %s %s", r.Get("X-WOPI-Override"), r.Target)
			}
		}
		if w.Mode() != "view" || w.ForcedView() {
			t.Errorf("mode %q forced %v", w.Mode(), w.ForcedView())
		}
	})

	t.Run("FileUrl: unsigned GET with X-WOPI-MaxExpectedSize", func(t *testing.T) {
		direct := newFileServer(t, []byte("direct bytes"))
		info := editableInfo("fu.docx", "u-1", 12)
		info["FileUrl"] = direct.URL + "/direct/test.docx"
		src := host.add("fileurl", &hostFile{info: info, content: []byte("wrong")})
		w, err := s.OpenWOPI(ctx, src, "tok-fu", 1, "edit")
		if err != nil {
			t.Fatal(err)
		}
		got := direct.requests()
		if len(got) != 1 || !reflect.DeepEqual(got[0].Names(), orderFileURL) || got[0].Get("X-WOPI-MaxExpectedSize") != "104857600" {
			t.Fatalf("FileUrl requests %+v", got)
		}
		if len(byPath("/wopi/files/fileurl/contents")) != 0 || string(w.Content()) != "direct bytes" {
			t.Error("FileUrl must replace GetFile")
		}
		if _, ok := w.RenderParams()["fileInfo"].(map[string]any)["FileUrl"]; ok {
			t.Error("FileUrl must not reach the browser")
		}
	})

	t.Run("co-editing: second open LOCKs again, no second GetFile", func(t *testing.T) {
		src := host.add("co x", &hostFile{info: editableInfo("c.docx", "u-1", 2), content: []byte("co")})
		a, err := s.OpenWOPI(ctx, src, "tok-a", 1, "edit")
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.OpenWOPI(ctx, src, "tok-b", 1, "edit")
		if err != nil {
			t.Fatal(err)
		}
		if a.Key() != "co_x" || b.Key() != "co_x" {
			t.Errorf("keys %q %q, want the sanitised id co_x", a.Key(), b.Key())
		}
		var locks, gets int
		for _, r := range byPath("/wopi/files/co%20x") {
			if r.Get("X-WOPI-Override") == "LOCK" {
				locks++
				if r.Get("X-WOPI-Lock") != "co_x" {
					t.Errorf("lock id %q", r.Get("X-WOPI-Lock"))
				}
			}
			if strings.Contains(r.Target, "/contents") {
				gets++
			}
		}
		if locks != 2 || gets != 1 {
			t.Errorf("LOCKs %d GetFiles %d, want 2 and 1", locks, gets)
		}
		// The global timer refreshes the lock with the latest token.
		ev, err := s.WaitFor(ctx, func(e Event) bool {
			return Match{Type: Reply, Op: OpRefreshLock, Key: "co_x"}.Fn()(e) && strings.Contains(e.Request.URL, "tok-b")
		})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ev.Request.Names(), orderUnlock) || ev.Request.Get("X-WOPI-Override") != "REFRESH_LOCK" {
			t.Errorf("REFRESH_LOCK request %v %s", ev.Request.Names(), ev.Request.URL)
		}
		a.Close()
		b.Close()
		if _, err := s.WaitFor(ctx, Match{Type: Reply, Op: OpUnlock, Key: "co_x"}.Fn()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("TemplateSource: unsigned GET, then an autosave PutFile", func(t *testing.T) {
		tmpl := newFileServer(t, []byte("template bytes"))
		info := editableInfo("ts.docx", "u-1", 14)
		info["TemplateSource"] = tmpl.URL + "/new.docx"
		src := host.add("tsrc", &hostFile{info: info})
		if _, err := s.OpenWOPI(ctx, src, "tok-ts", 1, "edit"); err != nil {
			t.Fatal(err)
		}
		ev, err := s.WaitFor(ctx, Match{Type: Reply, Op: OpPutFile, Key: "tsrc"}.Fn())
		if err != nil {
			t.Fatal(err)
		}
		if got := tmpl.requests(); len(got) != 1 || !reflect.DeepEqual(got[0].Names(), orderFileURL) {
			t.Errorf("TemplateSource requests %+v", got)
		}
		r := ev.Request
		if flags := r.Get("X-LOOL-WOPI-IsModifiedByUser") + r.Get("X-LOOL-WOPI-IsAutosave") + r.Get("X-LOOL-WOPI-IsExitSave"); flags != "truetruefalse" || string(r.Body) != "template bytes" {
			t.Errorf("TemplateSource forcesave flags %s body %q", flags, r.Body)
		}
	})

	t.Run("command forcesave in WOPI mode: autosave PutFile", func(t *testing.T) {
		src := host.add("cmdfs", &hostFile{info: editableInfo("c.docx", "u-1", 1), content: []byte("c")})
		w, err := s.OpenWOPI(ctx, src, "tok-c", 1, "edit")
		if err != nil {
			t.Fatal(err)
		}
		w.Edit([]byte("changed"))
		resp, err := http.Post(s.URL()+"/command", "application/json", strings.NewReader(`{"c":"forcesave","key":"cmdfs"}`))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != `{"key":"cmdfs","error":0}` {
			t.Errorf("forcesave reply %s", got)
		}
		ev, err := s.WaitFor(ctx, Match{Type: Reply, Op: OpPutFile, Key: "cmdfs"}.Fn())
		if err != nil {
			t.Fatal(err)
		}
		r := ev.Request
		if flags := r.Get("X-LOOL-WOPI-IsModifiedByUser") + r.Get("X-LOOL-WOPI-IsAutosave") + r.Get("X-LOOL-WOPI-IsExitSave"); flags != "truetruefalse" || r.Get("X-WOPI-Lock") != "cmdfs" {
			t.Errorf("command forcesave PutFile flags %s lock %q", flags, r.Get("X-WOPI-Lock"))
		}
		if len(s.Find(Match{Op: OpCallback}.Fn())) != 0 {
			t.Error("WOPI mode sends no status callbacks")
		}
	})

	t.Run("failed PutFile is not retried; result forgotten; UNLOCK still sent", func(t *testing.T) {
		src := host.add("fail", &hostFile{info: editableInfo("f.docx", "u-1", 2), content: []byte("ff"), putStatus: 500})
		w, err := s.OpenWOPI(ctx, src, "tok-f", 1, "edit")
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Save([]byte("changed"), true); err == nil {
			t.Fatal("Save(exit) with PutFile 500 must fail")
		}
		var puts, unlocks int
		for _, r := range byPath("/wopi/files/fail") {
			switch {
			case strings.Contains(r.Target, "/contents") && r.Method == "POST":
				puts++
			case r.Get("X-WOPI-Override") == "UNLOCK":
				unlocks++
			}
		}
		if puts != 1 || unlocks != 1 {
			t.Errorf("PutFiles %d UNLOCKs %d, want 1 and 1", puts, unlocks)
		}
		if len(s.Find(Match{Type: Forgotten, Key: "fail"}.Fn())) != 1 {
			t.Error("no Forgotten event")
		}
	})
}

func TestWOPIEditorRoute(t *testing.T) {
	s := newServer(t, Options{WOPIEnabled: true, JWTSecret: "browser-secret"})
	host := newWOPIHost(t)
	src := host.add("route", &hostFile{info: editableInfo("r.docx", "u-9", 2), content: []byte("rr")})
	ctx := testContext(t)
	form := url.Values{"access_token": {"tok-r"}, "access_token_ttl": {"1795416800992"}}
	resp, err := http.PostForm(s.URL()+"/hosting/wopi/word/edit?WOPISrc="+url.QueryEscape(src)+"&sc=ctx-42", form)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, rest, _ := strings.Cut(string(page), `data-usid="`)
	usid, _, _ := strings.Cut(rest, `"`)
	if usid == "" {
		t.Fatalf("page has no usid: %s", page)
	}
	w, err := s.WaitWOPISession(ctx, usid)
	if err != nil || w == nil {
		t.Fatalf("session: %v", err)
	}
	reqs := host.requests()
	if reqs[0].Get("X-WOPI-SessionContext") != "ctx-42" || reqs[0].Get("X-WOPI-SessionId") != usid {
		t.Errorf("CheckFileInfo headers %v", reqs[0].Header)
	}
	tok, _ := w.RenderParams()["token"].(string)
	claims := parseJWT(t, tok, "browser-secret")
	if claims["key"] != "route" || claims["userAuth"].(map[string]any)["access_token"] != "tok-r" {
		t.Errorf("page token claims %v", claims)
	}
}

// openEdited opens key as user, edits it and returns the session.
func openEdited(t *testing.T, s *Server, cfg map[string]any, content string) *DocsSession {
	t.Helper()
	e, err := s.OpenDocs(testContext(t), cfg, User{})
	if err != nil {
		t.Fatal(err)
	}
	if content != "" {
		if err := e.Edit([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func TestCallbackRetrySchedule(t *testing.T) {
	const base = 10 * time.Millisecond
	tests := []struct {
		name        string
		reply       rawResponse
		unreachable bool
		attempts    int
	}{
		{"500 retried 3 times", jsonResponse(500, `{"error":1}`), false, 4},
		{"429 retried", jsonResponse(429, ``), false, 4},
		{"network error retried", rawResponse{}, true, 4},
		{"400 not retried", jsonResponse(400, `{"error":0}`), false, 1},
		{"error 1 not retried", jsonResponse(200, `{"error":1}`), false, 1},
		{"non-JSON not retried", jsonResponse(200, `ok`), false, 1},
		{"empty 204 not retried", rawResponse{Status: 204}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{RetryBase: base})
			rcv := newReceiver(t)
			rcv.setReply(func(n int, body map[string]any) rawResponse {
				if body["status"] == float64(2) {
					return tt.reply
				}
				return jsonResponse(200, `{"error":0}`)
			})
			files := newFileServer(t, []byte("orig"))
			e := openEdited(t, s, docsConfig(t, "k1", files.URL+"/f", rcv.URL+"/cb", "u-1", ""), "edited")
			ctx := testContext(t)
			if _, err := s.WaitFor(ctx, callbackStatus(1)); err != nil {
				t.Fatal(err)
			}
			s.SetCallbacksUnreachable(tt.unreachable)
			e.Close()
			if _, err := s.WaitFor(ctx, Match{Type: Forgotten, Key: "k1"}.Fn()); err != nil {
				t.Fatal(err)
			}
			sent := s.Find(Match{Type: Request, Op: OpCallback, Status: 2}.Fn())
			if len(sent) != tt.attempts {
				t.Fatalf("%d attempts, want %d", len(sent), tt.attempts)
			}
			for i, ev := range sent {
				if ev.Attempt != i+1 {
					t.Errorf("attempt %d numbered %d", i+1, ev.Attempt)
				}
				if i > 0 {
					if gap, min := ev.Time.Sub(sent[i-1].Time), base<<(i-1); gap < min {
						t.Errorf("retry %d after %v, want at least %v", i, gap, min)
					}
				}
				if !bytes.Equal(ev.Request.Body, sent[0].Request.Body) {
					t.Error("retries must repeat the same body")
				}
			}
			got := 0
			for _, r := range rcv.requests() {
				if strings.Contains(string(r.Body), `"status":2`) {
					got++
				}
			}
			if want := tt.attempts; tt.unreachable {
				if got != 0 {
					t.Errorf("receiver got %d status 2 while unreachable", got)
				}
			} else if got != want {
				t.Errorf("receiver got %d status 2, want %d", got, want)
			}
		})
	}

	t.Run("success on the third try", func(t *testing.T) {
		s := newServer(t, Options{RetryBase: base})
		rcv := newReceiver(t)
		fails := 0
		rcv.setReply(func(n int, body map[string]any) rawResponse {
			if body["status"] == float64(2) && fails < 2 {
				fails++
				return jsonResponse(503, ``)
			}
			return jsonResponse(200, `{"error":"0"}`) // loose == 0 is accepted
		})
		files := newFileServer(t, []byte("orig"))
		cfg := docsConfig(t, "k2", files.URL+"/f", rcv.URL+"/cb", "u-1", "")
		openEdited(t, s, cfg, "edited").Close()
		ctx := testContext(t)
		ok, err := s.WaitFor(ctx, func(e Event) bool { return callbackStatus(2)(e) && e.OK() && e.Reply.StatusCode == 200 })
		if err != nil {
			t.Fatal(err)
		}
		if ok.Attempt != 3 || len(s.Find(Match{Type: Forgotten}.Fn())) != 0 {
			t.Errorf("accepted on attempt %d; forgotten %d", ok.Attempt, len(s.Find(Match{Type: Forgotten}.Fn())))
		}
		// The saved key refuses new editors for a while (updateversion).
		if _, err := s.OpenDocs(ctx, cfg, User{}); !errors.Is(err, ErrVersionChanged) {
			t.Errorf("reopening a saved key: %v, want ErrVersionChanged", err)
		}
	})
}

func TestStatus1And4NotRetried(t *testing.T) {
	s := newServer(t, Options{})
	rcv := newReceiver(t)
	rcv.setReply(func(int, map[string]any) rawResponse { return jsonResponse(500, ``) })
	files := newFileServer(t, []byte("orig"))
	e := openEdited(t, s, docsConfig(t, "k", files.URL+"/f", rcv.URL+"/cb", "u-1", ""), "")
	ctx := testContext(t)
	if _, err := s.WaitFor(ctx, callbackStatus(1)); err != nil {
		t.Fatal(err)
	}
	e.Close()
	if _, err := s.WaitFor(ctx, callbackStatus(4)); err != nil {
		t.Fatal(err)
	}
	for _, st := range []int{1, 4} {
		if n := len(s.Find(Match{Type: Request, Op: OpCallback, Status: st}.Fn())); n != 1 {
			t.Errorf("status %d sent %d times, want once", st, n)
		}
	}
	var body map[string]any
	s.Find(Match{Type: Request, Op: OpCallback, Status: 4}.Fn())[0].Decode(&body)
	if _, hasUsers := body["users"]; hasUsers || fmt.Sprint(body["actions"]) != "[map[type:0 userid:u-1]]" {
		t.Errorf("status 4 body %v, want actions [{0 u-1}] and no users", body)
	}
}

func TestResultURLExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s := newServer(t, Options{Now: clock.Now, URLExpiry: 900 * time.Second})
	rcv := newReceiver(t)
	files := newFileServer(t, []byte("orig"))
	openEdited(t, s, docsConfig(t, "exp.1", files.URL+"/f", rcv.URL+"/cb", "u-1", ""), "edited bytes").Close()
	ev, err := s.WaitFor(testContext(t), callbackStatus(2))
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ URL, FileType string }
	ev.Decode(&body)
	u, err := url.Parse(body.URL)
	if err != nil || !strings.HasPrefix(body.URL, s.URL()+"/cache/files/data/exp.1_") ||
		!strings.HasSuffix(u.Path, "/output.docx/output.docx") || u.Query().Get("md5") == "" || u.Query().Get("expires") == "" {
		t.Fatalf("result url %q", body.URL)
	}
	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, got := get(body.URL); code != 200 || got != "edited bytes" {
		t.Fatalf("GET result: %d %q", code, got)
	}
	if code, _ := get(strings.Replace(body.URL, "md5=", "md5=x", 1)); code != 403 {
		t.Errorf("tampered signature: %d, want 403", code)
	}
	s.FailResultDownloads(500)
	if code, _ := get(body.URL); code != 500 {
		t.Errorf("FailResultDownloads(500): %d", code)
	}
	s.FailResultDownloads(0)
	clock.Advance(899 * time.Second)
	if code, _ := get(body.URL); code != 200 {
		t.Errorf("before expiry: %d", code)
	}
	clock.Advance(2 * time.Second)
	if code, _ := get(body.URL); code != 410 {
		t.Errorf("after URLExpiry: %d, want 410", code)
	}

	s2 := newServer(t, Options{})
	openEdited(t, s2, docsConfig(t, "exp.2", files.URL+"/f", rcv.URL+"/cb", "u-1", ""), "x").Close()
	ev, err = s2.WaitFor(testContext(t), callbackStatus(2))
	if err != nil {
		t.Fatal(err)
	}
	ev.Decode(&body)
	s2.ExpireResults()
	if code, _ := get(body.URL); code != 410 {
		t.Errorf("ExpireResults: %d, want 410", code)
	}
}

func TestJWTInBodyAndHeader(t *testing.T) {
	const secret = "s3cret"
	s := newServer(t, Options{JWTSecret: secret, JWTHeader: "AuthorizationJwt"})
	rcv := newReceiver(t)
	files := newFileServer(t, []byte("orig"))
	docURL := files.URL + "/dl/8c1d2a?v=17&sig=abc"
	cfg := docsConfig(t, "f-8c1d2a.v17", docURL, rcv.URL+"/cb?fid=1&sig=x", "u-1001", secret)
	ctx := testContext(t)

	for name, bad := range map[string]struct {
		cfg  map[string]any
		want error
	}{
		"no token":     {docsConfig(t, "x", docURL, rcv.URL, "u", ""), ErrToken},
		"wrong secret": {docsConfig(t, "x", docURL, rcv.URL, "u", "other"), ErrToken},
	} {
		if _, err := s.OpenDocs(ctx, bad.cfg, User{}); !errors.Is(err, bad.want) {
			t.Errorf("%s: %v, want %v", name, err, bad.want)
		}
	}
	expired := docsConfig(t, "x", docURL, rcv.URL, "u", "")
	expired["exp"] = time.Now().Add(-10 * time.Minute).Unix()
	expired["token"] = signMap(t, expired, secret)
	if _, err := s.OpenDocs(ctx, expired, User{}); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("expired token: %v", err)
	}
	noMode := docsConfig(t, "x", docURL, rcv.URL, "u", "")
	delete(noMode["editorConfig"].(map[string]any), "mode")
	noMode["token"] = signMap(t, noMode, secret)
	noMode["editorConfig"].(map[string]any)["mode"] = "edit"
	if _, err := s.OpenDocs(ctx, noMode, User{}); !errors.Is(err, ErrToken) {
		t.Errorf("token without editorConfig.mode: %v", err)
	}

	e := openEdited(t, s, cfg, "")
	dl := files.requests()
	if len(dl) != 1 {
		t.Fatalf("%d downloads", len(dl))
	}
	wantDL := slices.Clone(orderDownload)
	wantDL[3] = "AuthorizationJwt"
	if !reflect.DeepEqual(dl[0].Names(), wantDL) || dl[0].Method != "GET" || dl[0].Target != "/dl/8c1d2a?v=17&sig=abc" {
		t.Errorf("download %s %s %v", dl[0].Method, dl[0].Target, dl[0].Names())
	}
	claims := parseJWT(t, strings.TrimPrefix(dl[0].Get("AuthorizationJwt"), "Bearer "), secret)
	if claims["payload"].(map[string]any)["url"] != docURL || claims["exp"].(float64)-claims["iat"].(float64) != 300 {
		t.Errorf("download token claims %v", claims)
	}

	check := func(status int) map[string]any {
		t.Helper()
		ev, err := s.WaitFor(ctx, callbackStatus(status))
		if err != nil {
			t.Fatal(err)
		}
		wantCB := slices.Clone(orderCallback)
		wantCB[4] = "AuthorizationJwt"
		if !reflect.DeepEqual(ev.Request.Names(), wantCB) {
			t.Errorf("status %d headers %v", status, ev.Request.Names())
		}
		var body map[string]any
		ev.Decode(&body)
		plain := map[string]any{}
		for k, v := range body {
			if k != "token" {
				plain[k] = v
			}
		}
		flat := parseJWT(t, body["token"].(string), secret)
		header := parseJWT(t, strings.TrimPrefix(ev.Request.Get("AuthorizationJwt"), "Bearer "), secret)
		if !reflect.DeepEqual(header["payload"], plain) {
			t.Errorf("status %d header payload %v\n body %v", status, header["payload"], plain)
		}
		for k, v := range plain {
			if !reflect.DeepEqual(flat[k], v) {
				t.Errorf("status %d body token %s = %v, body has %v", status, k, flat[k], v)
			}
		}
		for _, c := range []jwtClaims{flat, header} {
			if c["exp"].(float64)-c["iat"].(float64) != 300 {
				t.Errorf("status %d token lifetime %v", status, c["exp"].(float64)-c["iat"].(float64))
			}
		}
		return body
	}
	join := check(1)
	if fmt.Sprint(join["users"]) != "[u-1001]" || fmt.Sprint(join["actions"]) != "[map[type:1 userid:u-1001]]" {
		t.Errorf("status 1 body %v", join)
	}
	e.Edit([]byte("saved"))
	e.Close()
	check(2)
	ev := s.Find(Match{Type: Request, Op: OpCallback, Status: 2}.Fn())[0]
	want := []string{"key", "status", "url", "changesurl", "history", "users", "actions", "lastsave", "notmodified", "token", "filetype"}
	if got := objectKeys(t, ev.Request.Body); !reflect.DeepEqual(got, want) {
		t.Errorf("status 2 field order %v, want %v", got, want)
	}
	if !strings.Contains(string(ev.Request.Body), `"url":"`+s.URL()+`/cache/files/data/f-8c1d2a.v17_`) || strings.Contains(string(ev.Request.Body), `\u0026`) {
		t.Errorf("status 2 body %s", ev.Request.Body)
	}
}

type jwtClaims = map[string]any

func TestCoEditingCallbackRouting(t *testing.T) {
	s := newServer(t, Options{})
	r1, r2 := newReceiver(t), newReceiver(t)
	files := newFileServer(t, []byte("orig"))
	ctx := testContext(t)
	cfg := func(user, cb string) map[string]any {
		c := docsConfig(t, "co.1", files.URL+"/f", cb, user, "")
		c["editorConfig"].(map[string]any)["user"].(map[string]any)["group"] = "Team A"
		return c
	}
	a, err := s.OpenDocs(ctx, cfg("u-1", r1.URL+"/cb1"), User{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitFor(ctx, callbackStatus(1)); err != nil {
		t.Fatal(err)
	}
	b, err := s.OpenDocs(ctx, cfg("u-2", r2.URL+"/cb2"), User{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(files.requests()); n != 1 {
		t.Errorf("%d downloads for one key, want 1", n)
	}
	if string(b.Content()) != "orig" {
		t.Errorf("co-editor sees %q", b.Content())
	}
	if _, err := s.WaitForN(ctx, 2, callbackStatus(1)); err != nil { // joins are fire-and-forget
		t.Fatal(err)
	}
	b.Edit([]byte("by u-2"))
	if string(a.Content()) != "by u-2" {
		t.Error("co-editors must share the document")
	}
	b.Close()
	a.Close()
	ev, err := s.WaitFor(ctx, callbackStatus(2))
	if err != nil {
		t.Fatal(err)
	}
	bodies := func(r *receiver) []string {
		var out []string
		for _, q := range r.requests() {
			var m struct {
				Status  int
				Users   []string
				Actions []action
			}
			json.Unmarshal(q.Body, &m)
			out = append(out, fmt.Sprint(m.Status, m.Users, m.Actions))
		}
		return out
	}
	// u-1's own URL: its join. u-2's URL: its join, its leave (others stay),
	// and status 2 (u-2 made the last change).
	if got, want := bodies(r1), []string{"1 [u-1] [{1 u-1}]"}; !reflect.DeepEqual(got, want) {
		t.Errorf("receiver 1 got %v, want %v", got, want)
	}
	if got, want := bodies(r2), []string{"1 [u-1 u-2] [{1 u-2}]", "1 [u-1] [{0 u-2}]", "2 [u-2] [{0 u-1}]"}; !reflect.DeepEqual(got, want) {
		t.Errorf("receiver 2 got %v, want %v", got, want)
	}
	var body struct {
		History struct {
			ServerVersion string
			Changes       []historyChange
		}
		NotModified bool
	}
	ev.Decode(&body)
	if len(body.History.Changes) != 1 || body.History.Changes[0].User.Name != "Team A\u00a0Name u-2" || body.History.ServerVersion != "9.3.1" || body.NotModified {
		t.Errorf("status 2 history %+v notmodified %v", body.History, body.NotModified)
	}
}

func TestSaveDelayAndReconnect(t *testing.T) {
	s := newServer(t, Options{SaveDelay: 200 * time.Millisecond})
	rcv := newReceiver(t)
	files := newFileServer(t, []byte("orig"))
	cfg := docsConfig(t, "rc", files.URL+"/f", rcv.URL+"/cb", "u-1", "")
	ctx := testContext(t)
	e := openEdited(t, s, cfg, "changed")
	e.Close()
	// Back within the delay: the save is cancelled and editing goes on.
	e2, err := s.OpenDocs(ctx, cfg, User{})
	if err != nil {
		t.Fatal(err)
	}
	if string(e2.Content()) != "changed" {
		t.Errorf("reconnected editor sees %q", e2.Content())
	}
	left := time.Now()
	e2.Close()
	ev, err := s.WaitFor(ctx, Match{Type: Request, Op: OpCallback, Status: 2}.Fn())
	if err != nil {
		t.Fatal(err)
	}
	if d := ev.Time.Sub(left); d < 200*time.Millisecond {
		t.Errorf("status 2 %v after the last editor left, want at least SaveDelay", d)
	}
	if n := len(s.Find(Match{Type: Request, Op: OpCallback, Status: 2}.Fn())); n != 1 {
		t.Errorf("%d status 2, want 1 (the first save was cancelled)", n)
	}

	// An explicit close skips the delay: with an hour's delay the save
	// still arrives.
	slow := newServer(t, Options{SaveDelay: time.Hour})
	e3 := openEdited(t, slow, docsConfig(t, "rc2", files.URL+"/f", rcv.URL+"/cb", "u-1", ""), "x")
	e3.CloseExplicitly()
	if _, err := slow.WaitFor(ctx, callbackStatus(2)); err != nil {
		t.Fatal(err)
	}

	// Viewers send nothing and do not hold up the save.
	v, err := slow.OpenDocs(ctx, maps2(docsConfig(t, "rc3", files.URL+"/f", rcv.URL+"/cb", "u-v", ""), "view"), User{})
	if err != nil || !v.View() {
		t.Fatalf("viewer: %v", err)
	}
	if err := v.Edit([]byte("no")); !errors.Is(err, ErrViewOnly) {
		t.Errorf("viewer Edit: %v", err)
	}
	v.Close()
	if n := len(slow.Find(Match{Type: Request, Op: OpCallback, Key: "rc3"}.Fn())); n != 0 {
		t.Errorf("viewer caused %d callbacks", n)
	}
}

// maps2 sets editorConfig.mode.
func maps2(cfg map[string]any, mode string) map[string]any {
	cfg["editorConfig"].(map[string]any)["mode"] = mode
	return cfg
}

func TestPrivateAddressFilter(t *testing.T) {
	files := newFileServer(t, []byte("orig"))
	rcv := newReceiver(t)
	ctx := testContext(t)
	off := newServer(t, Options{BlockPrivateIPs: true})
	if _, err := off.OpenDocs(ctx, docsConfig(t, "p1", files.URL+"/f", rcv.URL+"/cb", "u-1", ""), User{}); !errors.Is(err, ErrDownload) {
		t.Errorf("JWT off, loopback document.url: %v, want ErrDownload", err)
	}
	if n := len(files.requests()); n != 0 {
		t.Errorf("%d requests reached a private address", n)
	}
	on := newServer(t, Options{BlockPrivateIPs: true, JWTSecret: "k"})
	if _, err := on.OpenDocs(ctx, docsConfig(t, "p2", files.URL+"/f", rcv.URL+"/cb", "u-1", "k"), User{}); err != nil {
		t.Errorf("URL inside a verified JWT is requested directly: %v", err)
	}
}

func TestForcesaveAndCommandService(t *testing.T) {
	const secret = "cmd-secret"
	s := newServer(t, Options{JWTSecret: secret})
	rcv := newReceiver(t)
	files := newFileServer(t, []byte("orig"))
	ctx := testContext(t)
	command := func(body string, header string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL()+"/command", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set("Authorization", "Bearer "+header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	signed := func(claims map[string]any) string {
		return `{"token":"` + signMap(t, claims, secret) + `"}`
	}
	for _, c := range []struct{ name, body, header, want string }{
		{"version, body token", signed(map[string]any{"c": "version"}), "", `{"error":0,"version":"9.3.1.1"}`},
		{"version, header token", `{"c":"version"}`, signMap(t, map[string]any{"payload": map[string]any{"c": "version"}}, secret), `{"error":0,"version":"9.3.1.1"}`},
		{"no token", `{"c":"version"}`, "", `{"error":6}`},
		{"wrong secret", `{"token":"` + signMap(t, map[string]any{"c": "version"}, "nope") + `"}`, "", `{"error":6}`},
		{"expired", signed(map[string]any{"c": "version", "exp": time.Now().Add(-10 * time.Minute).Unix()}), "", `{"error":7}`},
		{"malformed", `{not json`, "", `{"error":6}`},
		{"unknown command", signed(map[string]any{"c": "bogus", "key": "abc"}), "", `{"key":"abc","error":5}`},
		{"info on unknown key", signed(map[string]any{"c": "info", "key": "nosuchkey"}), "", `{"key":"nosuchkey","error":1}`},
		{"getForgottenList", signed(map[string]any{"c": "getForgottenList"}), "", `{"error":0,"keys":[]}`},
	} {
		if got := command(c.body, c.header); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}

	e := openEdited(t, s, docsConfig(t, "fs.1", files.URL+"/f", rcv.URL+"/cb", "u-1", secret), "first")
	if got := command(signed(map[string]any{"c": "forcesave", "key": "fs.1", "userdata": "ud-42"}), ""); got != `{"key":"fs.1","error":0}` {
		t.Errorf("forcesave: %s", got)
	}
	ev, err := s.WaitFor(ctx, callbackStatus(6))
	if err != nil {
		t.Fatal(err)
	}
	var six map[string]any
	ev.Decode(&six)
	if six["forcesavetype"] != float64(0) || six["userdata"] != "ud-42" || six["actions"] != nil || fmt.Sprint(six["users"]) != "[u-1]" {
		t.Errorf("command forcesave body %v", six)
	}
	if got := objectKeys(t, ev.Request.Body); !reflect.DeepEqual(got, []string{"key", "status", "url", "changesurl", "users", "userdata", "lastsave", "forcesavetype", "token", "filetype"}) {
		t.Errorf("status 6 field order %v", got)
	}
	if got := command(signed(map[string]any{"c": "forcesave", "key": "fs.1"}), ""); got != `{"key":"fs.1","error":4}` {
		t.Errorf("forcesave without changes: %s", got)
	}

	e.Edit([]byte("second"))
	if err := e.Forcesave(); err != nil {
		t.Fatal(err)
	}
	if err := e.Forcesave(); !errors.Is(err, ErrNotModified) {
		t.Errorf("button forcesave without changes: %v", err)
	}
	evs, err := s.WaitForN(ctx, 2, callbackStatus(6))
	if err != nil {
		t.Fatal(err)
	}
	var button map[string]any
	evs[1].Decode(&button)
	if button["forcesavetype"] != float64(1) || fmt.Sprint(button["actions"]) != "[map[type:2 userid:u-1]]" {
		t.Errorf("button forcesave body %v", button)
	}

	s.FailNextSave()
	e.Edit([]byte("third"))
	e.Forcesave()
	if _, err := s.WaitFor(ctx, callbackStatus(7)); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Find(Match{Type: Request, Op: OpCallback, Status: 7}.Fn())); n != 1 {
		t.Errorf("status 7 sent %d times", n)
	}

	got := command(signed(map[string]any{"c": "info", "key": "fs.1", "userdata": "ud-info"}), "")
	if got != `{"key":"fs.1","error":0,"users":["u-1"]}` {
		t.Errorf("info: %s", got)
	}
	info := s.Find(Match{Type: Request, Op: OpCallback, Status: 1}.Fn())
	var ib map[string]any
	info[len(info)-1].Decode(&ib)
	if ib["userdata"] != "ud-info" || ib["actions"] != nil {
		t.Errorf("info callback %v", ib)
	}
}

func TestCorruptedSaveAndForgotten(t *testing.T) {
	s := newServer(t, Options{})
	rcv := newReceiver(t)
	files := newFileServer(t, []byte("orig"))
	cfg := docsConfig(t, "cor", files.URL+"/f", rcv.URL+"/cb", "u-1", "")
	ctx := testContext(t)
	s.FailNextSave()
	openEdited(t, s, cfg, "lost edit").Close()
	ev, err := s.WaitFor(ctx, callbackStatus(3))
	if err != nil {
		t.Fatal(err)
	}
	var three map[string]any
	ev.Decode(&three)
	if three["url"] == nil {
		t.Errorf("status 3 (corrupted) must carry url: %v", three)
	}
	if _, err := s.WaitFor(ctx, Match{Type: Forgotten, Key: "cor"}.Fn()); err != nil {
		t.Fatal(err)
	}
	// The next session starts from the forgotten file and saves it even
	// without new changes.
	e, err := s.OpenDocs(ctx, cfg, User{})
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Content()) != "lost edit" || len(files.requests()) != 1 {
		t.Errorf("reopened content %q after %d downloads", e.Content(), len(files.requests()))
	}
	e.Close()
	ev, err = s.WaitFor(ctx, callbackStatus(2))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ev.Request.Body), `"history":{}`) {
		t.Errorf("status 2 from a forgotten file must have history {}: %s", ev.Request.Body)
	}
}

func TestFaultInjection(t *testing.T) {
	t.Run("duplicate status 2", func(t *testing.T) {
		s := newServer(t, Options{})
		rcv := newReceiver(t)
		files := newFileServer(t, []byte("orig"))
		s.DuplicateNextSave()
		openEdited(t, s, docsConfig(t, "dup", files.URL+"/f", rcv.URL+"/cb", "u-1", ""), "x").Close()
		evs, err := s.WaitForN(testContext(t), 2, callbackStatus(2))
		if err != nil {
			t.Fatal(err)
		}
		var a, b struct{ URL string }
		evs[0].Decode(&a)
		evs[1].Decode(&b)
		if a.URL == "" || a.URL != b.URL {
			t.Errorf("duplicate carries url %q vs %q", a.URL, b.URL)
		}
	})

	t.Run("out of order, concurrently", func(t *testing.T) {
		s := newServer(t, Options{})
		rcv := newReceiver(t)
		arrived := make(chan struct{}, 2)
		both := make(chan struct{})
		var once sync.Once
		rcv.setReply(func(n int, body map[string]any) rawResponse {
			arrived <- struct{}{}
			if n == 2 {
				once.Do(func() { close(both) })
			}
			select { // the first reply waits for the second request
			case <-both:
			case <-time.After(5 * time.Second):
			}
			return jsonResponse(200, `{"error":0}`)
		})
		files := newFileServer(t, []byte("orig"))
		s.DeliverOutOfOrder(2)
		ctx := testContext(t)
		if _, err := s.OpenDocs(ctx, docsConfig(t, "ooo", files.URL+"/f", rcv.URL+"/cb", "u-1", ""), User{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.OpenDocs(ctx, docsConfig(t, "ooo", files.URL+"/f", rcv.URL+"/cb", "u-2", ""), User{}); err != nil {
			t.Fatal(err)
		}
		evs, err := s.WaitForN(ctx, 2, callbackStatus(1))
		if err != nil {
			t.Fatal(err)
		}
		sent := s.Find(Match{Type: Request, Op: OpCallback, Status: 1}.Fn())
		var first struct{ Users []string }
		sent[0].Decode(&first)
		if len(first.Users) != 2 {
			t.Errorf("first sent status 1 has users %v, want the later join [u-1 u-2]", first.Users)
		}
		if !evs[0].OK() || !evs[1].OK() {
			t.Error("both callbacks must be answered")
		}
	})
}

func TestDownloadRetries(t *testing.T) {
	const base = 10 * time.Millisecond
	s := newServer(t, Options{RetryBase: base})
	calls := 0
	var mu sync.Mutex
	files := newRawServer(t, func(rawRequest) rawResponse {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 2 {
			return rawResponse{Status: 500}
		}
		return rawResponse{Status: 200, Body: []byte("third time")}
	})
	ctx := testContext(t)
	e, err := s.OpenDocs(ctx, docsConfig(t, "dl", files.URL+"/f", "", "u-1", ""), User{})
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Content()) != "third time" {
		t.Errorf("content %q", e.Content())
	}
	tries := s.Find(Match{Type: Request, Op: OpDownload}.Fn())
	if len(tries) != 3 || tries[2].Time.Sub(tries[1].Time) < base {
		t.Errorf("%d download attempts", len(tries))
	}
	dead := newRawServer(t, func(rawRequest) rawResponse { return rawResponse{Status: 404} })
	if _, err := s.OpenDocs(ctx, docsConfig(t, "dl2", dead.URL+"/f", "", "u-1", ""), User{}); !errors.Is(err, ErrDownload) {
		t.Errorf("404 document.url: %v, want ErrDownload", err)
	}
	if n := len(dead.requests()); n != 3 {
		t.Errorf("%d attempts on 404, want 3", n)
	}
}

func TestConverter(t *testing.T) {
	const secret = "conv-secret"
	s := newServer(t, Options{JWTSecret: secret})
	files := newFileServer(t, []byte("legacy doc"))
	post := func(body string) map[string]any {
		t.Helper()
		resp, err := http.Post(s.URL()+"/converter", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		raw, _ := io.ReadAll(resp.Body)
		json.Unmarshal(raw, &out)
		out["_raw"] = string(raw)
		return out
	}
	src := files.URL + "/dl/8c1d2a?v=17&sig=abc"
	req := map[string]any{"async": false, "filetype": "doc", "key": "conv-8c1d2a-17", "outputtype": "docx", "title": "Legacy.doc", "url": src}
	out := post(`{"token":"` + signMap(t, req, secret) + `"}`)
	if out["endConvert"] != true || out["percent"] != float64(100) || out["fileType"] != "docx" {
		t.Fatalf("convert: %v", out)
	}
	if got := objectKeys(t, []byte(out["_raw"].(string))); !reflect.DeepEqual(got, []string{"fileUrl", "fileType", "percent", "endConvert"}) {
		t.Errorf("field order %v", got)
	}
	fileURL := out["fileUrl"].(string)
	if !strings.HasPrefix(fileURL, s.URL()+"/cache/files/data/conv_conv-8c1d2a-17_65/output.docx/Legacy.docx?") {
		t.Errorf("fileUrl %q", fileURL)
	}
	resp, err := http.Get(fileURL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "legacy doc" {
		t.Errorf("result %q", got)
	}
	dl := files.requests()
	claims := parseJWT(t, strings.TrimPrefix(dl[0].Get("Authorization"), "Bearer "), secret)
	if claims["payload"].(map[string]any)["url"] != src {
		t.Errorf("download JWT %v", claims)
	}

	if out := post(`{"token":"` + signMap(t, req, "wrong") + `"}`); out["error"] != float64(-8) {
		t.Errorf("bad token: %v", out)
	}
	bad := maps(req, "key", "bad key!")
	if out := post(`{"token":"` + signMap(t, bad, secret) + `"}`); out["error"] != float64(-7) {
		t.Errorf("bad key: %v", out)
	}
	dead := newRawServer(t, func(rawRequest) rawResponse { return rawResponse{Status: 500} })
	gone := maps(req, "url", dead.URL+"/x", "key", "conv-dead")
	if out := post(`{"token":"` + signMap(t, gone, secret) + `"}`); out["error"] != float64(-4) {
		t.Errorf("download failure: %v", out)
	}
}

func maps(m map[string]any, kv ...string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestAPIJSAndEditorConfig(t *testing.T) {
	s := newServer(t, Options{})
	resp, err := http.Get(s.URL() + "/web-apps/apps/api/documents/api.js")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"window.DocsAPI", "DocEditor = function (placeholderId, config)", "window.__docsEditorConfig = config", "/__test/editor-config"} {
		if !strings.Contains(string(js), want) {
			t.Errorf("api.js lacks %q", want)
		}
	}
	// What the script posts when a page calls DocsAPI.DocEditor.
	report := `{"placeholder":"editor","page":"http://bridge/open/1","config":{"document":{"key":"k-1"}}}`
	resp, err = http.Post(s.URL()+"/__test/editor-config", "text/plain;charset=UTF-8", strings.NewReader(report))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cfg, err := s.WaitEditorConfig(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if string(cfg) != `{"document":{"key":"k-1"}}` {
		t.Errorf("config %s", cfg)
	}
}
