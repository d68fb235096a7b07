package wopiclient

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A bridge in front of a WOPI host decodes a CheckFileInfo reply for every
// CheckFileInfo it answers, and encoding/json spends more on that than the rest of the
// request. decodeCheckFileInfo is a one-pass decoder for the replies hosts send: a flat
// object of strings, booleans, integers and string arrays. It gives up on anything
// else (escapes in names, non-ASCII names, a value of the wrong type, invalid JSON...)
// and the caller then uses encoding/json, so that the result is always exactly what
// json.Unmarshal gives; FuzzDecodeCheckFileInfo holds it to that.

// cfiField is how one JSON property is stored in a CheckFileInfo.
type cfiField struct {
	name  string // as CheckFileInfo's JSON tag writes it
	index int
	kind  reflect.Kind // String, Bool, Int, Int64 or Slice (of strings)
}

// cfiFields maps the JSON name of each CheckFileInfo property, and its ASCII
// lower-case form, to its field. It is built once and only read.
var cfiFields = buildCFIFields()

// cfiOrder is the fields in CheckFileInfo's order. Hosts written in Go, the bridge
// among them, send the properties in that order: the field after the last one found
// is tried before the table.
var cfiOrder = func() []cfiField {
	order := make([]cfiField, reflect.TypeFor[CheckFileInfo]().NumField())
	for name, f := range cfiFields {
		if name == f.name {
			order[f.index] = f
		}
	}
	return order
}()

func buildCFIFields() map[string]cfiField {
	t := reflect.TypeFor[CheckFileInfo]()
	exact := map[string]cfiField{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		kind := sf.Type.Kind()
		switch {
		case name == "" || name == "-":
			panic("wopiclient: CheckFileInfo field " + sf.Name + " has no JSON name")
		case kind == reflect.Slice && sf.Type.Elem().Kind() != reflect.String,
			kind != reflect.Slice && kind != reflect.String && kind != reflect.Bool && kind != reflect.Int && kind != reflect.Int64:
			panic("wopiclient: CheckFileInfo field " + sf.Name + " has a type decodeCheckFileInfo does not know")
		}
		exact[name] = cfiField{name: name, index: i, kind: kind}
	}
	all := make(map[string]cfiField, 2*len(exact))
	for name, f := range exact {
		all[name] = f
	}
	for name, f := range exact {
		if len(name) > maxNameLength {
			panic("wopiclient: CheckFileInfo name " + name + " is longer than maxNameLength")
		}
		lower := strings.ToLower(name)
		if other, ok := all[lower]; ok && other != f {
			panic("wopiclient: CheckFileInfo names " + name + " and " + lower + " differ only in case")
		}
		all[lower] = f
	}
	return all
}

// decodeCheckFileInfo fills ci from data as json.Unmarshal would, and reports whether
// it could; when it could not, ci is in an unspecified state.
func decodeCheckFileInfo(data string, ci *CheckFileInfo) bool {
	d := cfiDecoder{data: data}
	v := reflect.ValueOf(ci).Elem()
	d.space()
	if !d.consume('{') {
		return false
	}
	d.space()
	if d.consume('}') {
		return d.end()
	}
	next := 0 // index in cfiOrder of the field expected next
	for {
		d.space()
		key, ok := d.name()
		if !ok {
			return false
		}
		d.space()
		if !d.consume(':') {
			return false
		}
		d.space()
		var f cfiField
		known := next < len(cfiOrder) && cfiOrder[next].name == key
		if known {
			f = cfiOrder[next]
		} else if f, known = cfiFields[key]; !known && len(key) <= maxNameLength {
			var lower [maxNameLength]byte
			f, known = cfiFields[string(asciiLower(lower[:0], key))]
		}
		if known {
			next = f.index + 1
			ok = d.field(v.Field(f.index), f.kind)
		} else {
			ok = d.skip(0)
		}
		if !ok {
			return false
		}
		d.space()
		switch {
		case d.consume(','):
		case d.consume('}'):
			return d.end()
		default:
			return false
		}
	}
}

// cfiDecoder reads a reply held in one string: values without escapes are slices of
// it, with no copy.
type cfiDecoder struct {
	data string
	pos  int
}

func (d *cfiDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *cfiDecoder) consume(c byte) bool {
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

func (d *cfiDecoder) end() bool {
	d.space()
	return d.pos == len(d.data)
}

func (d *cfiDecoder) literal(word string) bool {
	if len(d.data)-d.pos < len(word) {
		return false
	}
	for i := 0; i < len(word); i++ {
		if d.data[d.pos+i] != word[i] {
			return false
		}
	}
	d.pos += len(word)
	return true
}

// name reads a property name: a string of printable ASCII without escapes.
func (d *cfiDecoder) name() (string, bool) {
	if !d.consume('"') {
		return "", false
	}
	n := strings.IndexByte(d.data[d.pos:], '"')
	if n < 0 {
		return "", false
	}
	key := d.data[d.pos : d.pos+n]
	for i := 0; i < len(key); i++ {
		if c := key[i]; c == '\\' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	d.pos += n + 1
	return key, true
}

// maxNameLength is longer than every CheckFileInfo name: longer names are unknown
// whatever their case.
const maxNameLength = 64

// asciiLower appends s in ASCII lower case to dst.
func asciiLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// str reads a string value. Escapes are decoded by encoding/json; invalid UTF-8 (which
// it replaces) makes the decoder give up.
func (d *cfiDecoder) str() (string, bool) {
	if !d.consume('"') {
		return "", false
	}
	start := d.pos
	n := strings.IndexByte(d.data[start:], '"')
	if n < 0 {
		return "", false
	}
	raw := d.data[start : start+n]
	if strings.IndexByte(raw, '\\') >= 0 {
		return d.escaped(start)
	}
	ascii := true
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(raw) {
		return "", false
	}
	d.pos = start + n + 1
	return raw, true
}

// escaped reads a string with escapes that starts at start (after its quote).
func (d *cfiDecoder) escaped(start int) (string, bool) {
	d.pos = start
	for d.pos < len(d.data) {
		switch c := d.data[d.pos]; {
		case c == '"':
			d.pos++
			if !utf8.ValidString(d.data[start : d.pos-1]) {
				return "", false
			}
			var s string
			if json.Unmarshal([]byte(d.data[start-1:d.pos]), &s) != nil {
				return "", false
			}
			return s, true
		case c == '\\':
			d.pos++ // the escaped character, checked by encoding/json
		case c < 0x20:
			return "", false
		}
		d.pos++
	}
	return "", false
}

// number reads a number as JSON writes it and returns its text.
func (d *cfiDecoder) number() (string, bool) {
	start := d.pos
	d.consume('-')
	switch {
	case d.consume('0'):
	case d.pos < len(d.data) && '1' <= d.data[d.pos] && d.data[d.pos] <= '9':
		d.digits()
	default:
		return "", false
	}
	if d.consume('.') && !d.digits() {
		return "", false
	}
	if d.consume('e') || d.consume('E') {
		if !d.consume('+') {
			d.consume('-')
		}
		if !d.digits() {
			return "", false
		}
	}
	return string(d.data[start:d.pos]), true
}

func (d *cfiDecoder) digits() bool {
	start := d.pos
	for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
		d.pos++
	}
	return d.pos > start
}

// field stores the value at d in v, of kind; null leaves v as it is (a slice becomes
// nil), as encoding/json does.
func (d *cfiDecoder) field(v reflect.Value, kind reflect.Kind) bool {
	if d.literal("null") {
		if kind == reflect.Slice {
			v.SetZero()
		}
		return true
	}
	switch kind {
	case reflect.String:
		s, ok := d.str()
		v.SetString(s)
		return ok
	case reflect.Bool:
		switch {
		case d.literal("true"):
			v.SetBool(true)
		case d.literal("false"):
			v.SetBool(false)
		default:
			return false
		}
		return true
	case reflect.Int, reflect.Int64:
		text, ok := d.number()
		if !ok {
			return false
		}
		n, err := strconv.ParseInt(text, 10, v.Type().Bits())
		v.SetInt(n)
		return err == nil
	case reflect.Slice:
		if !d.consume('[') {
			return false
		}
		list := []string{}
		d.space()
		if d.consume(']') {
			v.Set(reflect.ValueOf(list))
			return true
		}
		for {
			d.space()
			s, ok := d.str()
			if !ok {
				return false
			}
			list = append(list, s)
			d.space()
			switch {
			case d.consume(','):
			case d.consume(']'):
				v.Set(reflect.ValueOf(list))
				return true
			default:
				return false
			}
		}
	}
	return false
}

// maxSkipDepth bounds the nesting of a skipped value; deeper is left to encoding/json.
const maxSkipDepth = 64

// skip passes over a value of a property CheckFileInfo does not name, checking that it
// is valid JSON.
func (d *cfiDecoder) skip(depth int) bool {
	if d.pos >= len(d.data) || depth > maxSkipDepth {
		return false
	}
	switch c := d.data[d.pos]; {
	case c == '"':
		return d.skipString()
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		d.pos++
		d.space()
		if d.consume(closer) {
			return true
		}
		for {
			d.space()
			if closer == '}' {
				if !d.skipString() {
					return false
				}
				d.space()
				if !d.consume(':') {
					return false
				}
				d.space()
			}
			if !d.skip(depth + 1) {
				return false
			}
			d.space()
			switch {
			case d.consume(','):
			case d.consume(closer):
				return true
			default:
				return false
			}
		}
	case c == '-' || '0' <= c && c <= '9':
		_, ok := d.number()
		return ok
	default:
		return d.literal("true") || d.literal("false") || d.literal("null")
	}
}

// skipString passes over a string, checking its escapes.
func (d *cfiDecoder) skipString() bool {
	if !d.consume('"') {
		return false
	}
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		d.pos++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if d.pos >= len(d.data) {
				return false
			}
			e := d.data[d.pos]
			d.pos++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if d.pos+4 > len(d.data) {
					return false
				}
				for _, h := range d.data[d.pos : d.pos+4] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				d.pos += 4
			default:
				return false
			}
		}
	}
	return false
}
