package docsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// TestParseCallbackFixtures signs every callback fixture as DS does (body
// token with flat claims, header token with the payload wrapper) and
// checks the parsed fields.
func TestParseCallbackFixtures(t *testing.T) {
	tests := []struct {
		file          string
		key           string
		status        CallbackStatus
		users         []string
		actions       []Action
		url           string
		userdata      string
		forcesaveType *ForcesaveType
		fileType      string
		lastSave      time.Time
		history       bool
	}{
		{file: "callback-status1-join.json", key: "f-8c1d2a.v17", status: StatusEditing,
			users: []string{"u-1001", "u-2002"}, actions: []Action{{ActionJoined, "u-2002"}}},
		{file: "callback-status1-leave.json", key: "f-8c1d2a.v17", status: StatusEditing,
			users: []string{"u-1001"}, actions: []Action{{ActionLeft, "u-2002"}}},
		{file: "callback-status2.json", key: "f-8c1d2a.v17", status: StatusMustSave,
			users: []string{"u-1001"}, actions: []Action{{ActionLeft, "u-1001"}},
			url:      "https://docs.example.net/cache/files/data/f-8c1d2a.v17_4821/output.docx/output.docx?md5=Qm9ndXNTaWdu&expires=1767225600",
			fileType: "docx", lastSave: time.Date(2026, 1, 1, 10, 15, 2, 0, time.UTC), history: true},
		{file: "callback-status3.json", key: "f-8c1d2a.v17", status: StatusSaveError,
			users: []string{"u-1001"}, actions: []Action{{ActionLeft, "u-1001"}},
			url:      "https://docs.example.net/cache/files/data/f-8c1d2a.v17_4821/output.docx/output.docx?md5=Qm9ndXNTaWdu&expires=1767225600",
			fileType: "docx", lastSave: time.Date(2026, 1, 1, 10, 15, 2, 0, time.UTC), history: true},
		{file: "callback-status4.json", key: "f-8c1d2a.v17", status: StatusClosedUnchanged,
			actions: []Action{{ActionLeft, "u-1001"}}},
		{file: "callback-status6-button.json", key: "f-8c1d2a.v17", status: StatusForcesaved,
			users: []string{"u-1001"}, actions: []Action{{ActionForcesave, "u-1001"}},
			url:           "https://docs.example.net/cache/files/data/f-8c1d2a.v17_5102/output.docx/output.docx?md5=Rm9yY2U&expires=1767225900",
			forcesaveType: ptr(ForcesaveButton), fileType: "docx", lastSave: time.Date(2026, 1, 1, 10, 20, 0, 0, time.UTC)},
		{file: "callback-status6-command.json", key: "f-8c1d2a.v17", status: StatusForcesaved,
			users:         []string{"u-2002"},
			url:           "https://docs.example.net/cache/files/data/f-8c1d2a.v17_5233/output.docx/output.docx?md5=Q21k&expires=1767226000",
			userdata:      "bridge-forcesave-42",
			forcesaveType: ptr(ForcesaveCommand), fileType: "docx", lastSave: time.Date(2026, 1, 1, 10, 25, 0, 0, time.UTC)},
	}
	now := time.Now()
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			fields := fixtureFields(t, tt.file)
			body := signedBody(t, fields, testSecret, now)
			header := headerFor(t, fields, testSecret, now)

			for _, form := range []struct {
				name         string
				body, header string
			}{
				{"body and header token", string(body), header},
				{"body token only", string(body), ""},
				{"header token only", string(mustJSON(t, fields)), header},
			} {
				t.Run(form.name, func(t *testing.T) {
					cb, err := ParseCallback(strings.NewReader(form.body), form.header, testSecret, 0)
					if err != nil {
						t.Fatal(err)
					}
					checkCallback(t, cb, tt.key, tt.status, tt.users, tt.actions, tt.url, tt.userdata, tt.forcesaveType, tt.fileType)
					if got, err := cb.LastSaveTime(); err != nil || !got.Equal(tt.lastSave) {
						t.Errorf("LastSaveTime = %v, %v; want %v", got, err, tt.lastSave)
					}
					h, err := cb.ParseHistory()
					if err != nil || (h != nil) != tt.history {
						t.Fatalf("ParseHistory = %+v, %v; want history %v", h, err, tt.history)
					}
					if h != nil && (h.ServerVersion != "9.3.1" || len(h.Changes) != 1 ||
						h.Changes[0].User.ID != "u-1001" || h.Changes[0].Created != "2026-01-01 10:15:02") {
						t.Errorf("history = %+v", h)
					}
				})
			}

			// Without a secret the plain body is read and tokens ignored.
			cb, err := ParseCallback(bytes.NewReader(body), "Bearer junk", nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			checkCallback(t, cb, tt.key, tt.status, tt.users, tt.actions, tt.url, tt.userdata, tt.forcesaveType, tt.fileType)
		})
	}
}

func checkCallback(t *testing.T, cb *Callback, key string, status CallbackStatus, users []string, actions []Action,
	url, userdata string, fst *ForcesaveType, fileType string) {
	t.Helper()
	if cb.Key != key || cb.Status != status || cb.URL != url || cb.UserData != userdata || cb.FileType != fileType {
		t.Errorf("got key %q status %v url %q userdata %q filetype %q; want %q %v %q %q %q",
			cb.Key, cb.Status, cb.URL, cb.UserData, cb.FileType, key, status, url, userdata, fileType)
	}
	if !reflect.DeepEqual(cb.Users, users) {
		t.Errorf("users = %q, want %q", cb.Users, users)
	}
	if !reflect.DeepEqual(cb.Actions, actions) {
		t.Errorf("actions = %+v, want %+v", cb.Actions, actions)
	}
	if !reflect.DeepEqual(cb.ForcesaveType, fst) {
		t.Errorf("forcesavetype = %v, want %v", cb.ForcesaveType, fst)
	}
	if cb.NotModified {
		t.Errorf("notmodified = true")
	}
}

// TestParseCallbackHeaderClaimsFixture uses the header claims fixture as
// is (re-timed): header token only, plain body alongside.
func TestParseCallbackHeaderClaimsFixture(t *testing.T) {
	var claims struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(readTestdata(t, "callback-status2-header-claims.json"), &claims); err != nil {
		t.Fatal(err)
	}
	header := headerFor(t, claims.Payload, testSecret, time.Now())
	body := mustJSON(t, fixtureFields(t, "callback-status2.json"))
	cb, err := ParseCallback(bytes.NewReader(body), header, testSecret, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := &Callback{}
	if err := json.Unmarshal(claims.Payload, want); err != nil {
		t.Fatal(err)
	}
	if got, want := mustJSON(t, cb), mustJSON(t, want); !sameJSON(t, got, want) {
		t.Errorf("callback\n got %s\nwant %s", got, want)
	}
	if cb.Status != StatusMustSave || !strings.HasPrefix(cb.URL, "https://docs.example.net/cache/files/data/f-8c1d2a.v17_4821/") {
		t.Errorf("status %v url %q", cb.Status, cb.URL)
	}
}

// TestParseCallbackSignedWins: plain fields and the header never override
// the body token.
func TestParseCallbackSignedWins(t *testing.T) {
	now := time.Now()
	signed := fixtureFields(t, "callback-status2.json")
	bodyTok, err := SignTimed(signed, testSecret, now, TokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	const evil = "https://evil.example/steal"

	// The plain fields lie.
	forged := map[string]any{"key": "other-key", "status": 6, "url": evil, "users": []string{"mallory"}, "token": bodyTok}
	// The header token, also valid, says something else, as DS's trimmed
	// header does when it drops changesurl and history.
	trimmed := fixtureFields(t, "callback-status2.json")
	delete(trimmed, "changesurl")
	delete(trimmed, "history")
	trimmed["users"] = mustJSON(t, []string{"u-header"})

	tests := []struct {
		name   string
		body   []byte
		header string
		check  func(*testing.T, *Callback)
	}{
		{"plain fields disagree with body token", mustJSON(t, forged), "", func(t *testing.T, cb *Callback) {
			if cb.Key != "f-8c1d2a.v17" || cb.Status != StatusMustSave || cb.URL == evil || cb.Users[0] != "u-1001" {
				t.Errorf("plain fields used: %+v", cb)
			}
		}},
		{"header disagrees with body token", mustJSON(t, forged), headerFor(t, trimmed, testSecret, now), func(t *testing.T, cb *Callback) {
			if cb.Users[0] != "u-1001" || cb.ChangesURL == "" || len(cb.History) == 0 {
				t.Errorf("header used over body token: %+v", cb)
			}
		}},
		{"plain fields disagree with header token", mustJSON(t, map[string]any{"key": "k", "status": 2, "url": evil}),
			headerFor(t, trimmed, testSecret, now), func(t *testing.T, cb *Callback) {
				if cb.Key != "f-8c1d2a.v17" || cb.URL == evil || cb.Users[0] != "u-header" || cb.ChangesURL != "" {
					t.Errorf("plain fields used: %+v", cb)
				}
			}},
		{"body token with a payload wrapper", mustJSON(t, map[string]any{"key": "k", "status": 1,
			"token": mustSign(t, map[string]any{"payload": signed}, now)}), "", func(t *testing.T, cb *Callback) {
			if cb.Key != "f-8c1d2a.v17" || cb.Status != StatusMustSave || cb.ChangesURL == "" {
				t.Errorf("got %+v", cb)
			}
		}},
		{"plain fields of the wrong type are ignored", []byte(`{"key":7,"status":"x","users":"u","token":"` + bodyTok + `"}`), "", func(t *testing.T, cb *Callback) {
			if cb.Key != "f-8c1d2a.v17" || cb.Status != StatusMustSave {
				t.Errorf("got %+v", cb)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb, err := ParseCallback(bytes.NewReader(tt.body), tt.header, testSecret, 0)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cb)
			if cb.Token != "" {
				t.Errorf("Token kept")
			}
		})
	}
}

func mustSign(t *testing.T, claims any, now time.Time) string {
	t.Helper()
	tok, err := SignTimed(claims, testSecret, now, TokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func bodyTokenOf(t *testing.T, body []byte) string {
	var v struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(body, &v)
	return v.Token
}

func TestParseCallbackErrors(t *testing.T) {
	now := time.Now()
	fields := fixtureFields(t, "callback-status4.json")
	plain := mustJSON(t, fields)
	good := signedBody(t, fields, testSecret, now)
	goodHeader := headerFor(t, fields, testSecret, now)
	wrongSecret := signedBody(t, fields, otherSecret, now)
	expired := signedBody(t, fields, testSecret, now.Add(-10*time.Minute))
	noKey := signedBody(t, map[string]json.RawMessage{"status": json.RawMessage("4")}, testSecret, now)
	hs512 := handToken(`{"alg":"HS512","typ":"JWT"}`, string(plain), testSecret)
	none := handToken(`{"alg":"none","typ":"JWT"}`, string(plain), nil)
	badTypes, _ := SignTimed(map[string]any{"key": "k", "status": "two"}, testSecret, now, TokenTTL)

	tests := []struct {
		name     string
		body     string
		header   string
		secret   []byte
		maxBytes int64
		want     error
	}{
		{"unsigned body with secret", string(plain), "", testSecret, 0, ErrNoToken},
		{"unsigned body, malformed header", string(plain), "Basic x", testSecret, 0, ErrBadHeader},
		{"unsigned body, header Bearer", string(plain), "Bearer", testSecret, 0, ErrBadHeader},
		{"unsigned body, header Bearer and spaces", string(plain), "Bearer  ", testSecret, 0, ErrBadHeader},
		{"body token wrong secret", string(wrongSecret), "", testSecret, 0, ErrBadToken},
		{"bad body token is not rescued by a good header", string(wrongSecret), goodHeader, testSecret, 0, ErrBadToken},
		{"body token expired", string(expired), "", testSecret, 0, ErrTokenExpired},
		{"header token wrong secret", string(plain), headerFor(t, fields, otherSecret, now), testSecret, 0, ErrBadToken},
		{"header token expired", string(plain), headerFor(t, fields, testSecret, now.Add(-time.Hour)), testSecret, 0, ErrTokenExpired},
		{"header token flat, no payload", string(plain), BearerHeader(bodyTokenOf(t, good)), testSecret, 0, ErrBadToken},
		{"body token HS512", `{"token":"` + hs512 + `"}`, "", testSecret, 0, ErrBadToken},
		{"body token alg none", `{"token":"` + none + `"}`, "", testSecret, 0, ErrBadToken},
		{"body token not a string", `{"token":5}`, goodHeader, testSecret, 0, ErrBadCallback},
		{"signed claims without key", string(noKey), "", testSecret, 0, ErrBadCallback},
		{"signed claims of wrong type", `{"token":"` + badTypes + `"}`, "", testSecret, 0, ErrBadCallback},
		{"empty body", "", goodHeader, testSecret, 0, ErrBadCallback},
		{"null body", "null", goodHeader, testSecret, 0, ErrBadCallback},
		{"array body", "[]", "", nil, 0, ErrBadCallback},
		{"not JSON", "{key", "", nil, 0, ErrBadCallback},
		{"trailing data", string(plain) + "x", "", nil, 0, ErrBadCallback},
		{"no key, no secret", `{"status":4}`, "", nil, 0, ErrBadCallback},
		{"no status, no secret", `{"key":"k"}`, "", nil, 0, ErrBadCallback},
		{"too large", string(good), "", testSecret, int64(len(good) - 1), ErrCallbackTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb, err := ParseCallback(strings.NewReader(tt.body), tt.header, tt.secret, tt.maxBytes)
			if !errors.Is(err, tt.want) || cb != nil {
				t.Fatalf("ParseCallback = %+v, %v; want %v", cb, err, tt.want)
			}
		})
	}

	// The limit is inclusive.
	if _, err := ParseCallback(bytes.NewReader(good), "", testSecret, int64(len(good))); err != nil {
		t.Errorf("body of exactly maxBytes: %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestParseCallbackReadError(t *testing.T) {
	if _, err := ParseCallback(failingReader{}, "", nil, 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v, want the read error", err)
	}
}

// TestParseCallbackRealDS reads bodies the real DocService posted. Their
// tokens are signed with that installation's secret, so with ours they
// are refused.
func TestParseCallbackRealDS(t *testing.T) {
	tests := []struct {
		file    string
		key     string
		status  CallbackStatus
		users   []string
		actions []Action
		ud      string
	}{
		{"real-ds-callback-status1.json", "docsapi-1", StatusEditing, []string{"u-42"}, []Action{{ActionJoined, "u-42"}}, ""},
		{"real-ds-callback-status4.json", "docsapi-1", StatusClosedUnchanged, nil, []Action{{ActionLeft, "u-42"}}, ""},
		{"real-ds-callback-info-status4.json", "abc", StatusClosedUnchanged, nil, nil, "ud-1"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readTestdata(t, tt.file)
			cb, err := ParseCallback(bytes.NewReader(body), "", nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			checkCallback(t, cb, tt.key, tt.status, tt.users, tt.actions, "", tt.ud, nil, "")
			if _, err := ParseCallback(bytes.NewReader(body), "", testSecret, 0); !errors.Is(err, ErrBadToken) {
				t.Errorf("with another secret: err = %v, want ErrBadToken", err)
			}
		})
	}
	header := string(readTestdata(t, "real-ds-callback-status1.header"))
	if _, err := VerifyHeader(header, testSecret); !errors.Is(err, ErrBadToken) {
		t.Errorf("real header with another secret: err = %v, want ErrBadToken", err)
	}
}

func TestCallbackStatusString(t *testing.T) {
	tests := []struct {
		s     CallbackStatus
		want  string
		known bool
	}{
		{StatusEditing, "editing", true},
		{StatusMustSave, "must save", true},
		{StatusSaveError, "save error", true},
		{StatusClosedUnchanged, "closed unchanged", true},
		{StatusForcesaved, "forcesaved", true},
		{StatusForcesaveError, "forcesave error", true},
		{5, "status 5", false},
		{0, "status 0", false},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want || tt.s.Known() != tt.known {
			t.Errorf("%d: String %q Known %v; want %q %v", int(tt.s), got, tt.s.Known(), tt.want, tt.known)
		}
	}
	if got := ForcesaveButton.String() + "," + ActionForcesave.String(); got != "button,forcesave" {
		t.Errorf("got %q", got)
	}
}

func FuzzParseCallback(f *testing.F) {
	now := time.Now()
	for _, name := range []string{
		"callback-status1-join.json", "callback-status2.json", "callback-status4.json",
		"callback-status6-button.json", "callback-status6-command.json",
	} {
		fields := fixtureFields(f, name)
		f.Add(signedBody(f, fields, testSecret, now), "", true)
		f.Add(mustJSON(f, fields), headerFor(f, fields, testSecret, now), true)
		f.Add(mustJSON(f, fields), "", false)
	}
	f.Add(readTestdata(f, "real-ds-callback-status1.json"), "", false)
	f.Add([]byte(`{"token":5}`), "Bearer", true)
	f.Add([]byte(`null`), "", false)

	f.Fuzz(func(t *testing.T, body []byte, header string, withSecret bool) {
		var secret []byte
		if withSecret {
			secret = testSecret
		}
		cb, err := ParseCallback(bytes.NewReader(body), header, secret, 1<<16)
		if err != nil {
			if cb != nil {
				t.Fatal("callback with error")
			}
			for _, typed := range []error{ErrBadCallback, ErrNoToken, ErrBadToken} {
				if errors.Is(err, typed) {
					return
				}
			}
			t.Fatalf("untyped error %v", err)
		}
		if cb.Key == "" || cb.Status == 0 {
			t.Fatalf("accepted %+v", cb)
		}
		if !withSecret {
			return
		}
		// Signed data only: the same tokens with no plain fields give the
		// same callback.
		if cb.Token != "" {
			t.Fatal("Token kept")
		}
		bare := []byte("{}")
		if tok := bodyTokenOf(t, body); tok != "" {
			bare = mustJSON(t, map[string]string{"token": tok})
		}
		again, err := ParseCallback(bytes.NewReader(bare), header, secret, 1<<16)
		if err != nil {
			t.Fatalf("tokens alone: %v", err)
		}
		if !reflect.DeepEqual(cb, again) {
			t.Fatalf("plain fields changed the result:\n%+v\n%+v", cb, again)
		}
	})
}
