package docsapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func commandClient(t *testing.T, srv *httptest.Server, secret []byte, header string) *CommandClient {
	t.Helper()
	u, err := url.Parse(srv.URL + "/ds/")
	if err != nil {
		t.Fatal(err)
	}
	return &CommandClient{BaseURL: u, Secret: secret, Header: header, HTTP: srv.Client()}
}

func TestCommandClient(t *testing.T) {
	ds, srv := newFakeDS(t, testSecret)
	c := commandClient(t, srv, testSecret, "Authorization")
	ctx := context.Background()

	t.Run("version", func(t *testing.T) {
		got, err := c.Version(ctx)
		if err != nil || got != "4.1.2.37" {
			t.Fatalf("Version = %q, %v; want 4.1.2.37", got, err)
		}
		req := ds.lastRequest()
		if req.path != "/ds/command" || req.header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s, Content-Type %q", req.path, req.header.Get("Content-Type"))
		}
		// Both token forms, as DS sends its own: body flat, header wrapped,
		// each with iat and exp = iat+300.
		if req.bodyClaims["c"] != "version" {
			t.Errorf("body token claims = %v", req.bodyClaims)
		}
		if p, _ := req.headerClaim["payload"].(map[string]any); p["c"] != "version" || p["token"] != nil {
			t.Errorf("header token claims = %v", req.headerClaim)
		}
		for _, claims := range []map[string]any{req.bodyClaims, req.headerClaim} {
			iat, _ := claims["iat"].(float64)
			exp, _ := claims["exp"].(float64)
			if exp-iat != 300 || time.Since(time.Unix(int64(iat), 0)) > time.Minute {
				t.Errorf("iat %v exp %v", iat, exp)
			}
		}
	})

	t.Run("forcesave fixture", func(t *testing.T) {
		var fixture Command
		if err := json.Unmarshal(readTestdata(t, "command-forcesave-request.json"), &fixture); err != nil {
			t.Fatal(err)
		}
		err := c.Forcesave(ctx, fixture.Key, fixture.UserData)
		var ce *CommandError
		if !errors.As(err, &ce) || ce.Code != CommandNotModified || ce.Key != "f-8c1d2a.v17" || ce.Command != CmdForcesave {
			t.Fatalf("err = %v, want not modified", err)
		}
		if ce.Error() != `docsapi: DS command "forcesave": error 4 (not modified: nothing to save) for key f-8c1d2a.v17` {
			t.Errorf("message %q", ce.Error())
		}
		claims := ds.lastRequest().bodyClaims
		delete(claims, "iat")
		delete(claims, "exp")
		if !sameJSON(t, mustJSON(t, claims), readTestdata(t, "command-forcesave-request.json")) {
			t.Errorf("signed request = %s", mustJSON(t, claims))
		}
	})

	tests := []struct {
		name     string
		cmd      Command
		want     *CommandResponse
		wantCode CommandCode
	}{
		{"info", Command{C: CmdInfo, Key: "abc"}, &CommandResponse{Key: "abc", Users: []string{}}, CommandOK},
		{"info unknown key", Command{C: CmdInfo, Key: "nosuchkey"}, &CommandResponse{Key: "nosuchkey", Error: CommandKeyNotFound}, CommandKeyNotFound},
		{"drop", Command{C: CmdDrop, Key: "abc", Users: []string{"u-1"}}, &CommandResponse{Key: "abc"}, CommandOK},
		{"unknown command", Command{C: "bogus", Key: "abc"}, &CommandResponse{Key: "abc", Error: CommandUnknown}, CommandUnknown},
		{"forcesave", Command{C: CmdForcesave, Key: "abc", UserData: "u"}, &CommandResponse{Key: "abc"}, CommandOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Do(ctx, tt.cmd)
			var ce *CommandError
			if tt.wantCode == CommandOK && err != nil || tt.wantCode != CommandOK && (!errors.As(err, &ce) || ce.Code != tt.wantCode) {
				t.Fatalf("err = %v, want code %d", err, tt.wantCode)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("reply = %+v, want %+v", got, tt.want)
			}
			if params := ds.lastRequest().params; params["c"] != string(tt.cmd.C) || params["key"] != tt.cmd.Key {
				t.Errorf("DS acted on %v", params)
			}
		})
	}

	t.Run("convenience", func(t *testing.T) {
		users, err := c.Info(ctx, "abc")
		if err != nil || users == nil || len(users) != 0 {
			t.Errorf("Info = %v, %v", users, err)
		}
		if err := c.Drop(ctx, "abc", nil); err != nil {
			t.Errorf("Drop: %v", err)
		}
		if got := ds.lastRequest().params["users"]; got != nil {
			t.Errorf("Drop sent users %v", got)
		}
	})
}

func TestCommandClientTokens(t *testing.T) {
	ds, srv := newFakeDS(t, testSecret)
	ctx := context.Background()
	tests := []struct {
		name   string
		secret []byte
		header string
		now    func() time.Time
		want   CommandCode
	}{
		{"body token only", testSecret, "", nil, CommandOK},
		{"custom header", testSecret, "AuthorizationJwt", nil, CommandOK},
		{"no secret", nil, "Authorization", nil, CommandTokenInvalid},
		{"wrong secret", otherSecret, "Authorization", nil, CommandTokenInvalid},
		{"expired", testSecret, "Authorization", func() time.Time { return time.Now().Add(-10 * time.Minute) }, CommandTokenExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := commandClient(t, srv, tt.secret, tt.header)
			c.Now = tt.now
			_, err := c.Version(ctx)
			var ce *CommandError
			if tt.want == CommandOK && err != nil || tt.want != CommandOK && (!errors.As(err, &ce) || ce.Code != tt.want) {
				t.Fatalf("err = %v, want code %d", err, tt.want)
			}
			req := ds.lastRequest()
			if tt.header == "" && req.header.Get("Authorization") != "" {
				t.Error("Authorization header sent without Header")
			}
			if tt.header != "" && len(tt.secret) > 0 && req.header.Get(tt.header) == "" {
				t.Errorf("no %s header", tt.header)
			}
			if len(tt.secret) == 0 && (req.body["token"] != nil || req.header.Get("Authorization") != "") {
				t.Error("token sent without a secret")
			}
		})
	}
}

func TestCommandClientUpstreamErrors(t *testing.T) {
	ctx := context.Background()
	handler := func(status int, body string, delay time.Duration) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if delay > 0 {
				select {
				case <-time.After(delay):
				case <-r.Context().Done():
					return
				}
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
	}
	tests := []struct {
		name       string
		h          http.HandlerFunc
		timeout    time.Duration
		wantStatus int
		wantErr    bool
		wantTO     bool
	}{
		{"502", handler(502, "bad gateway", 0), 0, 502, false, false},
		{"403 from ip filter", handler(403, "", 0), 0, 403, false, false},
		{"404", handler(404, "", 0), 0, 404, false, false},
		{"html 200", handler(200, "<html>", 0), 0, 200, true, false},
		{"timeout", handler(200, `{"error":0}`, time.Second), 50 * time.Millisecond, 0, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.h)
			defer srv.Close()
			c := commandClient(t, srv, testSecret, "Authorization")
			ctx := ctx
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			_, err := c.Version(ctx)
			var se *ServiceError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *ServiceError", err)
			}
			if se.Service != "command" || se.StatusCode != tt.wantStatus || (se.Err != nil) != tt.wantErr || se.Timeout() != tt.wantTO {
				t.Errorf("got %+v timeout %v; want status %d, err %v, timeout %v", se, se.Timeout(), tt.wantStatus, tt.wantErr, tt.wantTO)
			}
		})
	}

	t.Run("unconfigured", func(t *testing.T) {
		if _, err := (&CommandClient{}).Version(ctx); err == nil {
			t.Error("no error without BaseURL and HTTP")
		}
	})
}

func TestCommandCodeStrings(t *testing.T) {
	for code := CommandOK; code <= CommandTokenExpired; code++ {
		if s := code.String(); s == "" || strings.HasPrefix(s, "code") {
			t.Errorf("code %d has no meaning: %q", int(code), s)
		}
	}
	if got := CommandCode(9).String(); got != "code 9" {
		t.Errorf("code 9: %q", got)
	}
	for code := ConvertSizeLimit; code <= ConvertUnknown; code++ {
		if s := code.String(); s == "" || strings.HasPrefix(s, "code") {
			t.Errorf("convert code %d has no meaning: %q", int(code), s)
		}
	}
}

func TestServiceErrorMessages(t *testing.T) {
	tests := []struct {
		err  *ServiceError
		want string
	}{
		{&ServiceError{Service: "command", StatusCode: 403},
			"docsapi: DS command service answered HTTP 403 (check the DS URL and that its IP filter admits this host)"},
		{&ServiceError{Service: "converter", Err: errors.New("connection refused")},
			"docsapi: DS converter service unreachable (check the DS URL): connection refused"},
		{&ServiceError{Service: "command", StatusCode: 200, Err: errors.New("invalid character '<'")},
			"docsapi: DS command service: HTTP 200: unreadable reply: invalid character '<'"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}
