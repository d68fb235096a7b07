package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The e2e scenarios that need a real process (restarts, SIGKILL) run the wopibridge
// binary built once from this checkout.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func wopibridgeBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wopibridge-e2e-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "wopibridge")
		cmd := exec.Command("go", "build", "-race", "-o", binPath, "../cmd/wopibridge")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is a wopibridge process over a directory that survives its restarts.
type proc struct {
	t    *testing.T
	bin  string // the binary to run; "" is wopibridgeBinary's
	env  []string
	addr string // host:port, the same across restarts
	URL  string
	Data string // documents directory
	cmd  *exec.Cmd
	done chan struct{}
	logs *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freeAddr finds a loopback port to keep across restarts (DS keeps calling the
// callback URLs it was given).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startProc starts wopibridge with the given extra environment; the documents live in
// a temporary directory and the state beside it.
func startProc(t *testing.T, env ...string) *proc {
	t.Helper()
	tmp := t.TempDir()
	p := &proc{t: t, addr: freeAddr(t), Data: filepath.Join(tmp, "data"), logs: &lockedBuffer{}}
	p.URL = "http://" + p.addr
	p.env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + tmp,
		"WOPIBRIDGE_LISTEN=" + p.addr,
		"WOPIBRIDGE_STORAGE=fs:" + p.Data,
		"WOPIBRIDGE_STATE=bolt:" + filepath.Join(tmp, "state", "wopibridge.db"),
		"WOPIBRIDGE_LOG_LEVEL=debug",
	}, env...)
	p.start()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("wopibridge log:\n%s", p.logs.String())
		}
	})
	return p
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

func (p *proc) start() {
	p.t.Helper()
	bin := p.bin
	if bin == "" {
		bin = wopibridgeBinary(p.t)
	}
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Env = p.env
	p.cmd.Stderr = p.logs
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { p.cmd.Wait(); close(p.done) }()
	select {
	case <-ready:
	case <-p.done:
		p.t.Fatalf("wopibridge exited at start:\n%s", p.logs.String())
	case <-time.After(60 * time.Second):
		p.t.Fatalf("wopibridge did not start:\n%s", p.logs.String())
	}
}

// stop ends the process with sig and waits for it.
func (p *proc) stop(sig syscall.Signal) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// restart stops the process with sig (SIGTERM: graceful; SIGKILL: a crash) and starts
// it again over the same directory, state and address.
func (p *proc) restart(sig syscall.Signal) {
	p.t.Helper()
	p.stop(sig)
	p.start()
}

// api calls the launch API with a launch token; it returns status and body.
func (p *proc) api(method, path, launch string, body io.Reader) (int, []byte) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.URL+path, body)
	if err != nil {
		p.t.Fatal(err)
	}
	if launch != "" {
		req.Header.Set("Authorization", "Bearer "+launch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// upload stores a new document through the launch API.
func (p *proc) upload(launch, name string, content []byte) apiFile {
	p.t.Helper()
	status, body := p.api(http.MethodPost, "/api/v1/files?name="+name, launch, bytes.NewReader(content))
	if status != http.StatusCreated {
		p.t.Fatalf("upload %s: %d %s", name, status, body)
	}
	var f apiFile
	if err := json.Unmarshal(body, &f); err != nil {
		p.t.Fatal(err)
	}
	return f
}

// describe returns a file's description through the launch API.
func (p *proc) describe(launch, id string) apiFile {
	p.t.Helper()
	status, body := p.api(http.MethodGet, "/api/v1/files/"+id, launch, nil)
	if status != http.StatusOK {
		p.t.Fatalf("describe %s: %d %s", id, status, body)
	}
	var f apiFile
	json.Unmarshal(body, &f)
	return f
}

// read returns the bytes of a document straight from the directory.
func (p *proc) read(name string) []byte {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.Data, name))
	if err != nil {
		p.t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds or the deadline passes; for state that changes in
// another process, where no event can be awaited.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func netListen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
