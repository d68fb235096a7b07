package wopiclient

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fullCheckFileInfo is a reply with every property set, as a host like the bridge
// writes it.
func fullCheckFileInfo() CheckFileInfo {
	var ci CheckFileInfo
	v := reflect.ValueOf(&ci).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("value of " + v.Type().Field(i).Name + " ünïcode")
		case reflect.Bool:
			f.SetBool(i%2 == 0)
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(1000 + i))
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"ReadOnly", "ReadWrite"}))
		}
	}
	return ci
}

// cfiSeeds are replies decodeCheckFileInfo takes in one pass, and some it leaves to
// encoding/json.
func cfiSeeds(t testing.TB) (fast, slow []string) {
	full, err := json.Marshal(fullCheckFileInfo())
	if err != nil {
		t.Fatal(err)
	}
	fixture := `{
  "BaseFileName": "Quarterly report.docx",
  "Size": 48213,
  "Version": "v17",
  "LastModifiedTime": "2026-01-01T10:00:00.0000000Z",
  "OwnerId": "u-1001",
  "UserFriendlyName": "Ada Lovelace",
  "IsAnonymousUser": false,
  "UserCanWrite": true,
  "FileNameMaxLength": 250,
  "HostEditUrl": "https://bridge.example.net/wopi-host/edit/8c1d2a"
}`
	fast = []string{
		string(full),
		fixture,
		`{}`,
		` { "BaseFileName" : "a.docx" , "Size" : 0 , "Version" : "1" } `,
		`{"basefilename":"lower.docx","SIZE":-0,"userCanWrite":true,"ReadOnly":null}`,
		`{"BaseFileName":"esc\"aped\\\/\u00e9\ud83d\ude00.docx"}`,
		`{"BaseFileName":"a.docx","Extra":{"nested":[1,2.5e3,-0.1,"x",true,false,null,{}]},"List":[]}`,
		`{"SupportedShareUrlTypes":[],"BaseFileName":"a"}`,
		`{"SupportedShareUrlTypes":["ReadOnly"],"SupportedShareUrlTypes":null}`,
		`{"BaseFileName":"first","BaseFileName":"second"}`,
		`{"Size":9223372036854775807,"FileNameMaxLength":-1}`,
	}
	slow = []string{
		``,
		`null`,
		`[]`,
		`{"Version":42}`,
		`{"Size":1.5}`,
		`{"Size":1e3}`,
		`{"Size":"7"}`,
		`{"UserCanWrite":"true"}`,
		`{"BaseFileName":"a"}x`,
		`{"BaseFileName":"a",}`,
		`{"Base\u0046ileName":"escaped name"}`,
		`{"ſize":1}`,
		`{"BaseFileName":"bad \xff utf-8"}`,
		`{"BaseFileName":"tab	inside"}`,
		`{"SupportedShareUrlTypes":[null]}`,
		`{"Size":01}`,
		`{"X":[1,]}`,
		"\xef\xbb\xbf{}",
	}
	return fast, slow
}

func TestDecodeCheckFileInfo(t *testing.T) {
	fast, slow := cfiSeeds(t)
	for _, data := range fast {
		var got, want CheckFileInfo
		if !decodeCheckFileInfo(data, &got) {
			t.Errorf("not decoded in one pass: %s", data)
			continue
		}
		if err := json.Unmarshal([]byte(data), &want); err != nil {
			t.Fatalf("encoding/json refuses %s: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decoded %s\n got %+v\nwant %+v", data, got, want)
		}
	}
	for _, data := range slow {
		var got CheckFileInfo
		if decodeCheckFileInfo(data, &got) {
			t.Errorf("decoded in one pass, want it left to encoding/json: %s", data)
		}
	}
	var full CheckFileInfo
	if data, _ := json.Marshal(fullCheckFileInfo()); !decodeCheckFileInfo(string(data), &full) || !reflect.DeepEqual(full, fullCheckFileInfo()) {
		t.Errorf("round trip of every property = %+v", full)
	}
}

// FuzzDecodeCheckFileInfo holds the one-pass decoder to encoding/json: whatever it
// decodes, json.Unmarshal decodes the same, without error.
func FuzzDecodeCheckFileInfo(f *testing.F) {
	fast, slow := cfiSeeds(f)
	for _, s := range append(fast, slow...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got CheckFileInfo
		if !decodeCheckFileInfo(string(data), &got) {
			return
		}
		var want CheckFileInfo
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("decoded what encoding/json refuses (%v): %q", err, data)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q\n got %+v\nwant %+v", data, got, want)
		}
	})
}

func BenchmarkDecodeCheckFileInfo(b *testing.B) {
	raw, err := json.Marshal(fullCheckFileInfo())
	if err != nil {
		b.Fatal(err)
	}
	data := string(raw)
	b.Run("OnePass", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var ci CheckFileInfo
			if !decodeCheckFileInfo(data, &ci) {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("EncodingJSON", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var ci CheckFileInfo
			if err := json.Unmarshal(raw, &ci); err != nil {
				b.Fatal(err)
			}
		}
	})
}
