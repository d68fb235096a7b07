package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/internal/testhold"
)

// One replay of a file's waiting saves at a time, across every replica on the state
// store: a replay holds the file's replay lease (bucketReplaying), a record naming the
// replica (its Manager's random id), a fencing token and when the lease expires. Another
// replica that finds a live lease leaves the file's saves alone (they keep their order:
// it replays none of the file's later saves either).
//
// Each take of a lease gets a new token from a counter in the state store. While a
// replay runs, a heartbeat renews its lease, so a slow write (an upstream that takes
// minutes) keeps it. A replay whose lease expired anyway (its replica stalled or lost
// the state store for longer than replayLease) may find it taken by another replica,
// under a newer token: everything it would still do is fenced by its own token. The
// transactions that settle a save (forget, recover) check it, and so does the write
// itself where the storage can (the fs backend checks it in the transaction right
// before its rename, see storage.Fence): a late replay neither overwrites a newer save
// nor settles a save twice.

const bucketReplaying = "docs.replaying" // file id → replayLeaseRec

// replayLease bounds how long a replay may go without renewing its lease;
// replayHeartbeat is how often a running replay renews it.
const (
	replayLease     = 5 * time.Minute
	replayHeartbeat = replayLease / 5
)

type replayLeaseRec struct {
	Owner   string    `json:"owner"`
	Token   uint64    `json:"token,omitempty"`
	Expires time.Time `json:"expires"`
	// Direct: held by a new save written straight to storage (see PutInTurn), not
	// by a replay.
	Direct bool `json:"direct,omitempty"`
}

var (
	// errReplayBusy: another replica replays the file's saves now.
	errReplayBusy = errors.New("session: another replica is writing this file's waiting saves")
	// errReplayLeaseLost: the replay took longer than its lease and another replica
	// took over; what this one found is not settled by it.
	errReplayLeaseLost = errors.New("session: the replay lease of this file was taken by another replica")
)

func newOwnerID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// takeReplayLease takes fileID's replay lease under a new token; errReplayBusy when a
// live lease is held (by another replica, or another replay of this one).
func (m *Manager) takeReplayLease(fileID string) (uint64, error) {
	var token uint64
	err := m.o.State.Update(func(tx state.Tx) error {
		var err error
		token, err = m.takeLeaseIn(tx, fileID, false)
		return err
	})
	return token, err
}

// takeLeaseIn takes fileID's lease in tx, for a replay or a direct write, and
// returns its token; errReplayBusy when a live lease is held.
func (m *Manager) takeLeaseIn(tx state.Tx, fileID string, direct bool) (uint64, error) {
	var cur replayLeaseRec
	ok, err := getJSON(tx, bucketReplaying, fileID, &cur)
	if err != nil {
		return 0, err
	}
	if ok && m.now().Before(cur.Expires) {
		return 0, errReplayBusy
	}
	b, err := tx.Get(bucketSeq, "replay")
	if err != nil {
		return 0, err
	}
	n, _ := strconv.ParseUint(string(b), 10, 64)
	token := n + 1
	if err := tx.Put(bucketSeq, "replay", []byte(strconv.FormatUint(token, 10))); err != nil {
		return 0, err
	}
	rec := replayLeaseRec{Owner: m.id, Token: token, Expires: m.now().Add(replayLease), Direct: direct}
	return token, putJSON(tx, bucketReplaying, fileID, rec)
}

// renewReplayLease extends the lease of token; errReplayLeaseLost when it is no
// longer fileID's.
func (m *Manager) renewReplayLease(fileID string, token uint64) error {
	return m.o.State.Update(func(tx state.Tx) error {
		var cur replayLeaseRec
		ok, err := getJSON(tx, bucketReplaying, fileID, &cur)
		if err != nil {
			return err
		}
		if !ok || cur.Token != token {
			return errReplayLeaseLost
		}
		cur.Expires = m.now().Add(replayLease)
		return putJSON(tx, bucketReplaying, fileID, cur)
	})
}

// dropReplayLease ends fileID's replay lease if token still holds it.
func (m *Manager) dropReplayLease(fileID string, token uint64) {
	m.o.State.Update(func(tx state.Tx) error {
		var cur replayLeaseRec
		ok, err := getJSON(tx, bucketReplaying, fileID, &cur)
		if err != nil || !ok || cur.Token != token {
			return err
		}
		return tx.Delete(bucketReplaying, fileID)
	})
}

// checkReplayLease fails, in tx, unless the replay of fileID that this Manager runs
// still holds the lease (its token is the lease's). Outside a replay it fails only
// when another replica holds a live lease.
func (m *Manager) checkReplayLease(tx state.Tx, fileID string) error {
	token, replaying := m.heldToken(fileID)
	var cur replayLeaseRec
	ok, err := getJSON(tx, bucketReplaying, fileID, &cur)
	if err != nil {
		return err
	}
	if replaying {
		if !ok || cur.Token != token {
			return errReplayLeaseLost
		}
		return nil
	}
	if ok && m.now().Before(cur.Expires) {
		return errReplayLeaseLost
	}
	return nil
}

func (m *Manager) heldToken(fileID string) (uint64, bool) {
	m.lmu.Lock()
	defer m.lmu.Unlock()
	t, ok := m.leases[fileID]
	return t, ok
}

// replayFence makes the writes of ctx land only while token holds fileID's lease.
func (m *Manager) replayFence(ctx context.Context, fileID string, token uint64) context.Context {
	return storage.WithFence(ctx, storage.Fence{Store: m.o.State, Check: func(tx state.Tx) error {
		var cur replayLeaseRec
		ok, err := getJSON(tx, bucketReplaying, fileID, &cur)
		if err != nil {
			return err
		}
		if !ok || cur.Token != token {
			return errReplayLeaseLost
		}
		return nil
	}})
}

// underReplayLease runs fn holding fileID's replay lease (see holdingLease).
func (m *Manager) underReplayLease(ctx context.Context, fileID string, fn func(ctx context.Context) error) error {
	token, err := m.takeReplayLease(fileID)
	if err != nil {
		return err
	}
	if m.afterReplayLease != nil {
		m.afterReplayLease(fileID)
	}
	testhold.At(testhold.ReplayWrite)
	return m.holdingLease(ctx, fileID, token, fn)
}

// holdingLease runs fn holding fileID's lease under token, renewed by a heartbeat
// while fn runs, and drops it after; fn's context carries the lease's fence. The
// caller holds the file's mutex (which keeps this process's writes of a file apart;
// correctness rests on the lease alone).
func (m *Manager) holdingLease(ctx context.Context, fileID string, token uint64, fn func(ctx context.Context) error) error {
	m.lmu.Lock()
	if m.leases == nil {
		m.leases = map[string]uint64{}
	}
	m.leases[fileID] = token
	m.lmu.Unlock()
	stop := make(chan struct{})
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		every := m.heartbeat
		if every <= 0 {
			every = replayHeartbeat
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if m.renewReplayLease(fileID, token) != nil {
					return // lost: the fence refuses what this replay still does
				}
			}
		}
	}()
	defer func() {
		close(stop)
		<-beat
		m.lmu.Lock()
		delete(m.leases, fileID)
		tell := m.deferred[fileID]
		delete(m.deferred, fileID)
		m.lmu.Unlock()
		m.dropReplayLease(fileID, token)
		if tell {
			m.notify(noticeSpooled, fileID)
		}
	}()
	return fn(m.replayFence(ctx, fileID, token))
}
