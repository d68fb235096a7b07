package docsapi

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

func TestConvert(t *testing.T) {
	ds, srv := newFakeDS(t, testSecret)
	c := commandClient(t, srv, testSecret, "Authorization")
	ctx := context.Background()

	var fixture ConvertRequest
	if err := json.Unmarshal(readTestdata(t, "convert-request.json"), &fixture); err != nil {
		t.Fatal(err)
	}
	// The request's JSON names are the fixture's.
	if !sameJSON(t, mustJSON(t, fixture), readTestdata(t, "convert-request.json")) {
		t.Errorf("ConvertRequest JSON = %s", mustJSON(t, fixture))
	}

	t.Run("done", func(t *testing.T) {
		got, err := c.Convert(ctx, fixture)
		if err != nil {
			t.Fatal(err)
		}
		want := ConvertResponse{
			FileURL:    "https://docs.example.net/cache/files/data/conv_conv-8c1d2a-17_65/output.docx/Legacy.docx?md5=Q29udg&expires=1767226500",
			FileType:   "docx",
			Percent:    100,
			EndConvert: true,
		}
		if *got != want {
			t.Errorf("reply = %+v, want %+v", *got, want)
		}
		req := ds.lastRequest()
		if req.path != "/ds/converter" || req.header.Get("Accept") != "application/json" {
			t.Errorf("request %s Accept %q", req.path, req.header.Get("Accept"))
		}
		claims := req.bodyClaims
		delete(claims, "iat")
		delete(claims, "exp")
		if !sameJSON(t, mustJSON(t, claims), readTestdata(t, "convert-request.json")) {
			t.Errorf("signed request = %s", mustJSON(t, claims))
		}
	})

	t.Run("async in progress", func(t *testing.T) {
		req := fixture
		req.Key, req.Async = "conv-async", true
		got, err := c.Convert(ctx, req)
		if err != nil || got.EndConvert || got.Percent != 0 {
			t.Errorf("Convert = %+v, %v", got, err)
		}
	})

	t.Run("error", func(t *testing.T) {
		req := fixture
		req.Key = "conv-missing"
		got, err := c.Convert(ctx, req)
		var ce *ConvertError
		if !errors.As(err, &ce) || ce.Code != ConvertDownload || got == nil || got.Error != ConvertDownload {
			t.Fatalf("Convert = %+v, %v; want download error", got, err)
		}
		if ce.Error() != "docsapi: DS conversion of key conv-missing: error -4 (DS could not download the source (check that DS reaches this host's public URL))" {
			t.Errorf("message %q", ce.Error())
		}
	})

	t.Run("token refused", func(t *testing.T) {
		bad := commandClient(t, srv, otherSecret, "")
		_, err := bad.Convert(ctx, fixture)
		var ce *ConvertError
		if !errors.As(err, &ce) || ce.Code != ConvertToken {
			t.Fatalf("err = %v, want token error", err)
		}
	})

	t.Run("invalid key not sent", func(t *testing.T) {
		before := ds.lastRequest().path
		req := fixture
		req.Key = "bad key/with slash"
		if _, err := c.Convert(ctx, req); err == nil {
			t.Fatal("no error")
		}
		if ds.lastRequest().path != before {
			t.Error("request sent")
		}
	})
}
