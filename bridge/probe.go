package bridge

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wopibridge/wopibridge/docsapi"
)

// ProbePath is where the bridge serves the probe file: the small text file that
// "wopibridge check" asks ONLYOFFICE Docs to download (through a conversion request)
// from the bridge's public URL, to prove DS can reach the bridge.
const ProbePath = "/docs/probe.txt"

// ProbeContent is the probe file's fixed content. It holds nothing secret: anyone may
// fetch it, and it tells them only that a wopibridge answers there.
const ProbeContent = "wopibridge probe: ONLYOFFICE Docs reached the bridge's public URL.\n"

// ProbeToken is what the probe made of the JWT DS sent with a download.
type ProbeToken string

// What a probe download carried.
const (
	ProbeTokenNone        ProbeToken = "none"         // no token at all
	ProbeTokenUnchecked   ProbeToken = "unchecked"    // the bridge has no DS secret to check it with
	ProbeTokenVerified    ProbeToken = "verified"     // in the configured header, verifies with the outbox secret
	ProbeTokenWrongSecret ProbeToken = "wrong-secret" // in the configured header, does not verify
	ProbeTokenExpired     ProbeToken = "expired"      // verifies, but expired (clocks apart)
	ProbeTokenOtherHeader ProbeToken = "other-header" // a bearer JWT in another header only
)

// ProbeReport is what DS did with one check run's probe URL (?check=<id>): how often
// it fetched it, and the JWT it sent the last time (never the token itself).
type ProbeReport struct {
	Requests int
	Token    ProbeToken
	Header   string // where the token came, for ProbeTokenOtherHeader
}

func (r ProbeReport) String() string {
	s := "requests=" + strconv.Itoa(r.Requests) + " token=" + string(r.Token)
	if r.Header != "" {
		s += " header=" + r.Header
	}
	return s
}

// ParseProbeReport reads the answer to GET ProbePath?report=<id>.
func ParseProbeReport(s string) (ProbeReport, error) {
	var r ProbeReport
	fields := strings.Fields(s)
	if len(fields) < 2 {
		return r, errors.New("not a probe report")
	}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "requests":
			n, err := strconv.Atoi(v)
			if err != nil {
				return r, errors.New("not a probe report")
			}
			r.Requests = n
		case "token":
			r.Token = ProbeToken(v)
		case "header":
			r.Header = v
		default:
			return r, errors.New("not a probe report")
		}
	}
	if r.Token == "" {
		return r, errors.New("not a probe report")
	}
	return r, nil
}

// probeRunID is the form of a check run's id: long and random enough that one run
// never reads another's report.
var probeRunID = regexp.MustCompile(`^[A-Za-z0-9]{16,64}$`)

// maxProbeRuns bounds the reports kept: only the last few check runs matter.
const maxProbeRuns = 32

// Probe serves ProbeContent to GET and HEAD as text/plain, without authentication
// (DS downloads it with no access token, and with a JWT only when its own JWT is on).
// Range requests are honoured as for any download; other methods get 405. A download
// for a check run (?check=<id>) is noted: how often DS fetched it and whether the JWT
// DS sent verifies with DS's outbox secret, the one callbacks and document downloads
// are verified with; GET ?report=<id> answers that as one line of text. The probe is
// served whatever the token, so that check can tell a download that works from a
// secret that does not. Safe for concurrent use.
type Probe struct {
	header string
	secret []byte

	mu    sync.Mutex
	runs  map[string]*ProbeReport
	order []string
}

// NewProbe makes a probe that checks tokens in header (default Authorization) with
// DS's outbox secret (none: tokens are not checked).
func NewProbe(header string, outboxSecret []byte) *Probe {
	if header == "" {
		header = "Authorization"
	}
	return &Probe{header: header, secret: outboxSecret, runs: map[string]*ProbeReport{}}
}

// Report returns what DS did with check run id's probe URL.
func (p *Probe) Report(id string) ProbeReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.runs[id]; r != nil {
		return *r
	}
	return ProbeReport{Token: ProbeTokenNone}
}

func (p *Probe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	q := r.URL.Query()
	if id := q.Get("report"); id != "" {
		if !probeRunID.MatchString(id) {
			http.Error(w, "not a check run id", http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, p.Report(id).String())
		return
	}
	if id := q.Get("check"); probeRunID.MatchString(id) && r.Method == http.MethodGet {
		p.note(id, p.inspect(r.Header))
	}
	http.ServeContent(w, r, "probe.txt", time.Time{}, strings.NewReader(ProbeContent))
}

func (p *Probe) note(id string, f ProbeReport) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.runs[id]
	if r == nil {
		if len(p.order) >= maxProbeRuns {
			delete(p.runs, p.order[0])
			p.order = p.order[1:]
		}
		r = &ProbeReport{}
		p.runs[id] = r
		p.order = append(p.order, id)
	}
	r.Requests++
	r.Token, r.Header = f.Token, f.Header
}

// inspect says what the token in h is.
func (p *Probe) inspect(h http.Header) ProbeReport {
	if v := h.Get(p.header); v != "" {
		if len(p.secret) == 0 {
			return ProbeReport{Token: ProbeTokenUnchecked}
		}
		_, err := docsapi.VerifyDownload(v, p.secret)
		switch {
		case err == nil:
			return ProbeReport{Token: ProbeTokenVerified}
		case errors.Is(err, docsapi.ErrTokenExpired):
			return ProbeReport{Token: ProbeTokenExpired}
		default:
			return ProbeReport{Token: ProbeTokenWrongSecret}
		}
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range h[name] {
			if tok, err := docsapi.BearerToken(v); err == nil && strings.Count(tok, ".") == 2 {
				return ProbeReport{Token: ProbeTokenOtherHeader, Header: name}
			}
		}
	}
	return ProbeReport{Token: ProbeTokenNone}
}
