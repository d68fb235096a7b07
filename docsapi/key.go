package docsapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
)

// MaxKeyLength is the longest document.key the bridge issues. DS itself
// allows 240, the documentation 128; keys follow the stricter rule.
const MaxKeyLength = 128

// ValidKey reports whether key is a valid document.key: 1 to 128
// characters, each one of 0-9 a-z A-Z - . _ =.
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLength {
		return false
	}
	for i := 0; i < len(key); i++ {
		if !isKeyChar(key[i]) {
			return false
		}
	}
	return true
}

func isKeyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '='
}

// isPlain reports whether s may appear verbatim as one dot-separated part
// of a key: key characters other than the separator '.' and the hash
// marker '='.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isKeyChar(s[i]) || s[i] == '.' || s[i] == '=' {
			return false
		}
	}
	return true
}

// MakeKey derives a document.key from an instance prefix, a file id and a
// file version. The result is always valid (ValidKey), the same for the
// same inputs, and different for different inputs.
//
// When every part is plain (letters, digits, '-' and '_') and they fit,
// the key is readable: prefix.fileID.version. Otherwise it is a sanitised,
// truncated readable part followed by '=' and a hash of the exact inputs.
// Plain keys contain no '=' and exactly two dots, so the two forms never
// collide with each other, and neither form collides within itself.
func MakeKey(prefix, fileID, version string) string {
	if isPlain(prefix) && isPlain(fileID) && isPlain(version) &&
		len(prefix)+len(fileID)+len(version)+2 <= MaxKeyLength {
		return prefix + "." + fileID + "." + version
	}

	h := sha256.New()
	for _, part := range []string{prefix, fileID, version} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	// 128 bits, base64url: 22 characters, all key characters.
	sum := base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])

	const budget = MaxKeyLength - 1 - 22 // '=' and the hash
	p, v := sanitize(prefix, 24), sanitize(version, 24)
	f := sanitize(fileID, budget-len(p)-len(v)-2)
	return p + "." + f + "." + v + "=" + sum
}

// sanitize maps s to at most max plain characters, for readability only.
func sanitize(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		c := s[i]
		if !isKeyChar(c) || c == '.' || c == '=' {
			c = '_'
		}
		b.WriteByte(c)
	}
	return b.String()
}
