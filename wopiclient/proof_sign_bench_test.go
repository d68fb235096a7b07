package wopiclient

import (
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkSignedCheckFileInfo is a CheckFileInfo against a local host, unsigned and
// signed (one key before any rotation; two keys after), in one run: what signing
// costs a WOPI client per upstream call.
func BenchmarkSignedCheckFileInfo(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"BaseFileName":"a.docx","Size":5,"Version":"1","UserId":"u"}`))
	}))
	defer srv.Close()
	cur, old := testKey(b, 0), testKey(b, 1)
	for _, bc := range []struct {
		name string
		keys func() (*rsa.PrivateKey, *rsa.PrivateKey, error)
	}{
		{"unsigned", nil},
		{"signed-one-key", func() (*rsa.PrivateKey, *rsa.PrivateKey, error) { return cur, cur, nil }},
		{"signed-two-keys", func() (*rsa.PrivateKey, *rsa.PrivateKey, error) { return cur, old, nil }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			hc := NewHTTPClient()
			if bc.keys != nil {
				hc.Transport.(*Transport).Proof = &ProofSigner{Keys: bc.keys}
			}
			defer hc.Transport.(*Transport).CloseIdleConnections()
			c := &Client{HTTP: hc}
			src := srv.URL + "/wopi/files/1"
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.CheckFileInfo(b.Context(), src, "token"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
