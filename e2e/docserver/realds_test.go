package docserver

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// DS reuses a key for as long as its content has not changed: the last editor leaving
// without changes sends status 4, and an editor coming back with the same config (a
// dropped connection, a reloaded page) sends status 1 with that key again, without a new
// download.
func TestKeyReusedAfterTheLastEditorLeaves(t *testing.T) {
	s := newServer(t, Options{})
	rcv := newReceiver(t)
	files := newFileServer(t, []byte("orig"))
	cfg := docsConfig(t, "reuse.1", files.URL+"/f", rcv.URL+"/cb", "u-42", "")
	ctx := testContext(t)
	e, err := s.OpenDocs(ctx, cfg, User{})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	if _, err := s.WaitFor(ctx, Match{Type: Reply, Op: OpCallback, Key: "reuse.1", Status: StatusClosed}.Fn()); err != nil {
		t.Fatal(err)
	}
	again, err := s.OpenDocs(ctx, cfg, User{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Key() != "reuse.1" || string(again.Content()) != "orig" {
		t.Fatalf("reconnect: key %q content %q", again.Key(), again.Content())
	}
	joins, err := s.WaitForN(ctx, 2, Match{Type: Request, Op: OpCallback, Key: "reuse.1", Status: StatusEditing}.Fn())
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	joins[1].Decode(&body)
	if users, _ := body["users"].([]any); len(users) != 1 || users[0] != "u-42" {
		t.Errorf("second status 1 body %v", body)
	}
	if n := len(files.requests()); n != 1 {
		t.Errorf("%d downloads, want 1: the key's content stays cached", n)
	}

	// The command service's drop disconnects the editors: the last one leaving without
	// changes sends status 4 again.
	if code := postCommand(t, s, `{"c":"drop","key":"reuse.1"}`); code != `{"key":"reuse.1","error":0}` {
		t.Fatalf("drop: %s", code)
	}
	if _, err := s.WaitFor(ctx, Match{Type: Dropped, Key: "reuse.1"}.Fn()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitForN(ctx, 2, Match{Type: Reply, Op: OpCallback, Key: "reuse.1", Status: StatusClosed}.Fn()); err != nil {
		t.Fatal(err)
	}
	if err := again.Edit([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Edit after drop: %v", err)
	}
}

func postCommand(t *testing.T, s *Server, body string) string {
	t.Helper()
	resp, err := http.Post(s.URL()+"/command", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// With different inbox and outbox secrets, DS checks configs and commands with the inbox
// secret and signs callbacks and downloads with the outbox secret.
func TestSeparateInboxAndOutboxSecrets(t *testing.T) {
	const inbox, outbox = "inbox secret", "outbox secret"
	s := newServer(t, Options{JWTSecret: inbox, JWTOutboxSecret: outbox})
	rcv := newReceiver(t)
	files := newFileServer(t, []byte("orig"))
	ctx := testContext(t)
	if _, err := s.OpenDocs(ctx, docsConfig(t, "split.0", files.URL+"/f", rcv.URL+"/cb", "u-1", outbox), User{}); !errors.Is(err, ErrToken) {
		t.Fatalf("config signed with the outbox secret: %v, want 4006", err)
	}
	e, err := s.OpenDocs(ctx, docsConfig(t, "split.1", files.URL+"/f", rcv.URL+"/cb", "u-1", inbox), User{})
	if err != nil {
		t.Fatal(err)
	}
	dl := files.requests()[0]
	parseJWT(t, strings.TrimPrefix(dl.Get("Authorization"), "Bearer "), outbox)
	ev, err := s.WaitFor(ctx, callbackStatus(StatusEditing))
	if err != nil {
		t.Fatal(err)
	}
	parseJWT(t, strings.TrimPrefix(ev.Request.Get("Authorization"), "Bearer "), outbox)
	var body map[string]any
	ev.Decode(&body)
	parseJWT(t, body["token"].(string), outbox)
	e.Close()

	cmd := func(secret string) string {
		tok := signMap(t, map[string]any{"c": "version"}, secret)
		return postCommand(t, s, `{"token":"`+tok+`"}`)
	}
	if got := cmd(outbox); got != `{"error":6}` {
		t.Errorf("command signed with the outbox secret: %s", got)
	}
	if got := cmd(inbox); !strings.Contains(got, `"error":0`) {
		t.Errorf("command signed with the inbox secret: %s", got)
	}
}

// DS locks while it renders the host page. When no editor ever connects, nothing
// follows: no download, no RefreshLock, no Unlock.
func TestAbandonedWOPIOpenKeepsItsLock(t *testing.T) {
	s := newServer(t, Options{WOPIEnabled: true, RefreshLockInterval: 20 * time.Millisecond})
	host := newWOPIHost(t)
	ctx := testContext(t)
	gone := host.add("gone", &hostFile{info: editableInfo("gone.docx", "u-1", 3), content: []byte("abc")})
	live := host.add("live", &hostFile{info: editableInfo("live.docx", "u-2", 3), content: []byte("abc")})
	render, err := s.OpenWOPIAbandoned(ctx, gone, "tok-gone", 0, "edit")
	if err != nil {
		t.Fatal(err)
	}
	if render["key"] != "gone" || render["userAuth"].(map[string]any)["mode"] != "edit" {
		t.Fatalf("render params %v", render)
	}
	// A live editor on another file: its RefreshLocks show DS's timer ran.
	if _, err := s.OpenWOPI(ctx, live, "tok-live", 0, "edit"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitForN(ctx, 3, Match{Type: Reply, Op: OpRefreshLock, Key: "live"}.Fn()); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, r := range host.requests() {
		if strings.HasPrefix(r.Target, "/wopi/files/gone") {
			op := r.Get("X-WOPI-Override")
			if op == "" {
				op = r.Method + " " + strings.SplitN(r.Target, "?", 2)[0]
			}
			ops = append(ops, op)
		}
	}
	if strings.Join(ops, ",") != "GET /wopi/files/gone,LOCK" {
		t.Errorf("requests for the abandoned open: %v, want CheckFileInfo and LOCK only", ops)
	}
	if len(s.Find(Match{Type: Abandoned, Key: "gone"}.Fn())) != 1 {
		t.Error("no Abandoned event")
	}
}

// Discovery publishes what DS is configured with: a rotation moves the current key to
// old at once; a test can make it publish unusable keys (or none) while requests stay
// signed with the real ones.
func TestProofKeyRotationAndUnusableKeys(t *testing.T) {
	s := newServer(t, Options{WOPIEnabled: true})
	first, _ := s.ProofKeys()
	mod := func(k *rsa.PublicKey) string { return base64.StdEncoding.EncodeToString(k.N.Bytes()) }
	for i := 1; i <= 2; i++ {
		prev, _ := s.ProofKeys()
		if err := s.RotateProofKeys(nil); err != nil {
			t.Fatal(err)
		}
		cur, old := s.ProofKeys()
		if !old.Equal(prev) || cur.Equal(prev) {
			t.Fatalf("rotation %d: old is not the previous current key", i)
		}
		d, _ := fetchDiscovery(t, s)
		if d.ProofKey.Modulus != mod(cur) || d.ProofKey.OldModulus != mod(old) {
			t.Fatalf("rotation %d: discovery does not publish the new pair", i)
		}
	}
	cur, old := s.ProofKeys()
	if cur.Equal(first) || old.Equal(first) {
		t.Fatal("after two rotations the first key is still in use")
	}

	for _, kind := range []string{UnusableSmallKey, UnusableExponentOne, UnusableGarbage} {
		el, err := UnusableProofKeyElement(kind)
		if err != nil {
			t.Fatal(err)
		}
		s.PublishProofKeyElement(el)
		d, raw := fetchDiscovery(t, s)
		if !strings.Contains(raw, el) {
			t.Fatalf("%s: discovery does not publish %s", kind, el)
		}
		switch kind {
		case UnusableSmallKey:
			n, _ := base64.StdEncoding.DecodeString(d.ProofKey.Modulus)
			if bits := new(big.Int).SetBytes(n).BitLen(); bits != 1024 {
				t.Errorf("small key has %d bits", bits)
			}
		case UnusableExponentOne:
			if d.ProofKey.Exponent != "AQ==" {
				t.Errorf("exponent %q", d.ProofKey.Exponent)
			}
		}
	}
	s.PublishProofKeyElement("")
	if _, raw := fetchDiscovery(t, s); strings.Contains(raw, "<proof-key") {
		t.Error("discovery still publishes a proof key")
	}
	s.ResetPublishedProofKeys()
	if d, _ := fetchDiscovery(t, s); d.ProofKey.Modulus != mod(cur) {
		t.Error("reset does not publish the signing keys again")
	}
	next, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RotateProofKeys(next); err != nil {
		t.Fatal(err)
	}
	if now, _ := s.ProofKeys(); !now.Equal(&next.PublicKey) {
		t.Error("RotateProofKeys(next) does not sign with next")
	}
}

// The editor route with AbandonWOPIOpens: the page renders (after CheckFileInfo and
// LOCK) and its editor never connects. The page token is signed with the inbox secret.
func TestWOPIEditorRouteAbandoned(t *testing.T) {
	s := newServer(t, Options{WOPIEnabled: true, JWTSecret: "inbox", JWTOutboxSecret: "outbox"})
	host := newWOPIHost(t)
	src := host.add("left", &hostFile{info: editableInfo("l.docx", "u-9", 2), content: []byte("ll")})
	ctx := testContext(t)
	s.AbandonWOPIOpens(true)
	resp, err := http.PostForm(s.URL()+"/hosting/wopi/word/edit?WOPISrc="+url.QueryEscape(src),
		url.Values{"access_token": {"tok-l"}, "access_token_ttl": {"0"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, rest, _ := strings.Cut(string(page), `data-usid="`)
	usid, _, _ := strings.Cut(rest, `"`)
	ev, err := s.WaitFor(ctx, Match{Type: Abandoned, Key: "left"}.Fn())
	if err != nil || ev.Detail != usid || usid == "" {
		t.Fatalf("abandoned event %+v (usid %q): %v", ev, usid, err)
	}
	var ops []string
	for _, r := range host.requests() {
		ops = append(ops, r.Method+" "+r.Get("X-WOPI-Override"))
	}
	if strings.Join(ops, ",") != "GET ,POST LOCK" {
		t.Errorf("requests %v, want CheckFileInfo and LOCK", ops)
	}
	if len(s.Find(Match{Type: Connected}.Fn())) != 0 || s.WOPISession(usid) != nil {
		t.Error("the editor of an abandoned page connected")
	}
	_, tokRest, _ := strings.Cut(string(page), `"token":"`)
	tok, _, _ := strings.Cut(tokRest, `"`)
	parseJWT(t, tok, "inbox")
}
