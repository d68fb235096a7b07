package docsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// CommandClient calls DS's server-side services: the command service
// (POST <BaseURL>/command) and the conversion service
// (POST <BaseURL>/converter). It is safe for concurrent use.
type CommandClient struct {
	// BaseURL is DS as this host reaches it, with any path prefix.
	BaseURL *url.URL
	// Secret is DS's inbox JWT secret; empty sends unsigned requests.
	Secret []byte
	// Header, when set with a Secret, also carries the token in that
	// header: "Bearer " + JWT of {"payload": request}. DS reads the body
	// token first and the header only when the body has none. Leave it
	// empty when a proxy in front of DS uses the header itself.
	Header string
	// HTTP sends every request, with the caller's context.
	HTTP *http.Client
	// Now stamps iat and exp on tokens; nil means time.Now.
	Now func() time.Time
}

// maxServiceReply bounds a JSON reply from DS (the largest, license, is
// about 1 kB).
const maxServiceReply = 1 << 20

// ServiceError reports a DS service call that failed below the protocol:
// no reply, an HTTP status other than 200, or a reply that is not JSON.
type ServiceError struct {
	Service    string // "command" or "converter"
	StatusCode int    // HTTP status, 0 when there was no reply
	Err        error  // transport or decoding error, if any
}

func (e *ServiceError) Error() string {
	switch {
	case e.StatusCode != 0 && e.Err != nil:
		return fmt.Sprintf("docsapi: DS %s service: HTTP %d: unreadable reply: %v", e.Service, e.StatusCode, e.Err)
	case e.StatusCode != 0:
		return fmt.Sprintf("docsapi: DS %s service answered HTTP %d (check the DS URL and that its IP filter admits this host)", e.Service, e.StatusCode)
	default:
		return fmt.Sprintf("docsapi: DS %s service unreachable (check the DS URL): %v", e.Service, e.Err)
	}
}

func (e *ServiceError) Unwrap() error { return e.Err }

// Timeout reports whether the call failed by timing out.
func (e *ServiceError) Timeout() bool {
	var ne net.Error
	return errors.Is(e.Err, context.DeadlineExceeded) || errors.As(e.Err, &ne) && ne.Timeout()
}

// post sends payload as JSON to <BaseURL>/<path>, signed when a secret is
// set, and decodes the JSON reply into reply.
func (c *CommandClient) post(ctx context.Context, service, path string, payload, reply any) error {
	if c.BaseURL == nil || c.HTTP == nil {
		return errors.New("docsapi: CommandClient needs BaseURL and HTTP")
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("docsapi: %s request: %w", service, err)
	}
	var header string
	if len(c.Secret) > 0 {
		if body, header, err = c.sign(body); err != nil {
			return err
		}
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL.JoinPath(path).String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("docsapi: %s request: %w", service, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if header != "" {
		req.Header.Set(c.Header, header)
	}

	resp, err := c.HTTP.Do(req)
	if err != nil {
		return &ServiceError{Service: service, Err: err}
	}
	defer resp.Body.Close()
	return decodeReply(service, resp, reply)
}

// sign adds the body token (flat claims, next to the plain fields, which DS
// ignores when a token is present) and returns the header value, if any.
func (c *CommandClient) sign(body []byte) ([]byte, string, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	t := now()
	tok, err := SignTimed(json.RawMessage(body), c.Secret, t, TokenTTL)
	if err != nil {
		return nil, "", err
	}
	header := ""
	if c.Header != "" {
		htok, err := SignTimed(map[string]json.RawMessage{"payload": body}, c.Secret, t, TokenTTL)
		if err != nil {
			return nil, "", err
		}
		header = BearerHeader(htok)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, "", fmt.Errorf("docsapi: request is not a JSON object: %w", err)
	}
	fields["token"], _ = json.Marshal(tok)
	if body, err = json.Marshal(fields); err != nil {
		return nil, "", fmt.Errorf("docsapi: marshal request: %w", err)
	}
	return body, header, nil
}

// decodeReply turns an HTTP reply into reply or a *ServiceError: the one
// place where DS's HTTP statuses become errors.
func decodeReply(service string, resp *http.Response, reply any) error {
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxServiceReply))
		return &ServiceError{Service: service, StatusCode: resp.StatusCode}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxServiceReply)).Decode(reply); err != nil {
		return &ServiceError{Service: service, StatusCode: resp.StatusCode, Err: err}
	}
	return nil
}
