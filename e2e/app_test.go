package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/wopibridge/wopibridge/e2e/docserver"
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// The bridge as an office app: a WOPI host that checks proofs (OpenCloud's default)
// registers the bridge by its discovery URL, as OpenCloud does with COLLABORATION_APP_ADDR,
// and opens documents by posting access_token to the action URLs it read there. Every
// call the bridge makes to the host must verify with the keys of that discovery.

// appEnv is a bridge process in front of one wopitest host that registered it.
type appEnv struct {
	*docsEnv
	up *wopitest.Server
}

func newAppEnv(t *testing.T, style string) *appEnv {
	t.Helper()
	up := wopitest.NewServerProfile(t, wopitest.OCOnlyOffice)
	e := &appEnv{docsEnv: newWOPIEnv(t, "WOPIBRIDGE_STORAGE=wopi:"+up.URL, "WOPIBRIDGE_APP_STYLE="+style).docsEnv, up: up}
	if err := up.RegisterApp(e.ctx(), e.p.URL+"/hosting/discovery", true); err != nil {
		t.Fatalf("the host registering the bridge: %v", err)
	}
	return e
}

// open is the host's page opening a new file of n bytes for alice in the bridge.
func (e *appEnv) open(name string, content []byte) (id string, page *wopitest.AppPage) {
	e.t.Helper()
	id, _ = e.up.AddFile(name, content)
	e.up.SetProperties(id, map[string]any{"PostMessageOrigin": e.up.URL})
	page, err := e.up.OpenInApp(e.ctx(), nil, id, "edit", e.up.Token(id, "alice", true), "en-US")
	if err != nil {
		e.t.Fatalf("the host's page: %v", err)
	}
	return id, page
}

// wantAllVerified fails unless the host verified every call it got and refused none.
func (e *appEnv) wantAllVerified(t *testing.T) {
	t.Helper()
	verified, refusals := e.up.ProofChecks()
	if len(refusals) != 0 {
		t.Fatalf("the host refused calls: %q", refusals)
	}
	if n := len(e.up.Requests()); verified != n || n == 0 {
		t.Fatalf("the host verified %d of its %d calls", verified, n)
	}
}

func wantFramedBy(t *testing.T, page *wopitest.AppPage, host string) {
	t.Helper()
	if page.Status != 200 {
		t.Fatalf("entry point answered %d:\n%s", page.Status, page.Body)
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self' "+host) {
		t.Errorf("Content-Security-Policy %q does not let the host frame the page", csp)
	}
	if !strings.Contains(page.Body, `var hostOrigin = "`+host+`"`) {
		t.Errorf("the page does not relay to the host's frame at %s:\n%s", host, page.Body)
	}
}

func TestAppOpensForAHostThatChecksProofsWOPIStyle(t *testing.T) {
	e := newAppEnv(t, "wopi")
	for _, n := range []int{600, 3 << 20} {
		original := pattern("v1", n)
		id, page := e.open("app.docx", original)
		wantFramedBy(t, page, e.up.URL)
		w := e.submitHostPage(page.Body)
		if w.Mode() != "edit" || w.ForcedView() || !bytes.Equal(w.Content(), original) {
			t.Fatalf("%d bytes: DS opened %d bytes in %s mode (forced view %v)", n, len(w.Content()), w.Mode(), w.ForcedView())
		}
		if lock := e.up.Lock(id); lock == "" {
			t.Errorf("%d bytes: the host's file is not locked while DS edits it", n)
		}
		v2 := pattern("v2", n+1)
		if err := w.Save(v2, false); err != nil {
			t.Fatalf("%d bytes: Save button: %v", n, err)
		}
		if got := e.up.Content(id); !bytes.Equal(got, v2) {
			t.Fatalf("%d bytes: the host holds %d bytes after the Save button", n, len(got))
		}
		v3 := pattern("v3", n+2)
		if err := w.Save(v3, true); err != nil {
			t.Fatalf("%d bytes: closing save: %v", n, err)
		}
		if got := e.up.Content(id); !bytes.Equal(got, v3) || e.up.Lock(id) != "" {
			t.Errorf("%d bytes: the host holds %d bytes, locked %q, after closing", n, len(got), e.up.Lock(id))
		}
	}
	e.wantAllVerified(t)
}

var configRE = regexp.MustCompile(`var config = (\{.*\});`)

func TestAppOpensForAHostThatChecksProofsDocsStyle(t *testing.T) {
	e := newAppEnv(t, "docs")
	for _, n := range []int{600, 3 << 20} {
		original := pattern("original", n)
		id, page := e.open("app.docx", original)
		wantFramedBy(t, page, e.up.URL)
		m := configRE.FindStringSubmatch(page.Body)
		if m == nil {
			t.Fatalf("no editor config in the Docs API page:\n%s", page.Body)
		}
		cfg := json.RawMessage(m[1])
		ed, err := e.ds.OpenDocs(e.ctx(), cfg, docserver.User{})
		if err != nil {
			t.Fatalf("%d bytes: DS opening the config: %v", n, err)
		}
		if !bytes.Equal(ed.Content(), original) || ed.View() {
			t.Fatalf("%d bytes: DS got %d bytes (view %v)", n, len(ed.Content()), ed.View())
		}
		var c struct {
			EditorConfig struct{ User struct{ ID, Name string } } `json:"editorConfig"`
		}
		json.Unmarshal(cfg, &c)
		if c.EditorConfig.User.ID != "alice" {
			t.Errorf("the editor's user is %q, want the host's CheckFileInfo UserId alice", c.EditorConfig.User.ID)
		}
		e.reply(ed.Key(), docserver.StatusEditing)
		if lock := e.up.Lock(id); !strings.HasPrefix(lock, "docs:") {
			t.Fatalf("%d bytes: the host's lock during the session %q", n, lock)
		}
		edited := pattern("edited", n+100)
		ed.Edit(edited)
		ed.Close()
		if got := replyBody(e.reply(ed.Key(), docserver.StatusMustSave)); got != `{"error":0}` {
			t.Fatalf("%d bytes: reply to status 2 = %s", n, got)
		}
		if got := e.up.Content(id); !bytes.Equal(got, edited) {
			t.Errorf("%d bytes: the host holds %d bytes after the save", n, len(got))
		}
		waitFor(t, "the session's lock released on the host", func() bool { return e.up.Lock(id) == "" })
	}
	e.wantAllVerified(t)
}

// rotate runs "wopibridge proof-keys rotate" on the stopped bridge's state, then
// starts the bridge again.
func (e *appEnv) rotate(t *testing.T) {
	t.Helper()
	e.p.stop(syscall.SIGTERM)
	cmd := exec.Command(wopibridgeBinary(t), "proof-keys", "rotate")
	cmd.Env = e.p.env
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "proof keys rotated") {
		t.Fatalf("proof-keys rotate: %v\n%s", err, out)
	}
	e.p.start()
}

// openAndView opens a new file through the host's page and has DS load it.
func (e *appEnv) openAndLoad(t *testing.T, tag string) *wopitest.AppPage {
	t.Helper()
	_, page := e.open(tag+".docx", []byte(tag))
	if page.Status != 200 {
		return page
	}
	w := e.submitHostPage(page.Body)
	if got := string(w.Content()); got != tag {
		t.Fatalf("DS loaded %q", got)
	}
	if err := w.Save([]byte(tag+" saved"), true); err != nil {
		t.Fatalf("save: %v", err)
	}
	return page
}

// Key rotation as Microsoft describes it: after "wopibridge proof-keys rotate" the host
// that still holds the bridge's old discovery accepts its calls (X-WOPI-ProofOld is
// signed with the key it knows), and so does the host once it reloads discovery. A host
// that holds keys the bridge no longer has (two rotations without a reload) refuses
// every call, and the bridge says so, naming proof keys and its discovery.
func TestAppProofKeyRotation(t *testing.T) {
	e := newAppEnv(t, "wopi")
	before := e.up.AppKeys()
	e.openAndLoad(t, "first")
	e.wantAllVerified(t)

	e.rotate(t)
	if page := e.openAndLoad(t, "rotated"); page.Status != 200 {
		t.Fatalf("after a rotation, host with the old discovery: %d\n%s", page.Status, page.Body)
	}
	e.wantAllVerified(t)

	if err := e.up.ReloadApp(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := e.up.AppKeys()
	if after.Equal(before) || !after.Old.Equal(before.Current) {
		t.Fatalf("the reloaded discovery does not publish the rotated keys")
	}
	if page := e.openAndLoad(t, "reloaded"); page.Status != 200 {
		t.Fatalf("after the host reloaded discovery: %d\n%s", page.Status, page.Body)
	}
	e.wantAllVerified(t)

	// Two rotations the host never hears of: neither key it holds signs any more.
	e.rotate(t)
	e.rotate(t)
	_, page := e.open("refused.docx", []byte("x"))
	if page.Status < 500 {
		t.Fatalf("a host that cannot verify the calls: entry point answered %d\n%s", page.Status, page.Body)
	}
	for _, want := range []string{"refused the bridge&#39;s CheckFileInfo with a server error", "checks proof keys", e.p.URL + "/hosting/discovery", "proof-keys rotate", "current key sha256:"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the refusal page does not say %q:\n%s", want, page.Body)
		}
	}
	_, refusals := e.up.ProofChecks()
	if len(refusals) == 0 || !strings.Contains(refusals[len(refusals)-1], "does not verify") {
		t.Errorf("the host's refusals: %q", refusals)
	}
	waitFor(t, "the bridge's log of the refusal", func() bool {
		return strings.Contains(e.p.logs.String(), "proof keys") && strings.Contains(e.p.logs.String(), "AppOpen")
	})
}
