package docsapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func fixtureConfig(t *testing.T) Config {
	t.Helper()
	var c Config
	if err := json.Unmarshal(readTestdata(t, "editor-config.json"), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConfigJSONMatchesFixture checks every JSON name DS reads: the fixture
// goes through Config and comes out the same.
func TestConfigJSONMatchesFixture(t *testing.T) {
	c := fixtureConfig(t)
	c.Token = ""
	got := mustJSON(t, c)
	want := mustJSON(t, fixtureFields(t, "editor-config.json"))
	if !sameJSON(t, got, want) {
		t.Errorf("config JSON\n got %s\nwant %s", got, want)
	}
}

func TestConfigSignRoundTrip(t *testing.T) {
	c := fixtureConfig(t)
	c.Token = "stale"
	if err := c.Sign(testSecret); err != nil {
		t.Fatal(err)
	}
	if c.Token == "" || c.Token == "stale" {
		t.Fatalf("Token = %q", c.Token)
	}
	// Sign adds nothing: no exp, which VerifyBody (for DS's tokens) would want.
	parts := strings.Split(c.Token, ".")
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if again, err := signRaw(claims, testSecret); err != nil || again != c.Token {
		t.Fatalf("token does not verify: %v", err)
	}
	unsigned := c
	unsigned.Token = ""
	want := mustJSON(t, unsigned)
	if string(claims) != string(want) {
		t.Errorf("signed claims\n got %s\nwant %s", claims, want)
	}
	// DS refuses a config token with top-level url, payload or key, and
	// the token never signs itself.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(claims, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"token", "url", "payload", "key", "iat", "exp"} {
		if _, ok := top[k]; ok {
			t.Errorf("claims have top-level %q", k)
		}
	}
	for _, k := range []string{"document", "documentType", "editorConfig", "type"} {
		if _, ok := top[k]; !ok {
			t.Errorf("claims lack %q", k)
		}
	}
}

func TestConfigPermissionsSendFalse(t *testing.T) {
	c := Config{
		DocumentType: DocTypeWord,
		Document:     Document{FileType: "docx", Key: "k", Title: "a.docx", URL: "https://h/x"},
		EditorConfig: EditorConfig{Mode: ModeView, User: User{ID: "u", Name: "U"}},
	}
	c.Document.Permissions.Print = true
	got := string(mustJSON(t, c.Document.Permissions))
	want := `{"edit":false,"review":false,"comment":false,"download":false,"print":true,"copy":false,"fillForms":false}`
	if got != want {
		t.Errorf("permissions = %s, want %s", got, want)
	}
	no := false
	c.Document.Permissions.Chat = &no
	if got := string(mustJSON(t, c.Document.Permissions)); !strings.Contains(got, `"chat":false`) {
		t.Errorf("permissions = %s, want chat false", got)
	}
	got = string(mustJSON(t, c.EditorConfig))
	want = `{"mode":"view","user":{"id":"u","name":"U"}}`
	if got != want {
		t.Errorf("editorConfig = %s, want %s", got, want)
	}
}

func TestConfigSignErrors(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		secret []byte
		want   error
	}{
		{"no secret", fixtureConfig(t), nil, ErrNoSecret},
		{"no key", Config{Document: Document{URL: "https://h/x"}}, testSecret, nil},
		{"no url", Config{Document: Document{Key: "k"}}, testSecret, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Token = ""
			err := tt.cfg.Sign(tt.secret)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if tt.cfg.Token != "" {
				t.Errorf("Token set on error")
			}
		})
	}
}

// TestConfigSignUntil: a signed config carries iat and the exp it is given (the access
// tokens' expiry), so that it is not a DS-secret token good forever.
func TestConfigSignUntil(t *testing.T) {
	c := fixtureConfig(t)
	now := time.Now().Truncate(time.Second)
	until := now.Add(10 * time.Hour)
	if err := c.SignUntil(testSecret, now, until); err != nil {
		t.Fatal(err)
	}
	claims, err := VerifyBody(c.Token, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	var times struct{ Iat, Exp int64 }
	if err := json.Unmarshal(claims, &times); err != nil {
		t.Fatal(err)
	}
	if times.Iat != now.Unix() || times.Exp != until.Unix() {
		t.Errorf("iat %d exp %d, want %d %d", times.Iat, times.Exp, now.Unix(), until.Unix())
	}
}
