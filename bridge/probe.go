package bridge

import (
	"net/http"
	"strings"
	"time"
)

// ProbePath is where the bridge serves the probe file: the small text file that
// "wopibridge check" asks ONLYOFFICE Docs to download (through a conversion request)
// from the bridge's public URL, to prove DS can reach the bridge.
const ProbePath = "/docs/probe.txt"

// ProbeContent is the probe file's fixed content. It holds nothing secret: anyone may
// fetch it, and it tells them only that a wopibridge answers there.
const ProbeContent = "wopibridge probe: ONLYOFFICE Docs reached the bridge's public URL.\n"

// ProbeHandler serves ProbeContent to GET and HEAD as text/plain, without
// authentication (DS downloads it with no access token, and with a JWT only when its
// own JWT is on). Range requests are honoured as for any download; other methods get
// 405.
func ProbeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "probe.txt", time.Time{}, strings.NewReader(ProbeContent))
	})
}
