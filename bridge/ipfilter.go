package bridge

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// WOPIBRIDGE_IPFILTER guards what WOPI clients and ONLYOFFICE Docs call: /wopi/... and
// /docs/.... Pages and the launch API are for browsers and the integrator, and have
// their own credentials. The address checked is the TCP peer's: X-Forwarded-For is
// never trusted, since any client can write it. Behind a reverse proxy the peer is the
// proxy, so filter there, or allow the proxy's address here.

// ipFiltered reports whether a path is subject to the IP filter.
func ipFiltered(path string) bool {
	return strings.HasPrefix(path, "/wopi/") || strings.HasPrefix(path, "/docs/")
}

// filterIPs refuses WOPI and DS-facing requests from addresses the filter denies.
func (s *Server) filterIPs(next http.Handler) http.Handler {
	if len(s.ipFilter) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ipFiltered(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		addr, ok := peerAddr(r)
		switch {
		case !ok:
			s.fail(w, r, userErr(errForbidden, "the client address %q cannot be read, and WOPIBRIDGE_IPFILTER is set", r.RemoteAddr))
		case !s.ipFilter.Allow(addr):
			s.fail(w, r, userErr(errForbidden, "requests from %s are refused by WOPIBRIDGE_IPFILTER: if this is your ONLYOFFICE Docs or WOPI client, add a rule such as %s=allow before the rule that denies it", addr, addr))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// peerAddr is the address of the TCP peer.
func peerAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
