// Package testhold holds a process at named points of its work, so that end-to-end
// tests can force an interleaving of several processes. The points exist only in a
// binary built with the tag wopibridge_testhooks; in any other build At is empty and
// the package holds nothing.
//
// With the tag, WOPIBRIDGE_TEST_HOLD=<point>[,<point>...],<dir> arms the named points:
// a goroutine that reaches one while <dir>/<point>.go does not exist appends the
// process id to <dir>/<point>.held and waits until <dir>/<point>.go exists. A test
// releases the hold by creating that file, and arms the point again by removing it.
package testhold

// Points of the bridge.
const (
	// SessionWriteStatus1: a status 1 has read the session record and is about to
	// write it back (in its state transaction).
	SessionWriteStatus1 = "session-write-status1"
	// ReplayWrite: a replay took a file's replay lease and is about to write a waiting
	// save to storage.
	ReplayWrite = "replay-write"
	// SpoolChunks: a save being spooled has written its first chunk, not its record.
	SpoolChunks = "spool-chunks"
	// StartupCleaned: a starting replica has removed the spool's orphaned chunks.
	StartupCleaned = "startup-cleaned"
)

// EnvVar names the variable that arms the points.
const EnvVar = "WOPIBRIDGE_TEST_HOLD"
