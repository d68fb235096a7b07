package bridge

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/state/redistest"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// What the shared Redis state costs against the embedded bolt one, in one run: the same
// bridge over each store (Redis a real redis-server on loopback, one round trip a
// fraction of a millisecond, with appendonly yes and appendfsync everysec; bolt syncs
// every transaction to disk), for CheckFileInfo and for a 1 MiB status-2 save. The
// "paired" runs alternate the two request by request, so that both see the same
// machine load, and report each one's mean and redis/bolt.
//
//	go test ./bridge -run '^$' -bench StateStore -benchtime 3s

// stateEnvs are two bridges over the same kind of backend, one on bolt, one on Redis.
func stateEnvs(b *testing.B, configure ...func(*Options)) (bolt, rds *testEnv) {
	b.Helper()
	bolt = newEnv(b, configure...)
	// Redis as the README asks to run it: the append-only file, synced every second.
	st, err := state.OpenRedis(redistest.Start(b, "--appendonly", "yes", "--appendfsync", "everysec").URL(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	rds = newEnvOn(b, st, &testClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}, configure...)
	return bolt, rds
}

func BenchmarkStateStore(b *testing.B) {
	b.Run("CheckFileInfo", benchStateCheckFileInfo)
	b.Run("DocsSave1MiB", benchStateDocsSave)
}

func benchStateCheckFileInfo(b *testing.B) {
	bolt, rds := stateEnvs(b, func(o *Options) { o.Logger = nil })
	buf := make([]byte, 32<<10)
	target := func(e *testEnv) (string, *http.Client) {
		srv, client := benchServer(b, e.srv)
		return srv.URL + e.filePath(e.file.ID) + "?access_token=" + url.QueryEscape(e.token) + "&access_token_ttl=0", client
	}
	boltURL, boltClient := target(bolt)
	redisURL, redisClient := target(rds)
	get := func(c *http.Client, u string) {
		if n := benchGet(b, c, buf, u, wopiclient.HeaderCorrelationID, "bench"); n == 0 {
			b.Fatal("CheckFileInfo answered nothing")
		}
	}
	b.Run("bolt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			get(boltClient, boltURL)
		}
	})
	b.Run("redis", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			get(redisClient, redisURL)
		}
	})
	b.Run("paired", func(b *testing.B) {
		var boltTime, redisTime time.Duration
		for b.Loop() {
			t0 := time.Now()
			get(boltClient, boltURL)
			t1 := time.Now()
			get(redisClient, redisURL)
			boltTime += t1.Sub(t0)
			redisTime += time.Since(t1)
		}
		reportPair(b, boltTime, redisTime)
	})
}

func benchStateDocsSave(b *testing.B) {
	const size = 1 << 20
	dsURL, resultURL := benchDS(b, size)
	secret := []byte(benchDSSecret)
	bolt, rds := stateEnvs(b, func(o *Options) {
		o.Logger, o.MaxFileSize = nil, 0
		o.Docs = DocsOptions{URL: dsURL, JWTSecret: secret}
	})
	boltSaver := newBenchSaver(b, bolt, bolt.srv, resultURL)
	redisSaver := newBenchSaver(b, rds, rds.srv, resultURL)

	run := func(s *benchSaver) func(b *testing.B) {
		return func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				key, cb := s.open(b)
				b.StartTimer()
				s.save(b, key, cb)
			}
			if st := s.e.stat(s.e.file.ID); st.Size != size {
				b.Fatalf("stored %d bytes, want %d", st.Size, size)
			}
		}
	}
	b.Run("bolt", run(boltSaver))
	b.Run("redis", run(redisSaver))
	b.Run("paired", func(b *testing.B) {
		var boltTime, redisTime time.Duration
		for b.Loop() {
			b.StopTimer()
			k1, cb1 := boltSaver.open(b)
			k2, cb2 := redisSaver.open(b)
			b.StartTimer()
			t0 := time.Now()
			boltSaver.save(b, k1, cb1)
			t1 := time.Now()
			redisSaver.save(b, k2, cb2)
			boltTime += t1.Sub(t0)
			redisTime += time.Since(t1)
		}
		reportPair(b, boltTime, redisTime)
	})
}

func reportPair(b *testing.B, boltTime, redisTime time.Duration) {
	b.ReportMetric(float64(boltTime.Nanoseconds())/float64(b.N), "bolt-ns/op")
	b.ReportMetric(float64(redisTime.Nanoseconds())/float64(b.N), "redis-ns/op")
	b.ReportMetric(float64(redisTime)/float64(boltTime), "redis/bolt")
}
