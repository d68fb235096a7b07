package wopiclient

// WOPI request and response header names, spelled as the WOPI documentation spells them.
// HTTP header names are case-insensitive; the spelling matters only for readable replies.
const (
	// Standard request headers.
	HeaderOverride       = "X-WOPI-Override"
	HeaderProof          = "X-WOPI-Proof"
	HeaderProofOld       = "X-WOPI-ProofOld"
	HeaderTimeStamp      = "X-WOPI-TimeStamp"
	HeaderClientVersion  = "X-WOPI-ClientVersion"
	HeaderCorrelationID  = "X-WOPI-CorrelationId"
	HeaderSessionID      = "X-WOPI-SessionId"
	HeaderSessionContext = "X-WOPI-SessionContext"
	HeaderRequestID      = "X-Request-ID"

	// Locks.
	HeaderLock              = "X-WOPI-Lock"
	HeaderOldLock           = "X-WOPI-OldLock"
	HeaderLockFailureReason = "X-WOPI-LockFailureReason"
	HeaderLockUserVisible   = "X-WOPI-LockUserVisible"

	// Contents.
	HeaderItemVersion     = "X-WOPI-ItemVersion"
	HeaderMaxExpectedSize = "X-WOPI-MaxExpectedSize"
	HeaderEditors         = "X-WOPI-Editors"
	HeaderSize            = "X-WOPI-Size"

	// PutRelativeFile, CreateChildFile and CreateChildContainer.
	HeaderSuggestedTarget         = "X-WOPI-SuggestedTarget"
	HeaderRelativeTarget          = "X-WOPI-RelativeTarget"
	HeaderOverwriteRelativeTarget = "X-WOPI-OverwriteRelativeTarget"
	HeaderValidRelativeTarget     = "X-WOPI-ValidRelativeTarget"
	HeaderFileConversion          = "X-WOPI-FileConversion"

	// RenameFile and RenameContainer.
	HeaderRequestedName             = "X-WOPI-RequestedName"
	HeaderInvalidFileNameError      = "X-WOPI-InvalidFileNameError"
	HeaderInvalidContainerNameError = "X-WOPI-InvalidContainerNameError"

	// Containers and sharing.
	HeaderFileExtensionFilterList = "X-WOPI-FileExtensionFilterList"
	HeaderURLType                 = "X-WOPI-UrlType"
	HeaderWopiSrc                 = "X-WOPI-WopiSrc"

	// Errors a host reports.
	HeaderServerError   = "X-WOPI-ServerError"
	HeaderHostErrorCode = "X-WOPI-HostErrorCode"

	// Co-authoring (WOPI coauth); named for completeness of the vocabulary.
	HeaderCoauthLockID                = "X-WOPI-CoauthLockId"
	HeaderCoauthLockType              = "X-WOPI-CoauthLockType"
	HeaderCoauthLockMetadata          = "X-WOPI-CoauthLockMetadata"
	HeaderCoauthLockExpirationTimeout = "X-WOPI-CoauthLockExpirationTimeout"
	HeaderCoauthTableVersion          = "X-WOPI-CoauthTableVersion"

	// Flags ONLYOFFICE (following Collabora) sends with a save.
	HeaderLOOLIsModifiedByUser = "X-LOOL-WOPI-IsModifiedByUser"
	HeaderLOOLIsAutosave       = "X-LOOL-WOPI-IsAutosave"
	HeaderLOOLIsExitSave       = "X-LOOL-WOPI-IsExitSave"
	HeaderLOOLTimestamp        = "X-LOOL-WOPI-Timestamp"
)

// Query parameters of WOPI URLs.
const (
	ParamAccessToken    = "access_token"
	ParamAccessTokenTTL = "access_token_ttl"
)

// Share URL types (GetShareUrl, SupportedShareUrlTypes).
const (
	ShareURLReadOnly  = "ReadOnly"
	ShareURLReadWrite = "ReadWrite"
)
