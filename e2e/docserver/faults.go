package docserver

import (
	"context"
	"sync"
)

// faults are the failure modes tests can switch on. All are safe for
// concurrent use.
type faults struct {
	failNextSave      bool
	resultStatus      int
	expiredBefore     int64
	unreachable       bool
	duplicateNextSave bool
	abandonOpens      bool
	holdCount         int
	held              []*heldCallback
}

type heldCallback struct {
	release chan struct{}
	written chan struct{}
	once    sync.Once
}

func (h *heldCallback) markWritten() { h.once.Do(func() { close(h.written) }) }

// FailNextSave makes the next document assembly fail: a final save then
// sends status 3 (with the url of the corrupted result) and a forcesave
// sends status 7. In WOPI mode no PutFile is made and the changes are kept
// as forgotten.
func (s *Server) FailNextSave() {
	s.mu.Lock()
	s.faults.failNextSave = true
	s.mu.Unlock()
}

// FailResultDownloads makes every GET of a result URL answer with status
// (for example 500 or 404); 0 restores normal serving.
func (s *Server) FailResultDownloads(status int) {
	s.mu.Lock()
	s.faults.resultStatus = status
	s.mu.Unlock()
}

func (s *Server) faultResultStatus() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.resultStatus
}

// ExpireResults makes every result URL issued so far answer 410, as it
// would once URLExpiry has passed.
func (s *Server) ExpireResults() {
	s.mu.Lock()
	s.faults.expiredBefore = s.now().Add(s.opts.URLExpiry).Unix()
	s.mu.Unlock()
}

func (s *Server) faultExpired(expires int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return expires <= s.faults.expiredBefore
}

// SetCallbacksUnreachable makes callback requests fail with a connection
// error before reaching the receiver (a network error: status 2 and 3 are
// retried, status 1 and 4 are not).
func (s *Server) SetCallbacksUnreachable(on bool) {
	s.mu.Lock()
	s.faults.unreachable = on
	s.mu.Unlock()
}

func (s *Server) faultCallbacksUnreachable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.unreachable
}

// DuplicateNextSave makes the next successful status 2 be sent a second
// time, RetryBase later, as a delayed retry from DS's queue would.
func (s *Server) DuplicateNextSave() {
	s.mu.Lock()
	s.faults.duplicateNextSave = true
	s.mu.Unlock()
}

func (s *Server) takeDuplicateNextSave() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults.duplicateNextSave
	s.faults.duplicateNextSave = false
	return f
}

// DeliverOutOfOrder holds the next n callbacks (of any status) and, once n
// are held, sends them newest first: each one starts as soon as the
// previous one's request has been written, without waiting for its reply,
// so they are in flight concurrently and arrive in reverse order.
func (s *Server) DeliverOutOfOrder(n int) {
	s.mu.Lock()
	s.faults.holdCount = n
	s.mu.Unlock()
}

// holdCallback returns a gate for the next callback if one is to be held.
func (s *Server) holdCallback() *heldCallback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holdCallbackLocked()
}

// holdCallbackLocked is holdCallback with s.mu held. Callbacks take their
// place in the held batch when DS decides to send them, not when their
// goroutine runs.
func (s *Server) holdCallbackLocked() *heldCallback {
	if s.faults.holdCount <= 0 {
		return nil
	}
	h := &heldCallback{release: make(chan struct{}), written: make(chan struct{})}
	s.faults.held = append(s.faults.held, h)
	s.faults.holdCount--
	if s.faults.holdCount == 0 {
		batch := s.faults.held
		s.faults.held = nil
		s.spawnLocked(func() {
			for i := len(batch) - 1; i >= 0; i-- {
				close(batch[i].release)
				select {
				case <-batch[i].written:
				case <-s.ctx.Done():
					return
				}
			}
		})
	}
	return h
}

// wroteKey carries a function nodeTransport calls once a request is written.
type wroteKey struct{}

func onWritten(ctx context.Context) {
	if f, ok := ctx.Value(wroteKey{}).(func()); ok {
		f()
	}
}

// AbandonWOPIOpens makes the editor of every page the WOPI editor route
// renders from now on never connect (see OpenWOPIAbandoned): DS keeps the
// LOCK it took while rendering and never UNLOCKs it.
func (s *Server) AbandonWOPIOpens(on bool) {
	s.mu.Lock()
	s.faults.abandonOpens = on
	s.mu.Unlock()
}

func (s *Server) abandonOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.abandonOpens
}
