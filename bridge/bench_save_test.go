package bridge

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/docsapi"
)

// BenchmarkDocsSave measures a status-2 save (the callback, the download of DS's result
// and the durable write to storage) beside a plain download of the same bytes written
// the same durable way (temp file, fsync, rename), in the same run:
//
//	WOPIBRIDGE_BENCH_SIZE=100MiB go test ./bridge -run '^$' -bench DocsSave -benchtime 5x
func BenchmarkDocsSave(b *testing.B) {
	size := benchSize(b)
	if os.Getenv("WOPIBRIDGE_BENCH_SIZE") == "" {
		size = 100 << 20
	}
	dsURL, resultURL := benchDS(b, size)
	secret := []byte(benchDSSecret)
	e := newEnv(b, func(o *Options) {
		o.Logger, o.MaxFileSize = nil, 0
		o.Docs = DocsOptions{URL: dsURL, JWTSecret: secret}
	})
	saver := newBenchSaver(b, e, e.srv, resultURL)

	b.Run("bridge", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		report := peakRSS(b)
		for b.Loop() {
			b.StopTimer()
			key, cb := saver.open(b)
			b.StartTimer()
			saver.save(b, key, cb)
		}
		report()
		if st := e.stat(e.file.ID); st.Size != size {
			b.Fatalf("stored %d bytes, want %d", st.Size, size)
		}
	})
	dir := b.TempDir()
	b.Run("download-write", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		report := peakRSS(b)
		for b.Loop() {
			resp, err := saver.client.Get(resultURL)
			if err != nil {
				b.Fatal(err)
			}
			err = writeDurably(dir, resp.Body)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
		report()
	})
}

// benchDSSecret signs the callbacks of the save benchmarks.
const benchDSSecret = "bench secret"

// benchDS is DS's result store for the save benchmarks: a saved document of size bytes
// as a file on disk, served as DS serves it. It gives DS's URL and the document's.
func benchDS(b *testing.B, size int64) (*url.URL, string) {
	result := filepath.Join(b.TempDir(), "output.docx")
	f, err := os.Create(result)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, patternReader(size)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	ds, _ := benchServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, result)
	}))
	dsURL, _ := url.Parse(ds.URL)
	return dsURL, ds.URL + "/cache/files/data/output.docx"
}

// benchSaver drives Docs API saves of one bridge: a fresh session per save (a repeated
// status 2 for a saved key writes nothing), its status 1 outside the timing.
// Its callbacks reach h (the bridge of e, or a handler in front of it) through a
// loopback server, signed with benchDSSecret, and name resultURL as DS's result.
type benchSaver struct {
	e         *testEnv
	srv       *httptest.Server
	client    *http.Client
	resultURL string
}

func newBenchSaver(b *testing.B, e *testEnv, h http.Handler, resultURL string) *benchSaver {
	srv, client := benchServer(b, h)
	return &benchSaver{e: e, srv: srv, client: client, resultURL: resultURL}
}

// open makes a new session whose status 1 is handled: its key and callback URL.
func (s *benchSaver) open(b *testing.B) (string, string) {
	w := s.e.do(http.MethodPost, "/api/v1/docs/config?file="+s.e.file.ID, nil)
	if w.Code != http.StatusOK {
		b.Fatalf("config: %d %s", w.Code, w.Body)
	}
	var reply struct{ Config docsapi.Config }
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil {
		b.Fatal(err)
	}
	cb := strings.Replace(reply.Config.EditorConfig.CallbackURL, testPublic, s.srv.URL, 1)
	key := reply.Config.Document.Key
	s.callback(b, cb, jwt.MapClaims{"key": key, "status": 1, "users": []string{"u"}})
	return key, cb
}

func (s *benchSaver) save(b *testing.B, key, cb string) {
	s.callback(b, cb, jwt.MapClaims{"key": key, "status": 2, "url": s.resultURL, "users": []string{"u"}})
}

func (s *benchSaver) callback(b *testing.B, cb string, claims jwt.MapClaims) {
	claims["exp"] = time.Now().Add(5 * time.Minute).Unix() // as DS signs them
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(benchDSSecret))
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"token": tok})
	resp, err := s.client.Post(cb, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(reply)) != `{"error":0}` {
		b.Fatalf("callback: %d %s", resp.StatusCode, reply)
	}
}
