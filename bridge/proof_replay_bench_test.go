package bridge

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// BenchmarkProofReplayCheck: what remembering each accepted proof in the state store
// (bolt here, one write transaction a request) costs, beside a whole CheckFileInfo
// answered in process without it, in one run.
//
//	go test ./bridge -run '^$' -bench ProofReplayCheck -benchtime 2000x
func BenchmarkProofReplayCheck(b *testing.B) {
	e := newEnv(b, func(o *Options) { o.Logger = nil })
	b.Run("checkfileinfo", func(b *testing.B) {
		for b.Loop() {
			if w := e.wopi(http.MethodGet, e.filePath(e.file.ID), e.token, nil); w.Code != http.StatusOK {
				b.Fatalf("CheckFileInfo: %d", w.Code)
			}
		}
	})
	b.Run("replay-check", func(b *testing.B) {
		p := newProofReplays(e.state, e.clock.Now)
		r := httptest.NewRequest(http.MethodGet, "/wopi/files/x", nil)
		r.Header.Set(wopiclient.HeaderTimeStamp, "1")
		i := 0
		for b.Loop() {
			i++
			r.Header.Set(wopiclient.HeaderProof, strconv.Itoa(i))
			if err := p.check(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
