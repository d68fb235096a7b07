package docsapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Response is the reply to a callback. DS accepts only HTTP 200 or 204 with
// a JSON body whose error is 0; anything else makes it give up on a save
// (keeping the file as "forgotten"), except 429 and 5xx, which it retries
// for status 2 and 3.
type Response struct {
	Error int `json:"error"`
}

// Replies to callbacks.
var (
	ResponseOK     = Response{Error: 0}
	ResponseFailed = Response{Error: 1}
)

// Write sends r with HTTP 200.
func (r Response) Write(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, `{"error":%d}`, r.Error); err != nil {
		return fmt.Errorf("docsapi: write callback response: %w", err)
	}
	return nil
}

// CallbackAccepted reports whether DS takes an HTTP reply to a callback as
// success: status 200 or 204 and a JSON object whose error equals 0 under
// JavaScript's loose comparison, as DS compares it (so "0" counts). An
// empty body is not accepted.
func CallbackAccepted(statusCode int, body []byte) bool {
	if statusCode != http.StatusOK && statusCode != http.StatusNoContent {
		return false
	}
	var r struct {
		Error any `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return false
	}
	switch v := r.Error.(type) {
	case float64:
		return v == 0
	case bool:
		return !v
	case string:
		// JavaScript's Number(): blank is 0, otherwise a decimal literal.
		t := strings.TrimSpace(v)
		if t == "" {
			return true
		}
		n, err := strconv.ParseFloat(t, 64)
		return err == nil && n == 0
	}
	return false
}
