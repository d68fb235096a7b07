package docsapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestResponseWrite(t *testing.T) {
	tests := []struct {
		r    Response
		want string
	}{
		{ResponseOK, `{"error":0}`},
		{ResponseFailed, `{"error":1}`},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		if err := tt.r.Write(rec); err != nil {
			t.Fatal(err)
		}
		if rec.Code != http.StatusOK || rec.Body.String() != tt.want || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("got %d %q %q, want 200 %q application/json", rec.Code, rec.Body, rec.Header().Get("Content-Type"), tt.want)
		}
		if !CallbackAccepted(rec.Code, rec.Body.Bytes()) != (tt.r.Error != 0) {
			t.Errorf("CallbackAccepted disagrees with Response %+v", tt.r)
		}
	}
	if !sameJSON(t, []byte(`{"error":0}`), readTestdata(t, "callback-response-ok.json")) {
		t.Error("ResponseOK differs from the fixture")
	}
}

func TestCallbackAccepted(t *testing.T) {
	tests := []struct {
		code int
		body string
		want bool
	}{
		{200, `{"error":0}`, true},
		{200, `{"error": 0}`, true},
		{200, `{"error":"0"}`, true},
		{204, `{"error":0}`, true},
		{204, ``, false},
		{200, ``, false},
		{200, `""`, false},
		{200, `{"error":1}`, false},
		{200, `{"error":"1"}`, false},
		{200, `{}`, false},
		{200, `{"error":null}`, false},
		{200, `ok`, false},
		{201, `{"error":0}`, false},
		{500, `{"error":0}`, false},
		{429, `{"error":0}`, false},
	}
	for _, tt := range tests {
		if got := CallbackAccepted(tt.code, []byte(tt.body)); got != tt.want {
			t.Errorf("CallbackAccepted(%d, %q) = %v, want %v", tt.code, tt.body, got, tt.want)
		}
	}
}
