package wopiclient

import (
	"strings"
	"time"
)

// CheckFileInfo is the reply to GET /wopi/files/{id}: the properties ONLYOFFICE Docs reads
// and the ones Microsoft's WOPI validator checks. Optional properties are omitted when
// empty, as WOPI asks (no nulls); the capabilities and permissions a client acts on are
// always sent so that a reader of the reply sees them stated.
type CheckFileInfo struct {
	// Required.
	BaseFileName string `json:"BaseFileName"`
	OwnerID      string `json:"OwnerId"`
	Size         int64  `json:"Size"` // SizeUnknown in a reply that leaves it out
	UserID       string `json:"UserId"`
	Version      string `json:"Version"`

	// File properties.
	FileExtension     string `json:"FileExtension,omitempty"`    // with the leading "."
	LastModifiedTime  string `json:"LastModifiedTime,omitempty"` // ISO 8601, UTC
	FileNameMaxLength int    `json:"FileNameMaxLength,omitempty"`
	SHA256            string `json:"SHA256,omitempty"`
	UniqueContentID   string `json:"UniqueContentId,omitempty"`

	// User metadata.
	UserFriendlyName  string `json:"UserFriendlyName,omitempty"`
	UserPrincipalName string `json:"UserPrincipalName,omitempty"`
	IsAnonymousUser   bool   `json:"IsAnonymousUser"`
	IsEduUser         bool   `json:"IsEduUser"` // always sent: validators compare it with the folder's
	UserInfo          string `json:"UserInfo,omitempty"`

	// User permissions.
	ReadOnly                bool `json:"ReadOnly"`
	UserCanWrite            bool `json:"UserCanWrite"`
	UserCanRename           bool `json:"UserCanRename"`
	UserCanNotWriteRelative bool `json:"UserCanNotWriteRelative"`
	UserCanReview           bool `json:"UserCanReview,omitempty"`
	UserCanOnlyComment      bool `json:"UserCanOnlyComment,omitempty"`
	UserCanAttend           bool `json:"UserCanAttend,omitempty"`
	UserCanPresent          bool `json:"UserCanPresent,omitempty"`

	// Host capabilities.
	SupportsLocks                bool     `json:"SupportsLocks"`
	SupportsGetLock              bool     `json:"SupportsGetLock"`
	SupportsExtendedLockLength   bool     `json:"SupportsExtendedLockLength"`
	SupportsUpdate               bool     `json:"SupportsUpdate"`
	SupportsRename               bool     `json:"SupportsRename"`
	SupportsDeleteFile           bool     `json:"SupportsDeleteFile"`
	SupportsUserInfo             bool     `json:"SupportsUserInfo"`
	SupportsContainers           bool     `json:"SupportsContainers"`
	SupportsEcosystem            bool     `json:"SupportsEcosystem"`
	SupportsFolders              bool     `json:"SupportsFolders,omitempty"`
	SupportsFileCreation         bool     `json:"SupportsFileCreation,omitempty"`
	SupportsReviewing            bool     `json:"SupportsReviewing,omitempty"`
	SupportsAddActivities        bool     `json:"SupportsAddActivities,omitempty"`
	SupportedShareURLTypes       []string `json:"SupportedShareUrlTypes,omitempty"`
	LicenseCheckForEditIsEnabled bool     `json:"LicenseCheckForEditIsEnabled"` // always sent, as IsEduUser

	// File URLs.
	FileURL             string `json:"FileUrl,omitempty"` // direct download, no access token
	TemplateSource      string `json:"TemplateSource,omitempty"`
	DownloadURL         string `json:"DownloadUrl,omitempty"`
	HostEditURL         string `json:"HostEditUrl,omitempty"`
	HostViewURL         string `json:"HostViewUrl,omitempty"`
	HostEmbeddedViewURL string `json:"HostEmbeddedViewUrl,omitempty"`
	HostEmbeddedEditURL string `json:"HostEmbeddedEditUrl,omitempty"`
	CloseURL            string `json:"CloseUrl,omitempty"`
	FileSharingURL      string `json:"FileSharingUrl,omitempty"`
	FileVersionURL      string `json:"FileVersionUrl,omitempty"`
	SignInURL           string `json:"SignInUrl,omitempty"`
	SignoutURL          string `json:"SignoutUrl,omitempty"`

	// Breadcrumbs.
	BreadcrumbBrandName  string `json:"BreadcrumbBrandName,omitempty"`
	BreadcrumbBrandURL   string `json:"BreadcrumbBrandUrl,omitempty"`
	BreadcrumbDocName    string `json:"BreadcrumbDocName,omitempty"`
	BreadcrumbDocURL     string `json:"BreadcrumbDocUrl,omitempty"`
	BreadcrumbFolderName string `json:"BreadcrumbFolderName,omitempty"`
	BreadcrumbFolderURL  string `json:"BreadcrumbFolderUrl,omitempty"`

	// PostMessage.
	PostMessageOrigin           string `json:"PostMessageOrigin,omitempty"`
	ClosePostMessage            bool   `json:"ClosePostMessage,omitempty"`
	EditModePostMessage         bool   `json:"EditModePostMessage,omitempty"`
	EditNotificationPostMessage bool   `json:"EditNotificationPostMessage,omitempty"`
	FileSharingPostMessage      bool   `json:"FileSharingPostMessage,omitempty"`
	FileVersionPostMessage      bool   `json:"FileVersionPostMessage,omitempty"`

	// Restrictions ONLYOFFICE honours.
	CopyPasteRestrictions   string `json:"CopyPasteRestrictions,omitempty"` // BlockAll, CurrentDocumentOnly
	DisablePrint            bool   `json:"DisablePrint,omitempty"`
	HidePrintOption         bool   `json:"HidePrintOption,omitempty"`
	EnableInsertRemoteImage bool   `json:"EnableInsertRemoteImage,omitempty"`
}

// SizeUnknown is the Size of a CheckFileInfo reply that does not state one.
const SizeUnknown = -1

// ParseTime reads a LastModifiedTime as hosts write it: ISO 8601 with or without
// fractions, with a zone or in UTC when none is given (as .NET hosts write it), with a
// "T" or a space between date and time (cs3org/wopiserver writes
// "2026-12-02 05:45:11.000"). It reports false for anything else, empty included.
func ParseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// TimeFormat is the layout of LastModifiedTime: ISO 8601 in UTC with seven fractional
// digits, as .NET writes it and as ONLYOFFICE copies it into view-mode document keys.
const TimeFormat = "2006-01-02T15:04:05.0000000Z"
