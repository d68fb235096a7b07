package bridge

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/config"
)

func TestIPFilter(t *testing.T) {
	filter, err := config.ParseIPFilter("10.0.0.5=deny,10.0.*=allow,2001:db8::/32=allow,*=deny")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.IPFilter = filter })
	wopiPath := e.filePath(e.file.ID) + "?access_token=" + url.QueryEscape(e.token)
	tests := []struct {
		name   string
		remote string
		path   string
		hdr    []string
		want   int
	}{
		{"allowed by a wildcard", "10.0.1.2:5000", wopiPath, nil, http.StatusOK},
		{"first match wins over a later allow", "10.0.0.5:5000", wopiPath, nil, http.StatusForbidden},
		{"IPv4-mapped IPv6 peer", "[::ffff:10.0.1.2]:5000", wopiPath, nil, http.StatusOK},
		{"allowed by a prefix", "[2001:db8::7]:5000", wopiPath, nil, http.StatusOK},
		{"matched by no allow", "192.0.2.1:5000", wopiPath, nil, http.StatusForbidden},
		{"X-Forwarded-For is not trusted", "192.0.2.1:5000", wopiPath, []string{"X-Forwarded-For", "10.0.1.2"}, http.StatusForbidden},
		{"DS-facing routes", "192.0.2.1:5000", "/docs/callback?file=x&sig=y", nil, http.StatusForbidden},
		{"FileUrl", "192.0.2.1:5000", "/wopi/fileurl/" + e.file.ID + "?exp=1&sig=x", nil, http.StatusForbidden},
		{"launch API is not filtered", "192.0.2.1:5000", "/api/v1/files", nil, http.StatusOK},
		{"health is not filtered", "192.0.2.1:5000", "/healthz", nil, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodGet
			if strings.HasPrefix(tc.path, "/docs/callback") {
				method = http.MethodPost
			}
			r := httptestRequest(method, tc.path, "", 0)
			r.RemoteAddr = tc.remote
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				r.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
			w := e.serve(r)
			wantStatus(t, w, tc.want)
			if tc.want == http.StatusForbidden && !strings.Contains(w.Body.String(), "WOPIBRIDGE_IPFILTER") {
				t.Errorf("body = %q", w.Body.String())
			}
		})
	}
}

func TestIPFilterEmptyAllowsAll(t *testing.T) {
	e := newEnv(t)
	r := httptestRequest(http.MethodGet, e.filePath(e.file.ID)+"?access_token="+url.QueryEscape(e.token), "", 0)
	r.RemoteAddr = "198.51.100.9:1"
	wantStatus(t, e.serve(r), http.StatusOK)
}
