package bridge

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/docsapi"
)

// TestCallbackTokenNeedsExp: a callback whose token (signed with the DS secret) has no
// exp is refused and changes nothing; DS always sets exp.
func TestCallbackTokenNeedsExp(t *testing.T) {
	e := newResultEnv(t, "")
	key, cb := e.open()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"key": key, "status": 1, "users": []string{"u-1"}}).SignedString(resultSecret)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"token": tok})
	w := e.do(http.MethodPost, cb, bytes.NewReader(body))
	wantCallback(t, w, http.StatusOK, `{"error":1}`)
	if !strings.Contains(e.logs.String(), "no exp claim") {
		t.Errorf("the log does not say why:\n%s", e.logs.String())
	}
	// The same with exp goes through.
	wantCallback(t, e.callback(cb, jwt.MapClaims{"key": key, "status": 1, "users": []string{"u-1"}}), http.StatusOK, `{"error":0}`)
}

// TestDownloadTokenNeedsExp: DS's download of document.url with a JWT header without
// exp is refused.
func TestDownloadTokenNeedsExp(t *testing.T) {
	e := newResultEnv(t, "")
	w := e.do(http.MethodPost, "/api/v1/docs/config?file="+e.file.ID, nil)
	wantStatus(t, w, http.StatusOK)
	var reply struct{ Config docsapi.Config }
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil {
		t.Fatal(err)
	}
	u := reply.Config.Document.URL
	sign := func(claims jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(resultSecret)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	path := strings.TrimPrefix(u, testPublic)
	w = e.do(http.MethodGet, path, nil, "Authorization", sign(jwt.MapClaims{"payload": map[string]string{"url": u}}))
	wantStatus(t, w, http.StatusUnauthorized)
	w = e.do(http.MethodGet, path, nil, "Authorization", sign(jwt.MapClaims{"payload": map[string]string{"url": u}, "exp": time.Now().Add(5 * time.Minute).Unix()}))
	wantStatus(t, w, http.StatusOK)
	if w.Body.String() != "hello" {
		t.Errorf("body = %q", w.Body.String())
	}
}

// TestConfigTokenExpires: the editor config the bridge signs carries iat and an exp no
// earlier than the access tokens' expiry.
func TestConfigTokenExpires(t *testing.T) {
	e := newResultEnv(t, "")
	w := e.do(http.MethodPost, "/api/v1/docs/config?file="+e.file.ID, nil)
	wantStatus(t, w, http.StatusOK)
	var reply struct{ Config docsapi.Config }
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(reply.Config.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("token = %q", reply.Config.Token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var times struct {
		Iat, Exp *int64
	}
	if err := json.Unmarshal(raw, &times); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if times.Iat == nil || times.Exp == nil {
		t.Fatalf("config token claims have no iat/exp: %s", raw)
	}
	if *times.Iat != now.Unix() || *times.Exp < now.Add(e.srv.ttl).Unix() {
		t.Errorf("iat %d exp %d; now %d, access tokens expire at %d", *times.Iat, *times.Exp, now.Unix(), now.Add(e.srv.ttl).Unix())
	}
}

// TestCallbackOddities: an unknown status is acknowledged and logged as a warning; an
// oversize body is reported as too large, not as a JWT mismatch.
func TestCallbackOddities(t *testing.T) {
	e := newResultEnv(t, "")
	key, cb := e.open()
	wantCallback(t, e.callback(cb, jwt.MapClaims{"key": key, "status": 8}), http.StatusOK, `{"error":0}`)
	if !strings.Contains(e.logs.String(), `level=warning msg="ONLYOFFICE Docs sent callback status 8, which this bridge does not know`) {
		t.Errorf("no warning for status 8:\n%s", e.logs.String())
	}
	big := `{"token":"` + strings.Repeat("a", docsapi.DefaultMaxCallbackBytes+1) + `"}`
	w := e.do(http.MethodPost, cb, strings.NewReader(big))
	wantCallback(t, w, http.StatusOK, `{"error":1}`)
	logs := e.logs.String()
	if !strings.Contains(logs, "callback refused: its body is larger than") {
		t.Errorf("oversize body not reported as such:\n%s", logs[max(0, len(logs)-2000):])
	}
}
