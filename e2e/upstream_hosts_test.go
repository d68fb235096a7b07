package e2e

import (
	"bytes"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/e2e/docserver"
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// The front bridge process in front of hosts that behave as real ones do (the
// wopitest profiles of ../shared/reference/real-hosts.md): both faces' edit -> save
// flows and a save kept through an outage, with files over 512 bytes and over a few
// MiB. One bridge process and one simulated DS per host.

// hostEnv is a front bridge over an in-process wopitest host.
type hostEnv struct {
	*docsEnv
	up *wopitest.Server
}

// hostLaunch adds a file on the host and gives user's launch token for it.
func (h *hostEnv) hostLaunch(user, name string, content []byte) (id, launch string) {
	h.t.Helper()
	id, src := h.up.AddFile(name, content)
	tok := h.up.Token(id, user, true)
	return id, launchToken(h.t, user, jwt.MapClaims{"wopisrc": src, "access_token": tok, "access_token_ttl": h.up.TokenTTL(tok)})
}

// pattern is n bytes that differ from one offset to the next, tagged.
func pattern(tag string, n int) []byte {
	b := bytes.Repeat([]byte(tag+"-0123456789abcdefghijklmnopqrstuvwxyz-"), n/(len(tag)+38)+1)
	return b[:n]
}

func TestHostsThroughTheFront(t *testing.T) {
	for _, p := range wopitest.Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel() // each waits for replays (every 5 s) on a host of its own
			up := wopitest.NewServerProfile(t, p)
			h := &hostEnv{docsEnv: newWOPIEnv(t, "WOPIBRIDGE_STORAGE=wopi:"+up.URL).docsEnv, up: up}
			t.Run("DocsEditAndSave", h.docsEditAndSave)
			t.Run("WOPIEditAndSave", h.wopiEditAndSave)
			t.Run("DocsSaveThroughOutage", h.docsSaveThroughOutage)
			t.Run("WOPISaveThroughOutage", h.wopiSaveThroughOutage)
		})
	}
}

func (h *hostEnv) with(t *testing.T) *hostEnv {
	d := *h.docsEnv
	d.t = t
	return &hostEnv{docsEnv: &d, up: h.up}
}

func (h *hostEnv) docsEditAndSave(t *testing.T) {
	h = h.with(t)
	for _, n := range []int{600, 3 << 20} {
		original := pattern("original", n)
		id, launch := h.hostLaunch("alice", "docs.docx", original)
		cfg, _ := h.frontConfig(launch)
		ed, err := h.ds.OpenDocs(h.ctx(), cfg, docserver.User{})
		if err != nil {
			t.Fatalf("%d bytes: DS opening the config: %v", n, err)
		}
		if got := ed.Content(); !bytes.Equal(got, original) || ed.View() {
			t.Fatalf("%d bytes: DS got %d bytes (view %v), want the upstream's %d", n, len(got), ed.View(), n)
		}
		h.reply(ed.Key(), docserver.StatusEditing)
		if lock := h.up.Lock(id); !strings.HasPrefix(lock, "docs:") {
			t.Fatalf("%d bytes: upstream lock during the session %q", n, lock)
		}
		edited := pattern("edited", n+100)
		ed.Edit(edited)
		ed.Close()
		if got := replyBody(h.reply(ed.Key(), docserver.StatusMustSave)); got != `{"error":0}` {
			t.Fatalf("%d bytes: reply to status 2 = %s", n, got)
		}
		if got := h.up.Content(id); !bytes.Equal(got, edited) {
			t.Errorf("%d bytes: upstream holds %d bytes after the save, want %d", n, len(got), len(edited))
		}
		waitFor(t, "the session's lock released upstream", func() bool { return h.up.Lock(id) == "" })
	}
}

func (h *hostEnv) wopiEditAndSave(t *testing.T) {
	h = h.with(t)
	for _, n := range []int{600, 3 << 20} {
		original := pattern("v1", n)
		id, launch := h.hostLaunch("alice", "wopi.docx", original)
		s, _ := h.frontSession(launch, "edit")
		w := h.openWOPI(s)
		if w.Mode() != "edit" || w.ForcedView() {
			t.Fatalf("%d bytes: opened in %s mode (forced view %v)", n, w.Mode(), w.ForcedView())
		}
		if got := w.Content(); !bytes.Equal(got, original) {
			t.Fatalf("%d bytes: DS loaded %d bytes through the front, want %d", n, len(got), n)
		}
		if got := h.up.Content(id); !bytes.Equal(got, original) {
			t.Fatalf("%d bytes: opening changed the upstream file (%d bytes)", n, len(got))
		}
		v2 := pattern("v2", n+1)
		if err := w.Save(v2, false); err != nil {
			t.Fatalf("%d bytes: Save button: %v", n, err)
		}
		if got := h.up.Content(id); !bytes.Equal(got, v2) {
			t.Fatalf("%d bytes: upstream holds %d bytes after the Save button", n, len(got))
		}
		v3 := pattern("v3", n+2)
		if err := w.Save(v3, true); err != nil {
			t.Fatalf("%d bytes: closing save: %v", n, err)
		}
		if got := h.up.Content(id); !bytes.Equal(got, v3) || h.up.Lock(id) != "" {
			t.Errorf("%d bytes: upstream holds %d bytes locked %q after closing", n, len(got), h.up.Lock(id))
		}
	}
}

func (h *hostEnv) docsSaveThroughOutage(t *testing.T) {
	h = h.with(t)
	id, launch := h.hostLaunch("alice", "flaky.docx", pattern("v1", 700))
	cfg, _ := h.frontConfig(launch)
	ed, err := h.ds.OpenDocs(h.ctx(), cfg, docserver.User{})
	if err != nil {
		t.Fatal(err)
	}
	h.reply(ed.Key(), docserver.StatusEditing)
	h.up.SetUnreachable(true)
	final := pattern("kept while the upstream was down", 2<<20)
	ed.Edit(final)
	ed.Close()
	if got := replyBody(h.reply(ed.Key(), docserver.StatusMustSave)); got != `{"error":0}` {
		h.up.SetUnreachable(false)
		t.Fatalf("reply with the upstream down: %s", got)
	}
	waitFor(t, "the spooled save in the front's log", func() bool { return contains(h.p.logs.String(), "event=spooled") })
	h.up.SetUnreachable(false)
	waitFor(t, "the spooled save to land upstream", func() bool { return bytes.Equal(h.up.Content(id), final) })
	waitFor(t, "the session's lock released upstream", func() bool { return h.up.Lock(id) == "" })
}

func (h *hostEnv) wopiSaveThroughOutage(t *testing.T) {
	h = h.with(t)
	id, launch := h.hostLaunch("alice", "flaky-wopi.docx", pattern("v1", 700))
	s, _ := h.frontSession(launch, "edit")
	w := h.openWOPI(s)
	h.up.SetUnreachable(true)
	final := pattern("kept while down", 2<<20)
	if err := w.Save(final, true); err != nil {
		h.up.SetUnreachable(false)
		t.Fatalf("closing save with the upstream down: %v", err)
	}
	h.up.SetUnreachable(false)
	waitFor(t, "the spooled save to land upstream", func() bool { return bytes.Equal(h.up.Content(id), final) })
	waitFor(t, "DS's lock released upstream", func() bool { return h.up.Lock(id) == "" })
	if got := h.openWOPI(s).Content(); !bytes.Equal(got, final) {
		t.Errorf("reopened after the upstream came back: %d bytes", len(got))
	}
}
