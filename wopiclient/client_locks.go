package wopiclient

import (
	"context"
	"errors"
	"net/http"
)

// Lock takes the file's lock, or refreshes it when the file already holds lock. A file
// locked with another lock fails with ErrLockConflict; errors.As finds the
// *StatusError whose Lock is the current lock.
func (c *Client) Lock(ctx context.Context, src, token, lock string) error {
	return c.lockCall(ctx, "Lock", OverrideLock, src, token, lock, "")
}

// UnlockAndRelock replaces the file's lock oldLock with lock in one step (LOCK with
// X-WOPI-OldLock).
func (c *Client) UnlockAndRelock(ctx context.Context, src, token, oldLock, lock string) error {
	return c.lockCall(ctx, "UnlockAndRelock", OverrideLock, src, token, lock, oldLock)
}

// Unlock releases lock.
func (c *Client) Unlock(ctx context.Context, src, token, lock string) error {
	return c.lockCall(ctx, "Unlock", OverrideUnlock, src, token, lock, "")
}

// RefreshLock extends lock by another 30 minutes.
func (c *Client) RefreshLock(ctx context.Context, src, token, lock string) error {
	return c.lockCall(ctx, "RefreshLock", OverrideRefreshLock, src, token, lock, "")
}

func (c *Client) lockCall(ctx context.Context, op string, override Override, src, token, lock, oldLock string) error {
	k, err := newCall(op, override, http.MethodPost, src, token)
	if err != nil {
		return err
	}
	k.header.Set(HeaderLock, lock)
	if oldLock != "" {
		k.header.Set(HeaderOldLock, oldLock)
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		return err
	}
	drain(resp.Body)
	return nil
}

// GetLock returns the file's current lock, empty when it is not locked. A 404 that
// carries X-WOPI-Lock is an unlocked file, not a missing one: real hosts (wopiserver,
// OpenCloud) answer an unlocked file so.
func (c *Client) GetLock(ctx context.Context, src, token string) (string, error) {
	k, err := newCall("GetLock", OverrideGetLock, http.MethodPost, src, token)
	if err != nil {
		return "", err
	}
	resp, err := c.do(ctx, k)
	var e *Error
	if errors.As(err, &e) && e.Reply != nil && e.Reply.Status == http.StatusNotFound && e.lockSent && e.Reply.Lock == "" {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	drain(resp.Body)
	return resp.Header.Get(HeaderLock), nil
}
