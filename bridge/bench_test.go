package bridge

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// Benchmarks compare the bridge with the least a server could do in the same run, over
// the same loopback transport:
//
//	go test ./bridge -run '^$' -bench . -benchtime 200x
//	WOPIBRIDGE_BENCH_SIZE=64MiB go test ./bridge -run '^$' -bench 'File$' -benchtime 2x
//
// The file benchmarks report MB/s, allocated bytes per operation and the peak resident
// set of the process during the sub-benchmark (peak-RSS-MiB), which stays flat however
// large the file is when bodies are streamed.

// benchSize is the size of the GetFile/PutFile document: $WOPIBRIDGE_BENCH_SIZE (bytes, or
// with a KiB/MiB/GiB suffix), 512 MiB by default.
func benchSize(b *testing.B) int64 {
	v := strings.TrimSpace(os.Getenv("WOPIBRIDGE_BENCH_SIZE"))
	if v == "" {
		return 512 << 20
	}
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(v, suffix) {
			v, mult = strings.TrimSuffix(v, suffix), m
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("WOPIBRIDGE_BENCH_SIZE=%q: want a positive size such as 536870912 or 512MiB", os.Getenv("WOPIBRIDGE_BENCH_SIZE"))
	}
	return n * mult
}

// benchServer serves h on a loopback listener; the client keeps connections alive.
func benchServer(b *testing.B, h http.Handler) (*httptest.Server, *http.Client) {
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return srv, srv.Client()
}

// drain reads r to the end through buf, the same way for the bridge and the baselines
// (io.Discard's own ReadFrom would always use 8 KiB reads).
func drain(r io.Reader, buf []byte) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{io.Discard}, r, buf)
}

func benchGet(b *testing.B, c *http.Client, buf []byte, u string, hdr ...string) int64 {
	return benchGetTo(b, c, io.Discard, buf, u, hdr...)
}

func BenchmarkCheckFileInfo(b *testing.B) {
	e := newEnv(b, func(o *Options) { o.Logger = nil })
	bridgeSrv, bridgeClient := benchServer(b, e.srv)
	target := bridgeSrv.URL + e.filePath(e.file.ID) + "?access_token=" + url.QueryEscape(e.token) + "&access_token_ttl=0"
	w := e.wopi(http.MethodGet, e.filePath(e.file.ID), e.token, nil)
	if w.Code != http.StatusOK {
		b.Fatalf("CheckFileInfo: %d", w.Code)
	}
	body := w.Body.Bytes()
	bare := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	bareSrv, bareClient := benchServer(b, bare)
	buf := make([]byte, 32<<10)

	b.Run("bridge", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchGet(b, bridgeClient, buf, target, wopiclient.HeaderCorrelationID, "bench")
		}
	})
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchGet(b, bareClient, buf, bareSrv.URL+"/", wopiclient.HeaderCorrelationID, "bench")
		}
	})
	// Both, request by request, so that both see the same machine load; reports the
	// mean of each and bare/bridge (1 would be no cost at all).
	b.Run("paired", func(b *testing.B) {
		var bridgeTime, bareTime time.Duration
		for b.Loop() {
			t0 := time.Now()
			benchGet(b, bareClient, buf, bareSrv.URL+"/", wopiclient.HeaderCorrelationID, "bench")
			t1 := time.Now()
			benchGet(b, bridgeClient, buf, target, wopiclient.HeaderCorrelationID, "bench")
			bareTime += t1.Sub(t0)
			bridgeTime += time.Since(t1)
		}
		b.ReportMetric(float64(bridgeTime.Nanoseconds())/float64(b.N), "bridge-ns/req")
		b.ReportMetric(float64(bareTime.Nanoseconds())/float64(b.N), "bare-ns/req")
		b.ReportMetric(float64(bareTime)/float64(bridgeTime), "bare/bridge")
	})
	// The backend's share of the bridge's time: one Stat, called directly.
	b.Run("storage-stat", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.store.Stat(context.Background(), e.file.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// peakRSS resets the process's peak resident set (Linux) and returns a function that
// reports the peak since, as a benchmark metric.
func peakRSS(b *testing.B) func() {
	runtime.GC()
	reset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	return func() {
		if !reset {
			return
		}
		f, err := os.Open("/proc/self/status")
		if err != nil {
			return
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
				kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				if err == nil {
					b.ReportMetric(kb/1024, "peak-RSS-MiB")
				}
			}
		}
	}
}

// patternReader yields n bytes of a repeating pattern without holding them.
func patternReader(n int64) io.Reader {
	return io.LimitReader(repeatReader{}, n)
}

type repeatReader struct{}

func (repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i)
	}
	return len(p), nil
}

// bigFileEnv is a bridge whose work folder holds a large file, and the same bytes as a
// plain file on disk for the baselines.
func bigFileEnv(b *testing.B, size int64) (*testEnv, string, string) {
	e := newEnv(b, func(o *Options) { o.Logger, o.MaxFileSize = nil, 0 })
	f, err := e.store.Create(context.Background(), e.folder.ID, "big.bin", patternReader(size), false, 0)
	if err != nil {
		b.Fatal(err)
	}
	plain := filepath.Join(b.TempDir(), "plain.bin")
	out, err := os.Create(plain)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, patternReader(size)); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	return e, f.ID, plain
}

// BenchmarkGetFile downloads the file to disk through the bridge, beside a plain
// io.Copy of the same bytes from disk to disk (the same user-space copy loop and buffer,
// so neither side gets an in-kernel shortcut the other lacks), and beside a bare net/http
// handler doing io.Copy from disk over the same loopback transport. "from-disk" reads the
// plain file into nothing: the ceiling of any reader, shown for scale.
func BenchmarkGetFile(b *testing.B) {
	size := benchSize(b)
	e, id, plain := bigFileEnv(b, size)
	srv, client := benchServer(b, e.srv)
	target := srv.URL + e.filePath(id) + "/contents?access_token=" + url.QueryEscape(e.mint(id, modeView))
	buf := make([]byte, 1<<20)
	dst := filepath.Join(b.TempDir(), "downloaded.bin")

	b.Run("bridge", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		report := peakRSS(b)
		for b.Loop() {
			out, err := os.Create(dst)
			if err != nil {
				b.Fatal(err)
			}
			n := benchGetTo(b, client, out, buf, target, wopiclient.HeaderMaxExpectedSize, strconv.FormatInt(size, 10))
			out.Close()
			if n != size {
				b.Fatalf("got %d bytes", n)
			}
		}
		report()
	})
	b.Run("iocopy", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		report := peakRSS(b)
		for b.Loop() {
			in, err := os.Open(plain)
			if err != nil {
				b.Fatal(err)
			}
			out, err := os.Create(dst)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, buf); err != nil {
				b.Fatal(err)
			}
			in.Close()
			out.Close()
		}
		report()
	})
	// A bare net/http handler doing a plain io.Copy from disk, downloaded the same way:
	// what any HTTP server costs on this transport.
	bare, bareClient := benchServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(plain)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		_, _ = io.Copy(w, f)
	}))
	b.Run("bare-http", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			out, err := os.Create(dst)
			if err != nil {
				b.Fatal(err)
			}
			n := benchGetTo(b, bareClient, out, buf, bare.URL+"/")
			out.Close()
			if n != size {
				b.Fatalf("got %d bytes", n)
			}
		}
	})
	b.Run("from-disk", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			f, err := os.Open(plain)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := drain(f, buf); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}

// benchGetTo downloads u into w through buf.
func benchGetTo(b *testing.B, c *http.Client, w io.Writer, buf []byte, u string, hdr ...string) int64 {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{resp.Body}, buf)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET: status %d, %v", resp.StatusCode, err)
	}
	return n
}

func BenchmarkPutFile(b *testing.B) {
	size := benchSize(b)
	e, id, _ := bigFileEnv(b, 0)
	srv, client := benchServer(b, e.srv)
	token := e.mint(id, modeEdit)
	if _, err := e.store.Lock(context.Background(), id, "bench"); err != nil {
		b.Fatal(err)
	}
	target := srv.URL + e.filePath(id) + "/contents?access_token=" + url.QueryEscape(token)
	dir := b.TempDir()

	b.Run("bridge", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		report := peakRSS(b)
		for b.Loop() {
			benchPost(b, client, target, size, wopiclient.HeaderOverride, "PUT", wopiclient.HeaderLock, "bench")
		}
		report()
	})
	// The baseline writes as durably as the backend: temp file, copy, fsync, rename.
	b.Run("iocopy", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		report := peakRSS(b)
		for b.Loop() {
			if err := writeDurably(dir, patternReader(size)); err != nil {
				b.Fatal(err)
			}
		}
		report()
	})
	// The least an HTTP server does: a bare handler writing the body the same way.
	bare, bareClient := benchServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := writeDurably(dir, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	b.Run("bare-http", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		report := peakRSS(b)
		for b.Loop() {
			benchPost(b, bareClient, bare.URL+"/", size)
		}
		report()
	})
}

// writeDurably writes r to dir/plain.bin: temp file, copy, fsync, rename.
func writeDurably(dir string, r io.Reader) error {
	tmp, err := os.CreateTemp(dir, "put-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, "plain.bin"))
}

// benchPost uploads size bytes as a PutFile would.
func benchPost(b *testing.B, c *http.Client, u string, size int64, hdr ...string) {
	req, err := http.NewRequest(http.MethodPost, u, patternReader(size))
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = size
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("POST: %d %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
}
