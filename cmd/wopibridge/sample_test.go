package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A demo started on a documents directory that does not exist yet serves a sample
// document; a directory that exists is left as it is.
func TestFreshDemoHasSample(t *testing.T) {
	for _, existing := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "data")
		if existing {
			os.MkdirAll(dir, 0o750)
		}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		env := map[string]string{"WOPIBRIDGE_LISTEN": addr, "WOPIBRIDGE_STORAGE": "fs:" + dir}
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb syncBuf
		done := make(chan int)
		go func() { done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, &out, &errb) }()
		var body string
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			resp, err := http.Get("http://" + addr + "/api/v1/files")
			if err == nil {
				b := new(bytes.Buffer)
				b.ReadFrom(resp.Body)
				resp.Body.Close()
				body = b.String()
				break
			}
			time.Sleep(20 * time.Millisecond) // the server is starting in this process: nothing to await
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("serve exited %d: %s", code, errb.String())
		}
		has := strings.Contains(body, "Welcome to wopibridge.docx")
		if has == existing {
			t.Fatalf("existing dir %v: files %s", existing, body)
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
