package docserver

import (
	"archive/zip"
	"bytes"
	"sort"
	"strings"
	"sync"
)

// mimeTypes covers the formats tests use; DS takes them from mime-db.
var mimeTypes = map[string]string{
	"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	"docm": "application/vnd.ms-word.document.macroenabled.12",
	"xlsm": "application/vnd.ms-excel.sheet.macroenabled.12",
	"pptm": "application/vnd.ms-powerpoint.presentation.macroenabled.12",
	"doc":  "application/msword",
	"xls":  "application/vnd.ms-excel",
	"ppt":  "application/vnd.ms-powerpoint",
	"odt":  "application/vnd.oasis.opendocument.text",
	"ods":  "application/vnd.oasis.opendocument.spreadsheet",
	"odp":  "application/vnd.oasis.opendocument.presentation",
	"pdf":  "application/pdf",
	"rtf":  "application/rtf",
	"txt":  "text/plain",
	"csv":  "text/csv",
	"html": "text/html",
	"epub": "application/epub+zip",
	"zip":  "application/zip",
	"json": "application/json",
}

func mimeType(ext string) string {
	if m, ok := mimeTypes[strings.ToLower(ext)]; ok {
		return m
	}
	return "application/octet-stream"
}

// documentTypes maps editable and viewable extensions to documentType
// (protocol A.1; the real list comes from onlyoffice-docs-formats.json).
var documentTypes = map[string]string{}

func init() {
	for typ, exts := range map[string]string{
		"word":    "docm docx dotm dotx epub fb2 html odt ott rtf txt doc dot fodt gdoc hml htm hwp hwpx md mht mhtml pages stw sxw wps wpt xml",
		"cell":    "csv ods ots tsv xlsb xlsm xlsx xltm xltx et ett fods gsheet numbers sxc xls xlt",
		"slide":   "odp otp potm potx ppsm ppsx pptm pptx dps dpt fodp gslides key odg pot pps ppt sxi",
		"pdf":     "pdf djvu docxf oform oxps xps",
		"diagram": "vsdx vsdm vssm vssx vstm vstx",
	} {
		for _, e := range strings.Fields(exts) {
			documentTypes[e] = typ
		}
	}
}

// blankTemplate returns the new-file template DS puts into a 0-byte file
// (new/<locale>/new.<ext>); DS ships them for docx, xlsx, pptx and pdf.
func blankTemplate(ext string) ([]byte, bool) {
	templatesOnce.Do(buildTemplates)
	b, ok := templates[ext]
	return b, ok
}

var (
	templatesOnce sync.Once
	templates     map[string][]byte
)

func buildTemplates() {
	templates = map[string][]byte{
		"docx": ooxml(map[string]string{
			"[Content_Types].xml": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`,
			"_rels/.rels":         rels("word/document.xml"),
			"word/document.xml":   `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p/></w:body></w:document>`,
		}),
		"xlsx": ooxml(map[string]string{
			"[Content_Types].xml":        `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`,
			"_rels/.rels":                rels("xl/workbook.xml"),
			"xl/workbook.xml":            `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`,
			"xl/_rels/workbook.xml.rels": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`,
			"xl/worksheets/sheet1.xml":   `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>`,
		}),
		"pptx": ooxml(map[string]string{
			"[Content_Types].xml":  `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/ppt/presentation.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"/></Types>`,
			"_rels/.rels":          rels("ppt/presentation.xml"),
			"ppt/presentation.xml": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>`,
		}),
		"pdf": []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"),
	}
}

func rels(target string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="` + target + `"/></Relationships>`
}

func ooxml(parts map[string]string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels"} {
		writeZipPart(zw, name, parts[name])
	}
	names := make([]string, 0, len(parts))
	for name := range parts {
		if name != "[Content_Types].xml" && name != "_rels/.rels" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		writeZipPart(zw, name, parts[name])
	}
	zw.Close()
	return b.Bytes()
}

func writeZipPart(zw *zip.Writer, name, body string) {
	w, err := zw.Create(name)
	if err == nil {
		w.Write([]byte(body))
	}
}
