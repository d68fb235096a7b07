package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// The bridge's own error vocabulary. Storage sentinels and *storage.LockConflictError
// come from the storage contract; the ones here describe what is wrong with a request.
// statusOf is the one place that maps any of them to an HTTP status.
var (
	// errUnauthenticated: no credential, or one that is malformed, forged, expired or
	// for another resource.
	errUnauthenticated = errors.New("not authenticated")
	// errForbidden: a valid launch token that does not grant what was asked.
	errForbidden = errors.New("forbidden")
	// errNotImplemented: an operation the bridge does not offer.
	errNotImplemented = errors.New("not implemented")
	// errPrecondition: the file is larger than X-WOPI-MaxExpectedSize.
	errPrecondition = errors.New("precondition failed")
	// errBadRequest: a request the bridge cannot read.
	errBadRequest = errors.New("bad request")
	// errNotFound: no such route or resource outside storage.
	errNotFound = errors.New("not found")
	// errMethodNotAllowed: a known path asked with the wrong method.
	errMethodNotAllowed = errors.New("method not allowed")
	// errConflict: the request does not fit the current state (no session to save).
	errConflict = errors.New("conflict")
	// errProof: a WOPI request whose proof headers do not show that it comes from the
	// configured Document Server. WOPI asks for 500 (the validator's ProofKeys tests
	// expect it).
	errProof = errors.New("proof verification failed")
	// errDocsUnavailable: the Document Server (its discovery) could not be reached or
	// answered with something unusable.
	errDocsUnavailable = errors.New("document server unavailable")
)

// userError carries a message meant for the person or program that sent the request,
// saying what went wrong and what to do, on top of the error that classifies it.
type userError struct {
	kind  error  // one of the sentinels above or a storage sentinel
	msg   string // what went wrong and what to do
	cause error  // for the log only; never shown to the client
}

func (e *userError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *userError) Unwrap() error { return e.kind }

func userErr(kind error, format string, args ...any) error {
	return &userError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// userErrCause is userErr with the underlying error kept for the log.
func userErrCause(kind, cause error, format string, args ...any) error {
	return &userError{kind: kind, msg: fmt.Sprintf(format, args...), cause: cause}
}

// nameError is an invalid file or folder name; WOPI reports it in
// X-WOPI-InvalidFileNameError (files) or X-WOPI-InvalidContainerNameError (folders).
type nameError struct {
	name   string
	reason string
	folder bool
}

func (e *nameError) Error() string { return fmt.Sprintf("invalid name %q: %s", e.name, e.reason) }
func (e *nameError) Unwrap() error { return storage.ErrInvalidName }

// refusedNameMessage answers a name the storage refused (hidden, reserved, or one the
// upstream does not take) after the bridge's own checks passed.
const refusedNameMessage = "the storage refused this name: choose another one (names must not start with a dot, be a name the server reserves, or hold control or invisible characters)"

// nameTakenError is a specific-mode create whose name exists; Suggestion is a free name
// the client may use instead (X-WOPI-ValidRelativeTarget).
type nameTakenError struct {
	name       string
	suggestion string
}

func (e *nameTakenError) Error() string {
	return fmt.Sprintf("a file named %q already exists; choose another name (for example %q) or allow overwriting", e.name, e.suggestion)
}
func (e *nameTakenError) Unwrap() error { return storage.ErrExists }

// statusTable maps error classes to statuses, most specific first.
var statusTable = []struct {
	err    error
	status int
}{
	{errUnauthenticated, http.StatusUnauthorized},
	{errForbidden, http.StatusForbidden},
	{errNotImplemented, http.StatusNotImplemented},
	{errPrecondition, http.StatusPreconditionFailed},
	{errBadRequest, http.StatusBadRequest},
	{errNotFound, http.StatusNotFound},
	{errMethodNotAllowed, http.StatusMethodNotAllowed},
	{errConflict, http.StatusConflict},
	{errNoDocs, http.StatusServiceUnavailable},
	{errProof, http.StatusInternalServerError},
	{errDocsUnavailable, http.StatusBadGateway},
	{storage.ErrNotFound, http.StatusNotFound},
	{storage.ErrExists, http.StatusConflict},
	{storage.ErrInvalidName, http.StatusBadRequest},
	{storage.ErrTooLarge, http.StatusRequestEntityTooLarge},
	{storage.ErrNotEmpty, http.StatusConflict},
	{storage.ErrUnauthorized, http.StatusUnauthorized},
	{storage.ErrUnsupported, http.StatusNotImplemented},
	{storage.ErrUnavailable, http.StatusServiceUnavailable},
	{wopiclient.ErrUTF7, http.StatusBadRequest},
	{context.DeadlineExceeded, http.StatusGatewayTimeout},
}

// statusOf is the one mapping from an error to an HTTP status.
func statusOf(err error) int {
	var conflict *storage.LockConflictError
	if errors.As(err, &conflict) {
		return http.StatusConflict
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge
	}
	for _, e := range statusTable {
		if errors.Is(err, e.err) {
			return e.status
		}
	}
	if errors.Is(err, context.Canceled) {
		// The client went away; nobody reads the status, but logs should not call it a
		// server failure.
		return 499
	}
	return http.StatusInternalServerError
}

// publicMessage is the text a client sees for err: the user-facing message when there is
// one, a description of the class otherwise. Internal details (paths, causes) stay in the
// log.
func publicMessage(err error) string {
	var ue *userError
	if errors.As(err, &ue) {
		return ue.msg
	}
	// A storage error that says itself what a client may know (an upstream's refusal).
	var pm interface{ PublicMessage() string }
	if errors.As(err, &pm) {
		return pm.PublicMessage()
	}
	var ne *nameError
	if errors.As(err, &ne) {
		return ne.Error()
	}
	var nt *nameTakenError
	if errors.As(err, &nt) {
		return nt.Error()
	}
	var conflict *storage.LockConflictError
	if errors.As(err, &conflict) {
		return lockFailureReason(conflict)
	}
	if errors.Is(err, storage.ErrInvalidName) {
		return refusedNameMessage
	}
	switch statusOf(err) {
	case http.StatusUnauthorized:
		return "the access token is missing, invalid or expired: get a new one"
	case http.StatusNotFound:
		return "no such file or folder: it may have been deleted or renamed; check the id"
	case http.StatusConflict:
		return "the request conflicts with the current state of the file or folder"
	case http.StatusRequestEntityTooLarge:
		return "the content is larger than this server accepts (WOPIBRIDGE max file size)"
	case http.StatusNotImplemented:
		return "this operation is not supported by this server"
	case http.StatusBadRequest:
		return "the request is malformed"
	case http.StatusBadGateway:
		return "ONLYOFFICE Docs could not be reached or gave an unusable answer: check WOPIBRIDGE_DOCS_URL; the server log has details"
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return "the storage is temporarily unavailable: try again shortly"
	}
	return "internal error: see the server log for this request id"
}

func lockFailureReason(c *storage.LockConflictError) string {
	switch {
	case c.Reason != "":
		return c.Reason
	case c.Current == "":
		return "the file is not locked"
	default:
		return "the file is locked with another lock"
	}
}
