package wopi

import (
	"context"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// Lock is the upstream's Lock (which refreshes a lock the file already holds).
func (b *Backend) Lock(ctx context.Context, id, lockID string) (storage.File, error) {
	h, err := b.handle(ctx, id)
	if err != nil {
		return storage.File{}, err
	}
	if err := checkLock(lockID, b.currentLock(ctx, h)); err != nil {
		return storage.File{}, err
	}
	if err := b.client.Lock(ctx, h.src, h.token, lockID); err != nil {
		return storage.File{}, upstreamErr("lock", id, err)
	}
	return b.stat(ctx, h, "lock")
}

// Unlock is the upstream's Unlock.
func (b *Backend) Unlock(ctx context.Context, id, lockID string) (storage.File, error) {
	h, err := b.handle(ctx, id)
	if err != nil {
		return storage.File{}, err
	}
	if err := checkLock(lockID, b.currentLock(ctx, h)); err != nil {
		return storage.File{}, err
	}
	if err := b.client.Unlock(ctx, h.src, h.token, lockID); err != nil {
		return storage.File{}, upstreamErr("unlock", id, err)
	}
	return b.stat(ctx, h, "unlock")
}

// RefreshLock is the upstream's RefreshLock.
func (b *Backend) RefreshLock(ctx context.Context, id, lockID string) (storage.File, error) {
	h, err := b.handle(ctx, id)
	if err != nil {
		return storage.File{}, err
	}
	if err := checkLock(lockID, b.currentLock(ctx, h)); err != nil {
		return storage.File{}, err
	}
	if err := b.client.RefreshLock(ctx, h.src, h.token, lockID); err != nil {
		return storage.File{}, upstreamErr("refresh lock", id, err)
	}
	return b.stat(ctx, h, "refresh lock")
}

// UnlockAndRelock is the upstream's Lock with X-WOPI-OldLock.
func (b *Backend) UnlockAndRelock(ctx context.Context, id, oldLockID, lockID string) (storage.File, error) {
	h, err := b.handle(ctx, id)
	if err != nil {
		return storage.File{}, err
	}
	for _, l := range []string{oldLockID, lockID} {
		if err := checkLock(l, b.currentLock(ctx, h)); err != nil {
			return storage.File{}, err
		}
	}
	if err := b.client.UnlockAndRelock(ctx, h.src, h.token, oldLockID, lockID); err != nil {
		return storage.File{}, upstreamErr("unlock and relock", id, err)
	}
	return b.stat(ctx, h, "unlock and relock")
}

// GetLock is the upstream's GetLock.
func (b *Backend) GetLock(ctx context.Context, id string) (string, error) {
	h, err := b.handle(ctx, id)
	if err != nil {
		return "", err
	}
	lock, err := b.client.GetLock(ctx, h.src, h.token)
	if err != nil {
		return "", upstreamErr("get lock", id, err)
	}
	return lock, nil
}

// currentLock asks the upstream for the lock a refused lock id reports as current;
// only called when a refusal needs it. A failure reports no lock.
func (b *Backend) currentLock(ctx context.Context, h handle) func() string {
	return func() string {
		lock, err := b.client.GetLock(ctx, h.src, h.token)
		if err != nil {
			return ""
		}
		return lock
	}
}
