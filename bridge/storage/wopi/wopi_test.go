package wopi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/bridge/storage/storagetest"
	"github.com/wopibridge/wopibridge/bridge/storage/wopi"
	"github.com/wopibridge/wopibridge/wopiclient"
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// env is a backend over a fake upstream host, with its state in a bolt file.
type env struct {
	t     testing.TB
	srv   *wopitest.Server
	store *state.Bolt
	spool string
	b     *wopi.Backend
	http  *http.Client // as a bridge's: wopiclient.NewHTTPClient
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newProfileEnv(t, wopitest.Spec)
}

// newProfileEnv is newEnv over a host that behaves as p describes.
func newProfileEnv(t testing.TB, p wopitest.Profile) *env {
	t.Helper()
	e := &env{t: t, srv: wopitest.NewServerProfile(t, p), spool: t.TempDir(), http: wopiclient.NewHTTPClient()}
	t.Cleanup(e.http.CloseIdleConnections)
	store, err := state.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e.store = store
	e.b = e.open()
	return e
}

// open makes a backend over the env's state, as a (re)started bridge does.
func (e *env) open() *wopi.Backend {
	e.t.Helper()
	origin, err := url.Parse(e.srv.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := wopi.New(wopi.Options{
		Origins: []*url.URL{origin},
		State:   e.store,
		HTTP:    e.http,
		TempDir: e.spool,
		Now:     e.srv.Now,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// upstream is a file on the fake host with a token for user.
type upstream struct {
	id    string // the host's id
	src   string
	token string
	ttl   int64
}

func (e *env) addFile(name, content, user string) upstream {
	e.t.Helper()
	id, src := e.srv.AddFile(name, []byte(content))
	tok := e.srv.Token(id, user, true)
	return upstream{id: id, src: src, token: tok, ttl: e.srv.TokenTTL(tok)}
}

func (e *env) register(u upstream, user string) storage.File {
	e.t.Helper()
	f, err := e.b.Register(e.t.Context(), u.src, u.token, u.ttl, user)
	if err != nil {
		e.t.Fatalf("Register(%s): %v", u.src, err)
	}
	return f
}

// ---- conformance ----

// homeName is the file whose virtual folder the conformance cases create files in.
const homeName = "~home.txt"

func TestConformance(t *testing.T) {
	for _, p := range wopitest.Profiles() {
		// OpenCloud refuses GetFile with the tokens its PutRelativeFile hands out, and
		// the suite makes its files with Create: none could be read back. That refusal
		// has tests of its own (bridge: TestHostsRelativeTokenRefused).
		p.RelativeTokensNoGetFile = false
		t.Run(p.Name, func(t *testing.T) { conformance(t, p) })
	}
}

func conformance(t *testing.T, p wopitest.Profile) {
	var envs sync.Map // *wopi.Backend → *env
	storagetest.RunWith(t, func(t *testing.T) storage.Backend {
		e := newProfileEnv(t, p)
		envs.Store(e.b, e)
		t.Cleanup(func() { envs.Delete(e.b) })
		return e.b
	}, storagetest.Options{
		Home: func(t *testing.T, b storage.Backend) storage.Folder {
			v, _ := envs.Load(b)
			e := v.(*env)
			home := e.register(e.addFile(homeName, "", "suite"), "suite")
			folder, err := b.Folder(t.Context(), home.FolderID)
			if err != nil {
				t.Fatalf("Folder(%s): %v", home.FolderID, err)
			}
			return folder
		},
		NoFolders: true,
		NoList:    true,
		Names: func(t *testing.T, b storage.Backend, folderID string) []string {
			v, _ := envs.Load(b)
			return slices.DeleteFunc(v.(*env).srv.Names(), func(n string) bool { return n == homeName })
		},
		KeepsExtension:     true,
		NoCreate:           p.NoPutRelative,
		NoRename:           p.NoRename,
		SizeMayBeUnknown:   p.Omits("Size") || p.Framing != wopitest.FramingLength,
		OverwriteOnlyEmpty: p.OverwriteOnlyEmpty,
		Seed: func(t *testing.T, b storage.Backend, _, name, content string) storage.File {
			v, _ := envs.Load(b)
			e := v.(*env)
			return e.register(e.addFile(name, content, "suite"), "suite")
		},
	})
}

// ---- ids and origins ----

var idPattern = regexp.MustCompile(`^[a-z2-7]{26}$`)

func TestIDs(t *testing.T) {
	e := newEnv(t)
	u := e.addFile("a.docx", "A", "alice")
	f := e.register(u, "alice")
	if !idPattern.MatchString(f.ID) {
		t.Errorf("id %q does not match %s", f.ID, idPattern)
	}
	if f.Name != "a.docx" || f.Size != 1 || f.Version != e.srv.Version(u.id) || f.FolderID != "dir-"+f.ID || f.ModTime.IsZero() {
		t.Errorf("Register = %+v", f)
	}
	// Spellings of the same WOPISrc give the same id.
	origin, _ := url.Parse(e.srv.URL)
	for _, src := range []string{
		u.src,
		strings.Replace(u.src, "http://", "HTTP://", 1),
		u.src + "?access_token=whatever&access_token_ttl=1",
		u.src + "#fragment",
		"  " + u.src + " ",
	} {
		id, err := e.b.FileID(src)
		if err != nil || id != f.ID {
			t.Errorf("FileID(%q) = %q, %v; want %q", src, id, err, f.ID)
		}
	}
	other, _ := e.b.FileID("http://" + origin.Host + "/wopi/files/other")
	if other == f.ID {
		t.Error("two WOPISrcs gave one id")
	}
	// Default ports are one origin.
	b, err := wopi.New(wopi.Options{Origins: []*url.URL{{Scheme: "https", Host: "Wopi.Example.com"}}, State: e.store})
	if err != nil {
		t.Fatal(err)
	}
	a1, err1 := b.FileID("https://wopi.example.com:443/wopi/files/1")
	a2, err2 := b.FileID("https://WOPI.example.com/wopi/files/1")
	if err1 != nil || err2 != nil || a1 != a2 {
		t.Errorf("default port: %q, %v / %q, %v", a1, err1, a2, err2)
	}
}

func TestOriginNotAllowed(t *testing.T) {
	e := newEnv(t)
	u := e.addFile("a.docx", "A", "alice")
	origin, _ := url.Parse(e.srv.URL)
	cases := map[string]error{
		"http://evil.example/wopi/files/" + u.id:                wopi.ErrOriginNotAllowed,
		"https://" + origin.Host + "/wopi/files/" + u.id:        wopi.ErrOriginNotAllowed, // other scheme
		"http://" + origin.Hostname() + ":1/wopi/files/" + u.id: wopi.ErrOriginNotAllowed, // other port
		"http://localhost:" + origin.Port() + "/wopi/files/x":   wopi.ErrOriginNotAllowed, // other name
		"http://user:pw@" + origin.Host + "/wopi/files/" + u.id: wopi.ErrInvalidWOPISrc,
		"file:///etc/passwd":                                    wopi.ErrInvalidWOPISrc,
		"/wopi/files/" + u.id:                                   wopi.ErrInvalidWOPISrc,
		"http://%zz/":                                           wopi.ErrInvalidWOPISrc,
		"gopher://" + origin.Host + "/wopi/files/" + u.id:       wopi.ErrInvalidWOPISrc,
	}
	for src, want := range cases {
		_, err := e.b.Register(t.Context(), src+"?access_token="+u.token, u.token, u.ttl, "alice")
		if !errors.Is(err, want) || !errors.Is(err, storage.ErrUnauthorized) {
			t.Errorf("Register(%q): %v, want %v", src, err, want)
		}
		if err != nil && strings.Contains(err.Error(), u.token) {
			t.Errorf("Register(%q) error holds the token: %v", src, err)
		}
		if _, err := e.b.FileID(src); !errors.Is(err, want) {
			t.Errorf("FileID(%q): %v, want %v", src, err, want)
		}
	}
	if reqs := e.srv.Requests(); len(reqs) != 0 {
		t.Errorf("refused WOPISrcs made %d requests: %+v", len(reqs), reqs)
	}
	if _, err := wopi.New(wopi.Options{Origins: []*url.URL{{Scheme: "ftp", Host: "x"}}, State: e.store}); err == nil {
		t.Error("New accepted an ftp origin")
	}
	if _, err := wopi.New(wopi.Options{State: e.store}); err == nil {
		t.Error("New accepted no origin")
	}
}

// ---- credentials ----

func TestTwoUsersOneID(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	u := e.addFile("shared.docx", "v1", "alice")
	bobToken := e.srv.Token(u.id, "bob", true)
	a := e.register(u, "alice")
	b, err := e.b.Register(ctx, u.src, bobToken, e.srv.TokenTTL(bobToken), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID {
		t.Fatalf("two users of one file got ids %q and %q", a.ID, b.ID)
	}
	alice, bob := wopi.WithUser(ctx, "alice"), wopi.WithUser(ctx, "bob")
	e.srv.ResetRequests()
	if _, err := e.b.Lock(alice, a.ID, "session-1"); err != nil {
		t.Fatal(err)
	}
	// Co-editing: bob saves under the one lock alice's session took.
	if _, err := e.b.Put(bob, a.ID, "session-1", strings.NewReader("v2"), 0); err != nil {
		t.Fatal(err)
	}
	// Background work (no user) uses the most recent registration: bob's.
	if _, err := e.b.RefreshLock(ctx, a.ID, "session-1"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range e.srv.Requests() {
		if r.Op == wopitest.OpLock || r.Op == wopitest.OpPutFile || r.Op == wopitest.OpRefreshLock {
			got = append(got, string(r.Op)+":"+r.User)
		}
	}
	if want := []string{"Lock:alice", "PutFile:bob", "RefreshLock:bob"}; !slices.Equal(got, want) {
		t.Errorf("requests by %q, want %q", got, want)
	}
	if string(e.srv.Content(u.id)) != "v2" || e.srv.Lock(u.id) != "session-1" {
		t.Errorf("upstream has %q locked %q", e.srv.Content(u.id), e.srv.Lock(u.id))
	}

	// A user who never opened the file gets nobody else's token.
	e.srv.ResetRequests()
	_, err = e.b.Stat(wopi.WithUser(ctx, "carol"), a.ID)
	if !errors.Is(err, storage.ErrUnauthorized) || !strings.Contains(err.Error(), "open the file again") {
		t.Errorf("Stat as an unregistered user: %v, want ErrUnauthorized asking to open the file again", err)
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests made without a usable token", n)
	}
	// Alice registers again: hers is the most recent now.
	e.register(u, "alice")
	e.srv.ResetRequests()
	if _, err := e.b.GetLock(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if r := e.srv.Requests(); len(r) != 1 || r[0].User != "alice" {
		t.Errorf("background GetLock after alice registered again: %+v", r)
	}
}

func TestExpiredTokens(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	// Expired before it is registered: refused without a request.
	u := e.addFile("a.docx", "A", "alice")
	_, err := e.b.Register(ctx, u.src, u.token, e.srv.Now().Add(-time.Minute).UnixMilli(), "alice")
	if !errors.Is(err, storage.ErrUnauthorized) {
		t.Errorf("Register with an expired ttl: %v", err)
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("Register with an expired ttl made %d requests", n)
	}

	// Refused upstream (expired or revoked there): ErrUnauthorized.
	f := e.register(u, "alice")
	e.srv.ExpireToken(u.token)
	_, err = e.b.Stat(ctx, f.ID)
	if !errors.Is(err, storage.ErrUnauthorized) || !strings.Contains(err.Error(), "open the file again") {
		t.Errorf("Stat with a token the upstream expired: %v", err)
	}
	var se *wopiclient.StatusError
	if !errors.As(err, &se) || se.Status != 401 {
		t.Errorf("Stat error %v does not carry the upstream 401", err)
	}
	_, err = e.b.Register(ctx, u.src, u.token, 0, "alice")
	if !errors.Is(err, storage.ErrUnauthorized) {
		t.Errorf("Register with a token the upstream refuses: %v", err)
	}

	// Expired by its ttl: not even tried.
	v := e.addFile("b.docx", "B", "bob")
	g := e.register(v, "bob")
	older := e.srv.Token(v.id, "carol", true)
	if _, err := e.b.Register(ctx, v.src, older, e.srv.Now().Add(3*time.Hour).UnixMilli(), "carol"); err != nil {
		t.Fatal(err)
	}
	e.register(v, "bob") // bob's is the most recent, and expires in 10h
	e.srv.Advance(wopitest.TokenTTL + time.Minute)
	e.srv.ResetRequests()
	for _, ctx := range []context.Context{ctx, wopi.WithUser(ctx, "bob"), wopi.WithUser(ctx, "carol")} {
		_, err = e.b.Stat(ctx, g.ID)
		if !errors.Is(err, storage.ErrUnauthorized) || !strings.Contains(err.Error(), "open the file again") {
			t.Errorf("Stat with only expired tokens: %v", err)
		}
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests made with expired tokens", n)
	}
}

// A background operation falls back to an older unexpired token when the most recent
// one has expired.
func TestOlderTokenWhenNewestExpired(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	u := e.addFile("a.docx", "A", "alice")
	f := e.register(u, "alice") // 10 h
	bob := e.srv.Token(u.id, "bob", true)
	if _, err := e.b.Register(ctx, u.src, bob, e.srv.Now().Add(time.Hour).UnixMilli(), "bob"); err != nil {
		t.Fatal(err)
	}
	e.srv.Advance(2 * time.Hour)
	e.srv.ResetRequests()
	if _, err := e.b.Stat(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if r := e.srv.Requests(); len(r) != 1 || r[0].User != "alice" {
		t.Errorf("requests %+v, want one by alice", r)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	u := e.addFile("a.docx", "A", "alice")
	f := e.register(u, "alice")
	restarted := e.open()
	if _, err := restarted.Lock(t.Context(), f.ID, "L1"); err != nil {
		t.Fatalf("Lock after a restart: %v", err)
	}
	if got := e.srv.Lock(u.id); got != "L1" {
		t.Errorf("upstream lock %q, want L1", got)
	}
	if err := restarted.Check(t.Context()); err != nil {
		t.Errorf("Check: %v", err)
	}
	e.store.Close()
	if err := restarted.Check(t.Context()); err == nil {
		t.Error("Check with a closed state store succeeded")
	}
}

// ---- mapping ----

func TestLockConflictCarriesUpstreamLock(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	u := e.addFile("a.docx", "A", "alice")
	f := e.register(u, "alice")
	theirs := `{"S":"other client","E":2}`
	e.srv.SetLock(u.id, theirs)
	wantConflict := func(op string, err error) {
		t.Helper()
		var lc *storage.LockConflictError
		if !errors.As(err, &lc) || lc.Current != theirs {
			t.Errorf("%s: %v, want a conflict with the upstream lock", op, err)
		}
	}
	_, err := e.b.Lock(ctx, f.ID, "mine")
	wantConflict("Lock", err)
	_, err = e.b.Put(ctx, f.ID, "mine", strings.NewReader("x"), 0)
	wantConflict("Put", err)
	_, err = e.b.Create(ctx, f.FolderID, "a.docx", strings.NewReader("x"), true, 0)
	wantConflict("Create with overwrite", err)
	wantConflict("Delete", e.b.Delete(ctx, f.ID))
	_, err = e.b.Rename(ctx, f.ID, "", "b.docx")
	wantConflict("Rename", err)
	// A lock id WOPI cannot carry is refused here, reporting the upstream's lock.
	_, err = e.b.Lock(ctx, f.ID, "bad\nlock")
	wantConflict("Lock with a control character", err)
	if got, err := e.b.GetLock(ctx, f.ID); err != nil || got != theirs {
		t.Errorf("GetLock = %q, %v", got, err)
	}
	if string(e.srv.Content(u.id)) != "A" || e.srv.Lock(u.id) != theirs {
		t.Error("a refused operation changed the upstream")
	}
}

func TestErrorMapping(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	u := e.addFile("a.docx", "A", "alice")
	f := e.register(u, "alice")
	e.srv.SetLock(u.id, "L1")

	e.srv.FailNext(wopitest.OpPutFile, 1, 500)
	_, err := e.b.Put(ctx, f.ID, "L1", strings.NewReader("x"), 0)
	if !errors.Is(err, storage.ErrUnavailable) || !errors.Is(err, wopiclient.ErrUnavailable) {
		t.Errorf("500: %v, want ErrUnavailable wrapping the cause", err)
	}
	e.srv.FailNext(wopitest.OpGetLock, 1, 501)
	if _, err := e.b.GetLock(ctx, f.ID); !errors.Is(err, storage.ErrUnsupported) {
		t.Errorf("501: %v, want ErrUnsupported", err)
	}
	e.srv.SetMaxSize(2)
	if _, err := e.b.Put(ctx, f.ID, "L1", strings.NewReader("xyz"), 0); !errors.Is(err, storage.ErrTooLarge) {
		t.Errorf("413: %v, want ErrTooLarge", err)
	}
	e.srv.SetMaxSize(0)
	e.srv.SetUnreachable(true)
	if _, err := e.b.Stat(ctx, f.ID); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("unreachable: %v, want ErrUnavailable", err)
	}
	e.srv.SetUnreachable(false)
	e.srv.SetDelay(time.Second)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = e.b.Stat(short, f.ID)
	cancel()
	if !errors.Is(err, storage.ErrUnavailable) || !errors.Is(err, wopiclient.ErrTimeout) {
		t.Errorf("slow upstream: %v, want ErrUnavailable and a timeout", err)
	}
	e.srv.SetDelay(0)

	// Deleted upstream behind the bridge's back: not found.
	e.srv.SetLock(u.id, "")
	c := &wopiclient.Client{HTTP: e.srv.Client()}
	if err := c.DeleteFile(ctx, u.src, u.token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.Stat(ctx, f.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("404: %v, want ErrNotFound", err)
	}
}

// TestNoTokenInErrors collects errors of every kind and searches their texts for the
// tokens.
func TestNoTokenInErrors(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	u := e.addFile("a.docx", "A", "alice")
	f := e.register(u, "alice")
	e.srv.SetLock(u.id, "L1")
	var errs []error
	add := func(err error) {
		t.Helper()
		if err == nil {
			t.Error("an operation meant to fail succeeded")
			return
		}
		errs = append(errs, err)
	}
	_, err := e.b.Put(ctx, f.ID, "L2", strings.NewReader("x"), 0)
	add(err)
	_, err = e.b.Create(ctx, f.FolderID, "a.docx", strings.NewReader("x"), false, 0)
	add(err)
	_, err = e.b.Create(ctx, f.FolderID, "a/b.docx", strings.NewReader("x"), false, 0)
	add(err)
	e.srv.FailNext(wopitest.OpCheckFileInfo, 1, 503)
	_, err = e.b.Stat(ctx, f.ID)
	add(err)
	e.srv.SetUnreachable(true)
	_, _, err = e.b.Open(ctx, f.ID)
	add(err)
	e.srv.SetUnreachable(false)
	e.srv.SetDelay(time.Second)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	_, err = e.b.Lock(short, f.ID, "L1")
	cancel()
	add(err)
	e.srv.SetDelay(0)
	_, err = e.b.Register(ctx, "http://elsewhere.example/wopi/files/1?access_token="+u.token, u.token, 0, "alice")
	add(err)
	_, err = e.b.Register(ctx, u.src+"?access_token="+u.token, u.token, 1, "alice")
	add(err)
	e.srv.RevokeToken(u.token)
	_, err = e.b.Stat(ctx, f.ID)
	add(err)
	_, err = e.b.Register(ctx, u.src, u.token, 0, "alice")
	add(err)
	for _, err := range errs {
		msg := err.Error()
		if strings.Contains(msg, u.token) || strings.Contains(msg, url.QueryEscape(u.token)) ||
			regexp.MustCompile(`access_token=[^\[&]`).MatchString(msg) {
			t.Errorf("error holds the upstream token: %s", msg)
		}
	}
	if len(errs) != 10 {
		t.Errorf("%d errors collected, want 10", len(errs))
	}
}

// ---- content ----

func TestPutSpoolsUnknownLength(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	u := e.addFile("a.docx", "A", "alice")
	f := e.register(u, "alice")
	if _, err := e.b.Lock(ctx, f.ID, "L1"); err != nil {
		t.Fatal(err)
	}
	content := strings.Repeat("0123456789", 10_000)
	e.srv.ResetRequests()
	got, err := e.b.Put(ctx, f.ID, "L1", iotest.OneByteReader(strings.NewReader(content)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != int64(len(content)) || got.Version != e.srv.Version(u.id) || string(e.srv.Content(u.id)) != content {
		t.Errorf("Put = %+v", got)
	}
	for _, r := range e.srv.Requests() {
		if r.Op == wopitest.OpPutFile && r.ContentLength != int64(len(content)) {
			t.Errorf("PutFile sent Content-Length %d, want %d", r.ContentLength, len(content))
		}
	}
	if left, _ := os.ReadDir(e.spool); len(left) != 0 {
		t.Errorf("spool left %d files", len(left))
	}
	// Over the limit: refused before anything is sent.
	e.srv.ResetRequests()
	_, err = e.b.Put(ctx, f.ID, "L1", iotest.OneByteReader(strings.NewReader(content)), 100)
	if !errors.Is(err, storage.ErrTooLarge) {
		t.Errorf("Put over the limit: %v", err)
	}
	for _, r := range e.srv.Requests() {
		if r.Op == wopitest.OpPutFile {
			t.Error("a PutFile was sent for a body over the limit")
		}
	}
	if left, _ := os.ReadDir(e.spool); len(left) != 0 {
		t.Errorf("spool left %d files", len(left))
	}
}

func TestOpenDescribesTheBytes(t *testing.T) {
	e := newEnv(t)
	u := e.addFile("a.docx", "first", "alice")
	f := e.register(u, "alice")
	rc, got, err := e.b.Open(t.Context(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "first" || got.Size != 5 || got.Version != e.srv.Version(u.id) || got.Name != "a.docx" {
		t.Errorf("Open = %q, %+v", data, got)
	}
	// A host without Version: LastModifiedTime stands in.
	e.srv.SetProperties(u.id, map[string]any{"Version": nil})
	st, err := e.b.Stat(t.Context(), f.ID)
	if err != nil || st.Version == "" || st.Version != st.ModTime.Format(wopiclient.TimeFormat) {
		t.Errorf("Stat without Version = %+v, %v; want LastModifiedTime as the version", st, err)
	}
}

func TestCreateNextToFile(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	u := e.addFile("report.docx", "R", "alice")
	f := e.register(u, "alice")
	folder, err := e.b.Folder(ctx, f.FolderID)
	if err != nil || folder.ID != f.FolderID || folder.Name != "wopitest" {
		t.Errorf("Folder(%s) = %+v, %v", f.FolderID, folder, err)
	}
	e.srv.ResetRequests()
	c, err := e.b.Create(wopi.WithUser(ctx, "alice"), f.FolderID, "report (conflict 2025-03-01 12.00.00).docx", strings.NewReader("mine"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.FolderID != f.FolderID || c.ID == f.ID || c.Size != 4 {
		t.Errorf("Create = %+v", c)
	}
	reqs := e.srv.Requests()
	if len(reqs) == 0 || reqs[0].Op != wopitest.OpPutRelativeFile || reqs[0].Path != "/wopi/files/"+u.id || reqs[0].ContentLength != 4 {
		t.Errorf("requests %+v, want PutRelativeFile on the anchor first", reqs)
	}
	// The new file is usable with the token the upstream handed out for it.
	if _, err := e.b.Lock(wopi.WithUser(ctx, "alice"), c.ID, "L1"); err != nil {
		t.Errorf("Lock of the created file: %v", err)
	}
	_, err = e.b.Create(ctx, "dir-"+strings.Repeat("a", 26), "x.docx", strings.NewReader("x"), false, 0)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Create in an unknown folder: %v", err)
	}
}

// ---- permissions and names ----

func TestStatAccess(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	// What the fake host states of itself, whoever asks.
	host := func(a storage.Access) storage.Access {
		a.GetLock, a.ExtendedLockLength, a.Owner = true, true, "owner"
		return a
	}
	cases := []struct {
		name  string
		ctx   context.Context
		props map[string]any
		want  storage.Access
	}{
		{"writer", wopi.WithUser(ctx, "alice"), nil, host(storage.Access{Write: true, Rename: true, Create: true})},
		{"viewer", wopi.WithUser(ctx, "bob"), nil, host(storage.Access{})},
		{"read-only file", wopi.WithUser(ctx, "alice"), map[string]any{"ReadOnly": true}, host(storage.Access{Create: true})},
		{"no rename support", wopi.WithUser(ctx, "alice"), map[string]any{"SupportsRename": false}, host(storage.Access{Write: true, Create: true})},
		{"states nothing", wopi.WithUser(ctx, "alice"), map[string]any{"UserCanWrite": nil, "ReadOnly": nil, "UserCanRename": nil, "UserCanNotWriteRelative": nil,
			"SupportsGetLock": nil, "SupportsExtendedLockLength": nil, "OwnerId": nil}, storage.Access{Create: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := e.addFile("a.docx", "A", "alice")
			f := e.register(u, "alice")
			viewer := e.srv.Token(u.id, "bob", false)
			if _, err := e.b.Register(ctx, u.src, viewer, e.srv.TokenTTL(viewer), "bob"); err != nil {
				t.Fatal(err)
			}
			if tc.props != nil {
				e.srv.SetProperties(u.id, tc.props)
			}
			e.srv.ResetRequests()
			got, access, err := e.b.StatAccess(tc.ctx, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if access != tc.want {
				t.Errorf("access = %+v, want %+v", access, tc.want)
			}
			if got.ID != f.ID || got.Name != "a.docx" || got.Size != 1 || got.FolderID != f.FolderID {
				t.Errorf("file = %+v", got)
			}
			if n := len(e.srv.Requests()); n != 1 {
				t.Errorf("%d upstream requests, want one CheckFileInfo", n)
			}
		})
	}
}

func TestCreateFree(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	u := e.addFile("report.docx", "R", "alice")
	f := e.register(u, "alice")
	e.srv.ResetRequests()
	a, err := e.b.CreateFree(ctx, f.FolderID, "copy.docx", strings.NewReader("one"), 0)
	if err != nil || a.Name != "copy.docx" || a.Size != 3 {
		t.Fatalf("CreateFree on a free name = %+v, %v", a, err)
	}
	b, err := e.b.CreateFree(ctx, f.FolderID, "copy.docx", strings.NewReader("two"), 0)
	if err != nil || b.Name == "copy.docx" || b.ID == a.ID || b.FolderID != f.FolderID {
		t.Fatalf("CreateFree on a taken name = %+v, %v; want another name", b, err)
	}
	if got := string(e.srv.Content(e.srv.FileID("copy.docx"))); got != "one" {
		t.Errorf("the first copy now holds %q", got)
	}
	if got := string(e.srv.Content(e.srv.FileID(b.Name))); got != "two" {
		t.Errorf("%s holds %q", b.Name, got)
	}
	for _, r := range e.srv.Requests() {
		if r.Op == wopitest.OpPutRelativeFile && r.Status != 200 {
			t.Errorf("PutRelativeFile answered %d: suggested mode should never conflict", r.Status)
		}
	}
	if _, err := e.b.CreateFree(ctx, f.FolderID, "x.docx", strings.NewReader("too long"), 3); !errors.Is(err, storage.ErrTooLarge) {
		t.Errorf("CreateFree over the limit: %v", err)
	}
}

// Two replicas over one state store: a user registered on one is served at once by the
// other, although the other has the file's record in memory.
func TestReplicaSeesRegistration(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	other := e.open()
	u := e.addFile("a.docx", "A", "alice")
	f := e.register(u, "alice")
	if _, err := other.Stat(wopi.WithUser(ctx, "alice"), f.ID); err != nil {
		t.Fatal(err)
	}
	bob := e.srv.Token(u.id, "bob", true)
	if _, err := e.b.Register(ctx, u.src, bob, e.srv.TokenTTL(bob), "bob"); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	if _, err := other.Stat(wopi.WithUser(ctx, "bob"), f.ID); err != nil {
		t.Fatalf("Stat as bob on the other replica: %v", err)
	}
	if r := e.srv.Requests(); len(r) != 1 || r[0].User != "bob" {
		t.Errorf("requests %+v, want one by bob", r)
	}
}

// UpstreamState follows the latest calls: failing from a 5xx or no reply until a call
// is answered again; refusals (4xx) are answers.
func TestUpstreamState(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	u := e.addFile("a.docx", "A", "alice")
	f := e.register(u, "alice")
	if err := e.b.UpstreamState(); err != nil {
		t.Fatalf("after a registration: %v", err)
	}
	e.srv.FailNext(wopitest.OpCheckFileInfo, 2, 500)
	for range 2 {
		if _, err := e.b.Stat(ctx, f.ID); !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Stat on a failing upstream: %v", err)
		}
	}
	err := e.b.UpstreamState()
	if err == nil || !strings.Contains(err.Error(), ": 2, the latest") || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "proof") {
		t.Errorf("after two 500s: %v", err)
	}
	if strings.Contains(err.Error(), u.token) {
		t.Error("the state names the upstream token")
	}
	e.srv.SetLock(u.id, "other")
	if _, err := e.b.Put(ctx, f.ID, "mine", strings.NewReader("x"), 0); err == nil {
		t.Fatal("Put under another lock succeeded")
	}
	if err := e.b.UpstreamState(); err != nil {
		t.Errorf("after a 409: %v", err)
	}
	e.srv.SetUnreachable(true)
	_, _ = e.b.Stat(ctx, f.ID)
	e.srv.SetUnreachable(false)
	if err := e.b.UpstreamState(); err == nil || !strings.Contains(err.Error(), ": 1, the latest") {
		t.Errorf("after an unreachable upstream: %v", err)
	}
}

// Row 6: a host that announces PutRelativeFile and answers 501 (wopiserver) is not
// offered it again for a while; RenameFile is never sent to a host that does not
// announce it.
func TestAnnouncedButRefused(t *testing.T) {
	e := newProfileEnv(t, wopitest.WS)
	ctx := wopi.WithUser(t.Context(), "alice")
	u := e.addFile("a.docx", "A", "alice")
	f := e.register(u, "alice")
	if _, a, err := e.b.StatAccess(ctx, f.ID); err != nil || !a.Create || a.Rename {
		t.Fatalf("access before any refusal: %+v, %v", a, err)
	}
	_, err := e.b.CreateFree(ctx, f.FolderID, "copy.docx", strings.NewReader("c"), 0)
	if !errors.Is(err, storage.ErrUnsupported) || !strings.Contains(err.Error(), "does not offer PutRelativeFile") {
		t.Fatalf("CreateFree on wopiserver: %v", err)
	}
	if _, a, err := e.b.StatAccess(ctx, f.ID); err != nil || a.Create {
		t.Errorf("access after the 501: %+v, %v", a, err)
	}
	e.srv.ResetRequests()
	if _, err := e.b.Rename(ctx, f.ID, "", "b.docx"); !errors.Is(err, storage.ErrUnsupported) {
		t.Errorf("Rename on a host that does not announce it: %v", err)
	}
	for _, r := range e.srv.Requests() {
		if r.Op == wopitest.OpRenameFile {
			t.Error("RenameFile sent")
		}
	}
	if e.srv.Name(u.id) != "a.docx" {
		t.Errorf("upstream name %q", e.srv.Name(u.id))
	}
	// The memory fades: the host may have been fixed.
	e.srv.Advance(11 * time.Minute)
	if _, a, err := e.b.StatAccess(ctx, f.ID); err != nil || !a.Create {
		t.Errorf("access 11 minutes later: %+v, %v", a, err)
	}
}

// Row 12: a host shutting down stops accepting connections but serves the kept-alive
// ones for a while. Calls go on over those, and fail as unavailable once they are gone.
func TestUpstreamShuttingDown(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	f := e.register(e.addFile("a.docx", "A", "alice"), "alice")
	e.srv.StopListening()
	if _, err := e.b.Stat(ctx, f.ID); err != nil {
		t.Errorf("Stat over a kept-alive connection to a host shutting down: %v", err)
	}
	e.srv.CloseConnections()
	if _, err := e.b.Stat(ctx, f.ID); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Stat once the host is gone: %v, want ErrUnavailable", err)
	}
	if err := e.b.UpstreamState(); err == nil {
		t.Error("UpstreamState ok with the host gone")
	}
}
