package fs

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// maxNameLength is the longest base name most file systems store (NAME_MAX, in bytes).
const maxNameLength = 255

// idLength is the length of the ids the backend makes. ONLYOFFICE derives document keys
// and WOPI lock ids from file ids, so they are short and only [0-9a-z].
const idLength = 20

// newID returns a fresh random id: 100 bits of lowercase base32.
func newID() string {
	return strings.ToLower(rand.Text()[:idLength])
}

// validID reports whether id has the shape of an id this backend makes. Anything else
// is unknown without a look at the state store.
func validID(id string) bool {
	if len(id) != idLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// checkName accepts a base name a document or folder may carry: one path element,
// never climbing, never hidden (dotfiles are the backend's temp files and the user's
// private files), printable UTF-8 that fits in a directory entry.
func checkName(name string) error {
	switch {
	case name == "":
		return invalidName(name, "the name is empty")
	case name == "." || name == "..":
		return invalidName(name, "the name is a relative path")
	case name[0] == '.':
		return invalidName(name, "names starting with a dot are hidden")
	case len(name) > maxNameLength:
		return invalidName(name, fmt.Sprintf("the name is longer than %d bytes", maxNameLength))
	case !utf8.ValidString(name):
		return invalidName(name, "the name is not UTF-8")
	case strings.ContainsAny(name, `/\`):
		return invalidName(name, "the name holds a path separator")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f {
			return invalidName(name, "the name holds a control character")
		}
		if unicode.Is(unicode.Cf, r) {
			// Bidi controls and zero-width characters make a name display as another.
			return invalidName(name, "the name holds an invisible format character")
		}
	}
	return nil
}

func invalidName(name, why string) error {
	return fmt.Errorf("%w %q: %s", storage.ErrInvalidName, name, why)
}

// relPath joins checked names into a path relative to the storage root. Every element
// is checked again, so a damaged state store cannot lead outside the root either; the
// os.Root the paths are used with refuses escapes (and escaping symlinks) on its own.
func relPath(names []string) (string, error) {
	if len(names) == 0 {
		return ".", nil
	}
	for _, n := range names {
		if err := checkName(n); err != nil {
			return "", err
		}
	}
	p := filepath.Join(names...)
	if !filepath.IsLocal(p) {
		return "", invalidName(p, "the path leaves the storage directory")
	}
	return p, nil
}
