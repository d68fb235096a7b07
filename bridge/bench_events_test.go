package bridge

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/events"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// What the timeline costs the operations it records. Each benchmark runs two bridges
// over the same kind of store (a bolt file each): one with events.Nop, one with an
// events.Log on its state store, request by request in the same loop so both see the
// same machine load, and reports the mean time of each and the Log's extra cost in
// percent (events-cost-%), with the events recorded per operation (events/op). The
// "plus-one" runs record one more event per request through the same Log, as a face
// reporting it would, so the Log's cost shows whatever the faces record:
//
//	go test ./bridge -run '^$' -bench Events -benchtime 300x

// countingRecorder counts what the faces record and passes it on.
type countingRecorder struct {
	n    atomic.Int64
	next events.Recorder
}

func (c *countingRecorder) Record(e events.Event) {
	c.n.Add(1)
	c.next.Record(e)
}

// eventsBenchEnvs returns a bridge without a timeline and one with a Log, both set up
// by configure, and the Log's counter.
func eventsBenchEnvs(b *testing.B, configure func(*Options)) (nop, logged *testEnv, rec *countingRecorder) {
	nop = newEnv(b, configure, func(o *Options) { o.Events = events.Nop{} })
	logged = newEnv(b, configure, func(o *Options) {
		l := events.NewLog(o.State, events.LogOptions{Now: o.Now})
		b.Cleanup(func() { l.Close() })
		rec = &countingRecorder{next: l}
		o.Events = rec
	})
	return nop, logged, rec
}

// plusOne is h recording one event per request through rec first, with the fields a
// face fills in.
func plusOne(h http.Handler, rec events.Recorder, fileID string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.Record(events.Event{FileID: fileID, Kind: events.KindSave, Style: events.StyleDocs, User: "u-1",
			Bytes: 1 << 20, VersionBefore: "1", VersionAfter: "2", DurationMS: 12.5, Outcome: events.OutcomeSaved,
			RequestID: "0123456789abcdef-42", CorrelationID: "bench"})
		h.ServeHTTP(w, r)
	})
}

// paired times the two bridges' operations one after the other, which first taking
// turns, and reports the median of each (medians: a machine shared with other work
// stalls now one side, now the other), the Log's extra cost in percent and the events
// recorded per operation. op returns the time and the events of one operation.
func paired(b *testing.B, nop, logged func(b *testing.B) (time.Duration, int64)) {
	var nopTimes, logTimes []time.Duration
	var events int64
	for i := 0; b.Loop(); i++ {
		var d, l time.Duration
		var n int64
		if i%2 == 0 {
			d, _ = nop(b)
			l, n = logged(b)
		} else {
			l, n = logged(b)
			d, _ = nop(b)
		}
		nopTimes, logTimes, events = append(nopTimes, d), append(logTimes, l), events+n
	}
	nopMedian, logMedian := median(nopTimes), median(logTimes)
	b.ReportMetric(float64(nopMedian.Nanoseconds()), "nop-ns/op")
	b.ReportMetric(float64(logMedian.Nanoseconds()), "events-ns/op")
	b.ReportMetric((float64(logMedian)/float64(nopMedian)-1)*100, "events-cost-%")
	b.ReportMetric(float64(events)/float64(len(logTimes)), "events/op")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func BenchmarkEventsCheckFileInfo(b *testing.B) {
	nop, logged, rec := eventsBenchEnvs(b, func(o *Options) { o.Logger = nil })
	buf := make([]byte, 32<<10)
	target := func(e *testEnv) (string, *http.Client) {
		srv, client := benchServer(b, e.srv)
		return srv.URL + e.filePath(e.file.ID) + "?access_token=" + url.QueryEscape(e.token) + "&access_token_ttl=0", client
	}
	nopURL, nopClient := target(nop)
	logURL, logClient := target(logged)
	srv, plusClient := benchServer(b, plusOne(logged.srv, rec, logged.file.ID))
	plusURL := srv.URL + strings.TrimPrefix(logURL, logURL[:strings.Index(logURL, "/wopi/")])
	for _, run := range []struct {
		name   string
		url    string
		client *http.Client
	}{{"paired", logURL, logClient}, {"paired-plus-one", plusURL, plusClient}} {
		b.Run(run.name, func(b *testing.B) {
			get := func(c *http.Client, u string) func(b *testing.B) (time.Duration, int64) {
				return func(b *testing.B) (time.Duration, int64) {
					n0, t0 := rec.n.Load(), time.Now()
					benchGet(b, c, buf, u, wopiclient.HeaderCorrelationID, "bench")
					return time.Since(t0), rec.n.Load() - n0
				}
			}
			paired(b, get(nopClient, nopURL), get(run.client, run.url))
		})
	}
}

// BenchmarkEventsDocsSave: a status-2 save of a 1 MiB document (the callback, the
// download of DS's result, the durable write), the editing session's open and status 1
// left out of the time.
func BenchmarkEventsDocsSave(b *testing.B) {
	const size = 1 << 20
	dsURL, resultURL := benchDS(b, size)
	secret := []byte(benchDSSecret)
	nop, logged, rec := eventsBenchEnvs(b, func(o *Options) {
		o.Logger, o.MaxFileSize = nil, 0
		o.Docs = DocsOptions{URL: dsURL, JWTSecret: secret}
	})

	nopS, logS := newBenchSaver(b, nop, nop.srv, resultURL), newBenchSaver(b, logged, logged.srv, resultURL)
	plusS := newBenchSaver(b, logged, plusOne(logged.srv, rec, logged.file.ID), resultURL)
	// save times one status 2 and counts the events recorded meanwhile.
	save := func(b *testing.B, s *benchSaver) (time.Duration, int64) {
		b.StopTimer()
		key, cb := s.open(b)
		b.StartTimer()
		n0, t0 := rec.n.Load(), time.Now()
		s.save(b, key, cb)
		return time.Since(t0), rec.n.Load() - n0
	}
	for _, run := range []struct {
		name string
		s    *benchSaver
	}{{"paired", logS}, {"paired-plus-one", plusS}} {
		b.Run(run.name, func(b *testing.B) {
			b.SetBytes(2 * size)
			paired(b, func(b *testing.B) (time.Duration, int64) { return save(b, nopS) },
				func(b *testing.B) (time.Duration, int64) { return save(b, run.s) })
			for _, s := range []*benchSaver{nopS, run.s} {
				if st := s.e.stat(s.e.file.ID); st.Size != size {
					b.Fatalf("stored %d bytes, want %d", st.Size, size)
				}
			}
		})
	}
}
