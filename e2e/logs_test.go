package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/e2e/docserver"
)

// TestLogsHoldNoCredentials runs a Docs API session and WOPI calls through the real
// binary at debug level, then searches its whole log for every credential that crossed
// it: launch tokens, the signed config, DS's JWTs (callbacks and downloads) and WOPI
// access tokens.
func TestLogsHoldNoCredentials(t *testing.T) {
	e := newDocsEnv(t, "WOPIBRIDGE_LOG_FORMAT=json")
	f := e.upload("secret.docx", "v1")
	launch := launchToken(t, "alice", nil)
	status, body := e.p.api(http.MethodPost, "/api/v1/docs/config?file="+f.ID, launch, nil)
	if status != http.StatusOK {
		t.Fatalf("config: %d %s", status, body)
	}
	var reply struct{ Config json.RawMessage }
	json.Unmarshal(body, &reply)
	var cfg struct{ Token string }
	json.Unmarshal(reply.Config, &cfg)
	ed, err := e.ds.OpenDocs(e.ctx(), reply.Config, docserver.User{})
	if err != nil {
		t.Fatal(err)
	}
	e.reply(ed.Key(), docserver.StatusEditing)
	ed.Edit([]byte("v2"))
	ed.Close()
	e.reply(ed.Key(), docserver.StatusMustSave)

	sess := e.session("alice", f.ID, "edit")
	for _, u := range []string{sess.WopiSrc + "?access_token=" + sess.AccessToken, sess.WopiSrc + "/contents?access_token=" + sess.AccessToken,
		sess.WopiSrc + "?access_token=" + sess.AccessToken + "x"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	secrets := map[string]string{"launch token": launch, "signed config": cfg.Token, "WOPI access token": sess.AccessToken}
	for i, ev := range e.ds.Events() {
		if ev.Type != docserver.Request || ev.Request == nil {
			continue
		}
		if a := ev.Request.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
			secrets["DS header JWT #"+string(rune('a'+i%26))] = strings.TrimPrefix(a, "Bearer ")
		}
		var b struct{ Token string }
		if json.Unmarshal(ev.Request.Body, &b) == nil && b.Token != "" {
			secrets["DS body JWT #"+string(rune('a'+i%26))] = b.Token
		}
	}
	if len(secrets) < 5 {
		t.Fatalf("expected DS's JWTs among the credentials, got only %d", len(secrets))
	}
	waitFor(t, "the last request logged", func() bool { return strings.Count(e.p.logs.String(), "CheckFileInfo") >= 2 })
	logs := e.p.logs.String()
	for name, s := range secrets {
		if s == "" {
			t.Fatalf("%s is empty", name)
		}
		// A JWT's signature alone is enough to leak it; so is its payload.
		for _, part := range strings.Split(s, ".") {
			if len(part) >= 16 && strings.Contains(logs, part) {
				t.Errorf("%s (part %q) appears in the log", name, part[:16])
			}
		}
	}
	if !strings.Contains(logs, `"face":"docs"`) || !strings.Contains(logs, `"request_id"`) {
		t.Fatalf("the log lacks the structured fields:\n%s", logs)
	}
}
