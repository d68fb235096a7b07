package wopiclient

// CheckFileInfo is the reply to GET /wopi/files/{id}: the properties ONLYOFFICE Docs reads
// and the ones Microsoft's WOPI validator checks. Optional properties are omitted when
// empty, as WOPI asks (no nulls); the capabilities and permissions a client acts on are
// always sent so that a reader of the reply sees them stated.
type CheckFileInfo struct {
	// Required.
	BaseFileName string `json:"BaseFileName"`
	OwnerID      string `json:"OwnerId"`
	Size         int64  `json:"Size"`
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

// TimeFormat is the layout of LastModifiedTime: ISO 8601 in UTC with seven fractional
// digits, as .NET writes it and as ONLYOFFICE copies it into view-mode document keys.
const TimeFormat = "2006-01-02T15:04:05.0000000Z"
