package docserver

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// hostFile is one file of the test WOPI host.
type hostFile struct {
	info       map[string]any
	content    []byte
	lockStatus int // answer to LOCK; 0 = 200
	putStatus  int // answer to PutFile; 0 = 200
}

// wopiHost is a WOPI host recording DS's requests byte-exactly.
type wopiHost struct {
	*rawServer
	mu    sync.Mutex
	files map[string]*hostFile
	puts  int
}

func newWOPIHost(t *testing.T) *wopiHost {
	h := &wopiHost{files: map[string]*hostFile{}}
	h.rawServer = newRawServer(t, h.serveWOPI)
	return h
}

func (h *wopiHost) add(id string, f *hostFile) string {
	h.mu.Lock()
	h.files[id] = f
	h.mu.Unlock()
	return h.URL + "/wopi/files/" + id
}

func (h *wopiHost) serveWOPI(r rawRequest) rawResponse {
	u, err := url.Parse(r.Target)
	if err != nil || !strings.HasPrefix(u.Path, "/wopi/files/") {
		return rawResponse{Status: 404}
	}
	rest := strings.TrimPrefix(u.Path, "/wopi/files/")
	id, contents := strings.CutSuffix(rest, "/contents")
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.files[id]
	if f == nil {
		return rawResponse{Status: 404}
	}
	switch {
	case r.Method == "GET" && !contents:
		return jsonResponse(200, string(jsonCompact(f.info)))
	case r.Method == "GET" && contents:
		return rawResponse{Status: 200, Header: map[string]string{"Content-Type": "application/octet-stream"}, Body: f.content}
	case r.Method == "POST" && contents:
		if f.putStatus != 0 {
			return rawResponse{Status: f.putStatus}
		}
		h.puts++
		f.content = r.Body
		return jsonResponse(200, fmt.Sprintf(`{"LastModifiedTime":"2026-11-01T10:0%d:00.0000000Z"}`, h.puts))
	case r.Method == "POST" && r.Get("X-WOPI-Override") == "LOCK" && f.lockStatus != 0:
		return rawResponse{Status: f.lockStatus, Header: map[string]string{"X-WOPI-Lock": "someone-else"}}
	case r.Method == "POST":
		return rawResponse{Status: 200}
	}
	return rawResponse{Status: 501}
}

func editableInfo(name, user string, size int) map[string]any {
	return map[string]any{
		"BaseFileName": name, "OwnerId": "owner-1", "Size": size, "Version": "v1",
		"UserId": user, "UserFriendlyName": "User " + user,
		"UserCanWrite": true, "SupportsLocks": true, "SupportsUpdate": true,
		"LastModifiedTime": "2026-11-01T10:00:00.0000000Z",
	}
}

// discovery is what a host reads from /hosting/discovery.
type discovery struct {
	Apps []struct {
		Name    string `xml:"name,attr"`
		Actions []struct {
			Name   string `xml:"name,attr"`
			Ext    string `xml:"ext,attr"`
			URLSrc string `xml:"urlsrc,attr"`
		} `xml:"action"`
	} `xml:"net-zone>app"`
	ProofKey struct {
		Value       string `xml:"value,attr"`
		Modulus     string `xml:"modulus,attr"`
		Exponent    string `xml:"exponent,attr"`
		OldValue    string `xml:"oldvalue,attr"`
		OldModulus  string `xml:"oldmodulus,attr"`
		OldExponent string `xml:"oldexponent,attr"`
	} `xml:"proof-key"`
}

func fetchDiscovery(t *testing.T, s *Server) (discovery, string) {
	t.Helper()
	resp, err := http.Get(s.URL() + "/hosting/discovery")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("discovery: HTTP %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		t.Errorf("discovery Content-Type = %q", ct)
	}
	var d discovery
	if err := xml.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d, string(raw)
}

func (d discovery) action(name, ext string) string {
	for _, app := range d.Apps {
		for _, a := range app.Actions {
			if a.Name == name && a.Ext == ext {
				return a.URLSrc
			}
		}
	}
	return ""
}

// keyFromModulus builds a public key from discovery's modulus and exponent.
func keyFromModulus(t *testing.T, modulus, exponent string) *rsa.PublicKey {
	t.Helper()
	n, err := base64.StdEncoding.DecodeString(modulus)
	if err != nil {
		t.Fatal(err)
	}
	e, err := base64.StdEncoding.DecodeString(exponent)
	if err != nil {
		t.Fatal(err)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
}

// keyFromBlob reads a Microsoft PUBLICKEYBLOB.
func keyFromBlob(t *testing.T, value string) *rsa.PublicKey {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(value)
	if err != nil || len(b) < 20 {
		t.Fatalf("blob: %v", err)
	}
	if b[0] != 0x06 || b[1] != 0x02 || binary.LittleEndian.Uint32(b[4:]) != 0xa400 || string(b[8:12]) != "RSA1" {
		t.Fatalf("blob header % x", b[:12])
	}
	bits := binary.LittleEndian.Uint32(b[12:])
	e := binary.LittleEndian.Uint32(b[16:])
	mod := b[20:]
	if len(mod) != int(bits/8) {
		t.Fatalf("blob modulus %d bytes for %d bits", len(mod), bits)
	}
	be := make([]byte, len(mod))
	for i := range mod {
		be[len(mod)-1-i] = mod[i]
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(be), E: int(e)}
}

// verifyRawProof checks a received WOPI request's proofs as a host does:
// against the URL as received and, as DS signs before ' is escaped on the
// wire, against that URL with %27 turned back into '.
func verifyRawProof(t *testing.T, r rawRequest, cur, old *rsa.PublicKey) {
	t.Helper()
	u, _ := url.Parse(r.Target)
	token := u.Query().Get("access_token")
	var ticks uint64
	fmt.Sscan(r.Get("X-WOPI-TimeStamp"), &ticks)
	received := "http://" + r.Host + r.Target
	candidates := []string{received, strings.ReplaceAll(received, "%27", "'")}
	verifies := func(pub *rsa.PublicKey, proof string) bool {
		for _, c := range candidates {
			if VerifyProof(pub, token, c, ticks, proof) == nil {
				return true
			}
		}
		return false
	}
	if !verifies(cur, r.Get("X-WOPI-Proof")) {
		t.Errorf("%s %s: X-WOPI-Proof does not verify with the current key", r.Method, r.Target)
	}
	if !verifies(old, r.Get("X-WOPI-ProofOld")) {
		t.Errorf("%s %s: X-WOPI-ProofOld does not verify with the old key", r.Method, r.Target)
	}
	if verifies(old, r.Get("X-WOPI-Proof")) || verifies(cur, r.Get("X-WOPI-ProofOld")) {
		t.Errorf("%s %s: a proof verifies with the wrong key", r.Method, r.Target)
	}
	if VerifyProof(cur, token, candidates[1], ticks+1, r.Get("X-WOPI-Proof")) == nil {
		t.Errorf("%s %s: proof verifies with ticks+1", r.Method, r.Target)
	}
}
