package wopi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// upstreamErr turns an upstream failure into the storage vocabulary: the one place
// where WOPI statuses become storage errors. op names the storage operation and id the
// file, for the message; the wopiclient error stays wrapped (without any token).
func upstreamErr(op, id string, err error) error {
	if err == nil {
		return nil
	}
	var reply *wopiclient.StatusError
	kind, hint := error(nil), ""
	switch {
	case errors.As(err, &reply) && reply.Status >= 500 && notLocked(reply.Reason):
		// OpenCloud answers a PutFile whose lock has lapsed or gone 500 "aborted: not
		// locked": a missing lock, which no retry brings back.
		return &storage.LockConflictError{Reason: fmt.Sprintf("the upstream says the file is not locked (%d %s)", reply.Status, reply.Reason)}
	case errors.Is(err, wopiclient.ErrServerError):
		public := "the upstream WOPI host answered " + serverError(reply) + " to " + op + ": it refuses or fails this call," +
			" and it may go on doing so (hosts answer 500 for a proof they cannot verify, a lock that is gone, or a token" +
			" they no longer accept); its log says which." + proofHint
		return &upstreamError{kind: storage.ErrUnavailable, public: public,
			msg: fmt.Sprintf("%s: %s %s: %s: %s", storage.ErrUnavailable, op, id, public, err), err: err}
	case errors.Is(err, wopiclient.ErrTargetExists):
		kind, hint = storage.ErrExists, "the upstream already has a file of that name"
	case errors.Is(err, wopiclient.ErrLockConflict) && errors.As(err, &reply):
		return &storage.LockConflictError{Current: reply.Lock, Reason: reply.Reason}
	case errors.Is(err, wopiclient.ErrUnauthorized):
		public := "the upstream WOPI host refused its access token for this file (" + statusOf(reply) +
			"): it expired, was revoked or lacks the right; open the file again from the application"
		return &upstreamError{kind: storage.ErrUnauthorized, public: public,
			msg: fmt.Sprintf("%s: %s %s: %s: %s", storage.ErrUnauthorized, op, id, public, err), err: err}
	case errors.Is(err, wopiclient.ErrNotFound):
		kind, hint = storage.ErrNotFound, "the upstream has no such file"
	case errors.Is(err, wopiclient.ErrTooLarge):
		kind, hint = storage.ErrTooLarge, "the upstream refused the size"
	case errors.Is(err, wopiclient.ErrInvalidName):
		kind, hint = storage.ErrInvalidName, "the upstream refused the name"
	case errors.Is(err, wopiclient.ErrNotImplemented):
		what := "this operation"
		var we *wopiclient.Error
		if errors.As(err, &we) {
			what = we.Op
		}
		public := fmt.Sprintf("the upstream WOPI host does not offer %s (%s), although it may announce it", what, statusOf(reply))
		return &upstreamError{kind: storage.ErrUnsupported, public: public,
			msg: fmt.Sprintf("%s: %s %s: %s: %s", storage.ErrUnsupported, op, id, public, err), err: err}
	case errors.Is(err, wopiclient.ErrURLNotAllowed):
		kind, hint = storage.ErrUnavailable, "the upstream sent the request to an origin that is not allowed (add it to WOPIBRIDGE_STORAGE if it is trusted)"
	case errors.Is(err, wopiclient.ErrUnavailable):
		kind, hint = storage.ErrUnavailable, "the upstream failed or could not be reached: try again later"
	default:
		return fmt.Errorf("wopi storage: %s %s: %w", op, id, err)
	}
	return fmt.Errorf("%w: %s %s: %s: %w", kind, op, id, hint, err)
}

// proofHint is said with every upstream 500: a host that checks proof keys refuses
// calls it cannot verify with a bare 500. The bridge signs its calls with its own keys,
// which the host must read from the bridge's discovery.
const proofHint = " If every call fails so, the host may be checking proof keys against another office app's:" +
	" the bridge signs its calls with its own keys, published in its discovery (<WOPIBRIDGE_PUBLIC_URL>/hosting/discovery);" +
	" register the bridge there as the office app (OpenCloud: COLLABORATION_APP_ADDR) and let the host reload it," +
	" or turn proof checking off on the host (OpenCloud: COLLABORATION_APP_PROOF_DISABLE=true)."

// notLocked reports whether a host's failure reason says that the file is not locked.
func notLocked(reason string) bool {
	return strings.Contains(strings.ToLower(reason), "not locked")
}

func serverError(r *wopiclient.StatusError) string {
	if r == nil {
		return "500"
	}
	return statusOf(r)
}

// statusOf describes a host's failure reply: status, text and its reason.
func statusOf(r *wopiclient.StatusError) string {
	if r == nil {
		return "no reply"
	}
	s := fmt.Sprintf("%d %s", r.Status, http.StatusText(r.Status))
	if r.Reason != "" && r.Reason != http.StatusText(r.Status) {
		s += " (" + r.Reason + ")"
	}
	return s
}

// upstreamError is an upstream failure with a message for the bridge's clients (see
// PublicMessage), on top of its storage class and the wopiclient error.
type upstreamError struct {
	kind   error
	public string
	msg    string
	err    error
}

func (e *upstreamError) Error() string   { return e.msg }
func (e *upstreamError) Unwrap() []error { return []error{e.kind, e.err} }

// PublicMessage is what a client of the bridge is told: what the upstream answered,
// which the storage class alone ("temporarily unavailable") would misstate.
func (e *upstreamError) PublicMessage() string { return e.public }

// checkLock refuses a lock id WOPI cannot carry: empty, longer than
// storage.MaxLockLength, or with control characters (it travels in a header). current
// is the file's lock, for the conflict.
func checkLock(lockID string, current func() string) error {
	reason := ""
	switch {
	case lockID == "":
		reason = "the lock id is empty"
	case len(lockID) > storage.MaxLockLength:
		reason = fmt.Sprintf("the lock id is %d bytes long; at most %d are allowed", len(lockID), storage.MaxLockLength)
	case !utf8.ValidString(lockID):
		reason = "the lock id is not valid UTF-8"
	default:
		for i := 0; i < len(lockID); i++ {
			if c := lockID[i]; c < 0x20 && c != '\t' || c == 0x7f {
				reason = "the lock id holds control characters"
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	return &storage.LockConflictError{Current: current(), Reason: reason}
}
