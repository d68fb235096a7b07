package bridge

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// step is one WOPI request of a sequence and what it must answer.
type step struct {
	override string
	hdr      []string // extra headers, name, value pairs
	body     string   // PutFile only
	want     int
	wantLock *string // X-WOPI-Lock of the reply, when checked
}

func str(s string) *string { return &s }

func (e *testEnv) run(t *testing.T, steps []step) {
	t.Helper()
	for i, s := range steps {
		path := e.filePath(e.file.ID)
		var body *strings.Reader
		if s.override == "PUT" {
			path += "/contents"
			body = strings.NewReader(s.body)
		} else {
			body = strings.NewReader("")
		}
		w := e.wopi(http.MethodPost, path, e.token, body, append([]string{wopiclient.HeaderOverride, s.override}, s.hdr...)...)
		if w.Code != s.want {
			t.Fatalf("step %d %s %v: status %d, want %d (%q)", i, s.override, s.hdr, w.Code, s.want, w.Body.String())
		}
		if s.wantLock != nil {
			got, ok := header(w, wopiclient.HeaderLock)
			if !ok || got != *s.wantLock {
				t.Fatalf("step %d %s: X-WOPI-Lock = %q (present %v), want %q", i, s.override, got, ok, *s.wantLock)
			}
		}
		if w.Code == http.StatusConflict {
			if r, _ := header(w, wopiclient.HeaderLockFailureReason); r == "" {
				t.Fatalf("step %d: 409 without X-WOPI-LockFailureReason", i)
			}
		}
	}
}

func TestLocks(t *testing.T) {
	lk := func(id string) []string { return []string{wopiclient.HeaderLock, id} }
	relock := func(old, id string) []string {
		return []string{wopiclient.HeaderLock, id, wopiclient.HeaderOldLock, old}
	}
	long := strings.Repeat("1234567890", 103)[:storage.MaxLockLength]
	tests := []struct {
		name    string
		steps   []step
		content string // content afterwards
	}{
		{"lock refresh relock unlock", []step{
			{override: "LOCK", hdr: lk("A"), want: 200},
			{override: "REFRESH_LOCK", hdr: lk("A"), want: 200},
			{override: "LOCK", hdr: relock("A", "B"), want: 200},
			{override: "GET_LOCK", want: 200, wantLock: str("B")},
			{override: "UNLOCK", hdr: lk("A"), want: 409, wantLock: str("B")},
			{override: "UNLOCK", hdr: lk("B"), want: 200},
			{override: "GET_LOCK", want: 200, wantLock: str("")},
		}, "hello"},
		{"double lock", []step{
			{override: "LOCK", hdr: lk("A"), want: 200},
			{override: "LOCK", hdr: lk("A"), want: 200},
		}, "hello"},
		{"mismatches", []step{
			{override: "LOCK", hdr: lk("A"), want: 200},
			{override: "LOCK", hdr: lk("X"), want: 409, wantLock: str("A")},
			{override: "REFRESH_LOCK", hdr: lk("X"), want: 409, wantLock: str("A")},
			{override: "UNLOCK", hdr: lk("X"), want: 409, wantLock: str("A")},
			{override: "LOCK", hdr: relock("X", "B"), want: 409, wantLock: str("A")},
			{override: "PUT", hdr: lk("X"), body: "evil", want: 409, wantLock: str("A")},
		}, "hello"},
		{"unlock unlocked", []step{
			{override: "UNLOCK", hdr: lk("A"), want: 409, wantLock: str("")},
		}, "hello"},
		{"extended lock length", []step{
			{override: "LOCK", hdr: lk(long), want: 200},
			{override: "GET_LOCK", want: 200, wantLock: str(long)},
			{override: "UNLOCK", hdr: lk(long), want: 200},
		}, "hello"},
		{"office JSON lock", []step{
			{override: "LOCK", hdr: lk(`{"S":"0136ad16","E":2,"M":"DE99"}`), want: 200},
			{override: "UNLOCK", hdr: lk(`{"S":"0136ad16","E":2,"M":"DE99"}`), want: 200},
		}, "hello"},
		{"bad lock headers", []step{
			{override: "LOCK", want: 400},
			{override: "LOCK", hdr: lk(long + "x"), want: 400},
			{override: "LOCK", hdr: lk("a\x01b"), want: 400},
			{override: "LOCK", hdr: relock("", "B"), want: 400},
			{override: "UNLOCK", want: 400},
			{override: "REFRESH_LOCK", want: 400},
			{override: "GET_LOCK", want: 200, wantLock: str("")},
		}, "hello"},
		{"put with lock", []step{
			{override: "LOCK", hdr: lk("A"), want: 200},
			{override: "PUT", hdr: lk("A"), body: "new", want: 200},
			{override: "UNLOCK", hdr: lk("A"), want: 200},
		}, "new"},
		{"put unlocked non-empty", []step{
			{override: "PUT", body: "new", want: 409, wantLock: str("")},
		}, "hello"},
		{"put unlocked empty file", []step{
			{override: "LOCK", hdr: lk("A"), want: 200},
			{override: "PUT", hdr: lk("A"), body: "", want: 200},
			{override: "UNLOCK", hdr: lk("A"), want: 200},
			{override: "PUT", body: "template", want: 200},
		}, "template"},
		{"put with lock on unlocked file", []step{
			{override: "PUT", hdr: lk("A"), body: "new", want: 409, wantLock: str("")},
		}, "hello"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.run(t, tc.steps)
			if got := e.content(e.file.ID); got != tc.content {
				t.Errorf("content = %q, want %q", got, tc.content)
			}
		})
	}
}

func TestLockExpires(t *testing.T) {
	e := newEnv(t)
	e.run(t, []step{{override: "LOCK", hdr: []string{wopiclient.HeaderLock, "A"}, want: 200}})
	e.clock.Add(storage.LockDuration + 1)
	e.token = e.mint(e.file.ID, modeEdit)
	e.run(t, []step{
		{override: "GET_LOCK", want: 200, wantLock: str("")},
		{override: "LOCK", hdr: []string{wopiclient.HeaderLock, "B"}, want: 200},
	})
}

func TestLockVersions(t *testing.T) {
	e := newEnv(t)
	v0 := e.stat(e.file.ID).Version
	w := e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, nil, wopiclient.HeaderOverride, "LOCK", wopiclient.HeaderLock, "A")
	if got, _ := header(w, wopiclient.HeaderItemVersion); got != v0 {
		t.Errorf("Lock X-WOPI-ItemVersion = %q, want %q", got, v0)
	}
	w = e.wopi(http.MethodPost, e.filePath(e.file.ID)+"/contents", e.token, strings.NewReader("v1"), wopiclient.HeaderOverride, "PUT", wopiclient.HeaderLock, "A")
	v1, _ := header(w, wopiclient.HeaderItemVersion)
	if v1 == "" || v1 == v0 || v1 != e.stat(e.file.ID).Version {
		t.Errorf("PutFile X-WOPI-ItemVersion = %q (before %q, now %q)", v1, v0, e.stat(e.file.ID).Version)
	}
	w = e.wopi(http.MethodPost, e.filePath(e.file.ID), e.token, nil, wopiclient.HeaderOverride, "UNLOCK", wopiclient.HeaderLock, "A")
	if got, _ := header(w, wopiclient.HeaderItemVersion); got != v1 {
		t.Errorf("Unlock X-WOPI-ItemVersion = %q, want %q", got, v1)
	}
}

func TestLocksNeedEditToken(t *testing.T) {
	e := newEnv(t)
	view := e.mint(e.file.ID, modeView)
	for _, ov := range []string{"LOCK", "UNLOCK", "REFRESH_LOCK"} {
		w := e.wopi(http.MethodPost, e.filePath(e.file.ID), view, nil, wopiclient.HeaderOverride, ov, wopiclient.HeaderLock, "A")
		wantStatus(t, w, http.StatusUnauthorized)
	}
	w := e.wopi(http.MethodPost, e.filePath(e.file.ID), view, nil, wopiclient.HeaderOverride, "GET_LOCK")
	wantStatus(t, w, http.StatusOK)
	if l, _ := e.store.GetLock(t.Context(), e.file.ID); l != "" {
		t.Errorf("view token locked the file: %q", l)
	}
}

func FuzzLockHeaders(f *testing.F) {
	f.Add("LockString", "", false)
	f.Add("NewLockString", "LockString", true)
	f.Add(`{"S":"0136ad16","E":2}`, "", false)
	f.Add("", "x", true)
	f.Add("a\x00b", "", false)
	f.Add(strings.Repeat("7", 1025), "", false)
	f.Fuzz(func(t *testing.T, lock, old string, withOld bool) {
		h := http.Header{}
		h[http.CanonicalHeaderKey(wopiclient.HeaderLock)] = []string{lock}
		if withOld {
			h[http.CanonicalHeaderKey(wopiclient.HeaderOldLock)] = []string{old}
		}
		gotLock, gotOld, err := parseLockHeaders(h)
		if err != nil {
			if statusOf(err) != http.StatusBadRequest {
				t.Fatalf("error %v maps to %d, want 400", err, statusOf(err))
			}
			return
		}
		for _, v := range []string{gotLock, gotOld} {
			if len(v) > storage.MaxLockLength || !utf8.ValidString(v) || strings.ContainsAny(v, "\x00\r\n") {
				t.Fatalf("accepted bad lock id %q", v)
			}
		}
		if gotLock != lock || gotLock == "" {
			t.Fatalf("lock = %q, sent %q", gotLock, lock)
		}
		if withOld && (gotOld != old || old == "") || !withOld && gotOld != "" {
			t.Fatalf("old lock = %q, sent %q (%v)", gotOld, old, withOld)
		}
		// What is accepted survives a trip through a response header unchanged.
		w := http.Header{}
		setHeader(w, wopiclient.HeaderLock, gotLock)
		if w[wopiclient.HeaderLock][0] != gotLock {
			t.Fatalf("header round trip changed %q", gotLock)
		}
	})
}
