package wopiclient

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// WOPI carries file names in X-WOPI-SuggestedTarget, X-WOPI-RelativeTarget,
// X-WOPI-RequestedName and X-WOPI-ValidRelativeTarget as UTF-7 (RFC 2152), as .NET's
// Encoding.UTF7 writes it: only the RFC's "direct" characters appear as themselves, every
// other character (including the optional direct ones such as "_") is base64-encoded
// UTF-16 between "+" and "-", and "+" itself is "+-".

const utf7Base64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// ErrUTF7 reports a value that is not a well-formed UTF-7 encoding of Unicode text.
var ErrUTF7 = errors.New("wopi: malformed UTF-7")

func utf7Direct(c rune) bool {
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	}
	return strings.ContainsRune("\t\n\r '(),-./:?", c)
}

func utf7Value(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}

// EncodeUTF7 encodes s as .NET's Encoding.UTF7 does. Invalid UTF-8 in s is encoded as
// U+FFFD.
func EncodeUTF7(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	var bits uint32
	nbits := -1 // -1: not in base64
	flush := func() {
		if nbits > 0 {
			b.WriteByte(utf7Base64[(bits<<(6-nbits))&0x3f])
		}
		b.WriteByte('-')
		nbits, bits = -1, 0
	}
	put := func(u uint16) {
		if nbits < 0 {
			b.WriteByte('+')
			nbits, bits = 0, 0
		}
		bits = bits<<16 | uint32(u)
		nbits += 16
		for nbits >= 6 {
			nbits -= 6
			b.WriteByte(utf7Base64[(bits>>nbits)&0x3f])
		}
		bits &= 1<<nbits - 1
	}
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf && utf7Direct(r):
			if nbits >= 0 {
				flush()
			}
			b.WriteRune(r)
		case r == '+' && nbits < 0:
			b.WriteString("+-")
		default:
			for _, u := range utf16.AppendRune(nil, r) {
				put(u)
			}
		}
	}
	if nbits >= 0 {
		flush()
	}
	return b.String()
}

// DecodeUTF7 decodes a UTF-7 header value. Like .NET it accepts the optional direct
// characters unencoded, ends a base64 run at any character outside the base64 alphabet
// (absorbing a "-") and ignores leftover bits. Bytes above 0x7F are taken as UTF-8, so a
// client that sends plain UTF-8 names is understood too. It fails with ErrUTF7 on text
// that is not valid Unicode: invalid UTF-8 or an unpaired surrogate.
func DecodeUTF7(s string) (string, error) {
	if !strings.ContainsRune(s, '+') {
		if !utf8.ValidString(s) {
			return "", ErrUTF7
		}
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	var units []uint16
	for i := 0; i < len(s); {
		c := s[i]
		if c != '+' {
			b.WriteByte(c)
			i++
			continue
		}
		i++
		if i < len(s) && s[i] == '-' {
			b.WriteByte('+')
			i++
			continue
		}
		var bits uint32
		nbits := 0
		units = units[:0]
		for i < len(s) {
			v := utf7Value(s[i])
			if v < 0 {
				break
			}
			bits = bits<<6 | uint32(v)
			nbits += 6
			if nbits >= 16 {
				nbits -= 16
				units = append(units, uint16(bits>>nbits))
				bits &= 1<<nbits - 1
			}
			i++
		}
		if i < len(s) && s[i] == '-' {
			i++
		}
		for j := 0; j < len(units); j++ {
			u := rune(units[j])
			switch {
			case utf16.IsSurrogate(u):
				if u >= 0xdc00 || j+1 >= len(units) {
					return "", ErrUTF7
				}
				r := utf16.DecodeRune(u, rune(units[j+1]))
				if r == utf8.RuneError {
					return "", ErrUTF7
				}
				b.WriteRune(r)
				j++
			default:
				b.WriteRune(u)
			}
		}
	}
	out := b.String()
	if !utf8.ValidString(out) {
		return "", ErrUTF7
	}
	return out, nil
}
