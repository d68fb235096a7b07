package docserver

import (
	_ "embed"
	"net/http"
	"regexp"
	"strings"
)

// discoveryXML is the discovery document a real DS serves, as it was
// generated for the base URL capturedBase.
//
//go:embed testdata/discovery.xml
var discoveryXML string

const capturedBase = "http://127.0.0.1:8000"

var proofKeyRE = regexp.MustCompile(`<proof-key [^>]*/>`)

// baseURL is DS's idea of its own address for this request: the Host (or
// X-Forwarded-Host), X-Forwarded-Proto and X-Forwarded-Prefix.
func baseURL(r *http.Request) string {
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		proto = strings.TrimSpace(strings.Split(p, ",")[0])
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host = strings.TrimSpace(strings.Split(h, ",")[0])
	}
	return proto + "://" + host + r.Header.Get("X-Forwarded-Prefix")
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.NotFound(w, r)
		return
	}
	doc := strings.ReplaceAll(discoveryXML, capturedBase, baseURL(r))
	s.keyMu.Lock()
	published := s.proofKeyXML
	s.keyMu.Unlock()
	doc = proofKeyRE.ReplaceAllLiteralString(doc, published)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write([]byte(doc))
}

func (s *Server) handleCapabilities(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Write([]byte(`{"convert-to":{"available":true,"endpoint":"/lool/convert-to"},"hasMobileSupport":true,"hasProxyPrefix":false,"hasTemplateSaveAs":false,"hasTemplateSource":true,"productVersion":"` + s.productVersion() + `"}`))
}

// productVersion is the build version without the build number.
func (s *Server) productVersion() string {
	v := s.opts.Version
	if i := strings.LastIndexByte(v, '.'); i > 0 && strings.Count(v, ".") >= 3 {
		return v[:i]
	}
	return v
}
