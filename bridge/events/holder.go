package events

import (
	"crypto/sha256"
	"encoding/hex"
)

// LockDigest is what the timeline shows of a WOPI lock (Event.Session, Holder.Session):
// a short digest that tells sessions apart and never gives the lock itself, which
// would let a reader write the file.
func LockDigest(lockID string) string {
	sum := sha256.Sum256([]byte(lockID))
	return "lock-" + hex.EncodeToString(sum[:6])
}
