package wopitest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// AppPage is what the office app answered the host's page: its frame's content.
type AppPage struct {
	ActionURL string // the URL the form was posted to
	Status    int
	Header    http.Header
	Body      string
}

// OpenInApp does what a host's page does to open a file in the registered office app:
// it takes the action for the file's extension from the app's discovery, fills its
// urlsrc (WOPISrc, and the UI language when lang is set) and posts access_token and
// access_token_ttl to it. token is the user's token for the file (Token, AppToken).
func (s *Server) OpenInApp(ctx context.Context, client *http.Client, fileID, action, token, lang string) (*AppPage, error) {
	s.app.mu.Lock()
	d := s.app.discovery
	s.app.mu.Unlock()
	if d == nil {
		return nil, fmt.Errorf("wopitest: no office app registered")
	}
	name := s.Name(fileID)
	ext := strings.TrimPrefix(path.Ext(name), ".")
	a, ok := d.Action(action, ext)
	if !ok {
		return nil, fmt.Errorf("wopitest: the app's discovery has no %s action for .%s", action, ext)
	}
	params := map[string]string{}
	if lang != "" {
		params[wopiclient.PlaceholderUILLCC] = lang
	}
	target, err := a.URL(s.WOPISrc(fileID), params, nil)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"access_token":     {token},
		"access_token_ttl": {strconv.FormatInt(s.TokenTTL(token), 10)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &AppPage{ActionURL: target, Status: resp.StatusCode, Header: resp.Header, Body: string(body)}, nil
}
