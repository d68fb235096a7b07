package docsapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fakeDS answers /command and /converter as the real DocService does (see
// the captures of its command service): it takes the body token first, then
// the configured header, accepts HS256/384/512 with 60 s clock tolerance,
// merges a nested payload, and answers 6 for a missing or invalid token, 7
// for an expired one.
type fakeDS struct {
	secret []byte
	header string // JWT header name DS reads
	prefix string // path prefix DS is mounted under

	mu   sync.Mutex
	last fakeRequest
}

type fakeRequest struct {
	path        string
	header      http.Header
	body        map[string]any // the JSON body as received
	bodyClaims  jwt.MapClaims  // claims of the body token, if any
	headerClaim jwt.MapClaims  // claims of the header token, if any
	params      map[string]any // what DS acts on
}

func newFakeDS(t *testing.T, secret []byte) (*fakeDS, *httptest.Server) {
	d := &fakeDS{secret: secret, header: "Authorization", prefix: "/ds"}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	return d, srv
}

func (d *fakeDS) lastRequest() fakeRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

func (d *fakeDS) verify(tok string) (jwt.MapClaims, int) {
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256", "HS384", "HS512"}), jwt.WithLeeway(60*time.Second)).
		ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return d.secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, 7
	case err != nil:
		return nil, 6
	}
	return claims, 0
}

func (d *fakeDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := fakeRequest{path: r.URL.Path, header: r.Header.Clone()}
	defer func() {
		d.mu.Lock()
		d.last = rec
		d.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/json")
	reply := func(v any) { _ = json.NewEncoder(w).Encode(v) }
	tokenError := func(code int) {
		if r.URL.Path == d.prefix+"/converter" {
			reply(map[string]any{"error": -8})
			return
		}
		reply(map[string]any{"error": code})
	}

	if r.Method != http.MethodPost {
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &rec.body); err != nil {
		tokenError(6) // DS answers 6 to malformed JSON when its JWT is on
		return
	}

	params := rec.body
	if len(d.secret) > 0 {
		var code int
		switch tok, _ := rec.body["token"].(string); {
		case tok != "":
			rec.bodyClaims, code = d.verify(tok)
			params = rec.bodyClaims
		case strings.HasPrefix(r.Header.Get(d.header), "Bearer "):
			rec.headerClaim, code = d.verify(strings.TrimPrefix(r.Header.Get(d.header), "Bearer "))
			params = rec.headerClaim
		default:
			code = 6
		}
		if code != 0 {
			tokenError(code)
			return
		}
		if p, ok := params["payload"].(map[string]any); ok {
			for k, v := range p {
				params[k] = v
			}
		}
		if h := r.Header.Get(d.header); rec.headerClaim == nil && strings.HasPrefix(h, "Bearer ") {
			rec.headerClaim, _ = d.verify(strings.TrimPrefix(h, "Bearer "))
		}
	}
	rec.params = params

	switch r.URL.Path {
	case d.prefix + "/command":
		d.command(w, params, reply)
	case d.prefix + "/converter":
		d.convert(w, r, params, reply)
	default:
		http.NotFound(w, r)
	}
}

func (d *fakeDS) command(w http.ResponseWriter, p map[string]any, reply func(any)) {
	key, _ := p["key"].(string)
	switch c, _ := p["c"].(string); c {
	case "version":
		reply(map[string]any{"error": 0, "version": "4.1.2.37"})
	case "info":
		if key != "abc" {
			reply(map[string]any{"key": key, "error": 1})
			return
		}
		reply(map[string]any{"key": key, "error": 0, "users": []string{}})
	case "forcesave":
		if key == "f-8c1d2a.v17" {
			_, _ = w.Write(readTestdataNoT("command-response-notmodified.json"))
			return
		}
		reply(map[string]any{"key": key, "error": 0})
	case "drop":
		reply(map[string]any{"key": key, "error": 0})
	default:
		reply(map[string]any{"key": key, "error": 5})
	}
}

func (d *fakeDS) convert(w http.ResponseWriter, r *http.Request, p map[string]any, reply func(any)) {
	if !strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?><FileResult><Error>-1</Error></FileResult>`)
		return
	}
	switch p["key"] {
	case "conv-8c1d2a-17":
		_, _ = w.Write(readTestdataNoT("convert-response-done.json"))
	case "conv-async":
		reply(map[string]any{"percent": 0, "endConvert": false})
	default:
		_, _ = w.Write(readTestdataNoT("convert-response-error.json"))
	}
}

func readTestdataNoT(name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		panic(err)
	}
	return b
}
