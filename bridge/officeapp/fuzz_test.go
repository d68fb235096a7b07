package officeapp

import (
	"testing"
)

// Key files and stored records are read from outside: any bytes give a key of at
// least KeyBits bits or an error, never a panic.
func FuzzParseKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"))
	f.Add([]byte("not pem"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseKey(b, "fuzz")
		if err == nil && k.N.BitLen() < KeyBits {
			t.Fatalf("accepted a %d-bit key", k.N.BitLen())
		}
	})
}

// DS's capabilities are any JSON object; anything else is an error, never a panic.
func FuzzCapabilities(f *testing.F) {
	f.Add([]byte(`{"convert-to":{"available":true},"productVersion":"4.1.2"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Capabilities(b)
	})
}
