package e2e

import (
	"net/url"
	"path/filepath"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage/wopi"
)

func TestTmpRename(t *testing.T) {
	a := startUpstream(t)
	owner := launchToken(t, "o", jwt.MapClaims{})
	f := a.upload(owner, "a.docx", []byte("A"))
	a.upload(owner, "b.docx", []byte("B"))
	s := a.session("suite", f.ID, "edit")
	st, _ := state.OpenBolt(filepath.Join(t.TempDir(), "s.db"))
	defer st.Close()
	o, _ := url.Parse(a.URL)
	b, _ := wopi.New(wopi.Options{Origins: []*url.URL{o}, State: st})
	r, err := b.Register(t.Context(), s.WopiSrc, s.AccessToken, s.AccessTokenTTL, "suite")
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Rename(t.Context(), r.ID, "", "b.docx")
	t.Logf("rename onto taken: %+v %v", got, err)
}
