package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state/redistest"
	"github.com/wopibridge/wopibridge/e2e/docserver"
)

// Several replicas: N wopibridge processes on one real redis-server and one data
// directory, behind a plain round-robin reverse proxy (each request to the next
// replica, no stickiness) whose URL is the bridges' public URL, with the simulated
// Document Server talking to the proxy.

// clusterOptions shape a cluster; the zero value is three replicas of the default
// binary with the Docs API and WOPI faces, proofs off.
type clusterOptions struct {
	// Replicas is the number of bridge processes; 0 means 3.
	Replicas int
	// Tags are extra build tags for the binary (for example "wopibridge_testhooks").
	Tags string
	// Env is extra environment for every replica.
	Env []string
	// RedisArgs are extra redis-server arguments.
	RedisArgs []string
	// Sentinel runs the state on a master, a replica and three sentinels
	// (redis-sentinel://) in the place of one redis-server.
	Sentinel bool
	// DS configures the simulated Document Server; zero fields take the e2e defaults.
	DS docserver.Options
}

// cluster is the running whole.
type cluster struct {
	t     *testing.T
	Redis *redistest.Server    // nil with Sentinel
	Sent  *redistest.Sentinels // with Sentinel
	DS    *docserver.Server
	Proxy *rrProxy
	Procs []*proc
	URL   string // the proxy's: the bridges' public URL
	Data  string // the shared documents directory
}

func startCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	if o.Replicas == 0 {
		o.Replicas = 3
	}
	dso := o.DS
	dso.JWTSecret = dsSecret
	dso.WOPIEnabled = true
	if dso.SaveDelay == 0 {
		dso.SaveDelay = 20 * time.Millisecond
	}
	if dso.RetryBase == 0 {
		dso.RetryBase = 50 * time.Millisecond
	}
	ds, err := docserver.New(dso)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ds.Close)

	tmp := t.TempDir()
	c := &cluster{t: t, DS: ds, Data: filepath.Join(tmp, "data")}
	stateURL := ""
	if o.Sentinel {
		c.Sent = redistest.StartSentinel(t, 1)
		stateURL = c.Sent.URL(0)
	} else {
		c.Redis = redistest.Start(t, o.RedisArgs...)
		stateURL = c.Redis.URL(0)
	}
	c.Proxy = newRRProxy(t, o.Replicas)
	c.URL = c.Proxy.URL
	bin := wopibridgeBinaryTags(t, o.Tags)
	for i := range o.Replicas {
		home := filepath.Join(tmp, fmt.Sprintf("replica%d", i))
		if err := os.MkdirAll(home, 0o700); err != nil {
			t.Fatal(err)
		}
		p := &proc{t: t, bin: bin, addr: freeAddr(t), Data: c.Data, logs: &lockedBuffer{}}
		p.URL = "http://" + p.addr
		p.env = append([]string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + home,
			"WOPIBRIDGE_LISTEN=" + p.addr,
			"WOPIBRIDGE_PUBLIC_URL=" + c.URL,
			"WOPIBRIDGE_STORAGE=fs:" + c.Data,
			"WOPIBRIDGE_STATE=" + stateURL,
			"WOPIBRIDGE_LOG_LEVEL=debug",
			"WOPIBRIDGE_DOCS_URL=" + ds.URL(),
			"WOPIBRIDGE_DOCS_JWT_SECRET=" + dsSecret,
			"WOPIBRIDGE_LAUNCH_SECRET=" + string(testLaunchSecret),
			"WOPIBRIDGE_PROOF=off",
		}, o.Env...)
		// One at a time: the first start generates the shared signing key.
		p.start()
		c.Procs = append(c.Procs, p)
		c.Proxy.setBackend(i, p.URL)
		t.Cleanup(func() {
			p.stop(syscall.SIGTERM)
			if t.Failed() {
				keepLog(t, fmt.Sprintf("replica%d.log", i), p.logs.String())
			}
		})
	}
	return c
}

// Kill is replica i crashing (SIGKILL); the proxy stops sending it requests at once,
// as a load balancer's health check would a moment later.
func (c *cluster) Kill(i int) {
	c.t.Helper()
	c.Proxy.setUp(i, false)
	c.Procs[i].stop(syscall.SIGKILL)
}

// Start starts replica i again after Kill or Stop, over the same address, and puts it
// back in the proxy's rotation once it listens.
func (c *cluster) Start(i int) {
	c.t.Helper()
	c.Procs[i].start()
	c.Proxy.setUp(i, true)
}

// Restart is Kill (sig SIGKILL) or a graceful stop (SIGTERM) of replica i, then Start.
func (c *cluster) Restart(i int, sig syscall.Signal) {
	c.t.Helper()
	c.Proxy.setUp(i, false)
	c.Procs[i].stop(sig)
	c.Start(i)
}

// StallRedis stops the redis-server process for d (SIGSTOP, then SIGCONT): every
// replica's state calls hang meanwhile.
func (c *cluster) StallRedis(d time.Duration) {
	c.t.Helper()
	c.Redis.Pause(c.t)
	defer c.Redis.Resume(c.t)
	time.Sleep(d)
}

// Env is the docsEnv of the single-process scenarios with the proxy in the place of
// the process: its helpers (config, open, session, upload, read ...) then go through
// the round robin.
func (c *cluster) Env() *docsEnv {
	return &docsEnv{t: c.t, ds: c.DS, p: &proc{t: c.t, URL: c.URL, Data: c.Data, logs: &lockedBuffer{}}}
}

// rrProxy is a plain round-robin reverse proxy: each request goes to the next replica
// that is up, whatever file or session it belongs to.
type rrProxy struct {
	URL string

	mu       sync.Mutex
	backends []*url.URL
	up       []bool
	next     int
	served   []atomic.Int64 // requests sent to each replica
	failures atomic.Int64   // requests answered 502 because the replica failed
}

func newRRProxy(t *testing.T, n int) *rrProxy {
	t.Helper()
	p := &rrProxy{backends: make([]*url.URL, n), up: make([]bool, n), served: make([]atomic.Int64, n)}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			i, target := p.pick()
			p.served[i].Add(1)
			r.SetURL(target)
			r.Out.Host = r.In.Host // the bridges' public URL is the proxy's
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.failures.Add(1)
			http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		},
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *rrProxy) setBackend(i int, raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backends[i] = u
	p.up[i] = true
}

func (p *rrProxy) setUp(i int, up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up[i] = up
}

// pick returns the next replica that is up; with none up, the next one anyway (the
// request then fails as it would behind a real balancer).
func (p *rrProxy) pick() (int, *url.URL) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.backends)
	for range n {
		i := p.next
		p.next = (p.next + 1) % n
		if p.up[i] && p.backends[i] != nil {
			return i, p.backends[i]
		}
	}
	i := p.next
	p.next = (p.next + 1) % n
	return i, p.backends[i]
}

// Served reports how many requests each replica was sent.
func (p *rrProxy) Served() []int64 {
	out := make([]int64, len(p.served))
	for i := range p.served {
		out[i] = p.served[i].Load()
	}
	return out
}

// The binaries built with extra tags, one per tag set.
var (
	tagBinMu sync.Mutex
	tagBins  = map[string]string{}
)

// wopibridgeBinaryTags is wopibridgeBinary built with the given build tags ("" is the
// plain binary).
func wopibridgeBinaryTags(t *testing.T, tags string) string {
	t.Helper()
	if tags == "" {
		return wopibridgeBinary(t)
	}
	tagBinMu.Lock()
	defer tagBinMu.Unlock()
	if bin, ok := tagBins[tags]; ok {
		return bin
	}
	dir, err := os.MkdirTemp("", "wopibridge-e2e-bin")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "wopibridge")
	out, err := exec.Command("go", "build", "-race", "-tags", tags, "-o", bin, "../cmd/wopibridge").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -tags %s: %v\n%s", tags, err, out)
	}
	tagBins[tags] = bin
	return bin
}

// keepLog writes a failed test's replica log where it outlives the test
// ($WOPIBRIDGE_E2E_LOGS, or a new temporary directory), and says where.
func keepLog(t *testing.T, name, log string) {
	dir := os.Getenv("WOPIBRIDGE_E2E_LOGS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "wopibridge-e2e-logs"); err != nil {
			t.Logf("%s not kept: %v", name, err)
			return
		}
	}
	path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+name)
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Logf("%s not kept: %v", name, err)
		return
	}
	t.Logf("%s kept in %s", name, path)
}

func TestClusterRoundRobinSavesAcrossReplicas(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	e := c.Env()
	f := e.upload("shared.docx", "v1")

	// Docs API: two co-editors whose configs come from different replicas share one
	// key; the status 1 and status 2 callbacks land wherever the proxy sends them.
	a := e.open("alice", f.ID)
	e.reply(a.Key(), docserver.StatusEditing)
	b := e.open("bob", f.ID)
	if a.Key() != b.Key() || b.View() {
		t.Fatalf("co-editors got keys %q and %q (bob view %v)", a.Key(), b.Key(), b.View())
	}
	a.Edit([]byte("v2 by alice and bob"))
	a.Close()
	b.Close()
	if got := replyBody(e.reply(a.Key(), docserver.StatusMustSave)); got != `{"error":0}` {
		t.Fatalf("reply to status 2 = %s", got)
	}
	if got := string(e.p.read("shared.docx")); got != "v2 by alice and bob" {
		t.Fatalf("after the Docs API save: %q", got)
	}

	// A replica crashes and comes back; a WOPI session runs across all of them.
	c.Kill(0)
	s := e.session("carol", f.ID, "edit")
	c.Start(0)
	w := e.openWOPI(s)
	if w.Mode() != "edit" || w.ForcedView() || string(w.Content()) != "v2 by alice and bob" {
		t.Fatalf("WOPI open: mode %s forced view %v content %q", w.Mode(), w.ForcedView(), w.Content())
	}
	if err := w.Save([]byte("v3 by carol"), false); err != nil {
		t.Fatalf("Save button: %v", err)
	}
	// Redis stalls while the closing save is under way: the save waits, then lands.
	stalled := make(chan struct{})
	go func() {
		defer close(stalled)
		c.StallRedis(300 * time.Millisecond)
	}()
	if err := w.Save([]byte("v4 by carol"), true); err != nil {
		t.Fatalf("closing save: %v", err)
	}
	<-stalled
	if got := string(e.p.read("shared.docx")); got != "v4 by carol" {
		t.Fatalf("after the WOPI save: %q", got)
	}
	wantWOPIOK(t, c.DS, docserver.OpCheckFileInfo, docserver.OpLock, docserver.OpPutFile, docserver.OpUnlock)

	// Unlocked everywhere: a new Docs API editor opens for edit with a new key.
	key, mode := configKey(t, e.config("dave", f.ID))
	if mode != "edit" || key == a.Key() {
		t.Fatalf("after both sessions: key %q (first %q) mode %s", key, a.Key(), mode)
	}
	for i, n := range c.Proxy.Served() {
		if n == 0 {
			t.Errorf("replica %d was sent no request: %v", i, c.Proxy.Served())
		}
	}
}
