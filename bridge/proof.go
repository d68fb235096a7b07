package bridge

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// Proof keys: with proofs required, every request of the WOPI face (files, folders,
// ecosystem) must carry X-WOPI-Proof headers that verify with the keys ONLYOFFICE Docs
// publishes in its discovery, over the URL rebuilt from the bridge's public URL (never
// the Host header), with a timestamp at most 20 minutes old. When the cached keys do
// not verify, the verifier reloads discovery once (one fetch for all waiting requests,
// at most every 2 seconds; a request that wants one right after another waits for it,
// up to 5 seconds) before refusing, so DS restarted with new keys, or rotating them
// twice within seconds, keeps saving. A discovery whose keys are missing or unusable
// never replaces the last good keys and is fetched again within seconds. FileUrl downloads carry the bridge's own signature and no proof. Proof
// headers never reach a log.

// keyProblem is what is wrong with DS's published proof keys, without the sentinel's
// own words.
func keyProblem(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, wopiclient.ErrUnusableProofKey.Error()+": "); i >= 0 {
		return msg[i+len(wopiclient.ErrUnusableProofKey.Error())+2:]
	}
	return msg
}

// waitForProofRefresh pauses a proof check that wants a discovery refresh right after
// another one.
func (s *Server) waitForProofRefresh(ctx context.Context, d time.Duration) error {
	if s.sleep != nil {
		return s.sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkProof verifies the proof of a WOPI request for its access token.
func (s *Server) checkProof(r *http.Request, token string) error {
	if s.proof == nil {
		return nil
	}
	err := s.proof.Verify(r.Context(), r, token)
	if err == nil {
		return s.replays.check(r) // each proof once (proof_replay.go)
	}
	s.metrics.proofFailed(err)
	switch {
	case errors.Is(err, wopiclient.ErrProofMissing):
		return userErrCause(errProof, err, "the request has no X-WOPI-Proof and X-WOPI-TimeStamp headers: WOPI requests must come from the ONLYOFFICE Docs at WOPIBRIDGE_DOCS_URL with its proof keys configured (or set WOPIBRIDGE_PROOF=off)")
	case errors.Is(err, wopiclient.ErrProofExpired):
		return userErrCause(errProof, err, "the request's X-WOPI-TimeStamp is more than 20 minutes old: a replayed request, or the clocks of ONLYOFFICE Docs and the bridge disagree (synchronise them with NTP)")
	case errors.Is(err, wopiclient.ErrProofFuture):
		return userErrCause(errProof, err, "the request's X-WOPI-TimeStamp lies in the future: the clocks of ONLYOFFICE Docs and the bridge disagree (synchronise them with NTP)")
	case errors.Is(err, wopiclient.ErrProofInvalid):
		return userErrCause(errProof, err, "the request's proof does not verify with the proof keys in ONLYOFFICE Docs' discovery, even after reloading it: it does not come from the Document Server at WOPIBRIDGE_DOCS_URL, or it reached the bridge on another URL than WOPIBRIDGE_PUBLIC_URL")
	case errors.Is(err, wopiclient.ErrUnusableProofKey):
		return userErrCause(errProof, err, "ONLYOFFICE Docs' discovery publishes proof keys the bridge cannot use (%s): check wopi.publicKey, modulus, exponent and their *Old twins there (RSA keys of 2048 to 8192 bits), or set WOPIBRIDGE_PROOF=off", keyProblem(err))
	case errors.Is(err, wopiclient.ErrNoProofKey):
		return userErrCause(errProof, err, "ONLYOFFICE Docs publishes no proof keys in its discovery: configure wopi.privateKey, publicKey, modulus and their *Old twins there, or set WOPIBRIDGE_PROOF=off")
	}
	return userErrCause(errDocsUnavailable, err, "the proof of this request cannot be checked: ONLYOFFICE Docs' discovery could not be read (check WOPIBRIDGE_DOCS_URL)")
}
