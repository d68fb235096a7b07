package docserver

import (
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// cachePrefix is where DS's file storage serves temporary files.
const cachePrefix = "/cache/files/data/"

// resultFile is one file in DS's cache (an assembled document, a changes
// archive or a conversion result).
type resultFile struct {
	key     string
	content []byte
}

// storeResult keeps content under <dir>/<name> and returns the signed URL
// DS hands out for it: <base>/cache/files/data/<dir>/<name>/<filename>
// ?md5=…&expires=… (storage-fs getSignedUrl).
func (s *Server) storeResult(base, key, dir, name, filename string, content []byte) string {
	s.mu.Lock()
	s.results[dir+"/"+name] = &resultFile{key: key, content: append([]byte(nil), content...)}
	s.mu.Unlock()
	uri := cachePrefix + dir + "/" + name + "/" + filename
	expires := strconv.FormatInt(s.now().Add(s.opts.URLExpiry).Unix(), 10)
	return base + cachePrefix + dir + "/" + name + "/" + encodeURIComponent(filename) +
		"?md5=" + encodeURIComponent(s.urlSignature(expires, uri)) + "&expires=" + expires
}

func (s *Server) urlSignature(expires, uri string) string {
	sum := md5.Sum([]byte(expires + uri + s.storageSecret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// handleCache serves result files: 403 for a bad signature, 410 once the URL
// has expired, 404 for an unknown file.
func (s *Server) handleCache(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.NotFound(w, r)
		return
	}
	rel := strings.TrimPrefix(r.URL.Path, cachePrefix)
	parts := strings.Split(rel, "/")
	if len(parts) != 3 {
		http.NotFound(w, r)
		return
	}
	if code := s.faultResultStatus(); code != 0 {
		http.Error(w, http.StatusText(code), code)
		return
	}
	q := r.URL.Query()
	expires := q.Get("expires")
	exp, err := strconv.ParseInt(expires, 10, 64)
	uri, _ := url.PathUnescape(r.URL.EscapedPath())
	if err != nil || q.Get("md5") != s.urlSignature(expires, uri) {
		http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
		return
	}
	if exp < s.now().Unix() || s.faultExpired(exp) {
		http.Error(w, http.StatusText(http.StatusGone), http.StatusGone)
		return
	}
	s.mu.Lock()
	f := s.results[parts[0]+"/"+parts[1]]
	s.mu.Unlock()
	if f == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", mimeType(strings.TrimPrefix(path.Ext(parts[1]), ".")))
	w.Header().Set("Content-Length", strconv.Itoa(len(f.content)))
	w.Write(f.content)
}
