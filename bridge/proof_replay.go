package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// A WOPI proof signs the token, the URL and a timestamp, not the method or the body:
// GetFile and PutFile share a URL, so a proof captured from a GetFile (a proxy log, a
// TLS-terminating hop) would authorise a PutFile for the 20 minutes the timestamp is
// good. The bridge therefore accepts each proof once. What it has seen lives in the
// state store, so that replicas sharing a Redis state refuse a proof another one
// accepted.
//
// DS's timestamps have millisecond resolution: two requests of DS for the same URL and
// token within one millisecond carry the same proof. A repeat that arrives within
// proofRepeatGrace of the first is therefore let through; a replay from a log comes
// later than that.

const (
	// proofMemory is how long an accepted proof is remembered: as long as its timestamp
	// is good, plus the clock skew the verifier tolerates.
	proofMemory = 21 * time.Minute
	// proofRepeatGrace lets DS's own same-millisecond requests through.
	proofRepeatGrace = 2 * time.Second
	// proofShards spreads the records over buckets, so that replicas writing at the
	// same time rarely touch the same one (Redis transactions watch a whole bucket).
	proofShards = 16
	// proofSweepEvery is how often forgotten records are removed.
	proofSweepEvery = time.Minute
)

// proofReplays remembers the proofs accepted in the last proofMemory.
type proofReplays struct {
	st  state.Store
	now func() time.Time

	mu        sync.Mutex
	lastSweep time.Time
}

func newProofReplays(st state.Store, now func() time.Time) *proofReplays {
	return &proofReplays{st: st, now: now, lastSweep: now()}
}

func proofBucket(shard byte) string { return "proofs-" + strconv.Itoa(int(shard%proofShards)) }

// errProofReplayed refuses a proof that was used before.
var errProofReplayed = userErr(errProof, "the request's proof was already used by an earlier request: a replayed request (every WOPI request of ONLYOFFICE Docs carries a fresh proof)")

// check records the proof of r (verified already) and refuses one seen before.
func (p *proofReplays) check(r *http.Request) error {
	sum := sha256.Sum256([]byte(r.Header.Get(wopiclient.HeaderProof) + "\x00" + r.Header.Get(wopiclient.HeaderTimeStamp)))
	key := hex.EncodeToString(sum[:16])
	bucket := proofBucket(sum[16])
	now := p.now()
	err := p.st.Update(func(tx state.Tx) error {
		raw, err := tx.Get(bucket, key)
		if err != nil {
			return err
		}
		if raw != nil {
			first, _ := strconv.ParseInt(string(raw), 10, 64)
			seen := time.UnixMilli(first)
			if now.Sub(seen) < proofMemory && now.Sub(seen) > proofRepeatGrace {
				return errProofReplayed
			}
			if now.Sub(seen) < proofMemory {
				return nil // DS's own repeat within the same millisecond
			}
		}
		return tx.Put(bucket, key, strconv.AppendInt(nil, now.UnixMilli(), 10))
	})
	if err != nil {
		return err
	}
	p.sweep(now)
	return nil
}

// sweep removes the records older than proofMemory, at most once per proofSweepEvery.
// A failed sweep is tried again next time.
func (p *proofReplays) sweep(now time.Time) {
	p.mu.Lock()
	if now.Sub(p.lastSweep) < proofSweepEvery {
		p.mu.Unlock()
		return
	}
	p.lastSweep = now
	p.mu.Unlock()
	cutoff := now.Add(-proofMemory).UnixMilli()
	for shard := range byte(proofShards) {
		bucket := proofBucket(shard)
		_ = p.st.Update(func(tx state.Tx) error {
			var old []string
			if err := tx.ForEach(bucket, func(key string, v []byte) error {
				if t, err := strconv.ParseInt(string(v), 10, 64); err != nil || t < cutoff {
					old = append(old, key)
				}
				return nil
			}); err != nil {
				return err
			}
			for _, k := range old {
				if err := tx.Delete(bucket, k); err != nil {
					return err
				}
			}
			return nil
		})
	}
}
