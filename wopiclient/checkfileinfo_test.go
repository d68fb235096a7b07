package wopiclient

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
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
