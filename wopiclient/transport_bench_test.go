package wopiclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// What the direct path saves a small GET, against http.Transport with the same
// settings, in one run:
//
//	go test ./wopiclient -run '^$' -bench TransportGET -benchtime 20000x -count 5
//
// Both send GETs for a 1.5 KB reply to a loopback server over kept-alive connections,
// alternating one of each per iteration; the report is the time of each and
// transport/direct (above 1 means the direct path is faster).
func BenchmarkTransportGET(b *testing.B) {
	reply := strings.Repeat("x", 1500)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, reply)
	}))
	defer srv.Close()
	direct := NewHTTPClient()
	base := direct.Transport.(*Transport).Base.Clone()
	std := &http.Client{Transport: base}
	defer direct.CloseIdleConnections()
	defer std.CloseIdleConnections()
	buf := make([]byte, 4096)
	get := func(c *http.Client) time.Duration {
		t0 := time.Now()
		resp, err := c.Get(srv.URL + "/wopi/files/1?access_token=t")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
		resp.Body.Close()
		if err != nil || n != int64(len(reply)) {
			b.Fatalf("read %d bytes: %v", n, err)
		}
		return time.Since(t0)
	}
	var td, ts time.Duration
	for b.Loop() {
		td += get(direct)
		ts += get(std)
	}
	n := float64(b.N)
	b.ReportMetric(float64(td.Nanoseconds())/n, "direct-ns")
	b.ReportMetric(float64(ts.Nanoseconds())/n, "transport-ns")
	b.ReportMetric(float64(ts)/float64(td), "transport/direct")
}
