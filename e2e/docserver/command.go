package docserver

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
)

// Command service error codes.
const (
	cmdNoError       = 0
	cmdDocumentID    = 1
	cmdParse         = 2
	cmdNotModified   = 4
	cmdUnknown       = 5
	cmdToken         = 6
	cmdTokenExpire   = 7
	convertErrInput  = -7
	convertErrToken  = -8
	convertErrDown   = -4
	convertErrLimits = -10
)

// commandReply is DS's output object: key, error, version, users, then
// the command's own fields.
type commandReply struct {
	Key     any       `json:"key,omitempty"`
	Error   int       `json:"error"`
	Version string    `json:"version,omitempty"`
	Users   *[]string `json:"users,omitempty"`
	License any       `json:"license,omitempty"`
	Server  any       `json:"server,omitempty"`
	Quota   any       `json:"quota,omitempty"`
	URL     string    `json:"url,omitempty"`
	Keys    *[]string `json:"keys,omitempty"`
}

// handleCommand is POST /command (and the legacy CommandService.ashx).
func (s *Server) handleCommand(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && !(r.Method == http.MethodGet && r.URL.Path != "/command") {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if r.Method == http.MethodGet {
		q := map[string]any{}
		for k, v := range r.URL.Query() {
			q[k] = v[0]
		}
		body = jsonCompact(q)
	}
	params, err := s.requestParams(body, r.Header.Get)
	out := commandReply{Key: params["key"]}
	_, keyIsString := params["key"].(string)
	c, _ := params["c"].(string)
	switch {
	case errors.Is(err, errTokenExpired):
		out.Error = cmdTokenExpire
	case err != nil:
		out.Error = cmdToken
	case c == "version" || c == "license" || c == "getForgottenList" || keyIsString:
		s.command(r, c, params, &out)
	default:
		out.Error = cmdDocumentID
	}
	b := jsonCompact(out)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (s *Server) command(r *http.Request, c string, params map[string]any, out *commandReply) {
	key, _ := params["key"].(string)
	s.mu.Lock()
	d := s.docs[key]
	s.mu.Unlock()
	switch c {
	case "version":
		out.Version = s.opts.Version
	case "info":
		if d == nil {
			out.Error = cmdDocumentID
			return
		}
		users, ok := s.commandInfo(d, getStr(params, "callback"), params["userdata"])
		if !ok {
			out.Error = cmdParse
			return
		}
		out.Users = &users
	case "drop":
		s.commandDrop(d, params["users"])
	case "forcesave":
		if d == nil {
			out.Error = cmdDocumentID
			return
		}
		if err := s.startForcesave(d, ForceSaveCommand, nil, params["userdata"]); err != nil {
			out.Error = cmdNotModified
		}
	case "meta":
		if params["meta"] == nil {
			out.Error = cmdUnknown
		}
	case "saved":
	case "getForgotten":
		s.mu.Lock()
		var content []byte
		var ft string
		if d != nil {
			content, ft = d.forgotten, d.fileType
		}
		s.mu.Unlock()
		if content == nil {
			out.Error = cmdDocumentID
			return
		}
		name := "output." + ft
		out.URL = s.storeResult(baseURL(r), key, key+"_forgotten", name, name, content)
	case "deleteForgotten":
		s.mu.Lock()
		defer s.mu.Unlock()
		if d == nil || d.forgotten == nil {
			out.Error = cmdDocumentID
			return
		}
		d.forgotten, d.fromForgotten = nil, false
	case "getForgottenList":
		keys := []string{}
		s.mu.Lock()
		for k, d := range s.docs {
			if d.forgotten != nil {
				keys = append(keys, k)
			}
		}
		s.mu.Unlock()
		sort.Strings(keys)
		out.Keys = &keys
	case "license":
		out.License = map[string]any{"end_date": nil, "timelimited": false, "trial": false, "developer": false,
			"branding": false, "customization": false, "advanced_api": false, "connections": 20, "connections_view": 20,
			"users_count": 0, "users_view_count": 0, "users_expire": 1, "customer_id": "", "alias": "", "multitenancy": false}
		out.Server = map[string]any{"workersCount": 1, "resultType": 3, "packageType": 0, "buildVersion": s.productVersion()}
		out.Quota = map[string]any{"users": []any{}, "users_view": []any{}}
	default:
		out.Error = cmdUnknown
	}
}

// commandInfo is bindEvents: status 1 (editors or unsaved changes) or 4 to
// the given callback URL, else the stored one; nothing for a WOPI key
// without a callback parameter. It returns the users for the reply.
func (s *Server) commandInfo(d *document, callback string, userdata any) ([]string, bool) {
	s.mu.Lock()
	target := callback
	if target == "" {
		if d.wopi != nil {
			s.mu.Unlock()
			return []string{}, true
		}
		target = d.callbackFor(0)
	}
	if target == "" {
		s.mu.Unlock()
		return nil, false
	}
	body := callbackBody{Key: d.key, Status: StatusClosed, UserData: userdata}
	users := d.editorIDs()
	if len(users) > 0 || d.changed {
		body.Status = StatusEditing
		body.Users = &users
	}
	s.mu.Unlock()
	s.sendCallback(s.ctx, target, body, 1)
	if body.Users == nil {
		return []string{}, true
	}
	return users, true
}

// commandDrop disconnects the given users (all when none are given).
func (s *Server) commandDrop(d *document, users any) {
	if d == nil {
		return
	}
	var ids []string
	switch v := users.(type) {
	case string:
		json.Unmarshal([]byte(v), &ids)
	case []any:
		for _, u := range v {
			if id, ok := u.(string); ok {
				ids = append(ids, id)
			}
		}
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	s.mu.Lock()
	var drop []*conn
	for _, c := range d.conns {
		if len(want) == 0 || want[c.userID] {
			drop = append(drop, c)
		}
	}
	s.mu.Unlock()
	for _, c := range drop {
		s.log.add(Event{Time: s.now(), Type: Dropped, Key: d.key, Detail: c.userID})
		s.leave(c, false)
	}
}
