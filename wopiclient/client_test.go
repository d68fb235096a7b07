package wopiclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/wopibridge/wopibridge/wopiclient"
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// host is a fake WOPI host with one file and a client for it.
type host struct {
	srv   *wopitest.Server
	c     *wopiclient.Client
	id    string
	src   string
	token string
}

func newHost(t *testing.T, content string) *host {
	t.Helper()
	srv := wopitest.NewServer(t)
	id, src := srv.AddFile("report.docx", []byte(content))
	return &host{
		srv:   srv,
		c:     &wopiclient.Client{HTTP: wopiclient.NewHTTPClient(), UserAgent: "wopibridge-test"},
		id:    id,
		src:   src,
		token: srv.Token(id, "alice", true),
	}
}

// statusOf returns the reply status and lock of a client error, failing when err is not
// a reply.
func statusOf(t *testing.T, err error) *wopiclient.StatusError {
	t.Helper()
	var se *wopiclient.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want a *wopiclient.StatusError", err)
	}
	return se
}

func TestCheckFileInfo(t *testing.T) {
	h := newHost(t, "hello")
	info, err := h.c.CheckFileInfo(t.Context(), h.src, h.token)
	if err != nil {
		t.Fatal(err)
	}
	if info.BaseFileName != "report.docx" || info.Size != 5 || info.Version != h.srv.Version(h.id) ||
		info.UserID != "alice" || !info.UserCanWrite || !info.SupportsLocks {
		t.Errorf("CheckFileInfo = %+v", info.CheckFileInfo)
	}
	if got := string(info.Properties()["WopitestFileId"]); got != `"`+h.id+`"` {
		t.Errorf("unknown property WopitestFileId = %s, want %q", got, h.id)
	}

	// Hosts that write Version as a number are understood.
	h.srv.SetProperties(h.id, map[string]any{"Version": 42})
	info, err = h.c.CheckFileInfo(t.Context(), h.src, h.token)
	if err != nil || info.Version != "42" {
		t.Errorf("numeric Version: %+v, %v; want \"42\"", info, err)
	}
	// ... but not a reply that is wrong elsewhere too.
	h.srv.SetProperties(h.id, map[string]any{"Version": 42, "Size": "large"})
	if _, err := h.c.CheckFileInfo(t.Context(), h.src, h.token); err == nil {
		t.Error("a string Size was accepted")
	}
}

func TestGetFile(t *testing.T) {
	h := newHost(t, "0123456789")
	rc, err := h.c.GetFile(t.Context(), h.src, h.token, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != "0123456789" || rc.Size != 10 || rc.ItemVersion != h.srv.Version(h.id) {
		t.Errorf("GetFile = %q (size %d, version %q), %v", got, rc.Size, rc.ItemVersion, err)
	}

	rc, err = h.c.GetFile(t.Context(), h.src, h.token, 10)
	if err != nil {
		t.Fatalf("GetFile with MaxExpectedSize equal to the size: %v", err)
	}
	rc.Close()
	_, err = h.c.GetFile(t.Context(), h.src, h.token, 9)
	if !errors.Is(err, wopiclient.ErrPreconditionFailed) || statusOf(t, err).Status != http.StatusPreconditionFailed {
		t.Errorf("GetFile over MaxExpectedSize: %v, want 412", err)
	}
	reqs := h.srv.Requests()
	if last := reqs[len(reqs)-1]; last.Op != wopitest.OpGetFile || last.Path != "/wopi/files/"+h.id+"/contents" {
		t.Errorf("last request %+v, want GetFile on /contents", last)
	}
}

// A host that ignores X-WOPI-MaxExpectedSize and streams without Content-Length is cut
// off by the client.
func TestGetFileEnforcesMaxExpectedSize(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // no Content-Length: chunked
		_, _ = io.WriteString(w, strings.Repeat("x", 100))
	}))
	defer ts.Close()
	c := &wopiclient.Client{HTTP: ts.Client()}
	rc, err := c.GetFile(t.Context(), ts.URL+"/wopi/files/1", "secret-token", 50)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if !errors.Is(err, wopiclient.ErrPreconditionFailed) || len(got) != 50 {
		t.Errorf("read %d bytes, %v; want 50 bytes then ErrPreconditionFailed", len(got), err)
	}
}

func TestPutFile(t *testing.T) {
	h := newHost(t, "old")
	ctx := t.Context()
	if err := h.c.Lock(ctx, h.src, h.token, "L1"); err != nil {
		t.Fatal(err)
	}
	before := h.srv.Version(h.id)
	v, err := h.c.PutFile(ctx, h.src, h.token, "L1", strings.NewReader("new content"), 11)
	if err != nil {
		t.Fatal(err)
	}
	if v == "" || v == before || v != h.srv.Version(h.id) || string(h.srv.Content(h.id)) != "new content" {
		t.Errorf("PutFile returned version %q (before %q, now %q), content %q", v, before, h.srv.Version(h.id), h.srv.Content(h.id))
	}
	reqs := h.srv.Requests()
	put := reqs[len(reqs)-1]
	if put.Op != wopitest.OpPutFile || put.Override != "PUT" || put.Lock != "L1" || put.ContentLength != 11 {
		t.Errorf("PutFile request %+v; want override PUT, lock L1, Content-Length 11", put)
	}

	// Unknown length goes chunked.
	if _, err := h.c.PutFile(ctx, h.src, h.token, "L1", iotest.OneByteReader(strings.NewReader("chunked")), -1); err != nil {
		t.Fatalf("PutFile of unknown length: %v", err)
	}
	reqs = h.srv.Requests()
	if cl := reqs[len(reqs)-1].ContentLength; cl != -1 || string(h.srv.Content(h.id)) != "chunked" {
		t.Errorf("chunked PutFile: Content-Length %d, content %q", cl, h.srv.Content(h.id))
	}

	// A wrong lock is a conflict carrying the current one.
	_, err = h.c.PutFile(ctx, h.src, h.token, "L2", strings.NewReader("x"), 1)
	if se := statusOf(t, err); !errors.Is(err, wopiclient.ErrLockConflict) || se.Status != 409 || se.Lock != "L1" || se.Reason == "" {
		t.Errorf("PutFile with another lock: %v (%+v), want 409 with lock L1 and a reason", err, se)
	}
	// The empty body is sent with Content-Length 0, not chunked.
	if _, err := h.c.PutFile(ctx, h.src, h.token, "L1", strings.NewReader(""), 0); err != nil {
		t.Fatal(err)
	}
	reqs = h.srv.Requests()
	if cl := reqs[len(reqs)-1].ContentLength; cl != 0 {
		t.Errorf("empty PutFile sent Content-Length %d, want 0", cl)
	}
}

func TestPutFileUnlocked(t *testing.T) {
	h := newHost(t, "")
	ctx := t.Context()
	// 0-byte unlocked file: PutFile without a lock succeeds.
	if _, err := h.c.PutFile(ctx, h.src, h.token, "", strings.NewReader("first"), 5); err != nil {
		t.Fatalf("PutFile on an empty unlocked file: %v", err)
	}
	_, err := h.c.PutFile(ctx, h.src, h.token, "", strings.NewReader("second"), 6)
	if se := statusOf(t, err); se.Status != 409 || se.Lock != "" {
		t.Errorf("PutFile without lock on a non-empty unlocked file: %+v, want 409 without lock", se)
	}
	_, err = h.c.PutFile(ctx, h.src, h.token, "L1", strings.NewReader("second"), 6)
	if se := statusOf(t, err); se.Status != 409 || se.Lock != "" {
		t.Errorf("PutFile with a lock on an unlocked file: %+v, want 409 with an empty lock", se)
	}
}

func TestLocks(t *testing.T) {
	h := newHost(t, "x")
	ctx := t.Context()
	lock := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	wantLock := func(want string) {
		t.Helper()
		got, err := h.c.GetLock(ctx, h.src, h.token)
		if err != nil || got != want {
			t.Errorf("GetLock = %q, %v; want %q", got, err, want)
		}
	}
	wantConflict := func(op string, err error, current string) {
		t.Helper()
		if !errors.Is(err, wopiclient.ErrLockConflict) {
			t.Errorf("%s: %v, want a lock conflict", op, err)
			return
		}
		if se := statusOf(t, err); se.Lock != current {
			t.Errorf("%s: conflict with lock %q, want %q", op, se.Lock, current)
		}
	}
	wantLock("")
	lock(h.c.Lock(ctx, h.src, h.token, "L1"))
	lock(h.c.Lock(ctx, h.src, h.token, "L1")) // refresh
	wantLock("L1")
	wantConflict("Lock L2", h.c.Lock(ctx, h.src, h.token, "L2"), "L1")
	lock(h.c.RefreshLock(ctx, h.src, h.token, "L1"))
	wantConflict("RefreshLock L2", h.c.RefreshLock(ctx, h.src, h.token, "L2"), "L1")
	lock(h.c.UnlockAndRelock(ctx, h.src, h.token, "L1", "L2"))
	wantLock("L2")
	wantConflict("UnlockAndRelock stale", h.c.UnlockAndRelock(ctx, h.src, h.token, "L1", "L3"), "L2")
	wantConflict("Unlock L1", h.c.Unlock(ctx, h.src, h.token, "L1"), "L2")
	lock(h.c.Unlock(ctx, h.src, h.token, "L2"))
	wantLock("")
	wantConflict("Unlock unlocked", h.c.Unlock(ctx, h.src, h.token, "L2"), "")

	// Locks expire after 30 minutes unless refreshed.
	long := strings.Repeat("é", wopitest.MaxLockLength/2) // 1024 bytes, not ASCII
	lock(h.c.Lock(ctx, h.src, h.token, long))
	wantLock(long)
	h.srv.Advance(29 * time.Minute)
	lock(h.c.RefreshLock(ctx, h.src, h.token, long))
	h.srv.Advance(29 * time.Minute)
	wantLock(long)
	h.srv.Advance(2 * time.Minute)
	wantLock("")
	lock(h.c.Lock(ctx, h.src, h.token, "L9"))

	var ops []string
	for _, r := range h.srv.Requests() {
		ops = append(ops, string(r.Op)+":"+r.Override)
	}
	if got := strings.Join(ops[:3], " "); got != "GetLock:GET_LOCK Lock:LOCK Lock:LOCK" {
		t.Errorf("first requests %s", got)
	}
	for _, r := range h.srv.Requests() {
		if r.Op == wopitest.OpUnlockAndRelock && (r.OldLock != "L1" || r.Override != "LOCK") {
			t.Errorf("UnlockAndRelock sent %+v, want LOCK with X-WOPI-OldLock L1", r)
		}
	}
}

func TestPutRelativeFile(t *testing.T) {
	h := newHost(t, "source")
	ctx := t.Context()
	put := func(target wopiclient.RelativeTarget, content string) (*wopiclient.NewFile, error) {
		return h.c.PutRelativeFile(ctx, h.src, h.token, target, strings.NewReader(content), int64(len(content)))
	}
	// Suggested extension: same stem.
	nf, err := put(wopiclient.RelativeTarget{Name: ".pdf", Suggested: true}, "pdf bytes")
	if err != nil {
		t.Fatal(err)
	}
	if nf.Name != "report.pdf" || nf.HostEditURL == "" {
		t.Errorf("suggested .pdf gave %+v", nf)
	}
	// The Url carries a token for the new file.
	src, token, _, err := wopiclient.SplitAccessToken(nf.URL)
	if err != nil || token == "" || strings.Contains(src, "access_token") {
		t.Fatalf("SplitAccessToken(Url) = %q, token %t, %v", src, token != "", err)
	}
	info, err := h.c.CheckFileInfo(ctx, src, token)
	if err != nil || info.BaseFileName != "report.pdf" || info.Size != 9 {
		t.Errorf("CheckFileInfo of the new file = %+v, %v", info, err)
	}
	// A suggested name that is taken is changed by the host.
	nf, err = put(wopiclient.RelativeTarget{Name: "report.pdf", Suggested: true}, "again")
	if err != nil || nf.Name != "report (1).pdf" {
		t.Errorf("suggested taken name gave %+v, %v; want report (1).pdf", nf, err)
	}

	// Relative mode: UTF-7 names, exact.
	name := "Résumé + notes (final).docx"
	nf, err = put(wopiclient.RelativeTarget{Name: name}, "v1")
	if err != nil || nf.Name != name {
		t.Fatalf("relative %q gave %+v, %v", name, nf, err)
	}
	id := h.srv.FileID(name)
	reqs := h.srv.Requests()
	if r := reqs[len(reqs)-1]; r.Op != wopitest.OpPutRelativeFile || r.ContentLength != 2 {
		t.Errorf("PutRelativeFile request %+v", r)
	}
	_, err = put(wopiclient.RelativeTarget{Name: name}, "v2")
	var we *wopiclient.Error
	if !errors.Is(err, wopiclient.ErrTargetExists) || errors.Is(err, wopiclient.ErrLockConflict) ||
		!errors.As(err, &we) || we.ValidTarget != "Résumé + notes (final) (1).docx" {
		t.Errorf("relative taken name: %v (%+v), want ErrTargetExists with a valid target", err, we)
	}
	nf, err = put(wopiclient.RelativeTarget{Name: name, Overwrite: true}, "v2")
	if err != nil || h.srv.FileID(name) != id || string(h.srv.Content(id)) != "v2" {
		t.Errorf("overwrite gave %+v, %v; content %q", nf, err, h.srv.Content(id))
	}
	h.srv.SetLock(id, "theirs")
	_, err = put(wopiclient.RelativeTarget{Name: name, Overwrite: true}, "v3")
	if !errors.Is(err, wopiclient.ErrLockConflict) || statusOf(t, err).Lock != "theirs" {
		t.Errorf("overwrite of a locked file: %v, want a lock conflict with lock theirs", err)
	}
	_, err = put(wopiclient.RelativeTarget{Name: "a/b.docx"}, "x")
	if !errors.Is(err, wopiclient.ErrInvalidName) || statusOf(t, err).Reason == "" {
		t.Errorf("invalid name: %v, want ErrInvalidName with a reason", err)
	}

	// A view-only user cannot write relative files.
	view := h.srv.Token(h.id, "bob", false)
	_, err = h.c.PutRelativeFile(ctx, h.src, view, wopiclient.RelativeTarget{Name: "b.docx"}, strings.NewReader("x"), 1)
	if !errors.Is(err, wopiclient.ErrNotImplemented) {
		t.Errorf("view-only PutRelativeFile: %v, want 501", err)
	}
}

func TestRenameFile(t *testing.T) {
	h := newHost(t, "x")
	ctx := t.Context()
	h.srv.AddFile("taken.docx", nil)
	name, err := h.c.RenameFile(ctx, h.src, h.token, "", "Überblick + Plan")
	if err != nil || name != "Überblick + Plan" || h.srv.Name(h.id) != "Überblick + Plan.docx" {
		t.Errorf("RenameFile = %q, %v; host has %q", name, err, h.srv.Name(h.id))
	}
	_, err = h.c.RenameFile(ctx, h.src, h.token, "", "taken")
	if !errors.Is(err, wopiclient.ErrTargetExists) {
		t.Errorf("rename onto a taken name: %v, want ErrTargetExists", err)
	}
	_, err = h.c.RenameFile(ctx, h.src, h.token, "", "a\\b")
	if !errors.Is(err, wopiclient.ErrInvalidName) {
		t.Errorf("rename to an invalid name: %v, want ErrInvalidName", err)
	}
	h.srv.SetLock(h.id, "L1")
	_, err = h.c.RenameFile(ctx, h.src, h.token, "L2", "other")
	if !errors.Is(err, wopiclient.ErrLockConflict) || errors.Is(err, wopiclient.ErrTargetExists) || statusOf(t, err).Lock != "L1" {
		t.Errorf("rename with the wrong lock: %v, want a conflict with L1", err)
	}
	if _, err := h.c.RenameFile(ctx, h.src, h.token, "L1", "other"); err != nil {
		t.Errorf("rename with the lock: %v", err)
	}
}

func TestDeleteFile(t *testing.T) {
	h := newHost(t, "x")
	ctx := t.Context()
	h.srv.SetLock(h.id, "L1")
	err := h.c.DeleteFile(ctx, h.src, h.token)
	if !errors.Is(err, wopiclient.ErrLockConflict) || statusOf(t, err).Lock != "L1" {
		t.Errorf("DeleteFile of a locked file: %v", err)
	}
	h.srv.SetLock(h.id, "")
	if err := h.c.DeleteFile(ctx, h.src, h.token); err != nil {
		t.Fatal(err)
	}
	_, err = h.c.CheckFileInfo(ctx, h.src, h.token)
	if !errors.Is(err, wopiclient.ErrNotFound) {
		t.Errorf("CheckFileInfo after DeleteFile: %v, want ErrNotFound", err)
	}
}

// TestErrors checks the class of every kind of failure, and that no error text holds
// the access token.
func TestErrors(t *testing.T) {
	h := newHost(t, "content")
	expired := h.srv.Token(h.id, "alice", true)
	h.srv.ExpireToken(expired)
	revoked := h.srv.Token(h.id, "alice", true)
	h.srv.RevokeToken(revoked)
	other, _ := h.srv.AddFile("other.docx", nil)
	otherToken := h.srv.Token(other, "alice", true)
	ctx := t.Context()
	cfi := func(token string) error {
		_, err := h.c.CheckFileInfo(ctx, h.src, token)
		return err
	}
	put := func() error {
		_, err := h.c.PutFile(ctx, h.src, h.token, "L1", strings.NewReader("x"), 1)
		return err
	}

	cases := []struct {
		name    string
		setup   func()
		call    func() error
		classes []error
		not     []error
		status  int
	}{
		{"expired token", nil, func() error { return cfi(expired) }, []error{wopiclient.ErrUnauthorized}, []error{wopiclient.ErrUnavailable}, 401},
		{"revoked token", nil, func() error { return cfi(revoked) }, []error{wopiclient.ErrUnauthorized}, nil, 401},
		{"token of another file", nil, func() error { return cfi(otherToken) }, []error{wopiclient.ErrUnauthorized}, nil, 401},
		{"no token", nil, func() error { return cfi("") }, []error{wopiclient.ErrUnauthorized}, nil, 0},
		{"deleted file", func() {
			if err := h.c.DeleteFile(ctx, h.srv.WOPISrc(other), otherToken); err != nil {
				t.Fatal(err)
			}
		}, func() error {
			_, err := h.c.CheckFileInfo(ctx, h.srv.WOPISrc(other), otherToken)
			return err
		}, []error{wopiclient.ErrNotFound}, []error{wopiclient.ErrUnauthorized}, 404},
		{"too large", func() { h.srv.SetLock(h.id, "L1"); h.srv.SetMaxSize(1) }, func() error {
			defer h.srv.SetMaxSize(0)
			_, err := h.c.PutFile(ctx, h.src, h.token, "L1", strings.NewReader("too big"), 7)
			return err
		}, []error{wopiclient.ErrTooLarge}, []error{wopiclient.ErrPreconditionFailed, wopiclient.ErrUnavailable}, 413},
		{"conflict", func() { h.srv.SetLock(h.id, "theirs") }, put, []error{wopiclient.ErrLockConflict}, []error{wopiclient.ErrTargetExists}, 409},
		{"not implemented", func() { h.srv.FailNext(wopitest.OpPutFile, 1, 501) }, put, []error{wopiclient.ErrNotImplemented}, []error{wopiclient.ErrUnavailable}, 501},
		{"server error", func() { h.srv.FailNext(wopitest.OpPutFile, 1, 500) }, put, []error{wopiclient.ErrUnavailable}, []error{wopiclient.ErrTimeout}, 500},
		{"unavailable", func() { h.srv.FailNext(wopitest.OpCheckFileInfo, 1, 503) }, func() error { return cfi(h.token) }, []error{wopiclient.ErrUnavailable}, nil, 503},
		{"gateway timeout", func() { h.srv.FailNext(wopitest.OpCheckFileInfo, 1, 504) }, func() error { return cfi(h.token) }, []error{wopiclient.ErrUnavailable, wopiclient.ErrTimeout}, nil, 504},
		{"unreachable", func() { h.srv.SetUnreachable(true) }, func() error {
			defer h.srv.SetUnreachable(false)
			return cfi(h.token)
		}, []error{wopiclient.ErrUnavailable}, []error{wopiclient.ErrTimeout, context.Canceled}, 0},
		{"slow host, client timeout", func() { h.srv.SetDelay(time.Second) }, func() error {
			defer h.srv.SetDelay(0)
			hc := *h.srv.Client()
			hc.Timeout = 50 * time.Millisecond
			c := &wopiclient.Client{HTTP: &hc}
			_, err := c.CheckFileInfo(ctx, h.src, h.token)
			return err
		}, []error{wopiclient.ErrUnavailable, wopiclient.ErrTimeout}, nil, 0},
		{"slow host, context deadline", func() { h.srv.SetDelay(time.Second) }, func() error {
			defer h.srv.SetDelay(0)
			ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			_, err := h.c.CheckFileInfo(ctx, h.src, h.token)
			return err
		}, []error{wopiclient.ErrUnavailable, wopiclient.ErrTimeout, context.DeadlineExceeded}, nil, 0},
		{"caller cancelled", nil, func() error {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := h.c.CheckFileInfo(ctx, h.src, h.token)
			return err
		}, []error{context.Canceled}, []error{wopiclient.ErrUnavailable, wopiclient.ErrTimeout}, 0},
		{"not a URL", nil, func() error {
			_, err := h.c.CheckFileInfo(ctx, "ftp://x/wopi/files/1?access_token="+h.token, h.token)
			return err
		}, nil, []error{wopiclient.ErrUnavailable}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			err := tc.call()
			if err == nil {
				t.Fatal("no error")
			}
			for _, c := range tc.classes {
				if !errors.Is(err, c) {
					t.Errorf("error %v is not %v", err, c)
				}
			}
			for _, c := range tc.not {
				if errors.Is(err, c) {
					t.Errorf("error %v is %v, want not", err, c)
				}
			}
			var se *wopiclient.StatusError
			if tc.status != 0 && (!errors.As(err, &se) || se.Status != tc.status) {
				t.Errorf("error %v: want status %d", err, tc.status)
			}
			var we *wopiclient.Error
			if !errors.As(err, &we) {
				t.Errorf("error %T, want *wopiclient.Error", err)
			}
			for _, tok := range []string{h.token, expired, revoked, otherToken} {
				if strings.Contains(err.Error(), tok) {
					t.Errorf("error %q holds an access token", err)
				}
			}
			if strings.Contains(err.Error(), "access_token=tok") {
				t.Errorf("error %q holds an access_token parameter", err)
			}
		})
	}
	for _, r := range h.srv.Requests() {
		if strings.Contains(r.Path, "tok-") {
			t.Errorf("request log %+v holds a token", r)
		}
	}
}

// TestNoTokenInTransportErrors: net/http's errors name the full URL; the client's do not.
func TestNoTokenInTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	c := &wopiclient.Client{}
	token := "super-secret-token/with+chars"
	_, err = c.CheckFileInfo(t.Context(), "http://"+addr+"/wopi/files/1", token)
	if !errors.Is(err, wopiclient.ErrUnavailable) {
		t.Errorf("refused connection: %v, want ErrUnavailable", err)
	}
	msg := err.Error()
	if strings.Contains(msg, token) || strings.Contains(msg, url.QueryEscape(token)) || strings.Contains(msg, "access_token") {
		t.Errorf("error %q holds the access token", msg)
	}
	if !strings.Contains(msg, "http://"+addr+"/wopi/files/1") {
		t.Errorf("error %q does not name the WOPISrc", msg)
	}
}

func TestCheckURL(t *testing.T) {
	h := newHost(t, "x")
	refused := errors.New("origin not allowed")
	c := &wopiclient.Client{HTTP: h.srv.Client(), CheckURL: func(u *url.URL) error {
		if u.Path == "/wopi/files/"+h.id {
			return refused
		}
		return nil
	}}
	_, err := c.CheckFileInfo(t.Context(), h.src, h.token)
	if !errors.Is(err, wopiclient.ErrURLNotAllowed) || !errors.Is(err, refused) || errors.Is(err, wopiclient.ErrUnavailable) {
		t.Errorf("refused URL: %v", err)
	}
	if n := len(h.srv.Requests()); n != 0 {
		t.Errorf("%d requests made to a refused URL", n)
	}
}

// TestRedirects runs with the default client and with the one a bridge uses (whose GETs
// skip http.Client until a redirect comes).
func TestRedirects(t *testing.T) {
	for name, hc := range map[string]*http.Client{"default client": nil, "bridge client": wopiclient.NewHTTPClient()} {
		t.Run(name, func(t *testing.T) { testRedirects(t, hc) })
	}
}

func testRedirects(t *testing.T, hc *http.Client) {
	h := newHost(t, "content")
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "elsewhere")
	}))
	defer elsewhere.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/wopi/files/1/contents":
			http.Redirect(w, r, h.src+"/contents?access_token="+url.QueryEscape(h.token), http.StatusFound)
		case "/wopi/files/2/contents":
			http.Redirect(w, r, elsewhere.URL+"/x", http.StatusFound)
		default: // POSTs
			http.Redirect(w, r, elsewhere.URL+"/x", http.StatusFound)
		}
	}))
	defer redirector.Close()
	allowed := func(u *url.URL) error {
		if "http://"+u.Host == elsewhere.URL {
			return errors.New("not an allowed origin")
		}
		return nil
	}
	c := &wopiclient.Client{HTTP: hc, CheckURL: allowed}

	rc, err := c.GetFile(t.Context(), redirector.URL+"/wopi/files/1", "t", 0)
	if err != nil {
		t.Fatalf("GetFile through an allowed redirect: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "content" {
		t.Errorf("GetFile through a redirect gave %q", got)
	}
	_, err = c.GetFile(t.Context(), redirector.URL+"/wopi/files/2", "t", 0)
	if !errors.Is(err, wopiclient.ErrURLNotAllowed) {
		t.Errorf("redirect to a refused origin: %v, want ErrURLNotAllowed", err)
	}
	// A POST is never followed (a 302 would turn a LOCK into a GET that "succeeds").
	err = c.Lock(t.Context(), redirector.URL+"/wopi/files/3", "t", "L1")
	if se := statusOf(t, err); se.Status != http.StatusFound {
		t.Errorf("redirected Lock: %v, want the 302 as a failure", err)
	}
}

// TestConnectionReuse: one connection serves many calls, failures included.
func TestConnectionReuse(t *testing.T) {
	h := newHost(t, strings.Repeat("x", 100<<10))
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	c := &wopiclient.Client{HTTP: &http.Client{Transport: tr}}
	ctx := t.Context()
	h.srv.SetLock(h.id, "theirs")
	for range 10 {
		if _, err := c.CheckFileInfo(ctx, h.src, h.token); err != nil {
			t.Fatal(err)
		}
		rc, err := c.GetFile(ctx, h.src, h.token, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, rc)
		rc.Close()
		if err := c.Lock(ctx, h.src, h.token, "mine"); !errors.Is(err, wopiclient.ErrLockConflict) {
			t.Fatalf("Lock: %v", err)
		}
		if _, err := c.PutFile(ctx, h.src, h.token, "mine", bytes.NewReader(make([]byte, 10<<10)), 10<<10); err == nil {
			t.Fatal("PutFile with the wrong lock succeeded")
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections for 40 sequential calls, want 1", n)
	}
}

func TestSplitAccessToken(t *testing.T) {
	src, token, ttl, err := wopiclient.SplitAccessToken("https://host/wopi/files/a%2Fb?x=1&access_token=a%2Bb&access_token_ttl=1700000000000#frag")
	if err != nil || src != "https://host/wopi/files/a%2Fb?x=1" || token != "a+b" || ttl != 1700000000000 {
		t.Errorf("SplitAccessToken = %q, %q, %d, %v", src, token, ttl, err)
	}
	if _, _, _, err := wopiclient.SplitAccessToken("/relative"); err == nil {
		t.Error("a relative URL was accepted")
	}
}
