package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

func TestStatusOf(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("doing something: %w", err) }
	for _, tc := range []struct {
		err  error
		want int
	}{
		{wrap(storage.ErrNotFound), http.StatusNotFound},
		{wrap(storage.ErrExists), http.StatusConflict},
		{wrap(storage.ErrInvalidName), http.StatusBadRequest},
		{wrap(storage.ErrTooLarge), http.StatusRequestEntityTooLarge},
		{wrap(&http.MaxBytesError{Limit: 1}), http.StatusRequestEntityTooLarge},
		{wrap(storage.ErrNotEmpty), http.StatusConflict},
		{wrap(storage.ErrUnauthorized), http.StatusUnauthorized},
		{wrap(storage.ErrUnsupported), http.StatusNotImplemented},
		{wrap(storage.ErrUnavailable), http.StatusServiceUnavailable},
		{wrap(&storage.LockConflictError{Current: "x"}), http.StatusConflict},
		{userErr(errUnauthenticated, "x"), http.StatusUnauthorized},
		{userErr(errForbidden, "x"), http.StatusForbidden},
		{userErr(errNotImplemented, "x"), http.StatusNotImplemented},
		{userErr(errPrecondition, "x"), http.StatusPreconditionFailed},
		{userErr(storage.ErrExists, "x"), http.StatusConflict},
		{userErrCause(errProof, wopiclient.ErrProofInvalid, "x"), http.StatusInternalServerError},
		{userErrCause(errDocsUnavailable, context.DeadlineExceeded, "x"), http.StatusBadGateway},
		{userErr(errNoDocs, "x"), http.StatusServiceUnavailable},
		{&nameError{name: "x", reason: "y"}, http.StatusBadRequest},
		{&nameTakenError{name: "x"}, http.StatusConflict},
		{wrap(wopiclient.ErrUTF7), http.StatusBadRequest},
		{wrap(context.DeadlineExceeded), http.StatusGatewayTimeout},
		{errors.New("disk on fire"), http.StatusInternalServerError},
	} {
		if got := statusOf(tc.err); got != tc.want {
			t.Errorf("statusOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// Internal details never reach a client; user messages do.
func TestPublicMessage(t *testing.T) {
	if got := publicMessage(fmt.Errorf("open /srv/data/secret.docx: %w", errors.New("EIO"))); got == "" || strings.Contains(got, "/srv") {
		t.Errorf("internal error leaked: %q", got)
	}
	if got := publicMessage(fmt.Errorf("x: %w", userErr(errBadRequest, "give the name"))); got != "give the name" {
		t.Errorf("user message = %q", got)
	}
	// The cause of a user error goes to the log only.
	err := userErrCause(errDocsUnavailable, errors.New("dial tcp 10.0.0.9:80: refused"), "DS is unreachable")
	if got := publicMessage(err); got != "DS is unreachable" {
		t.Errorf("user message = %q", got)
	}
	if !strings.Contains(err.Error(), "10.0.0.9") {
		t.Errorf("the log loses the cause: %q", err.Error())
	}
}
