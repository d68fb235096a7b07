package wopiclient

import "strings"

// Override is the operation a WOPI POST asks for, carried in the X-WOPI-Override header.
type Override string

// Overrides on /wopi/files/{id}.
const (
	OverrideLock                 Override = "LOCK" // with X-WOPI-OldLock: UnlockAndRelock
	OverrideUnlock               Override = "UNLOCK"
	OverrideRefreshLock          Override = "REFRESH_LOCK"
	OverrideGetLock              Override = "GET_LOCK"
	OverridePutRelative          Override = "PUT_RELATIVE"
	OverrideRenameFile           Override = "RENAME_FILE"
	OverrideDelete               Override = "DELETE"
	OverridePutUserInfo          Override = "PUT_USER_INFO"
	OverrideGetShareURL          Override = "GET_SHARE_URL"
	OverrideAddActivities        Override = "ADD_ACTIVITIES"
	OverrideGetNewAccessToken    Override = "GET_NEW_ACCESS_TOKEN"
	OverrideGetFileUserValue     Override = "GET_FILE_USER_VALUE"
	OverrideSetFileUserValue     Override = "SET_FILE_USER_VALUE"
	OverrideCobalt               Override = "COBALT" // ExecuteCellStorageRequest, Office clients only
	OverrideGetRestrictedLink    Override = "GET_RESTRICTED_LINK"
	OverrideRevokeRestrictedLink Override = "REVOKE_RESTRICTED_LINK"
	OverrideReadSecureStore      Override = "READ_SECURE_STORE"
)

// Override on /wopi/files/{id}/contents.
const OverridePut Override = "PUT"

// Overrides on containers (/wopi/folders/{id}).
const (
	OverrideCreateChildContainer Override = "CREATE_CHILD_CONTAINER"
	OverrideCreateChildFile      Override = "CREATE_CHILD_FILE"
	OverrideDeleteContainer      Override = "DELETE_CONTAINER"
	OverrideRenameContainer      Override = "RENAME_CONTAINER"
)

// Overrides on the ecosystem (/wopi/ecosystem).
const (
	OverrideGetWopiSrc Override = "GET_WOPI_SRC_WITH_ACCESS_TOKEN"
)

// Co-authoring overrides (WOPI coauth), named for completeness of the vocabulary.
const (
	OverrideGetCoauthLock     Override = "GET_COAUTH_LOCK"
	OverrideRefreshCoauthLock Override = "REFRESH_COAUTH_LOCK"
	OverrideUnlockCoauthLock  Override = "UNLOCK_COAUTH_LOCK"
	OverrideGetCoauthTable    Override = "GET_COAUTH_TABLE"
	OverrideGetSequenceNumber Override = "GET_SEQUENCE_NUMBER"
)

// ParseOverride reads an X-WOPI-Override value. WOPI clients send upper case; the
// comparison is made case-insensitive and blank-tolerant so that a sloppy client does
// not get 501 for a supported operation.
func ParseOverride(v string) Override {
	return Override(strings.ToUpper(strings.TrimSpace(v)))
}

func (o Override) String() string { return string(o) }
