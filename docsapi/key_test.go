package docsapi

import (
	"strings"
	"testing"
)

func TestValidKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"f-8c1d2a.v17", true},
		{"aZ09-._=", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"a b", false},
		{"a/b", false},
		{"a:b", false},
		{"a+b", false},
		{"ключ", false},
		{"a\x00", false},
	}
	for _, tt := range tests {
		if got := ValidKey(tt.key); got != tt.want {
			t.Errorf("ValidKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestMakeKey(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct {
		name                    string
		prefix, fileID, version string
		want                    string // exact key, or "" to check only the shape
		hashed                  bool
	}{
		{"plain", "f", "8c1d2a", "v17", "f.8c1d2a.v17", false},
		{"plain with - and _", "wb-1", "a_b-c", "3", "wb-1.a_b-c.3", false},
		{"dot in id", "wb", "a.b", "1", "", true},
		{"equals in version", "wb", "a", "v=1", "", true},
		{"slash in id", "wb", "dir/file.docx", "1", "", true},
		{"unicode", "wb", "отчёт", "1", "", true},
		{"too long", "wb", long, "1", "", true},
		{"exactly 128 plain", "p", strings.Repeat("f", 124), "v", "p." + strings.Repeat("f", 124) + ".v", false},
		{"129 plain", "p", strings.Repeat("f", 125), "v", "", true},
		{"long everything", long, long, long, "", true},
		{"empty", "", "", "", "..", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MakeKey(tt.prefix, tt.fileID, tt.version)
			if !ValidKey(got) {
				t.Fatalf("MakeKey = %q, not valid", got)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("MakeKey = %q, want %q", got, tt.want)
			}
			if hashed := strings.Contains(got, "="); hashed != tt.hashed {
				t.Errorf("MakeKey = %q, hashed %v, want %v", got, hashed, tt.hashed)
			}
			if again := MakeKey(tt.prefix, tt.fileID, tt.version); again != got {
				t.Errorf("not deterministic: %q then %q", got, again)
			}
		})
	}
}

func TestMakeKeyDistinct(t *testing.T) {
	pairs := [][2][3]string{
		{{"wb", "a.b", "c"}, {"wb", "a", "b.c"}},
		{{"wb", "a/b", "1"}, {"wb", "a_b", "1"}},
		{{"wb", "a/b", "1"}, {"wb", "a:b", "1"}},
		{{"wb", "ab", ""}, {"wb", "a", "b"}},
		{{"wb", strings.Repeat("x", 200) + "1", "v"}, {"wb", strings.Repeat("x", 200) + "2", "v"}},
		{{"wb", "f", strings.Repeat("9", 100) + "1"}, {"wb", "f", strings.Repeat("9", 100) + "2"}},
		{{"wb", "a=", "b"}, {"wb", "a", "=b"}},
		{{"wb", "file", "1"}, {"wb", "file", "2"}},
		{{"a.b", "c", "d"}, {"a", "b", "c.d"}},
	}
	for _, p := range pairs {
		a := MakeKey(p[0][0], p[0][1], p[0][2])
		b := MakeKey(p[1][0], p[1][1], p[1][2])
		if a == b {
			t.Errorf("MakeKey%q = MakeKey%q = %q", p[0], p[1], a)
		}
	}
}

func FuzzMakeKey(f *testing.F) {
	f.Add("wb", "8c1d2a", "v17", "8c1d2a", "v18")
	f.Add("wb", "a.b", "c", "a", "b.c")
	f.Add("", "", "", "", "x")
	f.Add("wb", "dir/file name.docx", "2026-01-01T10:00:00Z", "dir/file_name.docx", "2026-01-01T10:00:00Z")
	f.Add(strings.Repeat("p", 130), strings.Repeat("f", 130), "1", strings.Repeat("f", 130), "2")
	f.Fuzz(func(t *testing.T, prefix, fileID, version, fileID2, version2 string) {
		k := MakeKey(prefix, fileID, version)
		if !ValidKey(k) {
			t.Fatalf("MakeKey(%q, %q, %q) = %q, not valid", prefix, fileID, version, k)
		}
		if again := MakeKey(prefix, fileID, version); again != k {
			t.Fatalf("not deterministic: %q then %q", k, again)
		}
		k2 := MakeKey(prefix, fileID2, version2)
		if (fileID != fileID2 || version != version2) && k == k2 {
			t.Fatalf("(%q, %q) and (%q, %q) share key %q", fileID, version, fileID2, version2, k)
		}
	})
}
