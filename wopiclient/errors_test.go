package wopiclient

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestStatusErrorFrom(t *testing.T) {
	resp := &http.Response{StatusCode: http.StatusConflict, Header: http.Header{}}
	resp.Header.Set(HeaderLock, "other-lock")
	resp.Header.Set(HeaderLockFailureReason, "locked by another editor")
	err := StatusErrorFrom(OverrideLock, resp)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 409 || se.Lock != "other-lock" || se.Op != OverrideLock {
		t.Fatalf("StatusErrorFrom = %#v", err)
	}
	if !errors.Is(err, ErrLockConflict) || errors.Is(err, ErrNotFound) {
		t.Errorf("errors.Is classification wrong for %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "LOCK") || !strings.Contains(msg, "locked by another editor") {
		t.Errorf("message %q", msg)
	}
	for status, want := range map[int]error{401: ErrUnauthorized, 404: ErrNotFound, 501: ErrNotImplemented, 413: ErrTooLarge, 412: ErrTooLarge} {
		if err := StatusErrorFrom("", &http.Response{StatusCode: status, Header: http.Header{}}); !errors.Is(err, want) {
			t.Errorf("%d is not %v", status, want)
		}
	}
	if err := StatusErrorFrom(OverridePut, &http.Response{StatusCode: 200, Header: http.Header{}}); err != nil {
		t.Errorf("200 gave %v", err)
	}
}

func TestParseOverride(t *testing.T) {
	for in, want := range map[string]Override{"LOCK": OverrideLock, " put_relative ": OverridePutRelative, "": ""} {
		if got := ParseOverride(in); got != want {
			t.Errorf("ParseOverride(%q) = %q, want %q", in, got, want)
		}
	}
}
