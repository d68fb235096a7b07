// Package session is the Docs API session model: it maps document keys to files,
// holds the WOPI lock of a Docs API editing session, and turns the Document Server's
// save callbacks into storage writes that are never lost.
//
// One editing session per file across both integration styles: a Docs API session
// holds the file's lock under an id that DS in WOPI mode can never use, so a WOPI
// client meets a 409 while it lives, and a Docs API open meets a view-only config while
// a WOPI client holds the lock.
//
// Everything lives in the state store (sessions, keys, the spool of saves that storage
// refused), so a restart between "editing" and "save" still saves.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wopibridge/wopibridge/bridge/internal/keymutex"
	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/docsapi"
)

// Errors of the session model.
var (
	// ErrUnknownKey: a callback names a key this bridge never issued.
	ErrUnknownKey = errors.New("session: unknown document key")
	// ErrLockedElsewhere: the file's lock belongs to another session (WOPI or Docs API).
	ErrLockedElsewhere = errors.New("session: file is locked by another editing session")
	// ErrKeyOutdated: the key's content is no longer the file's (the file changed in
	// storage since the key was issued, or a save of it waits in the spool): editors
	// of the key work on an old copy and must not edit it.
	ErrKeyOutdated = errors.New("session: the file changed since this document key was issued")
	// ErrSavePending: a save of the file is spooled and not yet in storage.
	ErrSavePending = errors.New("session: a save of this file is still being written to storage")
	// ErrNotSafe: the bytes of a save could be neither written nor spooled.
	ErrNotSafe = errors.New("session: save could not be made safe")
	// ErrNoEditor: storage refused the credentials of every user of the session who
	// may write; the save waits until one of them opens the file again.
	ErrNoEditor = errors.New("session: no editor of this session has a credential storage accepts for writing")
	// ErrReleasePending: the file's last session saved, but its lock is not yet released.
	ErrReleasePending = errors.New("session: the lock of the file's last editing session is still being released")
)

// LockPrefix starts the lock id of every Docs API session. DS in WOPI mode locks with
// the sanitised file id, made only of [0-9a-zA-Z-._=], so ':' keeps the two apart.
const LockPrefix = "docs:"

// LockID is the lock a Docs API session with key holds.
func LockID(key string) string { return LockPrefix + key }

// Buckets of the state store.
const (
	bucketSessions  = "docs.sessions"  // file id → sessionRec
	bucketKeys      = "docs.keys"      // key → keyRec
	bucketSpool     = "docs.spool"     // sequence → spoolRec
	bucketSpoolData = "docs.spooldata" // sequence/chunk → bytes
	bucketSeq       = "docs.seq"       // "spool" → last sequence
	bucketFileKeys  = "docs.filekeys"  // file id → the key last handed out for it
	// sequence → when its writer last wrote a chunk (RFC 3339): a save being spooled,
	// whose record is not written yet (see writeLease).
	bucketSpoolWriting = "docs.spoolwriting"
)

// Key states.
const (
	keyIssued = "issued" // handed out in a config; no save yet
	keyEnded  = "ended"  // its session ended without a save (status 4, 3)
	keySaved  = "saved"  // its final save is safe (in storage or spooled)
)

type keyRec struct {
	FileID  string    `json:"file"`
	Version string    `json:"version"`           // the content the key was issued for
	Name    string    `json:"name"`              // the file's name then (for a copy if it is deleted)
	Editors []string  `json:"editors,omitempty"` // launch users handed the key in edit mode
	State   string    `json:"state"`
	Updated time.Time `json:"updated"`
}

type sessionRec struct {
	Key       string    `json:"key"`
	LockID    string    `json:"lock"`
	Version   string    `json:"version"` // the storage version DS's content is based on
	Users     []string  `json:"users"`
	Started   time.Time `json:"started"`
	Refreshed time.Time `json:"refreshed"` // last lock refresh
	Active    time.Time `json:"active"`    // last callback
	Pending   int       `json:"pending"`   // spooled saves not yet in storage
	Closing   bool      `json:"closing"`   // final save spooled: end when it lands
	// Release: the session ended (its key is finished) but storage refused the Unlock:
	// only the release is left, retried by Run and before the file opens again.
	Release bool `json:"release,omitempty"`
}

// Options configure a Manager.
type Options struct {
	Storage storage.Backend
	State   state.Store
	// KeyPrefix makes this bridge's keys distinct from other integrations on one DS.
	KeyPrefix string
	// MaxFileSize bounds a saved document (0: none).
	MaxFileSize int64
	// RefreshEvery is how often a session's lock is refreshed (default and maximum 10 min).
	RefreshEvery time.Duration
	// IdleLimit stops refreshing a session that had no callback for this long (default
	// 24 h); its lock then lapses, but a late save is still accepted.
	IdleLimit time.Duration
	// RetryEvery is the pause between two replays of the spool (default 5 s).
	RetryEvery time.Duration
	// ChunkSize is the spool's chunk size (default 1 MiB).
	ChunkSize int
	// ResolveAfter is how many replays of a spooled save may fail before the bridge
	// asks storage whether the save's lock is still there (default 3); see resolve.
	ResolveAfter int
	// OnEvent, when set, is told what happens in the background and on saves.
	OnEvent func(Event)
	Now     func() time.Time
}

// Event reports something the application logs, counts or puts on the file's timeline.
type Event struct {
	Kind   EventKind
	FileID string
	Key    string
	Name   string // conflict copy name
	Err    error

	// Ctx is the context of the request the event happened in (a callback, a PutFile,
	// an open); the background work's own context otherwise.
	Ctx context.Context
	// WOPI: the save is a WOPI PutFile (Key is empty then).
	WOPI bool
	// Final: the save is the session's last (DS status 2, or a PutFile DS unlocks after).
	Final bool
	// User is who the save was made for, when known.
	User string
	// Bytes is the size of a save, when known.
	Bytes int64
	// VersionBefore and VersionAfter are the file's versions around a save, when known.
	VersionBefore, VersionAfter string
	// Since is when a replayed save was kept in the spool.
	Since time.Time
	// NewKey is the key that replaced Key (EventKeyChanged).
	NewKey string
	// Lock is the lock a spooled save is written under (the application shows a
	// digest of it, never the lock).
	Lock string
	// Outcome is where a replayed save went: Saved, or ConflictCopy (reported before).
	Outcome Outcome
}

// EventKind names an Event.
type EventKind string

// Event kinds.
const (
	EventSaved        EventKind = "saved"         // bytes written to storage
	EventSpooled      EventKind = "spooled"       // storage failed; bytes kept in the spool
	EventReplayed     EventKind = "replayed"      // a spooled save reached storage
	EventReplayFailed EventKind = "replay_failed" // storage still failing; will retry
	EventConflictCopy EventKind = "conflict_copy" // lock lost; bytes went to a copy
	EventRepeated     EventKind = "repeated"      // a save repeated for a saved key
	EventLockRefresh  EventKind = "lock_refresh_failed"
	EventRecovered    EventKind = "recovered"      // storage took neither the save nor a copy: kept in the recovery area
	EventReleaseFail  EventKind = "release_failed" // a session ended but its Unlock failed; retried
	EventReleased     EventKind = "released"       // a release that had failed went through
	EventNoEditor     EventKind = "no_editor"      // no editor's credential may write: the save waits
	EventEnded        EventKind = "ended"          // a session ended: its lock released, or its release left to retry
	EventKeyChanged   EventKind = "key_changed"    // a file's editors get a new key (Key the old one, NewKey the new)
)

// Manager owns the Docs API sessions. It is safe for concurrent use.
type Manager struct {
	o     Options
	id    string // this replica, in leases of the state store
	now   func() time.Time
	files keymutex.Map // serialises everything done for one file
	spool sync.Mutex   // one replay at a time

	// beforeSessionWrite, set by tests, runs in the transactions of Editing, Ended and
	// RefreshLocks between reading a session record and writing it back.
	beforeSessionWrite func()

	pmu     sync.Mutex
	pending map[string]int // file id → spooled saves, as last seen
	waiting atomic.Int64   // their sum: most requests need to look no further
}

// New makes a Manager. Call Run to start the background work.
func New(o Options) (*Manager, error) {
	if o.Storage == nil || o.State == nil {
		return nil, errors.New("session: Storage and State are required")
	}
	if o.RefreshEvery <= 0 || o.RefreshEvery > 10*time.Minute {
		o.RefreshEvery = 10 * time.Minute
	}
	if o.IdleLimit <= 0 {
		o.IdleLimit = 24 * time.Hour
	}
	if o.RetryEvery <= 0 {
		o.RetryEvery = 5 * time.Second
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 1 << 20
	}
	if o.ResolveAfter <= 0 {
		o.ResolveAfter = 3
	}
	m := &Manager{o: o, now: o.Now, id: newOwnerID()}
	if m.now == nil {
		m.now = time.Now
	}
	if _, err := m.loadPending(); err != nil {
		return nil, fmt.Errorf("session: reading the spool: %w", err)
	}
	return m, nil
}

func (m *Manager) emit(e Event) {
	if m.o.OnEvent != nil {
		m.o.OnEvent(e)
	}
}

// Opened is what a new editor config needs.
type Opened struct {
	Key  string
	File storage.File
	// Edit is false when the file is locked by a session of the other style (or another
	// Docs API key): the config must then open for view.
	Edit bool
	// Releasing: Edit is false because the lock of the file's last session, whose save
	// is in storage, is not yet released.
	Releasing bool
}

// Open returns the key for a new editor of fileID. While a Docs API session is open
// on the file, every editor gets that session's key.
func (m *Manager) Open(ctx context.Context, fileID string) (Opened, error) {
	// Saves still in the spool go first; any left make the file unavailable.
	ferr := m.Flush(ctx, fileID)
	unlock := m.files.Lock(fileID)
	defer unlock()

	var sess *sessionRec
	if err := m.o.State.View(func(tx state.Tx) error {
		var err error
		sess, err = getSession(tx, fileID)
		return err
	}); err != nil {
		return Opened{}, err
	}
	if sess != nil && sess.Release {
		// The last session's lock waits for its release: try it now.
		var err error
		if sess, err = m.retryRelease(ctx, fileID); err != nil {
			return Opened{}, err
		}
	}
	f, err := m.o.Storage.Stat(ctx, fileID)
	if err != nil {
		return Opened{}, err
	}
	if sess != nil && sess.Release {
		// Still held by a finished session: nobody edits until it is released.
		key, err := m.issue(ctx, fileID, f)
		return Opened{Key: key, File: f, Edit: false, Releasing: true}, err
	}
	if sess != nil {
		if sess.Closing {
			if errors.Is(ferr, ErrSavePending) {
				return Opened{}, ferr // says why
			}
			return Opened{}, ErrSavePending
		}
		return Opened{Key: sess.Key, File: f, Edit: true}, nil
	}
	if n, err := m.pendingFor(fileID); err != nil {
		return Opened{}, err
	} else if n > 0 {
		if errors.Is(ferr, ErrSavePending) {
			return Opened{}, ferr // says why
		}
		return Opened{}, ErrSavePending
	}
	lock, err := m.o.Storage.GetLock(ctx, fileID)
	if err != nil {
		return Opened{}, err
	}
	key, err := m.issue(ctx, fileID, f)
	if err != nil {
		return Opened{}, err
	}
	return Opened{Key: key, File: f, Edit: lock == "" || lock == LockID(key)}, nil
}

// SessionEnded reports whether key's session ended without a save (status 4 or 3):
// a status 1 for it now is an editor reconnecting, or a late one.
func (m *Manager) SessionEnded(key string) (bool, error) {
	k, err := m.keyOf(key)
	if err != nil {
		return false, err
	}
	return k.State == keyEnded, nil
}

// issue hands out the key of f's version: recorded as issued, unless its session
// ended with a save. A saved key is never handed out again: when the content is still
// that version (the save went to a conflict copy or the recovery area), DS would serve
// its own copy of the saved content under it, so the version gets a new key.
func (m *Manager) issue(ctx context.Context, fileID string, f storage.File) (string, error) {
	var key, old string
	err := m.o.State.Update(func(tx state.Tx) error {
		for n := 0; ; n++ {
			v := f.Version
			if n > 0 {
				v = fmt.Sprintf("%s-%d", f.Version, n)
			}
			key = docsapi.MakeKey(m.o.KeyPrefix, fileID, v)
			k, err := getKey(tx, key)
			if err != nil {
				return err
			}
			if k != nil && k.State == keySaved {
				continue
			}
			rec := keyRec{FileID: fileID, Version: f.Version, Name: f.Name, State: keyIssued, Updated: m.now()}
			if k != nil {
				rec.Editors = k.Editors
			}
			if err := putJSON(tx, bucketKeys, key, rec); err != nil {
				return err
			}
			b, err := tx.Get(bucketFileKeys, fileID)
			if err != nil {
				return err
			}
			if old = string(b); old == key {
				return nil
			}
			return tx.Put(bucketFileKeys, fileID, []byte(key))
		}
	})
	if err == nil && old != "" && old != key {
		m.emit(Event{Kind: EventKeyChanged, FileID: fileID, Key: old, NewKey: key, Ctx: ctx})
	}
	return key, err
}

// FileOf returns the file a key was issued for.
func (m *Manager) FileOf(key string) (string, error) {
	var k *keyRec
	err := m.o.State.View(func(tx state.Tx) error {
		var err error
		k, err = getKey(tx, key)
		return err
	})
	if err != nil {
		return "", err
	}
	if k == nil {
		return "", ErrUnknownKey
	}
	return k.FileID, nil
}

// Editing handles status 1: the editors of key are now users. The first editor takes
// the lock. DS reuses a key for as long as its content has not changed, so a status 1
// also comes when an editor reconnects after every editor left (status 4 ended the
// session): if the key's content is still the file's current version, the session opens
// again and takes the lock. ErrLockedElsewhere when another session holds the lock,
// ErrKeyOutdated when the file changed since the key was issued: the caller must then
// end DS's editing of key. A late status 1 of a key whose final save landed changes
// nothing.
func (m *Manager) Editing(ctx context.Context, key string, users []string) error {
	for range 3 {
		if err := m.editing(ctx, key, users); !errors.Is(err, errSessionChanged) {
			return err
		}
	}
	return fmt.Errorf("%w: its session kept changing on other replicas", ErrLockedElsewhere)
}

// errSessionChanged: the session record changed (another replica ended or replaced
// it) between Editing's first look and its write; Editing starts again.
var errSessionChanged = errors.New("session: the session changed meanwhile")

func (m *Manager) editing(ctx context.Context, key string, users []string) error {
	k, err := m.keyOf(key)
	if err != nil {
		return err
	}
	unlock := m.files.Lock(k.FileID)
	defer unlock()
	if k, err = m.keyOf(key); err != nil {
		return err
	}
	if k.State == keySaved {
		return nil // a late status 1: DS refuses editors of a saved key
	}
	sess, err := m.session(k.FileID)
	if err != nil {
		return err
	}
	now := m.now()
	if sess != nil && sess.Release && sess.Key != key {
		if sess, err = m.retryRelease(ctx, k.FileID); err != nil {
			return err
		}
		if sess != nil {
			return fmt.Errorf("%w: %w", ErrLockedElsewhere, ErrReleasePending)
		}
	}
	if sess != nil {
		if sess.Key != key {
			return ErrLockedElsewhere
		}
		// One transaction from the read to the write: the final save on another
		// replica may end the session meanwhile, and a record written back would
		// revive it (new opens would get its saved key).
		return m.o.State.Update(func(tx state.Tx) error {
			k, err := getKey(tx, key)
			if err != nil || k == nil || k.State == keySaved {
				return err // a late status 1
			}
			cur, err := getSession(tx, k.FileID)
			if err != nil {
				return err
			}
			if cur == nil || cur.Key != key {
				return errSessionChanged
			}
			if m.beforeSessionWrite != nil {
				m.beforeSessionWrite()
			}
			cur.Release = false // a session reopened under its key: the lock is still its own
			cur.Users, cur.Active = users, now
			return putJSON(tx, bucketSessions, k.FileID, cur)
		})
	}
	f, err := m.o.Storage.Stat(ctx, k.FileID)
	if err != nil {
		return err
	}
	if f.Version != k.Version {
		return fmt.Errorf("%w (issued for version %s, the file is at %s)", ErrKeyOutdated, k.Version, f.Version)
	}
	if n, err := m.pendingFor(k.FileID); err != nil {
		return err
	} else if n > 0 {
		return fmt.Errorf("%w (a save of the file waits in the spool)", ErrKeyOutdated)
	}
	if _, err := m.asEditors(ctx, editorsOf(users, nil, k), func(c context.Context) error {
		return m.lock(c, k.FileID, LockID(key))
	}); err != nil {
		var lc *storage.LockConflictError
		if errors.As(err, &lc) {
			return fmt.Errorf("%w: %v", ErrLockedElsewhere, err)
		}
		return err
	}
	sess = &sessionRec{Key: key, LockID: LockID(key), Version: k.Version, Users: users,
		Started: now, Refreshed: now, Active: now}
	return m.o.State.Update(func(tx state.Tx) error {
		if err := putJSON(tx, bucketSessions, k.FileID, sess); err != nil {
			return err
		}
		if k.State != keyEnded {
			return nil
		}
		k.State, k.Updated = keyIssued, now // a reconnect: the key is in use again
		return putJSON(tx, bucketKeys, key, k)
	})
}

// Ended handles status 4 (closed without changes) and 3 (save error): the session of
// key ends and its lock is released. Repeats and late calls change nothing.
func (m *Manager) Ended(ctx context.Context, key string) error {
	k, err := m.keyOf(key)
	if err != nil {
		return err
	}
	unlock := m.files.Lock(k.FileID)
	defer unlock()
	// A spooled forcesave still holds the lock: end once it lands. Read and marked in
	// one transaction: a replica replaying that save meanwhile must not see its count
	// written back (the session would wait for it for ever).
	var sess *sessionRec
	closing := false
	if err := m.o.State.Update(func(tx state.Tx) error {
		var err error
		closing = false
		if sess, err = getSession(tx, k.FileID); err != nil || sess == nil || sess.Key != key || sess.Pending == 0 {
			return err
		}
		if m.beforeSessionWrite != nil {
			m.beforeSessionWrite()
		}
		sess.Closing, closing = true, true
		return putJSON(tx, bucketSessions, k.FileID, sess)
	}); err != nil || closing {
		return err
	}
	if sess != nil && sess.Key == key {
		if err := m.finish(ctx, k.FileID, sess, nil); err != nil {
			return err
		}
	}
	return m.setKeyState(key, keyIssued, keyEnded)
}

// release unlocks the file and forgets the session.
func (m *Manager) release(ctx context.Context, fileID string, sess *sessionRec) error {
	if _, err := m.o.Storage.Unlock(ctx, fileID, sess.LockID); err != nil {
		var lc *storage.LockConflictError
		if !errors.As(err, &lc) && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		// Already unlocked (lapsed) or taken by someone else: nothing of ours to
		// release, unless the refusal did not say whose lock it is and storage still
		// shows ours (a 409 without X-WOPI-Lock from a host in trouble).
		if lc != nil && lc.Current == sess.LockID {
			return err
		}
		if lc != nil && lc.Current == "" {
			if cur, gerr := m.o.Storage.GetLock(ctx, fileID); gerr != nil || cur == sess.LockID {
				return err
			}
		}
	}
	return m.o.State.Update(func(tx state.Tx) error { return tx.Delete(bucketSessions, fileID) })
}

func (m *Manager) keyOf(key string) (*keyRec, error) {
	var k *keyRec
	err := m.o.State.View(func(tx state.Tx) error {
		var err error
		k, err = getKey(tx, key)
		return err
	})
	if err == nil && k == nil {
		err = ErrUnknownKey
	}
	return k, err
}

func (m *Manager) session(fileID string) (*sessionRec, error) {
	var s *sessionRec
	err := m.o.State.View(func(tx state.Tx) error {
		var err error
		s, err = getSession(tx, fileID)
		return err
	})
	return s, err
}

func (m *Manager) putSession(fileID string, s *sessionRec) error {
	return m.o.State.Update(func(tx state.Tx) error { return putJSON(tx, bucketSessions, fileID, s) })
}

// setKeyState moves key from state from to state to; other states are left alone.
func (m *Manager) setKeyState(key, from, to string) error {
	return m.o.State.Update(func(tx state.Tx) error {
		k, err := getKey(tx, key)
		if err != nil || k == nil || (from != "" && k.State != from) {
			return err
		}
		k.State, k.Updated = to, m.now()
		return putJSON(tx, bucketKeys, key, k)
	})
}

// SessionKey returns the key of the Docs API session open on fileID, if any.
func (m *Manager) SessionKey(fileID string) (string, bool, error) {
	sess, err := m.session(fileID)
	if err != nil || sess == nil {
		return "", false, err
	}
	return sess.Key, true, nil
}

func getKey(tx state.Tx, key string) (*keyRec, error) {
	var k keyRec
	ok, err := getJSON(tx, bucketKeys, key, &k)
	if !ok || err != nil {
		return nil, err
	}
	return &k, nil
}

func getSession(tx state.Tx, fileID string) (*sessionRec, error) {
	var s sessionRec
	ok, err := getJSON(tx, bucketSessions, fileID, &s)
	if !ok || err != nil {
		return nil, err
	}
	return &s, nil
}

func getJSON(tx state.Tx, bucket, key string, v any) (bool, error) {
	b, err := tx.Get(bucket, key)
	if err != nil || b == nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("session: corrupt %s record %q: %w", bucket, key, err)
	}
	return true, nil
}

func putJSON(tx state.Tx, bucket, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(bucket, key, b)
}

// conflictName is "<name> (conflict <time>).<ext>".
func conflictName(name string, t time.Time) string {
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i:]
	}
	return fmt.Sprintf("%s (conflict %s)%s", base, t.UTC().Format("2006-01-02 150405.000"), ext)
}
