package docsapi

import "testing"

func TestDocumentType(t *testing.T) {
	tests := []struct {
		ext      string
		wantType string
		wantOK   bool
		wantEdit bool
	}{
		{"docx", DocTypeWord, true, true},
		{".DOCX", DocTypeWord, true, true},
		{"txt", DocTypeWord, true, true},
		{"doc", DocTypeWord, true, false},
		{"md", DocTypeWord, true, false},
		{"xlsx", DocTypeCell, true, true},
		{"csv", DocTypeCell, true, true},
		{"xls", DocTypeCell, true, false},
		{"pptx", DocTypeSlide, true, true},
		{"odg", DocTypeSlide, true, false},
		{"pdf", DocTypePDF, true, true},
		{"docxf", DocTypePDF, true, false},
		{"oform", DocTypePDF, true, false},
		{"djvu", DocTypePDF, true, false},
		{"vsdx", DocTypeDiagram, true, false},
		{"exe", "", false, false},
		{"", "", false, false},
		{".", "", false, false},
		{"docx docm", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.ext, func(t *testing.T) {
			got, ok := DocumentType(tt.ext)
			if got != tt.wantType || ok != tt.wantOK {
				t.Errorf("DocumentType(%q) = %q, %v; want %q, %v", tt.ext, got, ok, tt.wantType, tt.wantOK)
			}
			if got := CanEdit(tt.ext); got != tt.wantEdit {
				t.Errorf("CanEdit(%q) = %v, want %v", tt.ext, got, tt.wantEdit)
			}
			fm, ok := DefaultFormats().Lookup(tt.ext)
			if ok != tt.wantOK || fm.DocumentType != tt.wantType || fm.Editable != tt.wantEdit {
				t.Errorf("Lookup(%q) = %+v, %v", tt.ext, fm, ok)
			}
		})
	}
}

func TestDefaultFormatsCounts(t *testing.T) {
	want := map[string][2]int{ // editable, view-only
		DocTypeWord:    {11, 17},
		DocTypeCell:    {9, 8},
		DocTypeSlide:   {8, 10},
		DocTypePDF:     {1, 5},
		DocTypeDiagram: {0, 6},
	}
	got := map[string][2]int{}
	for _, fm := range DefaultFormats() {
		n := got[fm.DocumentType]
		if fm.Editable {
			n[0]++
		} else {
			n[1]++
		}
		got[fm.DocumentType] = n
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v (editable, view-only), want %v", k, got[k], v)
		}
	}
	// DefaultFormats hands out copies.
	f := DefaultFormats()
	f["docx"] = Format{}
	if !CanEdit("docx") || !DefaultFormats()["docx"].Editable {
		t.Error("DefaultFormats shares its table")
	}
}
