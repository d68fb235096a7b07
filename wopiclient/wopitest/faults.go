package wopitest

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Faults of real hosts, for tests of what a WOPI client does when its host misbehaves:
// random failures (statuses, dropped connections, stalls) with a fixed seed, a host that
// answers a PutFile naming a lock on an unlocked file with 500 instead of 409 (OpenCloud:
// "aborted: not locked"), an operation refused for every token (cs3org/wopiserver answers
// 501 to every PutRelativeFile), and locks that lapse at once.

// Chaos makes a share of the requests fail at random, reproducibly for a seed.
type Chaos struct {
	Seed uint64
	// Rate is the share of requests (0..1) that fail; each fault is drawn at random
	// among Statuses (answered with X-WOPI-ServerError, nothing done), a reset (the
	// connection dropped without a reply) when Reset, and a stall (no reply for Stall,
	// or until the client gives up, then nothing done) when Stall > 0.
	Rate     float64
	Statuses []int
	Reset    bool
	Stall    time.Duration
	// Ops limits the faults to these operations; empty: every operation.
	Ops []Op
}

type faults struct {
	mu        sync.Mutex
	chaos     *Chaos
	rnd       *rand.Rand
	notLocked int        // status for a PutFile naming a lock on an unlocked file; 0: 409
	refuse    map[Op]int // op → status answered to every request
	injected  int        // chaos faults so far
}

// SetChaos starts random faults (nil stops them).
func (s *Server) SetChaos(c *Chaos) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.chaos = c
	if c != nil {
		s.faults.rnd = rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	}
}

// ChaosFaults is the number of faults SetChaos injected so far.
func (s *Server) ChaosFaults() int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.injected
}

// SetNotLockedStatus makes a PutFile naming a lock on a file that is not locked answer
// status with "aborted: not locked", as OpenCloud answers 500; 0 restores WOPI's 409.
func (s *Server) SetNotLockedStatus(status int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.notLocked = status
}

// Refuse makes every request for op answer status (for a token that is otherwise
// valid), as cs3org/wopiserver answers 501 to every PutRelativeFile; 0 serves op again.
func (s *Server) Refuse(op Op, status int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.refuse == nil {
		s.faults.refuse = map[Op]int{}
	}
	if status == 0 {
		delete(s.faults.refuse, op)
	} else {
		s.faults.refuse[op] = status
	}
}

// ExpireLock makes the file's lock lapse now, as a lock does 30 minutes after its last
// refresh.
func (s *Server) ExpireLock(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.files[id]; f != nil {
		f.lockExpires = s.now()
	}
}

// chaosFault draws the fault for a request, before anything is done: it answers it
// (true) or lets it through.
func (s *Server) chaosFault(w http.ResponseWriter, r *http.Request, op Op, rec *Request) bool {
	s.faults.mu.Lock()
	c := s.faults.chaos
	if c == nil || (len(c.Ops) > 0 && !slices.Contains(c.Ops, op)) || s.faults.rnd.Float64() >= c.Rate {
		s.faults.mu.Unlock()
		return false
	}
	kinds := len(c.Statuses)
	if c.Reset {
		kinds++
	}
	if c.Stall > 0 {
		kinds++
	}
	if kinds == 0 {
		s.faults.mu.Unlock()
		return false
	}
	k := s.faults.rnd.IntN(kinds)
	s.faults.injected++
	s.faults.mu.Unlock()
	switch {
	case k < len(c.Statuses):
		rec.Status = s.reply(w, c.Statuses[k], "injected failure")
	case c.Reset && k == len(c.Statuses):
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	default:
		select {
		case <-time.After(c.Stall):
			rec.Status = s.reply(w, http.StatusServiceUnavailable, "stalled")
		case <-r.Context().Done():
		}
	}
	return true
}

// refusal is the status a request for op on f is refused with (0: none); called with
// the host's mutex held, on an authorised request.
func (s *Server) refusal(op Op, r *http.Request, f *file) (int, string) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if st := s.faults.refuse[op]; st != 0 {
		return st, "operation refused"
	}
	if op == OpPutFile && s.faults.notLocked != 0 && r.Header.Get("X-WOPI-Lock") != "" && s.currentLock(f) == "" {
		return s.faults.notLocked, "aborted: not locked"
	}
	return 0, ""
}
