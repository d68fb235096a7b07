package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// A spooled save: the bytes DS produced, kept in the state store in chunks (each chunk
// its own transaction, so nothing holds a whole document in memory) until storage
// takes them. The record is written last: a save is spooled once its record exists.
type spoolRec struct {
	FileID  string    `json:"file"`
	Key     string    `json:"key"`
	LockID  string    `json:"lock"`
	Final   bool      `json:"final"`
	Chunks  int       `json:"chunks"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`

	// A WOPI PutFile (no key): who saved, the version before it ("" unknown), whether
	// DS's lock is released once it lands, and whether it has landed (the release
	// alone is left).
	WOPI   bool   `json:"wopi,omitempty"`
	User   string `json:"user,omitempty"`
	Base   string `json:"base,omitempty"`
	Unlock bool   `json:"unlock,omitempty"`
	Landed bool   `json:"landed,omitempty"`

	// Users a Docs API save may be written for (see editors.go).
	Users []string `json:"users,omitempty"`
	// Failures counts the replays that failed in a row; LastError is the last one's.
	Failures  int    `json:"failures,omitempty"`
	LastError string `json:"lastError,omitempty"`
	// Recovered: storage took neither the save nor a conflict copy while it answered;
	// the bytes stay here, in the recovery area, for an operator (wopibridge saves), and
	// the file was released. Reason says why. Exported: the bytes were exported whole at
	// least once, so the record may be dropped.
	Recovered   bool      `json:"recovered,omitempty"`
	RecoveredAt time.Time `json:"recoveredAt,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Exported    bool      `json:"exported,omitempty"`
}

// saver is who a spooled save was made for: the PutFile's user, or the first editor.
func (rec spoolRec) saver() string {
	if rec.User != "" {
		return rec.User
	}
	return firstOf(rec.Users)
}

func chunkKey(seq string, i int) string { return fmt.Sprintf("%s/%08d", seq, i) }

// spoolSave keeps the bytes of a save in the state store because storage refused them
// (cause). The session keeps its lock until the replay lands.
func (m *Manager) spoolSave(ctx context.Context, key, fileID string, sess *sessionRec, fetch Fetcher, final bool, editors []string, cause error) (Outcome, error) {
	body, err := fetch(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: download: %v (storage: %v)", ErrNotSafe, err, cause)
	}
	defer body.Close()
	if errors.Is(cause, ErrNoEditor) {
		m.emit(Event{Kind: EventNoEditor, FileID: fileID, Key: key, Err: cause})
	}
	rec := spoolRec{FileID: fileID, Key: key, LockID: sess.LockID, Final: final, Users: editors}
	err = m.keep(ctx, rec, body, cause, func(tx state.Tx) error {
		cur, err := getSession(tx, fileID)
		if err != nil {
			return err
		}
		if cur == nil {
			cur = sess
		}
		cur.Pending++
		cur.Closing = cur.Closing || final
		if err := putJSON(tx, bucketSessions, fileID, cur); err != nil {
			return err
		}
		if !final {
			return nil
		}
		k, err := getKey(tx, key)
		if err != nil || k == nil {
			return err
		}
		k.State, k.Updated = keySaved, m.now()
		return putJSON(tx, bucketKeys, key, k)
	})
	if err != nil {
		return "", err
	}
	return Spooled, nil
}

// keep writes body to the spool as the save rec describes (its chunks, size and time
// filled in), with also done in the transaction that writes the record: the save is
// spooled once that commits. Failing, it leaves nothing behind.
//
// While it writes, the save holds a write lease (bucketSpoolWriting) that every chunk
// write renews and the record's transaction ends; a replica cleaning up orphaned chunks
// leaves the chunks of a live lease alone. A lease taken from a writer (it wrote nothing
// for writeLease) fences it: its next chunk or its record fails, so a save whose chunks
// were dropped is never acknowledged.
func (m *Manager) keep(ctx context.Context, rec spoolRec, body io.Reader, cause error, also func(state.Tx) error) error {
	seq, err := m.nextSeq()
	if err == nil {
		rec.Chunks, rec.Size, err = m.writeChunks(seq, body)
	}
	if err == nil {
		rec.Created = m.now()
		err = m.o.State.Update(func(tx state.Tx) error {
			if err := m.holdsWriteLease(tx, seq, false); err != nil {
				return err
			}
			if err := tx.Delete(bucketSpoolWriting, seq); err != nil {
				return err
			}
			if err := putJSON(tx, bucketSpool, seq, rec); err != nil || also == nil {
				return err
			}
			return also(tx)
		})
	}
	if err != nil {
		if seq != "" {
			m.dropChunks(seq)
			m.o.State.Update(func(tx state.Tx) error { return tx.Delete(bucketSpoolWriting, seq) })
		}
		return fmt.Errorf("%w: spool: %v (storage: %v)", ErrNotSafe, err, cause)
	}
	m.addPending(rec.FileID, 1)
	m.emit(Event{Kind: EventSpooled, FileID: rec.FileID, Key: rec.Key, Err: cause, Ctx: ctx, WOPI: rec.WOPI,
		Lock: rec.LockID, Final: rec.Final, User: rec.saver(), Bytes: rec.Size, VersionBefore: rec.Base})
	return nil
}

// writeLease is how long a save being spooled may write no chunk before a starting
// replica takes its chunks for the leftovers of a crash. Chunks are written as the
// body arrives, so this only has to exceed the longest stall of a body that still
// completes; the lease fences its writer, so a longer stall costs that save (not
// acknowledged, DS retries it), never an acknowledged one.
const writeLease = 15 * time.Minute

var errWriteLeaseLost = errors.New("session: the spool write lease of this save was taken (no chunk written for too long)")

// holdsWriteLease checks, in tx, that the save seq still holds its write lease, and
// renews it when renew is set and a quarter of it has passed (renewing on every chunk
// would make concurrent spoolers' transactions conflict for nothing).
func (m *Manager) holdsWriteLease(tx state.Tx, seq string, renew bool) error {
	b, err := tx.Get(bucketSpoolWriting, seq)
	if err != nil {
		return err
	}
	if b == nil {
		return errWriteLeaseLost
	}
	if !renew {
		return nil
	}
	if at, err := time.Parse(time.RFC3339Nano, string(b)); err == nil && m.now().Sub(at) < writeLease/4 {
		return nil
	}
	return tx.Put(bucketSpoolWriting, seq, []byte(m.now().UTC().Format(time.RFC3339Nano)))
}

// nextSeq allocates the sequence of a new spooled save, with its write lease.
func (m *Manager) nextSeq() (string, error) {
	var seq string
	err := m.o.State.Update(func(tx state.Tx) error {
		b, err := tx.Get(bucketSeq, "spool")
		if err != nil {
			return err
		}
		n, _ := strconv.ParseUint(string(b), 10, 64)
		n++
		seq = fmt.Sprintf("%020d", n)
		if err := tx.Put(bucketSpoolWriting, seq, []byte(m.now().UTC().Format(time.RFC3339Nano))); err != nil {
			return err
		}
		return tx.Put(bucketSeq, "spool", []byte(strconv.FormatUint(n, 10)))
	})
	return seq, err
}

func (m *Manager) writeChunks(seq string, r io.Reader) (int, int64, error) {
	buf := make([]byte, m.o.ChunkSize)
	var n int
	var size int64
	for {
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			size += int64(k)
			if m.o.MaxFileSize > 0 && size > m.o.MaxFileSize {
				return 0, 0, storage.ErrTooLarge
			}
			chunk := buf[:k]
			if perr := m.o.State.Update(func(tx state.Tx) error {
				if err := m.holdsWriteLease(tx, seq, true); err != nil {
					return err
				}
				return tx.Put(bucketSpoolData, chunkKey(seq, n), chunk)
			}); perr != nil {
				return 0, 0, perr
			}
			n++
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return n, size, nil
		}
		if err != nil {
			return 0, 0, err
		}
	}
}

// dropChunks deletes the chunks of seq, in batches.
func (m *Manager) dropChunks(seq string) { dropChunks(m.o.State, seq) }

func dropChunks(st state.Store, seq string) {
	prefix := seq + "/"
	for {
		var keys []string
		st.View(func(tx state.Tx) error {
			return tx.ForEach(bucketSpoolData, func(k string, _ []byte) error {
				if strings.HasPrefix(k, prefix) {
					keys = append(keys, k)
					if len(keys) == 256 {
						return errStop
					}
				}
				return nil
			})
		})
		if len(keys) == 0 {
			return
		}
		if st.Update(func(tx state.Tx) error {
			for _, k := range keys {
				if err := tx.Delete(bucketSpoolData, k); err != nil {
					return err
				}
			}
			return nil
		}) != nil {
			return
		}
	}
}

var errStop = errors.New("stop")

// chunkReader streams a spooled save back, one chunk per read transaction.
type chunkReader struct {
	st     state.Store
	seq    string
	chunks int
	next   int
	buf    []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.next >= r.chunks {
			return 0, io.EOF
		}
		err := r.st.View(func(tx state.Tx) error {
			b, err := tx.Get(bucketSpoolData, chunkKey(r.seq, r.next))
			if err == nil && b == nil {
				err = fmt.Errorf("session: spooled chunk %d of %s is missing", r.next, r.seq)
			}
			r.buf = b
			return err
		})
		if err != nil {
			return 0, err
		}
		r.next++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Pending is the number of spooled saves not yet in storage.
func (m *Manager) Pending() (int, error) { return m.pendingFor("") }

func (m *Manager) pendingFor(fileID string) (int, error) {
	entries, err := m.spooled(fileID)
	return len(entries), err
}

// replayFailed notes a failed replay of a spooled save, then tries to resolve a save
// that keeps failing (see resolve). nil means the save was resolved.
func (m *Manager) replayFailed(ctx context.Context, e spoolEntry, cause error) error {
	m.emit(Event{Kind: EventReplayFailed, FileID: e.rec.FileID, Key: e.rec.Key, Err: cause})
	if errors.Is(cause, ErrNoEditor) {
		m.emit(Event{Kind: EventNoEditor, FileID: e.rec.FileID, Key: e.rec.Key, Err: cause})
	}
	unlock := m.files.Lock(e.rec.FileID)
	defer unlock()
	return m.resolve(ctx, e.seq, cause)
}

// Replay tries to write every spooled save to storage, oldest first. A file whose save
// still fails keeps its later saves waiting, so they land in order. A file whose saves
// another replica is replaying now is left to it (see lease.go).
func (m *Manager) Replay(ctx context.Context) error {
	m.spool.Lock()
	defer m.spool.Unlock()
	entries, err := m.spooled("")
	if err != nil {
		return err
	}
	failed := map[string]bool{}
	var errs []error
	for _, e := range entries {
		if failed[e.rec.FileID] || ctx.Err() != nil {
			continue
		}
		err := m.underReplayLease(e.rec.FileID, func() error {
			if err := m.replayOne(ctx, e.seq, e.rec); err != nil {
				return m.replayFailed(ctx, e, err)
			}
			return nil
		})
		if err != nil {
			failed[e.rec.FileID] = true
			if !errors.Is(err, errReplayBusy) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) replayOne(ctx context.Context, seq string, rec spoolRec) error {
	unlock := m.files.Lock(rec.FileID)
	defer unlock()
	// A Flush or the background replay may have written it meanwhile.
	var still bool
	if err := m.o.State.View(func(tx state.Tx) error {
		var err error
		still, err = getJSON(tx, bucketSpool, seq, &rec)
		return err
	}); err != nil || !still {
		return err
	}
	if rec.WOPI {
		f, outcome, err := m.replayPut(ctx, seq, rec)
		if err == nil {
			err = m.settlePut(ctx, seq, rec, outcome)
		}
		if err != nil {
			return err
		}
		return m.forget(ctx, seq, rec, outcome, f.Version, nil)
	}
	open := func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(&chunkReader{st: m.o.State, seq: seq, chunks: rec.Chunks}), nil
	}
	sess, err := m.session(rec.FileID)
	if err != nil {
		return err
	}
	base := ""
	if sess != nil {
		base = sess.Version
	}
	outcome := Saved
	var f storage.File
	put := func(c context.Context) error {
		var err error
		f, err = m.putFetched(c, rec.FileID, rec.LockID, open)
		return err
	}
	wctx, err := m.asEditors(ctx, rec.Users, put)
	var lc *storage.LockConflictError
	switch {
	case err == nil:
	case errors.As(err, &lc) && lc.Current == "":
		// The lock lapsed while storage was down: take it back if nobody wrote since.
		cur, serr := m.o.Storage.Stat(wctx, rec.FileID)
		if serr != nil {
			return serr
		}
		if cur.Version != base {
			err = m.copyFromSpool(wctx, rec, open)
			outcome = ConflictCopy
			break
		}
		if err = m.lock(wctx, rec.FileID, rec.LockID); err != nil {
			return err
		}
		err = put(wctx)
	case errors.As(err, &lc), errors.Is(err, storage.ErrNotFound):
		err = m.copyFromSpool(wctx, rec, open)
		outcome = ConflictCopy
	}
	if err != nil {
		return err
	}
	return m.settleDocs(wctx, seq, rec, outcome, f)
}

// settleDocs ends a replayed Docs API save whose bytes are in storage (outcome says
// where): the spooled copy is forgotten, then the session settled, and ended (its lock
// released) when this was the last of a closing session.
func (m *Manager) settleDocs(ctx context.Context, seq string, rec spoolRec, outcome Outcome, f storage.File) error {
	if err := m.forget(ctx, seq, rec, outcome, f.Version, func(tx state.Tx) error {
		cur, err := getSession(tx, rec.FileID)
		if err != nil || cur == nil {
			return err
		}
		if cur.Pending > 0 {
			cur.Pending--
		}
		if outcome == Saved {
			cur.Version = f.Version
		}
		return putJSON(tx, bucketSessions, rec.FileID, cur)
	}); err != nil {
		return err
	}
	sess, err := m.session(rec.FileID)
	if err == nil && sess != nil && sess.Closing && sess.Pending == 0 {
		if err := m.finish(ctx, rec.FileID, sess, rec.Users); err != nil {
			return err
		}
		return m.setKeyState(sess.Key, keyIssued, keyEnded)
	}
	return err
}

// forget deletes a replayed save from the spool (and does also, in the same
// transaction), then its chunks. A save already gone from the spool was settled by
// another replica: also is not done again. It fails when another replica holds the
// file's replay lease now.
//
// outcome and version (the file's version after it, when known) are reported with it.
func (m *Manager) forget(ctx context.Context, seq string, rec spoolRec, outcome Outcome, version string, also func(state.Tx) error) error {
	if err := m.o.State.Update(func(tx state.Tx) error {
		if err := m.checkReplayLease(tx, rec.FileID); err != nil {
			return err
		}
		if b, err := tx.Get(bucketSpool, seq); err != nil || b == nil {
			return err
		}
		if err := tx.Delete(bucketSpool, seq); err != nil {
			return err
		}
		if also != nil {
			return also(tx)
		}
		return nil
	}); err != nil {
		return err
	}
	m.addPending(rec.FileID, -1)
	m.dropChunks(seq)
	e := Event{Kind: EventReplayed, FileID: rec.FileID, Key: rec.Key, Ctx: ctx, WOPI: rec.WOPI, Lock: rec.LockID, Final: rec.Final,
		User: rec.saver(), Bytes: rec.Size, VersionBefore: rec.Base, VersionAfter: version, Since: rec.Created}
	if e.Outcome = outcome; outcome == ConflictCopy {
		e.VersionAfter = "" // the file kept its version: the bytes went to a copy
	}
	m.emit(e)
	return nil
}

// addPending counts n more (or fewer) spooled saves of fileID.
func (m *Manager) addPending(fileID string, n int) {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	if m.pending == nil {
		m.pending = map[string]int{}
	}
	if m.pending[fileID] += n; m.pending[fileID] <= 0 {
		delete(m.pending, fileID)
	}
	m.waiting.Store(int64(sum(m.pending)))
}

func sum(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// loadPending counts the spooled saves per file from the state store, and returns how
// many there are.
func (m *Manager) loadPending() (int, error) {
	entries, err := m.spooled("")
	if err != nil {
		return 0, err
	}
	counts := map[string]int{}
	for _, e := range entries {
		counts[e.rec.FileID]++
	}
	m.pmu.Lock()
	m.pending = counts
	m.waiting.Store(int64(len(entries)))
	m.pmu.Unlock()
	return len(entries), nil
}

func (m *Manager) copyFromSpool(ctx context.Context, rec spoolRec, open Fetcher) error {
	name, folder, err := m.copyTarget(ctx, rec.FileID, rec.Key)
	if err != nil {
		return err
	}
	cname, err := m.createCopy(ctx, folder, name, open)
	if err != nil {
		return err
	}
	m.emit(Event{Kind: EventConflictCopy, FileID: rec.FileID, Key: rec.Key, Name: cname, Ctx: ctx, WOPI: rec.WOPI, Lock: rec.LockID,
		Final: rec.Final, User: rec.saver(), Bytes: rec.Size, Since: rec.Created})
	return nil
}

// Run does the background work until ctx ends: it replays the spool (at once, then
// every RetryEvery while anything is pending) and refreshes the locks of live sessions.
func (m *Manager) Run(ctx context.Context) {
	m.dropOrphanChunks()
	tick := m.o.RetryEvery
	if tick > time.Minute {
		tick = time.Minute
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if n, err := m.loadPending(); err == nil && n > 0 {
			m.Replay(ctx)
		}
		m.RetryReleases(ctx)
		m.RefreshLocks(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RefreshLocks refreshes the lock of every session that has not been refreshed for
// RefreshEvery and had a callback within IdleLimit, acting for its editors. A finished
// session whose lock waits for its release is not refreshed.
func (m *Manager) RefreshLocks(ctx context.Context) {
	now := m.now()
	due := map[string]sessionRec{}
	m.o.State.View(func(tx state.Tx) error {
		return tx.ForEach(bucketSessions, func(k string, v []byte) error {
			var s sessionRec
			if json.Unmarshal(v, &s) == nil && !s.Release && now.Sub(s.Refreshed) >= m.o.RefreshEvery && now.Sub(s.Active) < m.o.IdleLimit {
				due[k] = s
			}
			return nil
		})
	})
	for fileID, s := range due {
		if _, err := m.o.Storage.RefreshLock(m.asEditor(ctx, m.sessionEditors(&s)), fileID, s.LockID); err != nil {
			m.emit(Event{Kind: EventLockRefresh, FileID: fileID, Key: s.Key, Err: err})
			continue
		}
		// Read and written back in one transaction: another replica may end the
		// session meanwhile, and a record written back would revive it.
		unlock := m.files.Lock(fileID)
		m.o.State.Update(func(tx state.Tx) error {
			cur, err := getSession(tx, fileID)
			if err != nil || cur == nil || cur.Key != s.Key {
				return err
			}
			if m.beforeSessionWrite != nil {
				m.beforeSessionWrite()
			}
			cur.Refreshed = now
			return putJSON(tx, bucketSessions, fileID, cur)
		})
		unlock()
	}
}

// dropOrphanChunks removes chunks whose spool record was never written (a crash while
// spooling, before the save was acknowledged). Chunks of a save that another replica
// is spooling right now hold a live write lease (see keep) and stay; a lease that
// expired is taken in the same transaction that finds no record, which fences its
// writer.
func (m *Manager) dropOrphanChunks() {
	seqs := map[string]bool{}
	m.o.State.View(func(tx state.Tx) error {
		return tx.ForEach(bucketSpoolData, func(k string, _ []byte) error {
			seq, _, _ := strings.Cut(k, "/")
			seqs[seq] = true
			return nil
		})
	})
	now := m.now()
	for seq := range seqs {
		orphan := false
		if err := m.o.State.Update(func(tx state.Tx) error {
			orphan = false
			if b, err := tx.Get(bucketSpool, seq); err != nil || b != nil {
				return err
			}
			b, err := tx.Get(bucketSpoolWriting, seq)
			if err != nil {
				return err
			}
			if b != nil {
				if at, err := time.Parse(time.RFC3339Nano, string(b)); err == nil && now.Sub(at) < writeLease {
					return nil // being written
				}
				if err := tx.Delete(bucketSpoolWriting, seq); err != nil {
					return err
				}
			}
			orphan = true
			return nil
		}); err == nil && orphan {
			m.dropChunks(seq)
		}
	}
}
