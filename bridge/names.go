package bridge

import (
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameBytes is the longest file or folder name the bridge accepts: what common file
// systems store.
const maxNameBytes = 255

// checkName refuses names that are not a single, storable path element. The storage
// backends confine paths too; checking here gives the client a precise reason.
func checkName(name string, folder bool) error {
	reason := ""
	switch {
	case name == "":
		reason = "the name is empty"
	case !utf8.ValidString(name):
		reason = "the name is not valid UTF-8"
	case name == "." || name == "..":
		reason = `"." and ".." are not names`
	case strings.ContainsAny(name, `/\`):
		reason = `a name must not contain "/" or "\"; give a name, not a path`
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		reason = "a name must not contain control characters"
	case strings.ContainsFunc(name, invisibleRune):
		reason = "a name must not contain invisible format or control characters (such as right-to-left overrides, which make a name display as another); remove them"
	case len(name) > maxNameBytes:
		reason = "the name is longer than " + strconv.Itoa(maxNameBytes) + " bytes"
	case strings.TrimSpace(name) != name:
		reason = "a name must not start or end with spaces"
	}
	if reason == "" {
		return nil
	}
	return &nameError{name: name, reason: reason, folder: folder}
}

// invisibleRune reports C1 controls and Unicode format characters (category Cf: bidi
// controls, zero-width characters), which can make a name display as another one
// ("invoice\u202excod.exe" shows as "invoiceexe.docx").
func invisibleRune(r rune) bool {
	return r >= 0x80 && r <= 0x9f || unicode.Is(unicode.Cf, r)
}

// splitExt splits a name into stem and extension ("a.b.docx" → "a.b", ".docx").
func splitExt(name string) (string, string) {
	ext := path.Ext(name)
	if ext == name {
		return name, "" // ".hidden" is a stem
	}
	return strings.TrimSuffix(name, ext), ext
}

// fitName shortens the stem of name so that name fits maxNameBytes, keeping the
// extension and whole UTF-8 characters.
func fitName(name string) string {
	if len(name) <= maxNameBytes {
		return name
	}
	stem, ext := splitExt(name)
	return truncateUTF8(stem, maxNameBytes-len(ext)) + ext
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// freeName returns name, or "stem (n).ext" with the smallest n such that the result is
// not in taken (compared case-insensitively, as some file systems do).
func freeName(name string, taken map[string]bool) string {
	if !taken[strings.ToLower(name)] {
		return name
	}
	stem, ext := splitExt(name)
	for n := 1; ; n++ {
		suffix := " (" + strconv.Itoa(n) + ")"
		c := truncateUTF8(stem, maxNameBytes-len(suffix)-len(ext)) + suffix + ext
		if !taken[strings.ToLower(c)] {
			return c
		}
	}
}
