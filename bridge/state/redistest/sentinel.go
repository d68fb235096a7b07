package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MasterName is the name the sentinels of StartSentinel know the master by.
const MasterName = "wopibridge"

// Sentinel timings, short so that a test's failover takes a few seconds: a master
// silent for sentinelDownAfter is down, and a failover gives up after
// sentinelFailoverTimeout.
const (
	sentinelDownAfter       = 1000 * time.Millisecond
	sentinelFailoverTimeout = 5000 * time.Millisecond
	failoverWait            = 60 * time.Second
)

// Sentinels is a master, its replicas and three sentinels watching them, all on
// loopback, stopped when the test ends.
type Sentinels struct {
	// Servers are the data servers: Servers[0] starts as the master.
	Servers []*Server
	// Watchers are the three sentinel processes.
	Watchers []*Server
}

// StartSentinel starts a master with replicas replicas (each following it before
// this returns) and three sentinels watching it under MasterName. A missing binary
// fails the test, as Start does.
func StartSentinel(t testing.TB, replicas int) *Sentinels {
	t.Helper()
	// A replica that needs a full copy gets it at once, not after the default 5 s
	// wait for more replicas to share the transfer.
	master := Start(t, "--repl-diskless-sync-delay", "0")
	s := &Sentinels{Servers: []*Server{master}}
	for range replicas {
		host, port, _ := net.SplitHostPort(master.Addr)
		s.Servers = append(s.Servers, Start(t, "--repl-diskless-sync-delay", "0", "--replicaof", host, port))
	}
	s.awaitReplicas(t, master)
	for range 3 {
		s.Watchers = append(s.Watchers, startSentinel(t, master.Addr))
	}
	// Every sentinel sees the replicas and the other sentinels before a failover can
	// be asked of them.
	for _, w := range s.Watchers {
		waitCond(t, "sentinel "+w.Addr+" sees the replicas and the other sentinels", func() (bool, error) {
			out, err := command(w.Addr, "SENTINEL", "MASTER", MasterName)
			return fieldIs(out, "num-slaves", strconv.Itoa(replicas)) && fieldIs(out, "num-other-sentinels", "2"), err
		})
	}
	return s
}

// URL is the redis-sentinel:// URL of database db, with extra query options
// ("wait=1" ...).
func (s *Sentinels) URL(db int, options ...string) string {
	var addrs []string
	for _, w := range s.Watchers {
		addrs = append(addrs, w.Addr)
	}
	q := append([]string{"master=" + MasterName}, options...)
	return "redis-sentinel://" + strings.Join(addrs, ",") + "/" + strconv.Itoa(db) + "?" + strings.Join(q, "&")
}

// Master is the data server the sentinels name as master now.
func (s *Sentinels) Master(t testing.TB) *Server {
	t.Helper()
	out, err := command(s.Watchers[0].Addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName)
	if err != nil {
		t.Fatalf("redistest: ask the master's address: %v", err)
	}
	lines := strings.Fields(out)
	if len(lines) != 2 {
		t.Fatalf("redistest: master's address %q", out)
	}
	addr := net.JoinHostPort(lines[0], lines[1])
	for _, srv := range s.Servers {
		if srv.Addr == addr {
			return srv
		}
	}
	t.Fatalf("redistest: the sentinels name %s as master, not one of this test's servers", addr)
	return nil
}

// Failover asks the sentinels to promote a replica (SENTINEL FAILOVER) and waits
// until one is master and the sentinels say so; it returns the new master.
func (s *Sentinels) Failover(t testing.TB) *Server {
	t.Helper()
	old := s.Master(t)
	if _, err := command(s.Watchers[0].Addr, "SENTINEL", "FAILOVER", MasterName); err != nil {
		t.Fatalf("redistest: SENTINEL FAILOVER: %v", err)
	}
	next := s.awaitNewMaster(t, old)
	s.awaitReplicas(t, next)
	return next
}

// awaitReplicas waits until every other running data server replicates master with
// its link up: the sentinels reconfigure a demoted master some time after the
// promotion.
func (s *Sentinels) awaitReplicas(t testing.TB, master *Server) {
	t.Helper()
	for _, r := range s.Servers {
		if r == master || r.exited() {
			continue
		}
		waitCondFor(t, failoverWait, fmt.Sprintf("replica %s in sync with the master %s", r.Addr, master.Addr), func() (bool, error) {
			info, err := command(r.Addr, "INFO", "replication")
			_, port, _ := net.SplitHostPort(master.Addr)
			return strings.Contains(info, "master_link_status:up") && strings.Contains(info, "master_port:"+port+"\r\n"), err
		})
	}
}

// KillMaster kills the master (SIGKILL) and waits until the sentinels promoted a
// replica; it returns the new master.
func (s *Sentinels) KillMaster(t testing.TB) *Server {
	t.Helper()
	old := s.Master(t)
	old.Stop(t)
	return s.awaitNewMaster(t, old)
}

func (s *Sentinels) awaitNewMaster(t testing.TB, old *Server) *Server {
	t.Helper()
	var next *Server
	waitCondFor(t, failoverWait, "a replica promoted in the place of "+old.Addr, func() (bool, error) {
		out, err := command(s.Watchers[0].Addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName)
		if err != nil {
			return false, err
		}
		f := strings.Fields(out)
		if len(f) != 2 || net.JoinHostPort(f[0], f[1]) == old.Addr {
			return false, nil
		}
		for _, srv := range s.Servers {
			if srv.Addr == net.JoinHostPort(f[0], f[1]) {
				role, err := command(srv.Addr, "ROLE")
				if err != nil {
					return false, nil
				}
				if strings.HasPrefix(role, "master") {
					next = srv
					return true, nil
				}
			}
		}
		return false, nil
	})
	return next
}

// startSentinel runs redis-server --sentinel on a config file of its own (sentinels
// rewrite it).
func startSentinel(t testing.TB, master string) *Server {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		t.Fatalf("%s not found in PATH: install Debian's redis-server and redis-sentinel packages to run the Sentinel tests", Binary)
	}
	host, port, _ := net.SplitHostPort(master)
	var errs []error
	for range portAttempts {
		dir := t.TempDir()
		p, err := freePort()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\nloglevel warning\n"+
			"sentinel monitor %s %s %s 2\n"+
			"sentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s %d\n"+
			"sentinel parallel-syncs %s 1\n",
			p, dir, MasterName, host, port, MasterName, sentinelDownAfter.Milliseconds(), MasterName, sentinelFailoverTimeout.Milliseconds(), MasterName)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := run(bin, dir, p, []string{conf, "--sentinel"})
		if err == nil {
			t.Cleanup(func() {
				if err := s.stop(); err != nil {
					t.Errorf("redistest: %v", err)
				}
			})
			return s
		}
		errs = append(errs, err)
	}
	t.Fatalf("redistest: could not start a sentinel: %v", errors.Join(errs...))
	return nil
}

// fieldIs reads a flat RESP array of name/value lines as command prints it.
func fieldIs(out, name, want string) bool {
	f := strings.Split(out, "\n")
	for i := 0; i+1 < len(f); i += 2 {
		if f[i] == name {
			return f[i+1] == want
		}
	}
	return false
}

func waitCond(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	waitCondFor(t, startTimeout, what, cond)
}

func waitCondFor(t testing.TB, d time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: no %s after %v (last error: %v)", what, d, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// command sends one command and returns its answer flattened: simple strings,
// numbers and bulk strings as they are, arrays one element a line (nested arrays
// flattened too). An error answer is returned as an error.
func command(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	var out []string
	if err := readReply(r, &out); err != nil {
		return "", err
	}
	return strings.Join(out, "\n"), nil
}

func readReply(r *bufio.Reader, out *[]string) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		*out = append(*out, line[1:])
	case '-':
		return errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return err
		}
		if n < 0 {
			*out = append(*out, "")
			return nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		*out = append(*out, string(buf[:n]))
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return err
		}
		for range max(n, 0) {
			if err := readReply(r, out); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}
