package wopiclient

import (
	"errors"
	"testing"
	"unicode/utf8"
)

// Encodings as .NET's Encoding.UTF7 (and the WOPI validator) produce them.
var utf7Cases = []struct{ text, encoded string }{
	{"", ""},
	{"ValidatorTestFile.wopitest", "ValidatorTestFile.wopitest"},
	{"madeup_name.wopitestx", "madeup+AF8-name.wopitestx"},
	{"a+b", "a+-b"},
	{"1 + 1 = 2", "1 +- 1 +AD0- 2"},
	{"Привет мир.docx", "+BB8EQAQ4BDIENQRC- +BDwEOARA-.docx"},
	{"😀 smile.xlsx", "+2D3eAA- smile.xlsx"},
	{"~!@#$%^&*()_+{}|", "+AH4AIQBAACMAJAAlAF4AJgAq-()+AF8AKwB7AH0AfA-"},
	{"a_+_b", "a+AF8AKwBf-b"},
}

func TestEncodeUTF7(t *testing.T) {
	for _, tc := range utf7Cases {
		if got := EncodeUTF7(tc.text); got != tc.encoded {
			t.Errorf("EncodeUTF7(%q) = %q, want %q", tc.text, got, tc.encoded)
		}
	}
}

func TestDecodeUTF7(t *testing.T) {
	for _, tc := range utf7Cases {
		got, err := DecodeUTF7(tc.encoded)
		if err != nil || got != tc.text {
			t.Errorf("DecodeUTF7(%q) = %q, %v; want %q", tc.encoded, got, err, tc.text)
		}
	}
	lenient := []struct{ in, want string }{
		{"madeup_name.docx", "madeup_name.docx"}, // optional direct characters unencoded
		{"Größe.docx", "Größe.docx"},             // plain UTF-8, not UTF-7
		{"+AF8", "_"},                            // run ended by the end of input
		{"+AF8.docx", "_.docx"},                  // run ended by a non-base64 character
		{"+AF8--x", "_-x"},                       // only one "-" is absorbed
		{"a+!b", "a!b"},                          // empty run
		{"+AGE", "a"},                            // leftover bits ignored
	}
	for _, tc := range lenient {
		got, err := DecodeUTF7(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("DecodeUTF7(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	bad := []string{
		"+2D0-",         // lone high surrogate
		"+3gA-",         // lone low surrogate
		"+2D3YPQ-",      // high surrogate followed by a high surrogate
		"\xff.docx",     // invalid UTF-8
		"+AF8-\xc3.doc", // invalid UTF-8 after a run
	}
	for _, in := range bad {
		if got, err := DecodeUTF7(in); !errors.Is(err, ErrUTF7) {
			t.Errorf("DecodeUTF7(%q) = %q, %v; want ErrUTF7", in, got, err)
		}
	}
}

func FuzzUTF7(f *testing.F) {
	for _, tc := range utf7Cases {
		f.Add(tc.text)
		f.Add(tc.encoded)
	}
	f.Add("+")
	f.Add("+-+-+")
	f.Add("+2D3eAA")
	f.Fuzz(func(t *testing.T, s string) {
		// Decoding arbitrary input never panics and yields valid UTF-8 or ErrUTF7.
		if got, err := DecodeUTF7(s); err == nil {
			if !utf8.ValidString(got) {
				t.Fatalf("DecodeUTF7(%q) = %q: not UTF-8", s, got)
			}
		} else if !errors.Is(err, ErrUTF7) {
			t.Fatalf("DecodeUTF7(%q): unexpected error %v", s, err)
		}
		if !utf8.ValidString(s) {
			return
		}
		enc := EncodeUTF7(s)
		for i := 0; i < len(enc); i++ {
			if enc[i] >= utf8.RuneSelf {
				t.Fatalf("EncodeUTF7(%q) = %q: not ASCII", s, enc)
			}
		}
		dec, err := DecodeUTF7(enc)
		if err != nil || dec != s {
			t.Fatalf("round trip of %q via %q = %q, %v", s, enc, dec, err)
		}
	})
}
