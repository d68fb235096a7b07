package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/e2e/docserver"
)

// The soak: editing sessions of both styles through the round-robin proxy, a few
// files edited by chains of sessions each (one after another on a file, the files at
// once), while replicas are killed and restarted and Redis stalls. It ends with:
//
//   - every acknowledged save (DS got {"error":0} for a status 2, PutFile got 200) is
//     in the file when the next session opens it, or in a conflict copy beside it;
//   - no lock is left held once the sessions ended (a new editor gets edit mode);
//   - no document key is handed out for two different contents, nor after its
//     final save;
//   - while one style holds a file, the other style gets only a viewer.
//
// WOPIBRIDGE_SOAK_SESSIONS sets the number of sessions (default 100, about 30-60 s),
// WOPIBRIDGE_SOAK_SEED the schedule's seed (default: from the clock, printed).

const (
	soakDefaultSessions = 100
	soakMaxChains       = 8
	soakWait            = 30 * time.Second // for one callback's answer or one open
)

func TestClusterSoak(t *testing.T) {
	sessions := soakDefaultSessions
	if v := os.Getenv("WOPIBRIDGE_SOAK_SESSIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("WOPIBRIDGE_SOAK_SESSIONS=%q: want a positive number", v)
		}
		sessions = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("WOPIBRIDGE_SOAK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("WOPIBRIDGE_SOAK_SEED=%q: want a number", v)
		}
		seed = n
	}
	t.Logf("soak: %d sessions, WOPIBRIDGE_SOAK_SEED=%d", sessions, seed)

	// DS gives up on a callback after a second and tries again: a callback stalled
	// with Redis is then repeated, possibly to another replica, while the first one
	// is still running.
	c := startCluster(t, clusterOptions{DS: docserver.Options{RetryBase: 200 * time.Millisecond, CallbackTimeout: time.Second}})
	s := &soak{t: t, c: c, seed: seed}
	s.run(sessions, s.chaos)
}

// run runs the sessions in chains while chaos runs, then judges the files.
func (s *soak) run(sessions int, chaos func(done <-chan struct{})) {
	chains := min(soakMaxChains, max(1, sessions/4))
	s.round++
	var wg sync.WaitGroup
	for i := range chains {
		n := sessions / chains
		if i < sessions%chains {
			n++
		}
		wg.Go(func() { s.chain(i, n) })
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	chaos(done) // on the test's goroutine: its helpers may end the test
	<-done

	s.final()
	s.report()
}

type soak struct {
	t    *testing.T
	c    *cluster
	seed uint64

	mu    sync.Mutex
	files []*soakFile
	round int // runs so far, to name each run's files apart

	kills, stops, stalls atomic.Int64
	failovers            atomic.Int64
	docs, wopi           atomic.Int64 // sessions run
	acked, unacked       atomic.Int64 // saves
	copies               atomic.Int64 // acknowledged saves found in a conflict copy
	late                 atomic.Int64 // acknowledged saves that reached the file after their acknowledgement (spooled)
	intrusions           atomic.Int64 // other-style opens tried while a file was held
	coEditors            atomic.Int64
	replaced             atomic.Int64 // files a chain left for a new one after a fault
}

// soakFile is one file and what its chain of sessions knows about it.
type soakFile struct {
	id, name string
	rng      *rand.Rand

	// expect are the contents the file may have now: one after an acknowledged save,
	// two after a save that failed at an unknown point.
	expect [][]byte
	// keys are the Docs API keys handed out and the content each was opened with;
	// saved are those whose final save was acknowledged.
	keys  map[string][]byte
	saved map[string]bool
	// tainted is set when a fault left the file in a state the chain cannot judge (a
	// save that failed, so a lock may be held until it expires): the chain goes on
	// with a new file, and this one's content alone is checked at the end.
	tainted string
	// lastAcked is the content of the last acknowledged save, checked at the end.
	lastAcked []byte
	// history is what the chain did on the file, for a report.
	history []string
}

func (f *soakFile) note(format string, args ...any) {
	f.history = append(f.history, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
}

func (s *soak) violation(f *soakFile, format string, args ...any) {
	s.t.Helper()
	s.t.Errorf("%s (id %s): "+format+"\nthe file's history:\n  %s\nDS's events of its WOPI key:\n%s",
		append(append([]any{f.name, f.id}, args...), strings.Join(f.history, "\n  "), s.eventsOf(sanitizedKey(f.id)))...)
}

// sanitizedKey is the document key DS derives from a WOPI file id.
func sanitizedKey(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '=' {
			return r
		}
		return '_'
	}, id)
}

func (s *soak) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), soakWait)
}

// chaos kills, stops and restarts one replica at a time, or stalls Redis, at
// seeded random moments until done.
func (s *soak) chaos(done <-chan struct{}) {
	rng := rand.New(rand.NewPCG(s.seed, 1<<32))
	for {
		select {
		case <-done:
			return
		case <-time.After(time.Duration(300+rng.IntN(900)) * time.Millisecond):
		}
		i := rng.IntN(len(s.c.Procs))
		switch r := rng.IntN(10); {
		case r < 5:
			s.kills.Add(1)
			s.c.Restart(i, syscall.SIGKILL)
		case r < 7:
			s.stops.Add(1)
			s.c.Restart(i, syscall.SIGTERM)
		default:
			s.stalls.Add(1)
			s.c.StallRedis(time.Duration(100+rng.IntN(1900)) * time.Millisecond)
		}
	}
}

// chain runs n sessions one after another on a file of its own, moving to a new file
// when a fault leaves the current one unjudgeable.
func (s *soak) chain(i, n int) {
	rng := rand.New(rand.NewPCG(s.seed, uint64(i)))
	var f *soakFile
	for k := range n {
		if f == nil || f.tainted != "" {
			if f != nil {
				s.replaced.Add(1)
				s.t.Logf("%s: left after session %d: %s", f.name, k-1, f.tainted)
			}
			if f = s.newFile(rng, fmt.Sprintf("soak%d.%d-%d.docx", s.round, i, k)); f == nil {
				return
			}
		}
		if f.rng.IntN(2) == 0 {
			s.docsSession(f, k)
		} else {
			s.wopiSession(f, k)
		}
	}
}

// newFile uploads a new file through the proxy.
func (s *soak) newFile(rng *rand.Rand, name string) *soakFile {
	content := []byte(fmt.Sprintf("initial content of %s, seed %d", name, s.seed))
	body, err := s.request(http.MethodPost, "/api/v1/files?name="+name, "owner", content, http.StatusCreated)
	if err != nil {
		s.t.Errorf("upload %s: %v", name, err)
		return nil
	}
	var af apiFile
	if err := json.Unmarshal(body, &af); err != nil {
		s.t.Errorf("upload %s: %v", name, err)
		return nil
	}
	f := &soakFile{
		id: af.ID, name: name, expect: [][]byte{content},
		keys: map[string][]byte{}, saved: map[string]bool{}, rng: rng,
	}
	s.mu.Lock()
	s.files = append(s.files, f)
	s.mu.Unlock()
	return f
}

// content is a unique body for edit e of session n of f.
func (s *soak) content(f *soakFile, n, e int) []byte {
	pad := strings.Repeat("x", f.rng.IntN(2048))
	return []byte(fmt.Sprintf("%s session %d edit %d seed %d %s", f.name, n, e, s.seed, pad))
}

// opened checks what an editor loaded against what the file may hold.
func (s *soak) opened(f *soakFile, how string, got []byte) {
	s.t.Helper()
	for _, want := range f.expect {
		if bytes.Equal(got, want) {
			f.expect = [][]byte{got}
			return
		}
	}
	// Not there: an acknowledged save may have gone to a conflict copy.
	if len(f.expect) == 1 && f.lastAcked != nil && bytes.Equal(f.expect[0], f.lastAcked) {
		if where := s.findCopy(f, f.lastAcked); where != "" {
			s.copies.Add(1)
			s.t.Logf("%s: the acknowledged save is in the conflict copy %s", f.name, where)
			f.expect = [][]byte{got}
			return
		}
		s.violation(f, "%s loaded %q; the acknowledged save %q is neither in the file nor in a conflict copy", how, short(got), short(f.lastAcked))
	} else {
		s.violation(f, "%s loaded %q, want one of %q", how, short(got), shortAll(f.expect))
	}
	f.expect = [][]byte{got}
}

// findCopy looks for content in a document of the data directory other than f: not in
// the bridge's own hidden files (a write's temporary file, the state), whose bytes are
// no document anyone can open.
func (s *soak) findCopy(f *soakFile, content []byte) string {
	var found string
	filepath.WalkDir(s.c.Data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || found != "" {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") && path != s.c.Data {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || d.Name() == f.name {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, content) {
			found = path
		}
		return nil
	})
	return found
}

// savedAs records an acknowledged save and checks the file holds it.
func (s *soak) savedAs(f *soakFile, how string, content []byte) {
	s.t.Helper()
	s.acked.Add(1)
	f.lastAcked = content
	f.expect = [][]byte{content}
	// A save that storage refused (a write cut short with its request, say) is
	// acknowledged once it is kept in the spool, and reaches the file when it is
	// replayed: at the next access to the file or on the replicas' tick.
	deadline := time.Now().Add(soakWait)
	for first := true; ; first = false {
		got, err := os.ReadFile(filepath.Join(s.c.Data, f.name))
		if err == nil && bytes.Equal(got, content) {
			if !first {
				s.late.Add(1)
				f.note("the acknowledged %s reached the file late (spooled, then replayed)", how)
			}
			return
		}
		if where := s.findCopy(f, content); where != "" {
			s.copies.Add(1)
			s.t.Logf("%s: the acknowledged %s is in the conflict copy %s", f.name, how, where)
			f.expect = [][]byte{got}
			return
		}
		if time.Now().After(deadline) {
			s.violation(f, "%v after the acknowledged %s the file holds %q, want %q (err %v)", soakWait, how, short(got), short(content), err)
			f.expect = [][]byte{got}
			return
		}
		time.Sleep(50 * time.Millisecond) // the replay happens in another process
	}
}

// handedOut checks a key the bridge handed out for f against the ones before.
func (s *soak) handedOut(f *soakFile, key string, content []byte) {
	s.t.Helper()
	if f.saved[key] {
		s.violation(f, "key %s handed out again after its final save", key)
	}
	if prev, ok := f.keys[key]; ok && !bytes.Equal(prev, content) {
		s.violation(f, "key %s handed out for %q and for %q", key, short(prev), short(content))
	}
	f.keys[key] = content
}

func (s *soak) docsSession(f *soakFile, n int) {
	s.docs.Add(1)
	ctx, cancel := s.ctx()
	defer cancel()
	cfg, err := s.config("alice", f.id)
	if err != nil {
		f.tainted = "docs config: " + err.Error()
		return
	}
	key, mode := configKey(s.t, cfg)
	f.note("session %d (Docs API): config key %s mode %s", n, key, mode)
	if mode != "edit" {
		s.violation(f, "session %d: a Docs API editor got mode %q while nothing held the file", n, mode)
		f.tainted = "view mode"
		return
	}
	a, err := s.c.DS.OpenDocs(ctx, cfg, docserver.User{})
	if err != nil {
		f.tainted = "DS open: " + err.Error()
		return
	}
	s.opened(f, "Docs API editor "+strconv.Itoa(n), a.Content())
	s.handedOut(f, key, a.Content())
	held := false // the status 1 was answered: the session holds the file's lock
	if f.rng.IntN(2) == 0 {
		// The status 1 is handled before the co-editor comes.
		if _, err := s.c.DS.WaitFor(ctx, func(ev docserver.Event) bool {
			return ev.Type == docserver.Reply && ev.Op == docserver.OpCallback && ev.Key == key &&
				ev.Status == docserver.StatusEditing && ev.OK() && replyBody(ev) == `{"error":0}`
		}); err != nil {
			s.t.Logf("%s: no answer to status 1 of %s: %v", f.name, key, err)
		} else {
			held = true
			f.note("status 1 answered")
		}
	}
	editors := []*docserver.DocsSession{a}
	if f.rng.IntN(2) == 0 {
		s.coEditors.Add(1)
		if cfg2, err := s.config("bob", f.id); err == nil {
			key2, mode2 := configKey(s.t, cfg2)
			f.note("co-editor: key %s mode %s", key2, mode2)
			if key2 != key || mode2 != "edit" {
				s.violation(f, "session %d: the co-editor got key %q mode %q, the first editor key %q", n, key2, mode2, key)
			}
			if b, err := s.c.DS.OpenDocs(ctx, cfg2, docserver.User{}); err == nil {
				s.handedOut(f, key2, b.Content())
				editors = append(editors, b)
			}
		}
	}
	if held && f.rng.IntN(2) == 0 {
		s.intrudeWOPI(ctx, f, n)
	}
	var final []byte
	for e := range 1 + f.rng.IntN(3) {
		ed := editors[f.rng.IntN(len(editors))]
		final = s.content(f, n, e)
		if err := ed.Edit(final); err != nil {
			s.t.Logf("%s: edit: %v", f.name, err)
		}
	}
	for _, ed := range editors {
		ed.Close()
	}
	// The save's fate: acknowledged, or DS gave up after its retries.
	ev, err := s.c.DS.WaitFor(ctx, func(ev docserver.Event) bool {
		return ev.Type == docserver.Reply && ev.Op == docserver.OpCallback && ev.Key == key &&
			ev.Status == docserver.StatusMustSave && ev.OK() && replyBody(ev) == `{"error":0}`
	})
	if err != nil {
		s.unacked.Add(1)
		f.expect = append(f.expect, final)
		f.tainted = "status 2 never acknowledged"
		s.t.Logf("%s: the status 2 of session %d (key %s) was never acknowledged; DS's events of the key:\n%s", f.name, n, key, s.eventsOf(key))
		return
	}
	f.note("status 2 acknowledged (attempt %d)", ev.Attempt)
	f.saved[key] = true
	s.savedAs(f, fmt.Sprintf("status 2 of session %d", n), final)
}

func (s *soak) wopiSession(f *soakFile, n int) {
	s.wopi.Add(1)
	ctx, cancel := s.ctx()
	defer cancel()
	ws, err := s.wopiLaunch("carol", f.id)
	if err != nil {
		f.tainted = "wopi session: " + err.Error()
		return
	}
	w, err := s.c.DS.OpenWOPI(ctx, ws.ActionURL, ws.AccessToken, ws.AccessTokenTTL, "")
	if err != nil {
		f.tainted = "DS WOPI open: " + err.Error()
		return
	}
	f.note("session %d (WOPI): mode %s forced view %v", n, w.Mode(), w.ForcedView())
	if w.Mode() != "edit" || w.ForcedView() {
		w.Close()
		// DS falls back to a viewer when its LOCK fails in any way: only a 409 says the
		// bridge thought the file held.
		locks := s.c.DS.Find(docserver.Match{Type: docserver.Reply, Op: docserver.OpLock, Key: w.Key()}.Fn())
		if len(locks) > 0 && locks[len(locks)-1].Reply != nil && locks[len(locks)-1].Reply.StatusCode == http.StatusConflict {
			s.violation(f, "session %d: a WOPI editor's LOCK got 409 while nothing held the file", n)
		}
		f.tainted = "the WOPI LOCK failed"
		return
	}
	s.opened(f, "WOPI editor "+strconv.Itoa(n), w.Content())
	if f.rng.IntN(3) == 0 {
		s.intrudeDocs(f, n)
	}
	for e := range f.rng.IntN(3) {
		content := s.content(f, n, e)
		if s.putFile(f, w, content, false) {
			s.savedAs(f, fmt.Sprintf("PutFile (Save button) of session %d", n), content)
		}
	}
	final := s.content(f, n, 9)
	if s.putFile(f, w, final, true) {
		s.savedAs(f, fmt.Sprintf("closing PutFile of session %d", n), final)
	}
}

// putFile saves through WOPI and reports whether the PutFile got 200. A failure leaves
// the file holding either content; a failed closing save may leave the lock held.
func (s *soak) putFile(f *soakFile, w *docserver.WOPISession, content []byte, exit bool) bool {
	before := len(s.c.DS.Find(docserver.Match{Type: docserver.Reply, Op: docserver.OpPutFile, Key: w.Key()}.Fn()))
	err := w.Save(content, exit)
	replies := s.c.DS.Find(docserver.Match{Type: docserver.Reply, Op: docserver.OpPutFile, Key: w.Key()}.Fn())
	ok := len(replies) > before && replies[len(replies)-1].OK()
	f.note("PutFile (exit %v): ok %v, Save: %v", exit, ok, err)
	if !ok {
		s.unacked.Add(1)
		f.expect = append(f.expect, content)
		if exit {
			f.tainted = fmt.Sprintf("closing PutFile failed: %v", err)
		}
		return false
	}
	if err != nil && exit {
		// Saved, but the Unlock failed: the lock may stay until it expires.
		f.tainted = fmt.Sprintf("closing Unlock failed: %v", err)
	}
	return true
}

// intrudeWOPI is a WOPI editor coming while a Docs API session holds the file: it
// must get a viewer.
func (s *soak) intrudeWOPI(ctx context.Context, f *soakFile, n int) {
	s.intrusions.Add(1)
	ws, err := s.wopiLaunch("mallory", f.id)
	if err != nil {
		return
	}
	w, err := s.c.DS.OpenWOPI(ctx, ws.ActionURL, ws.AccessToken, ws.AccessTokenTTL, "")
	if err != nil {
		return
	}
	f.note("other-style WOPI open: mode %s forced view %v", w.Mode(), w.ForcedView())
	if w.Mode() == "edit" && !w.ForcedView() {
		s.violation(f, "session %d: a WOPI editor got the lock while a Docs API session held the file", n)
	}
	w.CloseExplicitly()
}

// intrudeDocs is a Docs API editor coming while a WOPI session holds the file: its
// config must be a viewer's.
func (s *soak) intrudeDocs(f *soakFile, n int) {
	s.intrusions.Add(1)
	cfg, err := s.config("mallory", f.id)
	if err != nil {
		return
	}
	key, mode := configKey(s.t, cfg)
	f.note("other-style Docs API config: key %s mode %s", key, mode)
	if mode == "edit" {
		s.violation(f, "session %d: a Docs API editor got edit mode while a WOPI session held the file", n)
	}
}

// final checks each file once all sessions ended: it holds its last acknowledged
// save, and a new editor gets it for edit under a key never saved before.
func (s *soak) final() {
	for _, f := range s.files {
		got, err := os.ReadFile(filepath.Join(s.c.Data, f.name))
		if err != nil {
			s.violation(f, "at the end: %v", err)
			continue
		}
		if !slices.ContainsFunc(f.expect, func(b []byte) bool { return bytes.Equal(b, got) }) {
			if f.lastAcked != nil && bytes.Equal(f.expect[0], f.lastAcked) && s.findCopy(f, f.lastAcked) != "" {
				s.copies.Add(1)
			} else {
				s.violation(f, "at the end the file holds %q, want one of %q", short(got), shortAll(f.expect))
			}
		}
		if f.tainted != "" {
			continue // a lock may be held until it expires
		}
		cfg, err := s.config("zoe", f.id)
		if err != nil {
			s.violation(f, "at the end: config: %v", err)
			continue
		}
		key, mode := configKey(s.t, cfg)
		if mode != "edit" {
			s.violation(f, "at the end a new editor gets mode %q: a lock was left held", mode)
		}
		if f.saved[key] {
			s.violation(f, "at the end the new editor gets the saved key %s", key)
		}
	}
}

func (s *soak) report() {
	s.t.Logf("soak (seed %d): %d Docs API and %d WOPI sessions on %d files (%d co-editors, %d other-style opens); %d saves acknowledged (%d of them spooled and replayed after), %d not, %d found in conflict copies; %d files left after a failed save; %d SIGKILLs, %d SIGTERMs, %d Redis stalls, %d Redis failovers; proxy: %v requests per replica, %d answered 502",
		s.seed, s.docs.Load(), s.wopi.Load(), len(s.files), s.coEditors.Load(), s.intrusions.Load(),
		s.acked.Load(), s.late.Load(), s.unacked.Load(), s.copies.Load(), s.replaced.Load(),
		s.kills.Load(), s.stops.Load(), s.stalls.Load(), s.failovers.Load(), s.c.Proxy.Served(), s.c.Proxy.failures.Load())
	if s.acked.Load() == 0 {
		s.t.Error("no save was acknowledged: the soak judged nothing")
	}
}

// config asks for an editor config through the proxy, trying again on a 5xx (the
// replica it went to died under it, as an integrator's retry would).
func (s *soak) config(user, file string) (json.RawMessage, error) {
	body, err := s.launch("/api/v1/docs/config?file="+file, user)
	if err != nil {
		return nil, err
	}
	var reply struct {
		Config json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return nil, err
	}
	return reply.Config, nil
}

func (s *soak) wopiLaunch(user, file string) (wopiSession, error) {
	var ws wopiSession
	body, err := s.launch("/api/v1/wopi/session?action=edit&file="+file, user)
	if err != nil {
		return ws, err
	}
	return ws, json.Unmarshal(body, &ws)
}

func (s *soak) launch(path, user string) ([]byte, error) {
	return s.request(http.MethodPost, path, user, nil, http.StatusOK)
}

// request sends a launch API request through the proxy, trying again on a 5xx (the
// replica it went to died under it), as an integrator would.
func (s *soak) request(method, path, user string, body []byte, want int) ([]byte, error) {
	var last error
	for range 10 {
		req, err := http.NewRequest(method, s.c.URL+path, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+launchToken(s.t, user, nil))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		reply, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == want {
			return reply, nil
		}
		last = fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(reply))
		if resp.StatusCode < 500 {
			return nil, last
		}
		time.Sleep(200 * time.Millisecond) // the integrator's pause before trying again
	}
	return nil, errors.Join(errors.New("gave up after 10 tries"), last)
}

// eventsOf lists DS's callback and download events for a key, for a report.
func (s *soak) eventsOf(key string) string {
	var b strings.Builder
	for _, ev := range s.c.DS.Find(func(ev docserver.Event) bool { return ev.Key == key }) {
		fmt.Fprintf(&b, "  %s %s %s status %d attempt %d", ev.Time.Format("15:04:05.000"), ev.Type, ev.Op, ev.Status, ev.Attempt)
		if ev.Reply != nil {
			fmt.Fprintf(&b, " → %d %s", ev.Reply.StatusCode, short(bytes.TrimSpace(ev.Reply.Body)))
		}
		if ev.Err != "" {
			fmt.Fprintf(&b, " error %s", ev.Err)
		}
		if ev.Detail != "" {
			fmt.Fprintf(&b, " (%s)", ev.Detail)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func short(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

func shortAll(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = short(b)
	}
	return out
}
