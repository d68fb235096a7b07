package session

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
)

// One replay of a file's waiting saves at a time, across every replica on the state
// store: a replay holds the file's replay lease (bucketReplaying), a record naming the
// replica (its Manager's random id) and when the lease expires. Another replica that
// finds a live lease leaves the file's saves alone (they keep their order: it replays
// none of the file's later saves either). A lease whose holder died expires after
// replayLease; the transactions that settle a replay (forget) fence it: they fail when
// another replica holds the lease now, and they settle a save only once (a save whose
// record is gone was settled by someone else and decrements nothing).

const bucketReplaying = "docs.replaying" // file id → replayLeaseRec

// replayLease bounds one replay of one save (its write to storage and what follows);
// each save replayed renews it.
const replayLease = 5 * time.Minute

type replayLeaseRec struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
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

// takeReplayLease takes or renews fileID's replay lease; errReplayBusy when another
// replica holds it.
func (m *Manager) takeReplayLease(fileID string) error {
	return m.o.State.Update(func(tx state.Tx) error {
		var cur replayLeaseRec
		ok, err := getJSON(tx, bucketReplaying, fileID, &cur)
		if err != nil {
			return err
		}
		if ok && cur.Owner != m.id && m.now().Before(cur.Expires) {
			return errReplayBusy
		}
		return putJSON(tx, bucketReplaying, fileID, replayLeaseRec{Owner: m.id, Expires: m.now().Add(replayLease)})
	})
}

// dropReplayLease ends fileID's replay lease if this Manager holds it.
func (m *Manager) dropReplayLease(fileID string) {
	m.o.State.Update(func(tx state.Tx) error {
		var cur replayLeaseRec
		ok, err := getJSON(tx, bucketReplaying, fileID, &cur)
		if err != nil || !ok || cur.Owner != m.id {
			return err
		}
		return tx.Delete(bucketReplaying, fileID)
	})
}

// checkReplayLease fails, in tx, when another replica holds fileID's replay lease.
func (m *Manager) checkReplayLease(tx state.Tx, fileID string) error {
	var cur replayLeaseRec
	ok, err := getJSON(tx, bucketReplaying, fileID, &cur)
	if err != nil {
		return err
	}
	if ok && cur.Owner != m.id && m.now().Before(cur.Expires) {
		return errReplayLeaseLost
	}
	return nil
}

// underReplayLease runs fn holding fileID's replay lease.
func (m *Manager) underReplayLease(fileID string, fn func() error) error {
	if err := m.takeReplayLease(fileID); err != nil {
		return err
	}
	defer m.dropReplayLease(fileID)
	return fn()
}
