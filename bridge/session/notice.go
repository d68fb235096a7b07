package session

import (
	"context"
	"strings"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
)

// Replicas hear of a new waiting save at once: when the state store is a
// state.Notifier, a replica that spools a save (or settles one) sends a notice naming
// the file, and every other replica's Run reloads its count of waiting saves and, for
// a new one, replays the file's saves. Notices are hints: the tick of Run stays, for
// notices lost while a replica reconnects.

const noticeChannel = "docs.spool"

// Kinds of notices.
const (
	noticeSpooled = "spooled"
	noticeSettled = "settled"
)

// notify tells the other replicas what happened to fileID's saves (best effort). A
// save spooled while this Manager holds the file's lease is told of once the lease is
// dropped (see holdingLease): told at once, another replica would find the file busy.
func (m *Manager) notify(kind, fileID string) {
	n, ok := m.o.State.(state.Notifier)
	if !ok {
		return
	}
	m.lmu.Lock()
	_, holding := m.leases[fileID]
	if holding && kind == noticeSpooled {
		if m.deferred == nil {
			m.deferred = map[string]bool{}
		}
		m.deferred[fileID] = true
	}
	m.lmu.Unlock()
	if holding && kind == noticeSpooled {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.Notify(ctx, noticeChannel, m.id+" "+kind+" "+fileID)
}

// listen returns the notices Run hears, nil when the store sends none.
func (m *Manager) listen(ctx context.Context) <-chan string {
	n, ok := m.o.State.(state.Notifier)
	if !ok {
		return nil
	}
	c, err := n.Listen(ctx, noticeChannel)
	if err != nil {
		return nil // the tick does the work
	}
	return c
}

// heard acts on a notice of another replica.
func (m *Manager) heard(ctx context.Context, msg string) {
	owner, rest, _ := strings.Cut(msg, " ")
	kind, fileID, _ := strings.Cut(rest, " ")
	if owner == m.id || fileID == "" {
		return
	}
	if _, err := m.loadPending(); err != nil {
		return
	}
	if kind == noticeSpooled {
		m.flush(ctx, fileID)
	}
}
