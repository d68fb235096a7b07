package bridge

import (
	"net/http"
	"unicode/utf8"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// lock answers LOCK, and LOCK with X-WOPI-OldLock (UnlockAndRelock). Locks live 30
// minutes unless refreshed; the backend enforces the rules.
func (s *Server) lock(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	lockID, oldLock, err := parseLockHeaders(r.Header)
	if err != nil {
		return err
	}
	var f storage.File
	if oldLock != "" {
		info(r.Context()).op = "UnlockAndRelock"
		f, err = s.store.UnlockAndRelock(r.Context(), c.id, oldLock, lockID)
	} else {
		f, err = s.store.Lock(r.Context(), c.id, lockID)
	}
	return lockReply(w, f, err)
}

func (s *Server) unlock(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	lockID, err := lockHeader(r.Header, wopiclient.HeaderLock, true)
	if err != nil {
		return err
	}
	if c.waiting != nil {
		// DS's saves wait in the spool under this lock: it is released once they land.
		marked, err := s.docs.sessions.UnlockWhenSaved(c.id, lockID)
		if err != nil {
			return err
		}
		if !marked {
			return c.waiting
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	f, err := s.store.Unlock(r.Context(), c.id, lockID)
	return lockReply(w, f, err)
}

func (s *Server) refreshLock(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	lockID, err := lockHeader(r.Header, wopiclient.HeaderLock, true)
	if err != nil {
		return err
	}
	f, err := s.store.RefreshLock(r.Context(), c.id, lockID)
	return lockReply(w, f, err)
}

// getLock answers GET_LOCK: the current lock in X-WOPI-Lock, empty when unlocked.
func (s *Server) getLock(w http.ResponseWriter, r *http.Request, c *wopiCall) error {
	lockID, err := s.store.GetLock(r.Context(), c.id)
	if err != nil {
		return err
	}
	setHeader(w.Header(), wopiclient.HeaderLock, lockID)
	w.WriteHeader(http.StatusOK)
	return nil
}

func lockReply(w http.ResponseWriter, f storage.File, err error) error {
	if err != nil {
		return err
	}
	setHeader(w.Header(), wopiclient.HeaderItemVersion, f.Version)
	w.WriteHeader(http.StatusOK)
	return nil
}

// parseLockHeaders reads the X-WOPI-Lock (required) and X-WOPI-OldLock (optional, but
// not empty when sent) of a LOCK request.
func parseLockHeaders(h http.Header) (lockID, oldLock string, err error) {
	if lockID, err = lockHeader(h, wopiclient.HeaderLock, true); err != nil {
		return "", "", err
	}
	if len(h.Values(wopiclient.HeaderOldLock)) > 0 {
		if oldLock, err = lockHeader(h, wopiclient.HeaderOldLock, true); err != nil {
			return "", "", err
		}
	}
	return lockID, oldLock, nil
}

// lockHeader reads one lock id header. Lock ids are opaque strings of at most 1024 bytes
// (WOPI's extended lock length) without control characters; an absent or empty header is
// "" when not required.
func lockHeader(h http.Header, name string, required bool) (string, error) {
	vals := h.Values(name)
	if len(vals) > 1 {
		return "", userErr(errBadRequest, "%s was sent %d times; send it once", name, len(vals))
	}
	v := ""
	if len(vals) == 1 {
		v = vals[0]
	}
	switch {
	case v == "" && required:
		return "", userErr(errBadRequest, "%s is missing or empty: send the lock id", name)
	case len(v) > storage.MaxLockLength:
		return "", userErr(errBadRequest, "%s is %d bytes long; lock ids are at most %d", name, len(v), storage.MaxLockLength)
	case !utf8.ValidString(v):
		return "", userErr(errBadRequest, "%s is not valid UTF-8", name)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return "", userErr(errBadRequest, "%s contains control characters", name)
		}
	}
	return v, nil
}
