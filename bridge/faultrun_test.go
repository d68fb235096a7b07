package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/session"
	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/docsapi"
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// The fault run: Docs API sessions, one after another over a few files, through an
// upstream WOPI host that answers 500 and 409 at random, drops connections and stalls,
// fails Unlocks, lets locks lapse mid-session and then answers a PutFile without the
// lock with 500 (OpenCloud), and on some files refuses every PutRelativeFile with 501
// (cs3org/wopiserver). A simulated DS retries a status 2 answered 503, as DS does.
// After each acknowledged save, and at the end with the faults off, the run checks:
// the save's bytes are in the file, in a conflict copy or in the recovery area; no
// config hands out a key after its final save; no session stays closing; no lock is
// left. WOPIBRIDGE_FAULT_SESSIONS sets the number of sessions (default 24; the seed is
// fixed, WOPIBRIDGE_FAULT_SEED changes it).
func TestFaultRunThroughFailingUpstream(t *testing.T) {
	sessions := envInt(t, "WOPIBRIDGE_FAULT_SESSIONS", 24)
	seed := uint64(envInt(t, "WOPIBRIDGE_FAULT_SEED", 20261202))
	e := newSaveEnv(t, 30*time.Millisecond)
	rnd := rand.New(rand.NewPCG(seed, 7))
	const files = 4
	var ups []upFile
	for i := range files {
		f := e.addFile(fmt.Sprintf("doc%d.docx", i), "v0", "owner", true)
		if i%2 == 1 {
			e.up.Refuse(wopitest.OpPutRelativeFile, 0) // set per session below
		}
		ups = append(ups, f)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("WOPIBRIDGE_FAULT_LOG") != "" {
			t.Log(e.logs.String())
			for _, r := range e.up.Requests() {
				t.Logf("upstream %s %s lock=%q status=%d user=%s", r.Op, r.Path, r.Lock, r.Status, r.User)
			}
		}
	})
	e.up.SetNotLockedStatus(http.StatusInternalServerError)
	chaos := &wopitest.Chaos{Seed: seed, Rate: 0.15, Statuses: []int{500, 409}, Reset: true, Stall: 1500 * time.Millisecond}
	e.up.SetChaos(chaos)

	finished := map[string]bool{} // keys whose final save was acknowledged
	stats := map[string]int{}
	deadline := 60 * time.Second
	for i := range sessions {
		fi := i % files
		f := ups[fi]
		user := fmt.Sprintf("u%d", i)
		tok := e.up.Token(f.id, user, true)
		uf := upFile{id: f.id, src: f.src, token: tok, ttl: e.up.TokenTTL(tok)}
		launch := e.launchFor(user, uf, nil)
		// Odd files behave as cs3org/wopiserver: no PutRelativeFile, so no conflict copies.
		if fi%2 == 1 {
			e.up.Refuse(wopitest.OpPutRelativeFile, http.StatusNotImplemented)
		} else {
			e.up.Refuse(wopitest.OpPutRelativeFile, 0)
		}

		if i%5 == 3 {
			// A WOPI-mode session of DS through the bridge (one in five, over every file).
			content := fmt.Sprintf("w%d by %s: %08x", i, user, rnd.Uint32())
			if e.wopiSessionUnderFaults(t, i, launch, f.id, content, rnd, stats, deadline) {
				var where string
				waitUntil(t, fmt.Sprintf("session %d's WOPI save to resolve", i), deadline, func() bool {
					where = e.whereIs(f.id, content)
					return where != "" && !e.srv.docs.sessions.Waiting(f.id)
				})
				stats[fmt.Sprintf("WOPI save in %s (files with%s PutRelativeFile)", where, map[bool]string{true: "out", false: ""}[fi%2 == 1])]++
			}
			continue
		}
		// The integrator asks for a config until it gets one in edit mode.
		var cfg *docsapi.Config
		start := time.Now()
		for {
			c, code, body := e.docsConfig(launch)
			if c != nil && finished[c.Document.Key] {
				t.Fatalf("session %d: a config handed out key %s after its final save (mode %s)", i, c.Document.Key, c.EditorConfig.Mode)
			}
			if c != nil && c.EditorConfig.Mode == docsapi.ModeEdit {
				cfg = c
				break
			}
			if code != http.StatusOK && code != http.StatusServiceUnavailable && code != http.StatusBadGateway && code != http.StatusGatewayTimeout && code != http.StatusForbidden && code != http.StatusConflict {
				t.Fatalf("session %d: config %d %s", i, code, body)
			}
			stats["config refused or view"]++
			if time.Since(start) > deadline {
				var recs []string
				e.state.View(func(tx state.Tx) error {
					return tx.ForEach("docs.sessions", func(k string, v []byte) error { recs = append(recs, k+" "+string(v)); return nil })
				})
				t.Fatalf("session %d: no edit config within %v: %d %s; upstream lock %q; sessions %v", i, deadline, code, body, e.up.Lock(f.id), recs)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if code, _ := e.callback(cfg, map[string]any{"status": 1, "users": []string{user}}); code != http.StatusOK {
			t.Fatalf("session %d: status 1 answered %d", i, code)
		}
		if rnd.IntN(3) == 0 {
			e.up.FailNext(wopitest.OpUnlock, 1+rnd.IntN(3), http.StatusInternalServerError)
			stats["unlock failures armed"]++
		}
		if rnd.IntN(4) == 0 {
			e.up.ExpireLock(f.id) // the lock lapses mid-session (an outage of more than 30 minutes)
			stats["locks lapsed"]++
		}
		if rnd.IntN(3) == 0 {
			forced := fmt.Sprintf("s%d forcesave", i)
			e.dsRetry(t, cfg, 6, user, forced, deadline)
		}
		content := fmt.Sprintf("s%d by %s: %08x", i, user, rnd.Uint32())
		e.dsRetry(t, cfg, 2, user, content, deadline)
		finished[cfg.Document.Key] = true

		// The save resolves: in the file, a conflict copy or the recovery area.
		var where string
		waitUntil(t, fmt.Sprintf("session %d's save to resolve", i), deadline, func() bool {
			where = e.whereIs(f.id, content)
			return where != "" && !e.srv.docs.sessions.Waiting(f.id) && e.sessionRecs() == 0
		})
		stats[fmt.Sprintf("save in %s (files with%s PutRelativeFile)", where, map[bool]string{true: "out", false: ""}[fi%2 == 1])]++
	}

	// Faults off: everything settles.
	e.up.SetChaos(nil)
	e.up.FailNext(wopitest.OpUnlock, 0, 0)
	waitUntil(t, "every lock released and every session ended", deadline, func() bool {
		for _, f := range ups {
			if e.up.Lock(f.id) != "" {
				return false
			}
		}
		return e.sessionRecs() == 0 && e.srv.docs.sessions.WaitingTotal() == 0
	})
	for _, f := range ups {
		cfg := e.mustConfig(e.launchFor("owner", f, nil))
		if finished[cfg.Document.Key] || cfg.EditorConfig.Mode != docsapi.ModeEdit {
			t.Errorf("file %s after the run: key %s (finished %v), mode %s", f.id, cfg.Document.Key, finished[cfg.Document.Key], cfg.EditorConfig.Mode)
		}
	}
	stats["faults injected"] = e.up.ChaosFaults()
	if os.Getenv("WOPIBRIDGE_FAULT_LOG") != "" {
		t.Log(e.logs.String())
	}
	t.Logf("fault run: %d sessions, seed %d: %v", sessions, seed, stats)
}

// wopiSessionUnderFaults is DS in WOPI mode saving content through the bridge: a
// session from the launch API, Lock, PutFile, Unlock, each sent again while the bridge
// answers with a failure (a person retrying; DS itself never resends a PutFile). It
// says whether the PutFile was acknowledged (200): only then must the bytes be kept.
func (e *saveEnv) wopiSessionUnderFaults(t *testing.T, i int, launch, upID, content string, rnd *rand.Rand, stats map[string]int, limit time.Duration) bool {
	t.Helper()
	start := time.Now()
	retry := func(what string, send func() int, ok ...int) int {
		for {
			code := send()
			for _, c := range ok {
				if code == c {
					return code
				}
			}
			if time.Since(start) > limit {
				t.Fatalf("session %d: %s still answered %d after %v", i, what, code, limit)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var s sessionJSON
	retry("WOPI session", func() int {
		var r *httpResult
		r, s = e.session(launch, "?action=edit")
		return r.code
	}, http.StatusOK)
	tok, err := e.srv.tokens.verify(s.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	path, lock := e.filePath(tok.File), fmt.Sprintf("ds-%d", i)
	retry("Lock", func() int {
		return e.wopi(http.MethodPost, path, s.AccessToken, nil, "X-WOPI-Override", "LOCK", "X-WOPI-Lock", lock).Code
	}, http.StatusOK)
	if rnd.IntN(4) == 0 {
		e.up.ExpireLock(upID)
		stats["WOPI locks lapsed"]++
	}
	acked := false
	for try := 0; try < 5 && !acked; try++ {
		w := e.wopi(http.MethodPost, path+"/contents", s.AccessToken, strings.NewReader(content), "X-WOPI-Override", "PUT", "X-WOPI-Lock", lock)
		acked = w.Code == http.StatusOK
	}
	if !acked {
		stats["WOPI save not acknowledged"]++
	}
	// DS's Unlock, again until the bridge takes it, or answers 409 while the upstream
	// no longer holds DS's lock (it lapsed). An injected 409 names no lock and does
	// nothing: a DS that gave up on it would leave its own lock behind, which is the
	// client's doing, not the bridge's.
	retry("Unlock", func() int {
		code := e.wopi(http.MethodPost, path, s.AccessToken, nil, "X-WOPI-Override", "UNLOCK", "X-WOPI-Lock", lock).Code
		if code == http.StatusConflict && e.up.Lock(upID) == lock {
			return 0
		}
		return code
	}, http.StatusOK, http.StatusConflict)
	return acked
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// dsRetry posts status 2 or 6 with content as DS does: again while the bridge answers
// 503 (the bytes are not safe yet), until it answers {"error":0}.
func (e *saveEnv) dsRetry(t *testing.T, cfg *docsapi.Config, status int, user, content string, limit time.Duration) {
	t.Helper()
	u := e.results.put(fmt.Sprintf("%s-%d", cfg.Document.Key, status)+strconv.Itoa(len(content)), []byte(content))
	start := time.Now()
	for {
		code, reply := e.callback(cfg, map[string]any{"status": status, "users": []string{user}, "url": u})
		if code == http.StatusOK && reply == `{"error":0}` {
			return
		}
		if code != http.StatusServiceUnavailable || time.Since(start) > limit {
			t.Fatalf("status %d for %s: %d %s", status, cfg.Document.Key, code, reply)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// whereIs says where content is: "file", "copy" (a conflict copy of the upstream) or
// "recovery" (a recovered save); "" when nowhere yet.
func (e *saveEnv) whereIs(fileID, content string) string {
	if string(e.up.Content(fileID)) == content {
		return "file"
	}
	for _, name := range e.up.Names() {
		if strings.Contains(name, "(conflict ") && string(e.up.Content(e.up.FileID(name))) == content {
			return "copy"
		}
	}
	saves, _ := session.ListSaves(e.state)
	for _, s := range saves {
		if s.State != session.SaveRecovered {
			continue
		}
		var b bytes.Buffer
		if _, err := session.ExportSave(e.state, s.ID, &b); err == nil && b.String() == content {
			return "recovery"
		}
	}
	return ""
}

// sessionRecs is the number of Docs API sessions the state store holds (live, closing
// or waiting for their release).
func (e *saveEnv) sessionRecs() int {
	n := 0
	e.state.View(func(tx state.Tx) error {
		return tx.ForEach("docs.sessions", func(_ string, v []byte) error {
			var s struct{ Closing, Release bool }
			json.Unmarshal(v, &s)
			n++
			return nil
		})
	})
	return n
}
