package wopi_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage/wopi"
)

// FuzzFileID: any WOPISrc either is refused or gives an id of the fixed shape, only for
// the allowed origin, unchanged by an access token in its query.
func FuzzFileID(f *testing.F) {
	for _, s := range []string{
		"https://wopi.example.com/wopi/files/1",
		"HTTPS://WOPI.example.com:443/wopi/files/a%2Fb?x=1&access_token=t",
		"https://wopi.example.com.evil.com/wopi/files/1",
		"https://evil.com/@wopi.example.com/",
		"https://wopi.example.com@evil.com/",
		"//wopi.example.com/x",
		"https://[::1]:443/x",
		"https://wopi.example.com:8443/x",
	} {
		f.Add(s)
	}
	origin := &url.URL{Scheme: "https", Host: "wopi.example.com"}
	b, err := wopi.New(wopi.Options{Origins: []*url.URL{origin}, State: nopStore{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src string) {
		id, err := b.FileID(src)
		if err != nil {
			if !errors.Is(err, wopi.ErrOriginNotAllowed) && !errors.Is(err, wopi.ErrInvalidWOPISrc) {
				t.Fatalf("FileID(%q): unclassified error %v", src, err)
			}
			return
		}
		if !idPattern.MatchString(id) {
			t.Fatalf("FileID(%q) = %q", src, id)
		}
		u, perr := url.Parse(strings.TrimSpace(src))
		if perr != nil || !strings.EqualFold(u.Hostname(), "wopi.example.com") || (u.Port() != "" && u.Port() != "443") {
			t.Fatalf("FileID(%q) accepted a WOPISrc off the allowed origin", src)
		}
		withToken := strings.TrimSpace(src)
		if i := strings.IndexByte(withToken, '#'); i >= 0 {
			withToken = withToken[:i]
		}
		sep := "?"
		if strings.Contains(withToken, "?") {
			sep = "&"
		}
		if again, err := b.FileID(withToken + sep + "access_token=secret"); err != nil || again != id {
			t.Fatalf("an access token changed the id of %q: %q, %v", src, again, err)
		}
	})
}

// nopStore stands in for the state store, which FileID never reads.
type nopStore struct{ state.Store }
