package bridge

import (
	"errors"
	"net/http"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// Proof keys: with proofs required, every request of the WOPI face (files, folders,
// ecosystem) must carry X-WOPI-Proof headers that verify with the keys ONLYOFFICE Docs
// publishes in its discovery, over the URL rebuilt from the bridge's public URL (never
// the Host header), with a timestamp at most 20 minutes old. When the cached keys do
// not verify, the verifier reloads discovery once (one fetch for all waiting requests,
// at most every few seconds) before refusing, so DS restarted with new keys keeps
// saving. FileUrl downloads carry the bridge's own signature and no proof. Proof
// headers never reach a log.

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
	case errors.Is(err, wopiclient.ErrNoProofKey):
		return userErrCause(errProof, err, "ONLYOFFICE Docs publishes no proof keys in its discovery: configure wopi.privateKey, publicKey, modulus and their *Old twins there, or set WOPIBRIDGE_PROOF=off")
	}
	return userErrCause(errDocsUnavailable, err, "the proof of this request cannot be checked: ONLYOFFICE Docs' discovery could not be read (check WOPIBRIDGE_DOCS_URL)")
}
