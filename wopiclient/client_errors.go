package wopiclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// More classes of failure a Client reports, matched by *Error through errors.Is next to
// ErrLockConflict, ErrUnauthorized, ErrNotFound, ErrNotImplemented and ErrTooLarge.
var (
	// ErrUnavailable: the host failed (5xx other than 501, 429), could not be reached, or
	// did not answer in time. Worth retrying later.
	ErrUnavailable = errors.New("wopi: host unavailable")
	// ErrTimeout: no reply in time (client timeout, context deadline, 504).
	ErrTimeout = errors.New("wopi: host timed out")
	// ErrPreconditionFailed: 412, for GetFile a file larger than X-WOPI-MaxExpectedSize.
	ErrPreconditionFailed = errors.New("wopi: precondition failed")
	// ErrTargetExists: PutRelativeFile or RenameFile refused because the target name is
	// taken (409 without X-WOPI-Lock); Error.ValidTarget may suggest a free name.
	ErrTargetExists = errors.New("wopi: target name exists")
	// ErrInvalidName: PutRelativeFile or RenameFile refused the name (400, reason in
	// X-WOPI-InvalidFileNameError).
	ErrInvalidName = errors.New("wopi: invalid file name")
	// ErrURLNotAllowed: Client.CheckURL refused a URL; no request was made to it.
	ErrURLNotAllowed = errors.New("wopi: URL not allowed")
	// ErrServerError: the host itself answered 500. It is ErrUnavailable too, since it
	// may pass, but it is not an outage: real hosts answer 500 for permanent refusals
	// (a proof they cannot verify, a PutFile on a file that is not locked, a token they
	// handed out and then refuse). Error.Reply.Reason holds what the host said.
	ErrServerError = errors.New("wopi: host error")
)

// Error is a failed call to a WOPI host: either the host answered with a failure status
// (Reply is set) or no usable reply came (Err holds why: network failure, timeout,
// cancellation, a refused URL). Its message never holds the access token.
//
// errors.Is matches the class sentinels (ErrLockConflict, ErrUnavailable, ...) and,
// through Err, causes such as context.Canceled; errors.As finds Reply as a
// *StatusError.
type Error struct {
	Op          string       // the WOPI operation: "CheckFileInfo", "PutFile", "Lock" ...
	URL         string       // the WOPISrc called, without its query
	Reply       *StatusError // the host's failure reply; nil when none came
	ValidTarget string       // a free name the host suggested (X-WOPI-ValidRelativeTarget)
	Err         error        // why no reply came; nil when one did

	classes  []error
	msg      string
	lockSent bool // the reply carried X-WOPI-Lock, even empty
}

func (e *Error) Error() string { return "wopi: " + e.Op + " " + e.URL + ": " + e.msg }

// Unwrap returns the cause of a call that got no reply.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether the failure belongs to the class target.
func (e *Error) Is(target error) bool { return slices.Contains(e.classes, target) }

// As finds the host's reply as a *StatusError.
func (e *Error) As(target any) bool {
	if p, ok := target.(**StatusError); ok && e.Reply != nil {
		*p = e.Reply
		return true
	}
	return false
}

// failure turns a call's outcome into an *Error: the one place where replies and
// transport failures become the error vocabulary. resp is the non-2xx reply (its body is
// not read here) or nil; err is the transport failure or nil.
func (k *call) failure(resp *http.Response, err error) error {
	e := &Error{Op: k.op, URL: k.display()}
	if resp == nil {
		e.Err = unwrapURLError(err)
		e.classes = transportClasses(e.Err)
		e.msg = "no reply: " + k.scrub(e.Err.Error())
		return e
	}
	reply := StatusErrorFrom(k.override, resp).(*StatusError)
	if reply.Reason == "" {
		reply.Reason = resp.Header.Get(HeaderInvalidFileNameError)
	}
	if reply.Reason == "" && resp.StatusCode >= 500 {
		// Hosts that answer with http.Error say why only in the body.
		reply.Reason = textReason(resp)
	}
	reply.Reason = k.scrub(reply.Reason)
	e.Reply = reply
	if v := resp.Header.Get(HeaderValidRelativeTarget); v != "" {
		if name, derr := DecodeUTF7(v); derr == nil {
			e.ValidTarget = k.scrub(name)
		}
	}
	_, lockSent := resp.Header[http.CanonicalHeaderKey(HeaderLock)]
	e.lockSent = lockSent
	namesTarget := k.override == OverridePutRelative || k.override == OverrideRenameFile
	status := resp.StatusCode
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.classes = []error{ErrUnauthorized}
	case status == http.StatusNotFound || status == http.StatusGone:
		e.classes = []error{ErrNotFound}
	case status == http.StatusConflict && namesTarget && (!lockSent || e.ValidTarget != ""):
		// A free name to use instead says the name is what is taken, whatever lock
		// headers come with it (OpenCloud sends an empty X-WOPI-Lock).
		e.classes = []error{ErrTargetExists}
	case status == http.StatusConflict:
		e.classes = []error{ErrLockConflict}
	case status == http.StatusBadRequest && namesTarget:
		e.classes = []error{ErrInvalidName}
	case status == http.StatusPreconditionFailed:
		e.classes = []error{ErrPreconditionFailed, ErrTooLarge}
	case status == http.StatusRequestEntityTooLarge:
		e.classes = []error{ErrTooLarge}
	case status == http.StatusNotImplemented:
		e.classes = []error{ErrNotImplemented}
	case status == http.StatusGatewayTimeout || status == http.StatusRequestTimeout:
		e.classes = []error{ErrUnavailable, ErrTimeout}
	case status == http.StatusInternalServerError:
		e.classes = []error{ErrUnavailable, ErrServerError}
	case status >= 500 || status == http.StatusTooManyRequests:
		e.classes = []error{ErrUnavailable}
	}
	e.msg = replyMessage(reply, slices.Contains(e.classes, ErrTargetExists), e.ValidTarget)
	return e
}

// replyMessage describes a failure reply for people.
func replyMessage(r *StatusError, nameTaken bool, validTarget string) string {
	msg := fmt.Sprintf("%d %s", r.Status, http.StatusText(r.Status))
	switch {
	case nameTaken:
		msg += " (the name is taken)"
	case r.Status == http.StatusConflict && r.Lock == "":
		msg += " (file not locked)"
	case r.Status == http.StatusConflict:
		msg += " (locked by another lock)"
	case r.Status >= 300 && r.Status < 400:
		msg += " (the host redirected a request that cannot follow redirects)"
	}
	if r.Reason != "" {
		msg += ": " + r.Reason
	}
	if validTarget != "" {
		msg += fmt.Sprintf(" (free name: %q)", validTarget)
	}
	return msg
}

// textReason is the first line of a short text reply body, for a failure whose
// headers say nothing; empty when the body is not short text.
func textReason(resp *http.Response) string {
	ct := resp.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "text/plain") {
		return ""
	}
	buf := make([]byte, 256)
	n, _ := io.ReadFull(resp.Body, buf)
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	line = strings.TrimSpace(line)
	if !utf8.ValidString(line) || strings.IndexFunc(line, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return ""
	}
	return line
}

func transportClasses(err error) []error {
	var ne net.Error
	switch {
	case errors.Is(err, ErrURLNotAllowed):
		return []error{ErrURLNotAllowed}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return []error{ErrUnavailable, ErrTimeout}
	case errors.Is(err, context.Canceled):
		// The caller gave up; the host is not to blame.
		return nil
	}
	return []error{ErrUnavailable}
}

// unwrapURLError drops net/http's *url.Error, whose message holds the full request URL
// with its access token; the failure's own URL is kept without the query instead.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

var tokenParam = regexp.MustCompile(`(?i)(access_token(?:_ttl)?=)[^&\s"'<>]*`)

// scrub removes the call's access token from a text that may come from the host or from
// the network stack.
func (k *call) scrub(s string) string {
	if k.token != "" {
		s = strings.ReplaceAll(s, k.token, "[REDACTED]")
		if q := url.QueryEscape(k.token); q != k.token {
			s = strings.ReplaceAll(s, q, "[REDACTED]")
		}
	}
	return tokenParam.ReplaceAllString(s, "${1}[REDACTED]")
}
