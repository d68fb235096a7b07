package docserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"regexp"
	"strings"
)

var keyRE = regexp.MustCompile(`^[0-9\-.a-zA-Z_=]{1,240}$`)

// formatCodes are DS's numeric output formats, used in conversion job ids.
var formatCodes = map[string]int{
	"docx": 65, "doc": 66, "odt": 67, "rtf": 68, "txt": 69, "html": 70, "epub": 72, "docm": 75, "dotx": 76,
	"pptx": 129, "ppt": 130, "odp": 131, "ppsx": 132, "pptm": 133,
	"xlsx": 257, "xls": 258, "ods": 259, "csv": 260, "xlsm": 261,
	"pdf": 513, "pdfa": 521, "jpg": 1027, "png": 1029,
}

// conversion is one ConvertService job (conv_<key>_<format>); the same key
// and output reuse it.
type conversion struct {
	done     chan struct{}
	fileURL  string
	fileType string
	errCode  int
}

type convertReply struct {
	FileURL    string `json:"fileUrl,omitempty"`
	FileType   string `json:"fileType,omitempty"`
	Percent    int    `json:"percent"`
	EndConvert bool   `json:"endConvert"`
}

// handleConverter is POST /converter: DS downloads url (with the JWT
// header {payload:{url}} when JWT is on) and answers with a result on its
// own origin. There is no real converter: the result holds the downloaded
// bytes unchanged.
func (s *Server) handleConverter(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jsonCompact(v))
	}
	params, err := s.requestParams(body, r.Header.Get)
	if err != nil {
		reply(map[string]int{"error": convertErrToken})
		return
	}
	src := getStr(params, "url")
	key := getStr(params, "key")
	out := strings.ToLower(getStr(params, "outputtype"))
	title := getStr(params, "title")
	async, _ := params["async"].(bool)
	if !keyRE.MatchString(key) || src == "" || out == "" {
		reply(map[string]int{"error": convertErrInput})
		return
	}
	id := fmt.Sprintf("conv_%s_%d", key, formatCodes[out])
	s.mu.Lock()
	conv := s.conversions[id]
	start := conv == nil
	if start {
		conv = &conversion{done: make(chan struct{})}
		s.conversions[id] = conv
	}
	s.mu.Unlock()
	base := baseURL(r)
	run := func(ctx context.Context) {
		content, err := s.fetch(ctx, func(attempt int) outbound {
			return s.downloadRequest(OpConvertDownload, key, src, s.jwtOn(), attempt)
		})
		switch {
		case errors.Is(err, ErrTooLarge):
			conv.errCode = convertErrLimits
		case err != nil:
			conv.errCode = convertErrDown
		default:
			name := "output." + out
			if title != "" {
				name = strings.TrimSuffix(path.Base(title), path.Ext(title)) + "." + out
			}
			conv.fileURL = s.storeResult(base, key, id, "output."+out, name, content)
			conv.fileType = out
		}
		close(conv.done)
	}
	if start {
		if async {
			s.spawn(func() { run(s.ctx) })
		} else {
			run(r.Context())
		}
	}
	if async {
		select {
		case <-conv.done:
		default:
			reply(convertReply{Percent: 0, EndConvert: false})
			return
		}
	}
	select {
	case <-conv.done:
	case <-r.Context().Done():
		return
	}
	if conv.errCode != 0 {
		s.mu.Lock()
		if s.conversions[id] == conv {
			delete(s.conversions, id)
		}
		s.mu.Unlock()
		reply(map[string]int{"error": conv.errCode})
		return
	}
	reply(convertReply{FileURL: conv.fileURL, FileType: conv.fileType, Percent: 100, EndConvert: true})
}
