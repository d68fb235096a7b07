package fs

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// checkLock applies the WOPI rule for a lock-guarded change other than PutFile: allowed
// when the file holds lockID, or when it is unlocked and no lock is given.
func checkLock(held, lockID string) error {
	switch {
	case held != "" && lockID == held:
		return nil
	case held != "":
		return &storage.LockConflictError{Current: held}
	case lockID != "":
		return &storage.LockConflictError{Reason: "the file is not locked"}
	}
	return nil
}

// checkPut is checkLock for PutFile, where an unlocked file may be written without a lock
// only while it is empty (how a client fills a new document).
func checkPut(held, lockID string, size int64) error {
	if err := checkLock(held, lockID); err != nil {
		return err
	}
	if held == "" && size > 0 {
		return &storage.LockConflictError{Reason: "the file is not locked and not empty: lock it before writing"}
	}
	return nil
}

// Lock takes the lock, or extends it when the file already holds lockID.
func (s *FS) Lock(ctx context.Context, id, lockID string) (storage.File, error) {
	return s.changeLock(id, func(held string) (string, error) {
		if err := validLockID(lockID, held); err != nil {
			return "", err
		}
		if held != "" && held != lockID {
			return "", &storage.LockConflictError{Current: held}
		}
		return lockID, nil
	})
}

// Unlock releases lockID.
func (s *FS) Unlock(ctx context.Context, id, lockID string) (storage.File, error) {
	return s.changeLock(id, func(held string) (string, error) {
		if err := heldBy(held, lockID); err != nil {
			return "", err
		}
		return "", nil
	})
}

// RefreshLock extends lockID by storage.LockDuration from now.
func (s *FS) RefreshLock(ctx context.Context, id, lockID string) (storage.File, error) {
	return s.changeLock(id, func(held string) (string, error) {
		if err := heldBy(held, lockID); err != nil {
			return "", err
		}
		return lockID, nil
	})
}

// UnlockAndRelock replaces oldLockID with lockID.
func (s *FS) UnlockAndRelock(ctx context.Context, id, oldLockID, lockID string) (storage.File, error) {
	return s.changeLock(id, func(held string) (string, error) {
		if err := heldBy(held, oldLockID); err != nil {
			return "", err
		}
		if err := validLockID(lockID, held); err != nil {
			return "", err
		}
		return lockID, nil
	})
}

// GetLock returns the current lock id, empty when unlocked.
func (s *FS) GetLock(ctx context.Context, id string) (string, error) {
	s.ns.RLock()
	defer s.ns.RUnlock()
	defer s.files.Lock(id)()
	_, rel, held, err := s.lookupFile(id)
	if err != nil {
		return "", err
	}
	if _, err := s.lstatFile(id, rel); err != nil {
		return "", err
	}
	return held, nil
}

// heldBy checks that the file is locked with lockID.
func heldBy(held, lockID string) error {
	switch {
	case held == "":
		return &storage.LockConflictError{Reason: "the file is not locked"}
	case held != lockID:
		return &storage.LockConflictError{Current: held}
	}
	return nil
}

func validLockID(lockID, held string) error {
	switch {
	case lockID == "":
		return &storage.LockConflictError{Current: held, Reason: "the lock id is empty"}
	case len(lockID) > storage.MaxLockLength:
		return &storage.LockConflictError{Current: held,
			Reason: fmt.Sprintf("the lock id is longer than %d bytes", storage.MaxLockLength)}
	}
	return nil
}

// changeLock runs decide on the file's current lock, under the file's mutex and in one
// state transaction, and stores what it returns: a lock id (set, expiring
// storage.LockDuration from now) or "" (released).
func (s *FS) changeLock(id string, decide func(held string) (string, error)) (storage.File, error) {
	s.ns.RLock()
	defer s.ns.RUnlock()
	defer s.files.Lock(id)()
	file, err := s.stat(id)
	if err != nil {
		return storage.File{}, err
	}
	now := s.now()
	err = s.afterLanding(func() error {
		return s.state.Update(func(tx state.Tx) error {
			if err := checkLanding(tx, id, s.now()); err != nil {
				return err
			}
			return s.decideLock(tx, id, now, decide)
		})
	})
	if err != nil {
		return storage.File{}, err
	}
	return file, nil
}

// decideLock stores, in tx, what decide makes of id's current lock.
func (s *FS) decideLock(tx state.Tx, id string, now time.Time, decide func(held string) (string, error)) error {
	held, err := currentLock(tx, id, now)
	if err != nil {
		return err
	}
	next, err := decide(held)
	if err != nil {
		return err
	}
	if next == "" {
		return tx.Delete(bucketLocks, id)
	}
	return putLock(tx, id, next, now.Add(storage.LockDuration))
}

// A write landing: from the transaction that checked its lock to its rename's record,
// a Put marks its file in bucketLanding (a random mark and when it lapses, for a
// replica that dies in between). Lock changes wait while a live mark is there, so a
// lock is never granted to someone between another replica's lock check and its
// rename.
const (
	bucketLanding = "fs.landing" // file id → "<unix nanos of lapse> <random>"
	landingLapse  = 30 * time.Second
	landingWait   = 10 * time.Second // how long a lock change waits for a write to land
)

var errLanding = errors.New("fs: a write of this file is landing")

func landingMark(now time.Time) []byte {
	return []byte(strconv.FormatInt(now.Add(landingLapse).UnixNano(), 10) + " " + rand.Text())
}

func dropLanding(tx state.Tx, id string, mark []byte) error {
	cur, err := tx.Get(bucketLanding, id)
	if err != nil || !bytes.Equal(cur, mark) {
		return err
	}
	return tx.Delete(bucketLanding, id)
}

// checkLanding fails with errLanding while a live mark is on id.
func checkLanding(tx state.Tx, id string, now time.Time) error {
	cur, err := tx.Get(bucketLanding, id)
	if err != nil || cur == nil {
		return err
	}
	lapse, _, _ := strings.Cut(string(cur), " ")
	if ns, err := strconv.ParseInt(lapse, 10, 64); err == nil && now.UnixNano() < ns {
		return errLanding
	}
	return nil
}

// afterLanding runs try until no write of the file is landing, for up to landingWait.
func (s *FS) afterLanding(try func() error) error {
	deadline := time.Now().Add(landingWait)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := try()
		if !errors.Is(err, errLanding) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %w, try again", storage.ErrUnavailable, err)
		}
		if s.landingBusy != nil {
			s.landingBusy()
		}
		time.Sleep(wait)
	}
}
