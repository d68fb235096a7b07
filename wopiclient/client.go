package wopiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	jsonv1 "github.com/go-json-experiment/json/v1"
)

// Client calls a WOPI host's file endpoints as a WOPI client does: the access token
// travels in the access_token query parameter, bodies stream both ways, and every reply
// other than a success becomes an *Error. It is safe for concurrent use.
//
// Methods take the file's WOPISrc (the URL of /wopi/files/{id}, without access token)
// and the access token. Neither the token nor a URL holding it ever appears in an error.
type Client struct {
	// HTTP sends every request; http.DefaultClient when nil. Give one client with
	// timeouts and reuse it: its Transport keeps connections alive between calls.
	HTTP *http.Client
	// UserAgent is sent with every request when set.
	UserAgent string
	// CheckURL, when set, vets every URL before a request goes to it, redirect targets
	// included (for example: only allowed origins). A refusal fails the call with
	// ErrURLNotAllowed and nothing is sent.
	CheckURL func(u *url.URL) error
	// Observe, when set, is told the outcome of every call once its reply (or its
	// failure) is in: nil for a 2xx reply, the call's *Error otherwise. It must be
	// quick and safe for concurrent use (a health report keeps the last outcomes).
	Observe func(op string, err error)
}

// Largest JSON reply read (CheckFileInfo, PutRelativeFile, RenameFile).
const maxJSONReply = 1 << 20

// call is one request to a host.
type call struct {
	op       string   // WOPI operation name, for errors
	override Override // X-WOPI-Override; empty for CheckFileInfo and GetFile
	method   string
	src      *url.URL // the WOPISrc without access token
	contents bool     // the /contents endpoint
	token    string
	header   http.Header
	body     io.Reader
	size     int64 // body length; -1 when unknown
}

func newCall(op string, override Override, method, src, token string) (*call, error) {
	k := &call{op: op, override: override, method: method, token: token, header: http.Header{}, size: -1}
	u, err := parseSrc(src)
	if err != nil {
		return nil, &Error{Op: op, URL: k.scrub(displayURL(src)), Err: err, msg: k.scrub(err.Error())}
	}
	k.src = u
	if token == "" {
		return nil, &Error{Op: op, URL: k.display(), classes: []error{ErrUnauthorized}, msg: "no access token given"}
	}
	if override != "" {
		k.header.Set(HeaderOverride, string(override))
	}
	return k, nil
}

// parseSrc reads a WOPISrc: an absolute http or https URL. An access token already in
// its query is dropped (the call's own is added).
func parseSrc(src string) (*url.URL, error) {
	u, err := url.Parse(src)
	if err != nil {
		return nil, errors.New("the WOPISrc is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("the WOPISrc is not an absolute http or https URL")
	}
	u.Fragment, u.RawFragment = "", ""
	if u.RawQuery != "" {
		q := u.Query()
		q.Del(ParamAccessToken)
		q.Del(ParamAccessTokenTTL)
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// displayURL is a URL for messages: no user info, query or fragment.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			raw = raw[:i]
		}
		return raw
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}

func (k *call) display() string {
	u := k.src
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}

// target is the URL requested: the WOPISrc (or its /contents) with the access token.
func (k *call) target() *url.URL {
	u := *k.src
	u.User = nil
	if k.contents {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/contents"
		if u.RawPath != "" {
			u.RawPath = strings.TrimSuffix(u.RawPath, "/") + "/contents"
		}
	}
	q := ParamAccessToken + "=" + url.QueryEscape(k.token)
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	u.RawQuery = q
	return &u
}

// do sends the call. A 2xx reply is returned for the caller to read and close; anything
// else is an *Error, with the reply's body drained and closed.
func (c *Client) do(ctx context.Context, k *call) (*http.Response, error) {
	u := k.target()
	if c.CheckURL != nil {
		if err := c.CheckURL(u); err != nil {
			return nil, k.failure(nil, fmt.Errorf("%w: %w", ErrURLNotAllowed, err))
		}
	}
	body := k.body
	switch {
	case body == nil || k.size == 0:
		// A zero ContentLength with a non-nil body would be sent chunked.
		body = http.NoBody
	default:
		// The transport closes a request body it is given; the caller owns this one.
		body = io.NopCloser(body)
	}
	// The URL is built already: the request takes it as it is, unparsed again.
	req, err := http.NewRequestWithContext(ctx, k.method, "", body)
	if err != nil {
		return nil, k.failure(nil, err)
	}
	req.URL, req.Host, req.Header = u, u.Host, k.header
	if k.size >= 0 {
		req.ContentLength = k.size
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := c.send(req)
	switch {
	case err != nil:
		err = k.failure(nil, err)
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		err = k.failure(resp, nil)
		drain(resp.Body)
		resp = nil
	}
	if c.Observe != nil {
		c.Observe(k.op, err)
	}
	return resp, err
}

// send sends req with the injected client. A GET or HEAD without a body goes straight
// to a wopiclient.Transport when the client adds nothing of its own (no cookie jar, no
// overall timeout): CheckFileInfo is the call a bridge in front of a host makes most.
// A redirect it answers is sent again through the client, which follows it under the
// redirect policy.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	if c.HTTP == nil {
		return c.httpClient().Do(req)
	}
	if t, ok := c.HTTP.Transport.(*Transport); ok && c.HTTP.Jar == nil && c.HTTP.Timeout == 0 &&
		(req.Method == http.MethodGet || req.Method == http.MethodHead) && req.Body == http.NoBody {
		resp, err := t.RoundTrip(req)
		if err != nil || resp.StatusCode < 300 || resp.StatusCode >= 400 {
			return resp, err
		}
		drain(resp.Body)
	}
	return c.httpClient().Do(req)
}

// httpClient is the injected client with a redirect policy on top: a POST is never
// turned into a GET elsewhere (the 3xx is a failure instead), and redirect targets pass
// CheckURL. The copy shares the Transport, so connections are still reused.
func (c *Client) httpClient() *http.Client {
	base := c.HTTP
	if base == nil {
		base = http.DefaultClient
	}
	hc := *base
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if m := via[0].Method; m != http.MethodGet && m != http.MethodHead {
			return http.ErrUseLastResponse
		}
		if c.CheckURL != nil {
			if err := c.CheckURL(req.URL); err != nil {
				return fmt.Errorf("%w: redirect: %w", ErrURLNotAllowed, err)
			}
		}
		if base.CheckRedirect != nil {
			return base.CheckRedirect(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &hc
}

// drain reads a little of a body that is not wanted, so the connection can be reused.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	body.Close()
}

// decodeJSON reads a small JSON reply into v. An empty body leaves v as it is.
func (k *call) decodeJSON(resp *http.Response, v any) error {
	data, err := k.readJSON(resp)
	if err != nil || data == nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return k.protocolError("the reply is not the JSON WOPI specifies: %v", err)
	}
	return nil
}

// readJSON reads a small JSON reply, into a buffer of its length when the host sends
// it; empty (or blank) is nil.
func (k *call) readJSON(resp *http.Response) ([]byte, error) {
	defer drain(resp.Body)
	var data []byte
	var err error
	if n := resp.ContentLength; n >= 0 && n <= maxJSONReply {
		data = make([]byte, n)
		_, err = io.ReadFull(resp.Body, data)
	} else {
		data, err = io.ReadAll(io.LimitReader(resp.Body, maxJSONReply+1))
	}
	if err != nil {
		return nil, k.failure(nil, err)
	}
	if len(data) > maxJSONReply {
		return nil, k.protocolError("the JSON reply is larger than %d bytes", maxJSONReply)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	return data, nil
}

// protocolError is a 2xx reply that does not say what WOPI says it should.
func (k *call) protocolError(format string, args ...any) error {
	return &Error{Op: k.op, URL: k.display(), msg: k.scrub(fmt.Sprintf(format, args...))}
}

// FileInfo is a CheckFileInfo reply: the properties CheckFileInfo names, and the reply
// as the host sent it, for the ones it does not name (Properties).
type FileInfo struct {
	CheckFileInfo
	raw []byte
}

// Properties is every property of the reply as the host sent it.
func (fi *FileInfo) Properties() map[string]json.RawMessage {
	var props map[string]json.RawMessage
	if json.Unmarshal(fi.raw, &props) != nil {
		return nil
	}
	return props
}

// CheckFileInfo asks for the file's properties and the user's permissions. A reply
// without Size (OpenCloud's for ONLYOFFICE) has Size SizeUnknown, never 0: 0 is an
// empty file, which ONLYOFFICE replaces with a blank template. The reply is decoded once: a bridge in front of a host makes this call for every CheckFileInfo
// it answers.
func (c *Client) CheckFileInfo(ctx context.Context, src, token string) (*FileInfo, error) {
	k, err := newCall("CheckFileInfo", "", http.MethodGet, src, token)
	if err != nil {
		return nil, err
	}
	k.header.Set("Accept", "application/json")
	resp, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	data, err := k.readJSON(resp)
	if err != nil {
		return nil, err
	}
	if data == nil || string(bytes.TrimSpace(data)) == "null" {
		return nil, k.protocolError("the reply is empty")
	}
	info := &FileInfo{raw: data}
	if err := info.decode(); err != nil {
		return nil, k.protocolError("the reply is not the JSON WOPI specifies: %v", err)
	}
	if info.BaseFileName == "" {
		return nil, k.protocolError("the reply has no BaseFileName")
	}
	return info, nil
}

// decode fills CheckFileInfo from the reply. Hosts that write Version as a number are
// read too: it is taken as written.
//
// A bridge in front of a host decodes one of these for every CheckFileInfo it answers,
// so it goes through the v1 API of the JSON v2 implementation (what encoding/json is
// becoming): encoding/json's rules, case-insensitive names included, at about a third
// of its cost for this struct (FuzzDecodeMatchesEncodingJSON holds it to them).
func (fi *FileInfo) decode() error {
	fi.CheckFileInfo.Size = SizeUnknown // stays when the reply has no Size
	err := jsonv1.Unmarshal(fi.raw, &fi.CheckFileInfo)
	var te *jsonv1.UnmarshalTypeError
	if !errors.As(err, &te) || !strings.EqualFold(te.Field, "Version") {
		return err
	}
	props := fi.Properties()
	for key, v := range props {
		if strings.EqualFold(key, "Version") && !bytes.Equal(v, []byte("null")) && len(v) > 0 && v[0] != '"' {
			props[key], _ = json.Marshal(string(v))
		}
	}
	data, err := json.Marshal(props)
	if err != nil {
		return err
	}
	fi.CheckFileInfo = CheckFileInfo{Size: SizeUnknown}
	return jsonv1.Unmarshal(data, &fi.CheckFileInfo)
}

// Contents is a file's content as GetFile streams it. Close it.
type Contents struct {
	io.ReadCloser
	Size        int64  // Content-Length; -1 when the host did not say
	ItemVersion string // X-WOPI-ItemVersion; empty when the host did not say
}

// GetFile streams the file's content. When maxExpectedSize > 0 it is sent as
// X-WOPI-MaxExpectedSize, and a larger file fails with ErrPreconditionFailed whether the
// host enforces it or not.
func (c *Client) GetFile(ctx context.Context, src, token string, maxExpectedSize int64) (*Contents, error) {
	k, err := newCall("GetFile", "", http.MethodGet, src, token)
	if err != nil {
		return nil, err
	}
	k.contents = true
	if maxExpectedSize > 0 {
		k.header.Set(HeaderMaxExpectedSize, strconv.FormatInt(maxExpectedSize, 10))
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	body := resp.Body
	if maxExpectedSize > 0 {
		if resp.ContentLength > maxExpectedSize {
			drain(resp.Body)
			return nil, k.tooLarge(maxExpectedSize)
		}
		body = &maxReader{ReadCloser: resp.Body, left: maxExpectedSize, k: k, max: maxExpectedSize}
	}
	return &Contents{ReadCloser: body, Size: resp.ContentLength, ItemVersion: resp.Header.Get(HeaderItemVersion)}, nil
}

func (k *call) tooLarge(max int64) error {
	reply := &StatusError{Status: http.StatusPreconditionFailed,
		Reason: fmt.Sprintf("the file is larger than X-WOPI-MaxExpectedSize (%d bytes)", max)}
	return &Error{Op: k.op, URL: k.display(), Reply: reply,
		classes: []error{ErrPreconditionFailed, ErrTooLarge}, msg: replyMessage(reply, false, "")}
}

// maxReader fails a GetFile body that goes past X-WOPI-MaxExpectedSize.
type maxReader struct {
	io.ReadCloser
	left int64
	max  int64
	k    *call
}

func (r *maxReader) Read(p []byte) (int, error) {
	if r.left < 0 {
		return 0, r.k.tooLarge(r.max)
	}
	if int64(len(p)) > r.left+1 {
		p = p[:r.left+1]
	}
	n, err := r.ReadCloser.Read(p)
	r.left -= int64(n)
	if r.left < 0 {
		return n - 1, r.k.tooLarge(r.max)
	}
	return n, err
}

// PutFile replaces the file's content with body under lock (empty: no X-WOPI-Lock, which
// WOPI allows only on an unlocked 0-byte file). size is the body's length, sent as
// Content-Length; when it is -1 the body goes chunked, which many hosts refuse. It
// returns the X-WOPI-ItemVersion of the new content (empty when the host does not say).
func (c *Client) PutFile(ctx context.Context, src, token, lock string, body io.Reader, size int64) (string, error) {
	k, err := newCall("PutFile", OverridePut, http.MethodPost, src, token)
	if err != nil {
		return "", err
	}
	k.contents = true
	k.body, k.size = body, size
	if lock != "" {
		k.header.Set(HeaderLock, lock)
	}
	k.header.Set("Content-Type", "application/octet-stream")
	resp, err := c.do(ctx, k)
	if err != nil {
		return "", err
	}
	drain(resp.Body)
	return resp.Header.Get(HeaderItemVersion), nil
}

// SplitAccessToken splits a URL a host hands out for a file (the Url of a
// PutRelativeFile reply) into its WOPISrc and its access token and access token TTL
// (0 when absent). The token is empty when the URL carries none.
func SplitAccessToken(raw string) (src, token string, ttl int64, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", 0, errors.New("wopi: the file URL is not an absolute http or https URL")
	}
	q := u.Query()
	token = q.Get(ParamAccessToken)
	if v := q.Get(ParamAccessTokenTTL); v != "" {
		ttl, _ = strconv.ParseInt(v, 10, 64)
	}
	q.Del(ParamAccessToken)
	q.Del(ParamAccessTokenTTL)
	u.RawQuery = q.Encode()
	u.Fragment, u.RawFragment = "", ""
	return u.String(), token, ttl, nil
}
