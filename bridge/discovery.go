package bridge

import (
	"context"
	"errors"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// WOPI discovery tells which actions ONLYOFFICE Docs offers for which extensions, where
// its editors live, and which keys sign its WOPI requests. The bridge reads it through
// one wopiclient.DiscoveryCache: fetched on first use, kept for an hour, and served from
// the last good copy while DS is unreachable.

// WOPI actions a session may be opened for, and whether they write.
var wopiActions = map[string]bool{
	"view":      false,
	"embedview": false,
	"edit":      true,
	"editnew":   true,
	"convert":   true, // convert-and-edit saves the converted copy with PutRelativeFile
}

// actionOrder lists wopiActions for messages.
var actionOrder = []string{"view", "embedview", "edit", "editnew", "convert"}

// discoveryDoc is DS's discovery: 503 when no DS is configured, 502 when it cannot be
// had.
func (s *Server) discoveryDoc(ctx context.Context) (*wopiclient.Discovery, error) {
	if s.discovery == nil {
		return nil, userErr(errNoDocs, "no ONLYOFFICE Docs is configured: set WOPIBRIDGE_DOCS_URL to open documents in WOPI mode")
	}
	d, err := s.discovery.Get(ctx)
	switch {
	case errors.Is(err, wopiclient.ErrWOPIDisabled):
		return nil, userErrCause(errDocsUnavailable, err, "ONLYOFFICE Docs answers 404 for its WOPI discovery: WOPI is disabled there; set wopi.enable to true in its local.json (Docker: WOPI_ENABLED=true) and restart it")
	case err != nil:
		return nil, userErrCause(errDocsUnavailable, err, "ONLYOFFICE Docs' WOPI discovery could not be read: check that WOPIBRIDGE_DOCS_URL points at ONLYOFFICE Docs and that the bridge can reach it; the server log has details")
	}
	return d, nil
}

// wopiLaunch is what a host page needs to open a file in DS's WOPI editor.
type wopiLaunch struct {
	file       storage.File
	action     string // the discovery action chosen
	actionURL  string // placeholders filled, origin rewritten to DS's public URL
	favIcon    string // rewritten likewise; may be empty
	docsOrigin string // origin of actionURL: where the editor frame's messages come from
	wopiSrc    string
	token      string
	tokenTTL   int64 // expiry of token, ms since the epoch
	user       launchUser
}

// launchWOPI prepares a WOPI session of u on fileID for the requested action ("" picks
// edit when u may write and DS edits the format, view otherwise). For the bridge's host
// page (page true), "edit" of a format DS only converts becomes "convert", as ONLYOFFICE
// documents for binary formats, and the session's CheckFileInfo asks the editor to send
// close, edit and edit-notification messages to the page; the launch API keeps to what
// was asked, and leaves the editor's own behaviour for pages the bridge does not know.
// Without a Document Server the launch API still hands out the WOPISrc and a token,
// with no action URL, for other WOPI clients. A storage that lets the user only view
// the file makes the session a view session.
func (s *Server) launchWOPI(ctx context.Context, fileID, requested string, u launchUser, page bool) (*wopiLaunch, error) {
	write, ok := wopiActions[requested]
	if requested != "" && !ok {
		return nil, userErr(errBadRequest, "unknown action %q: use %s", requested, strings.Join(actionOrder, ", "))
	}
	f, access, err := s.statAccess(ctx, fileID)
	if err != nil {
		return nil, s.launchStorageError(err, fileID)
	}
	u = viewOnlyByStorage(u, access)
	switch {
	case write && u.storageViewOnly:
		return nil, userErr(errForbidden, "the upstream WOPI host lets this user only view this file (its CheckFileInfo says UserCanWrite false or ReadOnly); use action=view")
	case write && !u.canWrite():
		return nil, userErr(errForbidden, "this launch token allows viewing only; use action=view")
	}
	d, err := s.discoveryDoc(ctx)
	if errors.Is(err, errNoDocs) && !page {
		// No Document Server: the session is for another WOPI client (a bridge in front
		// of this one, say), which needs the WOPISrc and a token but no action URL.
		return s.newWOPILaunch(f, write || requested == "" && u.canWrite(), u, false), nil
	}
	if err != nil {
		return nil, err
	}
	ext := strings.TrimPrefix(strings.ToLower(path.Ext(f.Name)), ".")
	name := requested
	switch {
	case name == "":
		name = "view"
		if _, ok := d.Action("edit", ext); ok && u.canWrite() {
			name = "edit"
		}
	case name == "edit" && page:
		if _, ok := d.Action("edit", ext); !ok {
			if _, ok := d.Action("convert", ext); ok {
				name = "convert"
			}
		}
	}
	a, ok := d.Action(name, ext)
	if !ok {
		return nil, cannotDo(d, name, ext)
	}

	l := s.newWOPILaunch(f, wopiActions[name], u, page)
	l.action = name

	params := map[string]string{}
	if lang := cleanLang(u.Lang); lang != "" {
		params[wopiclient.PlaceholderUILLCC] = lang
		params[wopiclient.PlaceholderDCLLCC] = lang
	}
	if l.actionURL, err = a.URL(l.wopiSrc, params, s.docs.publicURL); err != nil {
		return nil, userErrCause(errDocsUnavailable, err, "ONLYOFFICE Docs' discovery has an unusable URL for %s of .%s files", name, ext)
	}
	if au, err := url.Parse(l.actionURL); err == nil {
		l.docsOrigin = au.Scheme + "://" + au.Host
	}
	if fav := d.FavIconURL(ext); fav != "" {
		if fav, err = wopiclient.RewriteOrigin(fav, s.docs.publicURL); err == nil {
			l.favIcon = fav
		}
	}
	return l, nil
}

// newWOPILaunch is a WOPI session of u on f, before any action is chosen: the WOPISrc
// and an access token (for edit when edit) that expires after the token lifetime, or
// at u.Until if sooner.
func (s *Server) newWOPILaunch(f storage.File, edit bool, u launchUser, page bool) *wopiLaunch {
	mode := modeView
	if edit {
		mode = modeEdit
	}
	exp := s.now().Add(s.ttl).UnixMilli()
	if u.Until > 0 && u.Until < exp {
		exp = u.Until
	}
	t := accessToken{User: u.Sub, Name: u.Name, Mode: mode, File: f.ID, Tree: f.FolderID, Exp: exp, Page: page}
	if u.File != "" || !s.containers() {
		// A launch limited to one file (and every upstream file) reaches that file only:
		// no tree, so no folder, ecosystem or ancestry route accepts the token.
		t.Tree = ""
	}
	return &wopiLaunch{file: f, wopiSrc: s.wopiSrc(f.ID), token: s.tokens.sign(t), tokenTTL: exp, user: u}
}

// cannotDo is the 400 for an action DS does not offer for an extension, saying what it
// offers instead.
func cannotDo(d *wopiclient.Discovery, action, ext string) error {
	var offered []string
	for _, a := range actionOrder {
		if _, ok := d.Action(a, ext); ok {
			offered = append(offered, a)
		}
	}
	switch {
	case ext == "":
		return userErr(errBadRequest, "ONLYOFFICE Docs cannot open a file without an extension: rename it with the extension of its format")
	case len(offered) == 0:
		return userErr(errBadRequest, "ONLYOFFICE Docs cannot open .%s files (its discovery lists no action for them)", ext)
	case action == "edit" && slices.Contains(offered, "convert"):
		return userErr(errBadRequest, "ONLYOFFICE Docs cannot edit .%s files in place: use action=convert to convert to an editable copy and edit that, or action=view", ext)
	}
	return userErr(errBadRequest, "ONLYOFFICE Docs cannot %s .%s files: use action=%s", action, ext, strings.Join(offered, " or action="))
}

// langRE accepts language tags such as en, en-US, pt_BR, zh-Hans-CN.
var langRE = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$`)

// cleanLang is lang when it looks like a language tag, else "".
func cleanLang(lang string) string {
	lang = strings.TrimSpace(lang)
	if !langRE.MatchString(lang) {
		return ""
	}
	return lang
}

// acceptLanguage is the first language of an Accept-Language header, "" if none.
func acceptLanguage(h string) string {
	first, _, _ := strings.Cut(h, ",")
	first, _, _ = strings.Cut(first, ";")
	return cleanLang(first)
}
