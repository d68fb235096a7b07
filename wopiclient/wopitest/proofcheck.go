package wopitest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// An office app registered with the host, as OpenCloud registers one by its app address
// (COLLABORATION_APP_ADDR): the host reads the app's discovery once, opens documents
// at the action URLs it lists (OpenInApp) and, with proofs required, refuses every
// call whose X-WOPI-Proof headers do not verify with the keys it lists, as Microsoft
// specifies (current or old key, X-WOPI-Proof or X-WOPI-ProofOld; timestamps at most 20
// minutes old). The host keeps the discovery it read until ReloadApp, so a test can
// play a host that has not yet noticed a key rotation.

// appState is the registered app; guarded by its own mutex.
type appState struct {
	mu        sync.Mutex
	url       string // the discovery URL
	discovery *wopiclient.Discovery
	keys      wopiclient.ProofKeys
	require   bool
	verified  int
	refusals  []string // why each refused call was refused
}

// RegisterApp reads the office app's discovery at discoveryURL; with requireProofs,
// every later call must carry proofs that verify with the keys it publishes.
func (s *Server) RegisterApp(ctx context.Context, discoveryURL string, requireProofs bool) error {
	s.app.mu.Lock()
	s.app.url, s.app.require = discoveryURL, requireProofs
	s.app.mu.Unlock()
	return s.ReloadApp(ctx)
}

// ReloadApp reads the registered app's discovery again (its keys included).
func (s *Server) ReloadApp(ctx context.Context) error {
	s.app.mu.Lock()
	u := s.app.url
	s.app.mu.Unlock()
	if u == "" {
		return fmt.Errorf("wopitest: no office app registered")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("wopitest: read the app's discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("wopitest: the app's discovery answered %s", resp.Status)
	}
	d, err := wopiclient.ParseDiscovery(resp.Body)
	if err != nil {
		return err
	}
	keys, err := d.ProofKeys()
	if err != nil {
		return err
	}
	s.app.mu.Lock()
	defer s.app.mu.Unlock()
	s.app.discovery, s.app.keys = d, keys
	return nil
}

// AppKeys are the proof keys of the discovery the host holds.
func (s *Server) AppKeys() wopiclient.ProofKeys {
	s.app.mu.Lock()
	defer s.app.mu.Unlock()
	return s.app.keys
}

// ProofChecks says how many calls verified and why the others were refused.
func (s *Server) ProofChecks() (verified int, refusals []string) {
	s.app.mu.Lock()
	defer s.app.mu.Unlock()
	return s.app.verified, append([]string(nil), s.app.refusals...)
}

// checkAppProof is the hook of serve: "" when the call may go on, otherwise why it is
// refused (the caller answers 500, as OpenCloud does).
func (s *Server) checkAppProof(r *http.Request) string {
	s.app.mu.Lock()
	require, keys := s.app.require, s.app.keys
	s.app.mu.Unlock()
	if !require {
		return ""
	}
	why := s.verifyProof(r, keys)
	s.app.mu.Lock()
	defer s.app.mu.Unlock()
	if why == "" {
		s.app.verified++
	} else {
		s.app.refusals = append(s.app.refusals, r.Method+" "+r.URL.Path+": "+why)
	}
	return why
}

func (s *Server) verifyProof(r *http.Request, keys wopiclient.ProofKeys) string {
	proof, proofOld := r.Header.Get(wopiclient.HeaderProof), r.Header.Get(wopiclient.HeaderProofOld)
	raw := r.Header.Get(wopiclient.HeaderTimeStamp)
	if proof == "" || raw == "" {
		return "no proof headers"
	}
	ticks, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil {
		return "X-WOPI-TimeStamp is not a number"
	}
	if err := wopiclient.CheckTimestamp(ticks, s.Now()); err != nil {
		return err.Error()
	}
	// The URL as the client sent it: the host's own address and the request URI.
	u := s.URL + r.URL.RequestURI()
	token := r.URL.Query().Get(wopiclient.ParamAccessToken)
	if err := wopiclient.VerifyProof(keys, token, u, ticks, proof, proofOld); err != nil {
		return err.Error()
	}
	return ""
}
