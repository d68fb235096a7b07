package wopi

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// health keeps the outcome of the upstream calls: the upstream is failing from the
// first call it fails (5xx, no reply, time-out) until one succeeds again. A refusal
// (4xx) is an answer of a working host. Check does not call the upstream (which token
// to call it with belongs to a user's request), so this is what readiness can report.
type health struct {
	now func() time.Time

	mu       sync.Mutex
	calls    int64
	failing  error     // the first failure of the current run of failures; nil when ok
	since    time.Time // when failing began
	failures int       // calls failed since
	last     error     // the latest failure
	// lacks: operations an upstream origin answered 501 although it announced them
	// (cs3org/wopiserver's PutRelativeFile), by origin and operation, until when they
	// are not offered to clients.
	lacks map[string]time.Time
}

// lacksFor is how long a 501 to an announced operation keeps it from being offered.
const lacksFor = 10 * time.Minute

func (h *health) observe(op string, err error) {
	down := err != nil && errors.Is(err, wopiclient.ErrUnavailable) && !errors.Is(err, context.Canceled)
	var we *wopiclient.Error
	lacking := errors.Is(err, wopiclient.ErrNotImplemented) && errors.As(err, &we)
	h.mu.Lock()
	defer h.mu.Unlock()
	if lacking {
		if o, err := url.Parse(we.URL); err == nil {
			if key, err := originOf(o); err == nil {
				if h.lacks == nil {
					h.lacks = map[string]time.Time{}
				}
				h.lacks[key+" "+op] = h.now().Add(lacksFor)
			}
		}
	}
	h.calls++
	switch {
	case !down:
		h.failing, h.failures, h.last = nil, 0, nil
	case h.failing == nil:
		h.failing, h.since, h.failures, h.last = err, h.now(), 1, err
	default:
		h.failures++
		h.last = err
	}
}

// lacks reports whether the origin of the WOPISrc src answered op with 501 lately.
func (h *health) lacksOp(src, op string) bool {
	u, err := url.Parse(src)
	if err != nil {
		return false
	}
	key, err := originOf(u)
	if err != nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	until, ok := h.lacks[key+" "+op]
	return ok && h.now().Before(until)
}

// UpstreamState says how the upstream answered the bridge's recent calls: nil when the
// latest call succeeded or was refused for its own reasons (or none was made yet), an
// error naming the failure otherwise. It makes no call.
func (b *Backend) UpstreamState() error {
	h := &b.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failing == nil {
		return nil
	}
	msg := fmt.Sprintf("failed calls since %s: %d, the latest: %v", h.since.UTC().Format(time.RFC3339), h.failures, h.last)
	if errors.Is(h.last, wopiclient.ErrServerError) {
		msg += " (" + proofHint[1:] + ")"
	}
	return errors.New(msg)
}
