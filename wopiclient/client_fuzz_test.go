package wopiclient_test

import (
	"net/url"
	"testing"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// FuzzSplitAccessToken: the WOPISrc part never keeps the access token.
func FuzzSplitAccessToken(f *testing.F) {
	f.Add("https://host/wopi/files/1?access_token=abc&access_token_ttl=5")
	f.Add("http://h:1/wopi/files/a%2Fb?x=1&ACCESS_TOKEN=y&access_token=z#f")
	f.Add("https://host/?access_token=a&access_token=b")
	f.Fuzz(func(t *testing.T, raw string) {
		src, _, _, err := wopiclient.SplitAccessToken(raw)
		if err != nil {
			return
		}
		u, err := url.Parse(src)
		if err != nil {
			t.Fatalf("SplitAccessToken(%q) gave an unparsable WOPISrc %q", raw, src)
		}
		if u.Query().Has(wopiclient.ParamAccessToken) {
			t.Fatalf("SplitAccessToken(%q) left an access token in %q", raw, src)
		}
	})
}
