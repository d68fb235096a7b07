package bridge

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"strings"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// SampleName is the sample document a fresh demo starts with.
const SampleName = "Welcome to wopibridge.docx"

// sampleText is the sample document's paragraphs.
var sampleText = []string{
	"Welcome to wopibridge.",
	"This document lives in the bridge's storage. Open it in the Docs API style or in the WOPI style, or both side by side with Compare: the first editor holds the lock, the other one opens read-only.",
	"Edit it, close the editor, and the saved bytes land in the documents directory.",
}

// SeedSample stores the sample document (a minimal Office Open XML document) in the
// root folder of b.
func SeedSample(ctx context.Context, b storage.Backend) (storage.File, error) {
	root, err := b.Root(ctx)
	if err != nil {
		return storage.File{}, err
	}
	doc, err := sampleDocx(sampleText)
	if err != nil {
		return storage.File{}, err
	}
	return b.Create(ctx, root.ID, SampleName, bytes.NewReader(doc), false, 0)
}

// sampleDocx builds a WordprocessingML package with one paragraph per line: the
// content types, the package relationship and the main document part.
func sampleDocx(paragraphs []string) ([]byte, error) {
	var body strings.Builder
	for _, p := range paragraphs {
		body.WriteString(`<w:p><w:r><w:t xml:space="preserve">`)
		if err := xml.EscapeText(&body, []byte(p)); err != nil {
			return nil, err
		}
		body.WriteString(`</w:t></w:r></w:p>`)
	}
	parts := []struct{ name, content string }{
		{"[Content_Types].xml", xml.Header + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
			`<Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>` +
			`</Types>`},
		{"_rels/.rels", xml.Header + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>` +
			`</Relationships>`},
		{"word/document.xml", xml.Header + `<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` +
			body.String() + `</w:body></w:document>`},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range parts {
		w, err := zw.Create(p.name)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write([]byte(p.content)); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
