package docsapi

import "strings"

// Values of Config.DocumentType.
const (
	DocTypeWord    = "word"
	DocTypeCell    = "cell"
	DocTypeSlide   = "slide"
	DocTypePDF     = "pdf"
	DocTypeDiagram = "diagram"
)

// Format is what DS does with one file extension.
type Format struct {
	DocumentType string // one of the DocType constants
	Editable     bool   // DS can edit it (natively or with lossy conversion); otherwise view only
}

// Formats maps lowercase extensions, without the dot, to formats.
type Formats map[string]Format

// Lookup finds ext, given with or without its leading dot, in any case.
func (f Formats) Lookup(ext string) (Format, bool) {
	fm, ok := f[normExt(ext)]
	return fm, ok
}

// DefaultFormats returns a fresh copy of the formats of the open-source DS
// build (ONLYOFFICE document-formats, as DS buckets them). The lists change
// between DS versions; callers that know better, from discovery for
// instance, build their own Formats.
func DefaultFormats() Formats {
	f := make(Formats, 96)
	for _, row := range defaultFormats {
		for _, ext := range strings.Fields(row.edit) {
			f[ext] = Format{DocumentType: row.docType, Editable: true}
		}
		for _, ext := range strings.Fields(row.view) {
			f[ext] = Format{DocumentType: row.docType}
		}
	}
	return f
}

var defaultFormats = [...]struct{ docType, edit, view string }{
	{DocTypeWord,
		"docm docx dotm dotx epub fb2 html odt ott rtf txt",
		"doc dot fodt gdoc hml htm hwp hwpx md mht mhtml pages stw sxw wps wpt xml"},
	{DocTypeCell,
		"csv ods ots tsv xlsb xlsm xlsx xltm xltx",
		"et ett fods gsheet numbers sxc xls xlt"},
	{DocTypeSlide,
		"odp otp potm potx ppsm ppsx pptm pptx",
		"dps dpt fodp gslides key odg pot pps ppt sxi"},
	{DocTypePDF,
		"pdf",
		"djvu docxf oform oxps xps"},
	{DocTypeDiagram,
		"",
		"vsdx vsdm vssm vssx vstm vstx"},
}

// DocumentType returns the documentType DS uses for ext (with or without
// its dot, any case), and whether DS opens it at all.
func DocumentType(ext string) (string, bool) {
	fm, ok := lookupDefault(ext)
	return fm.DocumentType, ok
}

// CanEdit reports whether the open-source DS edits files with extension
// ext; other known extensions open view-only.
func CanEdit(ext string) bool {
	fm, ok := lookupDefault(ext)
	return ok && fm.Editable
}

func lookupDefault(ext string) (Format, bool) {
	ext = normExt(ext)
	for _, row := range defaultFormats {
		if containsField(row.edit, ext) {
			return Format{DocumentType: row.docType, Editable: true}, true
		}
		if containsField(row.view, ext) {
			return Format{DocumentType: row.docType}, true
		}
	}
	return Format{}, false
}

func containsField(list, word string) bool {
	for f := range strings.FieldsSeq(list) {
		if f == word {
			return true
		}
	}
	return false
}

func normExt(ext string) string {
	return strings.ToLower(strings.TrimPrefix(ext, "."))
}
