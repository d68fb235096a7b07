package bridge

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
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
	bridgeSrv, client := benchServer(b, e.srv)

	// open returns a fresh session's key and callback URL: every save needs a new key,
	// since a repeated status 2 for a saved key writes nothing.
	open := func(b *testing.B) (string, string) {
		w := e.do(http.MethodPost, "/api/v1/docs/config?file="+e.file.ID, nil)
		if w.Code != http.StatusOK {
			b.Fatalf("config: %d %s", w.Code, w.Body)
		}
		var reply struct{ Config docsapi.Config }
		if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil {
			b.Fatal(err)
		}
		cb := strings.Replace(reply.Config.EditorConfig.CallbackURL, testPublic, bridgeSrv.URL, 1)
		return reply.Config.Document.Key, cb
	}
	callback := func(b *testing.B, cb string, claims jwt.MapClaims) {
		claims["exp"] = time.Now().Add(5 * time.Minute).Unix() // as DS signs them
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"token": tok})
		resp, err := client.Post(cb, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		reply, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(reply)) != `{"error":0}` {
			b.Fatalf("callback: %d %s", resp.StatusCode, reply)
		}
	}

	b.Run("bridge", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		report := peakRSS(b)
		for b.Loop() {
			b.StopTimer()
			key, cb := open(b)
			callback(b, cb, jwt.MapClaims{"key": key, "status": 1, "users": []string{"u"}})
			b.StartTimer()
			callback(b, cb, jwt.MapClaims{"key": key, "status": 2, "url": resultURL, "users": []string{"u"}})
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
			resp, err := client.Get(resultURL)
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
