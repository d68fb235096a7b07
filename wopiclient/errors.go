package wopiclient

import (
	"errors"
	"fmt"
	"net/http"
)

// StatusError is a WOPI reply that was not a success, as a client sees it. Lock is the
// X-WOPI-Lock the host returned with a 409 (empty when the file is not locked) and Reason
// its X-WOPI-LockFailureReason or X-WOPI-ServerError.
type StatusError struct {
	Op     Override // the operation asked for; empty for CheckFileInfo and GetFile
	Status int
	Lock   string
	Reason string
}

func (e *StatusError) Error() string {
	op := string(e.Op)
	if op == "" {
		op = "request"
	}
	msg := fmt.Sprintf("wopi: %s: %d %s", op, e.Status, http.StatusText(e.Status))
	if e.Status == http.StatusConflict {
		if e.Lock == "" {
			msg += " (file not locked)"
		} else {
			msg += " (locked by another lock)"
		}
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Is lets callers test a StatusError against the sentinels below with errors.Is.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrLockConflict:
		return e.Status == http.StatusConflict
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrNotImplemented:
		return e.Status == http.StatusNotImplemented
	case ErrTooLarge:
		return e.Status == http.StatusRequestEntityTooLarge || e.Status == http.StatusPreconditionFailed
	}
	return false
}

// Classes of WOPI failure, matched by *StatusError through errors.Is.
var (
	ErrLockConflict   = errors.New("wopi: lock conflict")
	ErrUnauthorized   = errors.New("wopi: invalid access token")
	ErrNotFound       = errors.New("wopi: not found")
	ErrNotImplemented = errors.New("wopi: not implemented")
	ErrTooLarge       = errors.New("wopi: file too large")
)

// StatusErrorFrom turns a non-2xx reply into a *StatusError; it returns nil for 2xx.
func StatusErrorFrom(op Override, resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	reason := resp.Header.Get(HeaderLockFailureReason)
	if reason == "" {
		reason = resp.Header.Get(HeaderServerError)
	}
	return &StatusError{Op: op, Status: resp.StatusCode, Lock: resp.Header.Get(HeaderLock), Reason: reason}
}
