// Package redistest starts a real, throwaway redis-server for tests: bound to
// 127.0.0.1 on a free port, with no persistence and its working directory in a
// temporary directory, stopped when the test ends.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the server program looked up in PATH.
const Binary = "redis-server"

const (
	startTimeout = 10 * time.Second
	stopTimeout  = 5 * time.Second
	portAttempts = 3
)

// Server is one running redis-server.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string

	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// URL is the redis:// URL of database db on the server.
func (s *Server) URL(db int) string { return "redis://" + s.Addr + "/" + strconv.Itoa(db) }

// Start runs a new redis-server, with extra configuration args such as
// "--requirepass", "pw", and stops it in t.Cleanup. A missing binary fails the test:
// the tests that need Redis are part of the suite, not optional.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		t.Fatalf("%s not found in PATH: install Debian's redis-server package (apt-get install redis-server) to run the Redis state tests", Binary)
	}
	dir := t.TempDir()
	var errs []error
	for range portAttempts {
		s, err := start(bin, dir, args)
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
	t.Fatalf("redistest: could not start %s: %v", bin, errors.Join(errs...))
	return nil
}

// start runs the server on a port that was free a moment ago; another process may take
// it in between, so the caller retries.
func start(bin, dir string, args []string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return run(bin, dir, port, append([]string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		"--loglevel", "warning",
	}, args...))
}

// run starts bin with args in dir and waits until it answers on port.
func run(bin, dir string, port int, args []string) (*Server, error) {
	s := &Server{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		out:  &syncBuffer{},
		done: make(chan struct{}),
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		if err := ping(s.Addr); err == nil {
			return s, nil
		} else if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s on %s not ready after %v: %v; output:\n%s", bin, s.Addr, startTimeout, err, s.out)
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("%s on %s exited at start; output:\n%s", bin, s.Addr, s.out)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Stop stops the server now, to test what clients do when it goes away. Stopping
// twice is allowed; the cleanup registered by Start then has nothing left to do.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Errorf("redistest: %v", err)
	}
}

// Pause stops the server's process with SIGSTOP: it keeps its connections open and
// answers nothing until Resume, as a Redis stalled by a long command, a fork or a
// starved host does. The cleanup registered by Start kills a paused server too.
func (s *Server) Pause(t testing.TB) { s.signal(t, syscall.SIGSTOP) }

// Resume continues a server stopped by Pause.
func (s *Server) Resume(t testing.TB) { s.signal(t, syscall.SIGCONT) }

// exited reports whether the process ended.
func (s *Server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

func (s *Server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Errorf("redistest: %v to %s on %s: %v", sig, Binary, s.Addr, err)
	}
}

// stop kills the server: it keeps nothing worth a graceful shutdown, which would
// cost a tick of its event loop.
func (s *Server) stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s on %s: %w", Binary, s.Addr, err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("%s on %s still running %v after SIGKILL", Binary, s.Addr, stopTimeout)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ping speaks just enough RESP to see the server answer; a server that wants a
// password first answers NOAUTH, which is ready too.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// syncBuffer collects the server's output, written by exec's copying goroutine and
// read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
