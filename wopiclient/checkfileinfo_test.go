package wopiclient

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"
)

// checkFileInfoEdit is the constructed CheckFileInfo of an edit session that the protocol
// reference documents (reference/fixtures/checkfileinfo-edit.json).
const checkFileInfoEdit = `{
  "BaseFileName": "Quarterly report.docx", "Size": 48213, "Version": "v17",
  "LastModifiedTime": "2026-01-01T10:00:00.0000000Z", "OwnerId": "u-1001", "UserId": "u-1001",
  "UserFriendlyName": "Ada Lovelace", "IsAnonymousUser": false, "ReadOnly": false,
  "UserCanWrite": true, "UserCanReview": true, "UserCanRename": true, "UserCanNotWriteRelative": false,
  "SupportsLocks": true, "SupportsUpdate": true, "SupportsRename": true, "SupportsReviewing": true,
  "FileNameMaxLength": 250, "BreadcrumbBrandName": "Bridge", "BreadcrumbBrandUrl": "https://bridge.example.net/",
  "BreadcrumbFolderName": "Finance", "BreadcrumbFolderUrl": "https://bridge.example.net/folder/9",
  "PostMessageOrigin": "https://bridge.example.net", "ClosePostMessage": true, "EditModePostMessage": true,
  "EditNotificationPostMessage": true, "FileSharingPostMessage": false, "FileVersionPostMessage": false,
  "HostEditUrl": "https://bridge.example.net/wopi-host/edit/8c1d2a"
}`

func TestCheckFileInfoFixture(t *testing.T) {
	var c CheckFileInfo
	dec := json.NewDecoder(strings.NewReader(checkFileInfoEdit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("every property of the fixture has a field: %v", err)
	}
	if c.BaseFileName != "Quarterly report.docx" || c.Size != 48213 || !c.UserCanWrite || c.FileNameMaxLength != 250 ||
		c.BreadcrumbFolderName != "Finance" || !c.EditModePostMessage || c.HostEditURL == "" {
		t.Errorf("decoded %+v", c)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var again CheckFileInfo
	if err := json.Unmarshal(out, &again); err != nil || !reflect.DeepEqual(again, c) {
		t.Errorf("round trip changed the value: %s", out)
	}
}

// The required properties are always present and nothing is ever null (WOPI: omit a
// property rather than send null).
func TestCheckFileInfoMinimal(t *testing.T) {
	out, err := json.Marshal(CheckFileInfo{})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"BaseFileName", "OwnerId", "Size", "UserId", "Version", "UserCanWrite", "SupportsLocks", "UserCanNotWriteRelative"} {
		if _, ok := m[k]; !ok {
			t.Errorf("%s missing from %s", k, out)
		}
	}
	for k, v := range m {
		if v == nil {
			t.Errorf("%s is null", k)
		}
	}
}

func TestTimeFormat(t *testing.T) {
	got := time.Date(2026, 1, 1, 10, 0, 0, 123456789, time.UTC).Format(TimeFormat)
	if got != "2026-01-01T10:00:00.1234567Z" {
		t.Errorf("TimeFormat gives %q", got)
	}
}

// FuzzDecodeMatchesEncodingJSON holds FileInfo.decode to encoding/json's reading of the
// same reply: the same properties, the same replies refused, and a numeric Version
// recognised in both.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, seed := range []string{
		checkFileInfoEdit,
		`{"BaseFileName":"a.docx","Size":1,"Version":42}`,
		`{"basefilename":"a.docx","SIZE":1,"version":"v","userCanWrite":true}`,
		`{"BaseFileName":"a.docx","BaseFileName":"b.docx","Size":1,"Size":2}`,
		`{"Base_File_Name":"a","Base-File-Name":"b","BaseFileName":"c"}`,
		`{"BaseFileName":"\ud800x\u00e9\"\\\/","Size":1e3}`,
		"{\"BaseFileName\":\"\xff\xfe\",\"Size\":1.5}",
		`{"BaseFileName":null,"Size":null,"ReadOnly":null,"SupportedShareUrlTypes":null}`,
		`{"BaseFileName":"a","SupportedShareUrlTypes":[],"SupportedShareUrlTypes":["ReadOnly"]}`,
		`{"BaseFileName":"a","Size":-9223372036854775809}`,
		`{"BaseFileName":"a","ReadOnly":"true"} trailing`,
		`{"BaseFileName":"a","Unknown":{"deep":[1,2,{"x":null}]}}`,
		` {"BaseFileName":"a"} `,
		`[]`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var want CheckFileInfo
		wantErr := json.Unmarshal([]byte(raw), &want)
		fi := &FileInfo{raw: []byte(raw)}
		// decode's first step, checked against encoding/json directly.
		var got CheckFileInfo
		gotErr := jsonv1.Unmarshal([]byte(raw), &got)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, encoding/json says %v", raw, gotErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", raw, got, want)
		}
		var wantTE *json.UnmarshalTypeError
		var gotTE *jsonv1.UnmarshalTypeError
		wantVersion := errors.As(wantErr, &wantTE) && strings.EqualFold(wantTE.Field, "Version")
		gotVersion := errors.As(gotErr, &gotTE) && strings.EqualFold(gotTE.Field, "Version")
		if wantVersion != gotVersion {
			t.Fatalf("%q: numeric Version seen %v, encoding/json %v (%v / %v)", raw, gotVersion, wantVersion, gotErr, wantErr)
		}
		// And the whole of decode: never a success encoding/json would refuse, unless
		// it is the numeric Version decode exists for.
		if err := fi.decode(); err == nil && wantErr != nil && !wantVersion {
			t.Fatalf("%q: decoded, encoding/json says %v", raw, wantErr)
		}
	})
}
