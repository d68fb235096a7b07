package fs

import (
	"context"
	"fmt"

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
	err = s.state.Update(func(tx state.Tx) error {
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
	})
	if err != nil {
		return storage.File{}, err
	}
	return file, nil
}
