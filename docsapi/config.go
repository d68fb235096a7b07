package docsapi

import (
	"errors"
	"time"
)

// Config is the editor config object given to DocsAPI.DocEditor, with the
// field names DS reads. Token, when set, is a JWT over all other fields.
type Config struct {
	Document     Document     `json:"document"`
	DocumentType string       `json:"documentType"`
	EditorConfig EditorConfig `json:"editorConfig"`
	Type         string       `json:"type,omitempty"` // "desktop" (DS default), "mobile", "embedded"
	Width        string       `json:"width,omitempty"`
	Height       string       `json:"height,omitempty"`
	Token        string       `json:"token,omitempty"`
}

// Document is config.document.
type Document struct {
	FileType      string         `json:"fileType"`
	Key           string         `json:"key"`
	Title         string         `json:"title"`
	URL           string         `json:"url"`
	ReferenceData *ReferenceData `json:"referenceData,omitempty"`
	Info          *Info          `json:"info,omitempty"`
	// Permissions is always sent: DS treats missing rights as granted, so
	// a zero Permissions (view, no download, no print, no copy) fails safe.
	Permissions Permissions `json:"permissions"`
}

// ReferenceData is a stable file identity that, unlike Key, does not change
// when the file is saved.
type ReferenceData struct {
	FileKey    string `json:"fileKey"`
	InstanceID string `json:"instanceId"`
}

// Info is config.document.info, shown in the editor's file info panel.
type Info struct {
	Owner    string `json:"owner,omitempty"`
	Uploaded string `json:"uploaded,omitempty"`
	Folder   string `json:"folder,omitempty"`
	Favorite *bool  `json:"favorite,omitempty"`
}

// Permissions is config.document.permissions. The rights DS defaults to true
// (or derives from edit) are plain bools, always sent, so false reaches DS.
// The rest are pointers: nil leaves DS's default.
type Permissions struct {
	Edit      bool `json:"edit"`
	Review    bool `json:"review"`
	Comment   bool `json:"comment"`
	Download  bool `json:"download"`
	Print     bool `json:"print"`
	Copy      bool `json:"copy"`
	FillForms bool `json:"fillForms"`

	Chat                    *bool          `json:"chat,omitempty"`
	ModifyContentControl    *bool          `json:"modifyContentControl,omitempty"`
	ModifyFilter            *bool          `json:"modifyFilter,omitempty"`
	Protect                 *bool          `json:"protect,omitempty"`
	DeleteCommentAuthorOnly *bool          `json:"deleteCommentAuthorOnly,omitempty"`
	EditCommentAuthorOnly   *bool          `json:"editCommentAuthorOnly,omitempty"`
	CommentGroups           *CommentGroups `json:"commentGroups,omitempty"`
	ReviewGroups            []string       `json:"reviewGroups,omitempty"`
	UserInfoGroups          []string       `json:"userInfoGroups,omitempty"`
}

// CommentGroups restricts comment rights to user groups.
type CommentGroups struct {
	Edit   []string `json:"edit,omitempty"`
	Remove []string `json:"remove,omitempty"`
	View   []string `json:"view,omitempty"`
}

// Editor modes (EditorConfig.Mode).
const (
	ModeEdit = "edit"
	ModeView = "view"
)

// EditorConfig is config.editorConfig.
type EditorConfig struct {
	// CallbackURL is required for editing; every user's config must carry
	// one that works for the whole document, since DS may use any of them.
	CallbackURL   string         `json:"callbackUrl,omitempty"`
	Mode          string         `json:"mode,omitempty"` // ModeEdit (DS default) or ModeView
	Lang          string         `json:"lang,omitempty"`
	Region        string         `json:"region,omitempty"`
	User          User           `json:"user"`
	Customization *Customization `json:"customization,omitempty"`
	CoEditing     *CoEditing     `json:"coEditing,omitempty"`
	CreateURL     string         `json:"createUrl,omitempty"`
}

// User is config.editorConfig.user. DS shows Group + U+00A0 + Name.
type User struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Group string `json:"group,omitempty"`
	Image string `json:"image,omitempty"`
}

// Customization is config.editorConfig.customization (the subset used).
type Customization struct {
	// Forcesave makes the Save button send a status 6 callback
	// (forcesavetype 1) while the session goes on.
	Forcesave bool      `json:"forcesave,omitempty"`
	Autosave  *bool     `json:"autosave,omitempty"`
	Goback    *Goback   `json:"goback,omitempty"`
	Customer  *Customer `json:"customer,omitempty"`
	UITheme   string    `json:"uiTheme,omitempty"`
}

// Goback is the "Open file location" link.
type Goback struct {
	URL   string `json:"url,omitempty"`
	Text  string `json:"text,omitempty"`
	Blank *bool  `json:"blank,omitempty"`
}

// Customer is shown in the editor's About panel.
type Customer struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address,omitempty"`
	Info    string `json:"info,omitempty"`
	Logo    string `json:"logo,omitempty"`
	Mail    string `json:"mail,omitempty"`
	Phone   string `json:"phone,omitempty"`
	WWW     string `json:"www,omitempty"`
}

// CoEditing is config.editorConfig.coEditing.
type CoEditing struct {
	Mode   string `json:"mode,omitempty"` // "fast" or "strict"
	Change bool   `json:"change"`
}

// Sign sets c.Token to an HS256 JWT whose payload is the config itself,
// its fields at the top level, without token. DS verifies it with its
// inbox secret and uses the token's values over the page's.
func (c *Config) Sign(secret []byte) error {
	if c.Document.Key == "" || c.Document.URL == "" {
		return errors.New("docsapi: sign config: document.key and document.url are required")
	}
	unsigned := *c
	unsigned.Token = ""
	tok, err := Sign(&unsigned, secret)
	if err != nil {
		return err
	}
	c.Token = tok
	return nil
}

// SignUntil is Sign with iat = now and exp = until in the token, so that a config a
// browser saw stops being a valid token of the DS secret when the session it opens
// ends.
func (c *Config) SignUntil(secret []byte, now, until time.Time) error {
	if c.Document.Key == "" || c.Document.URL == "" {
		return errors.New("docsapi: sign config: document.key and document.url are required")
	}
	unsigned := *c
	unsigned.Token = ""
	tok, err := SignTimed(&unsigned, secret, now, until.Sub(now))
	if err != nil {
		return err
	}
	c.Token = tok
	return nil
}
