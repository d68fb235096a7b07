package bridge

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// The sample is a well-formed Office Open XML package whose document holds the text.
func TestSeedSample(t *testing.T) {
	e := newEnv(t)
	f, err := SeedSample(context.Background(), e.store)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != SampleName || f.FolderID != e.root.ID || f.Size == 0 {
		t.Fatalf("sample = %+v", f)
	}
	raw := []byte(e.content(f.ID))
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("not a zip package: %v", err)
	}
	parts := map[string]string{}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		parts[zf.Name] = string(b)
		for d := xml.NewDecoder(bytes.NewReader(b)); ; {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s is not well-formed XML: %v", zf.Name, err)
			}
		}
	}
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels", "word/document.xml"} {
		if parts[name] == "" {
			t.Errorf("part %s missing", name)
		}
	}
	if !strings.Contains(parts["word/document.xml"], "Welcome to wopibridge.") {
		t.Errorf("document text: %s", parts["word/document.xml"])
	}
	if _, err := SeedSample(context.Background(), e.store); err == nil {
		t.Error("seeding twice overwrote the sample")
	}
}
