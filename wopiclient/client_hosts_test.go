package wopiclient_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/wopiclient"
	"github.com/wopibridge/wopibridge/wopiclient/wopitest"
)

// The client against hosts as they really answer (../shared/reference/real-hosts.md).

func hostFile(t *testing.T, p wopitest.Profile, content string) (*wopitest.Server, *wopiclient.Client, string, string, string) {
	t.Helper()
	srv := wopitest.NewServerProfile(t, p)
	id, src := srv.AddFile("a.docx", []byte(content))
	return srv, &wopiclient.Client{HTTP: srv.Client()}, id, src, srv.Token(id, "alice", true)
}

// Row 1: GetLock 404 with an empty X-WOPI-Lock is an unlocked file; a 404 without the
// header is still a missing file.
func TestGetLockNotFoundMeansUnlocked(t *testing.T) {
	for _, p := range wopitest.Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			srv, c, id, src, tok := hostFile(t, p, "x")
			lock, err := c.GetLock(t.Context(), src, tok)
			if err != nil || lock != "" {
				t.Errorf("GetLock on an unlocked file = %q, %v; want no lock", lock, err)
			}
			srv.SetLock(id, "L1")
			if lock, err := c.GetLock(t.Context(), src, tok); err != nil || lock != "L1" {
				t.Errorf("GetLock on a locked file = %q, %v", lock, err)
			}
			srv.SetLock(id, "")
			if err := c.DeleteFile(t.Context(), src, tok); err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetLock(t.Context(), src, tok); !errors.Is(err, wopiclient.ErrNotFound) {
				t.Errorf("GetLock on a deleted file: %v, want ErrNotFound", err)
			}
		})
	}
}

// Rows 3 and 4: an absent Size is unknown, never 0; LastModifiedTime is read in the
// forms hosts write.
func TestCheckFileInfoAsHostsWriteIt(t *testing.T) {
	for _, p := range wopitest.Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			srv, c, _, src, tok := hostFile(t, p, "hello")
			info, err := c.CheckFileInfo(t.Context(), src, tok)
			if err != nil {
				t.Fatal(err)
			}
			wantSize := int64(5)
			if p.Omits("Size") {
				wantSize = wopiclient.SizeUnknown
			}
			if info.Size != wantSize {
				t.Errorf("Size = %d, want %d", info.Size, wantSize)
			}
			got, ok := wopiclient.ParseTime(info.LastModifiedTime)
			switch {
			case p.Omits("LastModifiedTime"):
				if ok || info.LastModifiedTime != "" {
					t.Errorf("LastModifiedTime %q read as %v", info.LastModifiedTime, got)
				}
			case !ok || got.Sub(srv.Now()).Abs() > time.Minute:
				t.Errorf("LastModifiedTime %q read as %v (%v), host's clock %v", info.LastModifiedTime, got, ok, srv.Now())
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 12, 2, 5, 45, 11, 0, time.UTC)
	for _, s := range []string{
		"2026-12-02 05:45:11.000", // cs3org/wopiserver
		"2026-12-02T05:45:11.0000000Z",
		"2026-12-02T05:45:11Z",
		"2026-12-02T06:45:11+01:00",
		"2026-12-02T05:45:11",
		"2026-12-02 05:45:11",
	} {
		if got, ok := wopiclient.ParseTime(s); !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "yesterday", "2026-13-02T05:45:11Z", "0"} {
		if got, ok := wopiclient.ParseTime(s); ok {
			t.Errorf("ParseTime(%q) = %v, want unreadable", s, got)
		}
	}
}

// Row 2: the bytes as the host frames them, and a cut body is a read error.
func TestGetFileFramings(t *testing.T) {
	for _, p := range wopitest.Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			for _, n := range []int{100, 600, 3 << 20} {
				content := strings.Repeat("z", n)
				srv, c, _, src, tok := hostFile(t, p, content)
				fc, err := c.GetFile(t.Context(), src, tok, 0)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(fc)
				fc.Close()
				declared := p.Framing == wopitest.FramingLength || p.Framing == wopitest.FramingChunkedFrom512 && n < 512
				if err != nil || string(got) != content || declared != (fc.Size == int64(n)) || !declared && fc.Size != -1 {
					t.Errorf("%d bytes: read %d, %v, Size %d", n, len(got), err, fc.Size)
				}
				srv.CutGetFiles(1)
				fc, err = c.GetFile(t.Context(), src, tok, 0)
				if err != nil {
					continue
				}
				got, err = io.ReadAll(fc)
				fc.Close()
				if err == nil {
					t.Errorf("%d bytes cut by the host: read %d bytes without an error", n, len(got))
				}
			}
		})
	}
}

// Row 6: OpenCloud's taken name (409 with an empty X-WOPI-Lock and a free name) is a
// taken name, not a lock conflict.
func TestPutRelativeTakenNameWithLockHeaders(t *testing.T) {
	for _, p := range wopitest.Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			srv, c, _, src, tok := hostFile(t, p, "x")
			srv.AddFile("b.docx", []byte("B"))
			_, err := c.PutRelativeFile(t.Context(), src, tok, wopiclient.RelativeTarget{Name: "b.docx"}, strings.NewReader("new"), 3)
			if p.NoPutRelative {
				if !errors.Is(err, wopiclient.ErrNotImplemented) {
					t.Errorf("PutRelativeFile on a host without it: %v", err)
				}
				return
			}
			var e *wopiclient.Error
			if !errors.Is(err, wopiclient.ErrTargetExists) || errors.Is(err, wopiclient.ErrLockConflict) || !errors.As(err, &e) || e.ValidTarget != "b (1).docx" {
				t.Errorf("PutRelativeFile onto a taken name: %v", err)
			}
		})
	}
}

// Rows 8, 10 and 11: a 500 is a host error, with the reason its body gives when its
// headers give none.
func TestServerErrorReason(t *testing.T) {
	srv, c, id, src, tok := hostFile(t, wopitest.OCOnlyOffice, "x")
	srv.SetLock(id, "L1")
	srv.Advance(wopitest.LockDuration + time.Second)
	_, err := c.PutFile(t.Context(), src, tok, "L1", strings.NewReader("y"), 1)
	var se *wopiclient.StatusError
	if !errors.Is(err, wopiclient.ErrServerError) || !errors.Is(err, wopiclient.ErrUnavailable) || !errors.As(err, &se) || se.Reason != "aborted: not locked" {
		t.Errorf("PutFile without the lock on OpenCloud: %v", err)
	}
	proofs := wopitest.NewServerProfile(t, wopitest.OCProofs)
	pid, psrc := proofs.AddFile("a.docx", []byte("x"))
	_, err = (&wopiclient.Client{HTTP: proofs.Client()}).CheckFileInfo(t.Context(), psrc, proofs.Token(pid, "alice", true))
	if !errors.Is(err, wopiclient.ErrServerError) || !strings.Contains(err.Error(), "500 Internal Server Error") {
		t.Errorf("CheckFileInfo without proofs on a host that checks them: %v", err)
	}
}

// Observe hears every call's outcome.
func TestObserve(t *testing.T) {
	srv, c, _, src, tok := hostFile(t, wopitest.Spec, "x")
	var ops []string
	var errs []error
	c.Observe = func(op string, err error) { ops, errs = append(ops, op), append(errs, err) }
	if _, err := c.CheckFileInfo(t.Context(), src, tok); err != nil {
		t.Fatal(err)
	}
	srv.FailNext(wopitest.OpGetLock, 1, 503)
	_, _ = c.GetLock(t.Context(), src, tok)
	if len(ops) != 2 || ops[0] != "CheckFileInfo" || errs[0] != nil || ops[1] != "GetLock" || !errors.Is(errs[1], wopiclient.ErrUnavailable) {
		t.Errorf("observed %q %v", ops, errs)
	}
}
