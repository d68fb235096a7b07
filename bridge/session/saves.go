package session

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
)

// The operator's view of the spool: saves that wait for storage, and saves kept in the
// recovery area (see resolve). These functions work on a state store alone, so that
// "wopibridge saves" can use them with no server running; a running server offers the
// same through its Manager (which also keeps its own counts right).

// Save states as operators see them.
const (
	SaveWaiting   = "waiting"   // replayed until storage takes it
	SaveRecovered = "recovered" // kept for an operator; the file was released
)

// Errors of the operator functions.
var (
	ErrNoSuchSave  = errors.New("session: no such save")
	ErrNotExported = errors.New("session: the save has not been exported")
)

// SaveInfo describes a waiting or recovered save.
type SaveInfo struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	FileID    string    `json:"file"`
	Name      string    `json:"name,omitempty"` // the file's name when the key was issued
	Face      string    `json:"face"`           // "docs" or "wopi"
	Key       string    `json:"key,omitempty"`
	User      string    `json:"user,omitempty"` // the WOPI save's user
	Users     []string  `json:"users,omitempty"`
	Final     bool      `json:"final"`
	Size      int64     `json:"size"`
	Created   time.Time `json:"created"`
	Failures  int       `json:"failures"`
	LastError string    `json:"lastError,omitempty"`
	Recovered time.Time `json:"recovered,omitzero"`
	Reason    string    `json:"reason,omitempty"`
	Exported  bool      `json:"exported"`
}

func saveInfo(tx state.Tx, seq string, rec spoolRec) SaveInfo {
	si := SaveInfo{ID: trimSeq(seq), State: SaveWaiting, FileID: rec.FileID, Face: "docs", Key: rec.Key,
		User: rec.User, Users: rec.Users, Final: rec.Final, Size: rec.Size, Created: rec.Created,
		Failures: rec.Failures, LastError: rec.LastError, Recovered: rec.RecoveredAt, Reason: rec.Reason, Exported: rec.Exported}
	if rec.Recovered {
		si.State = SaveRecovered
	}
	if rec.WOPI {
		si.Face = "wopi"
	}
	if rec.Key != "" {
		if k, err := getKey(tx, rec.Key); err == nil && k != nil {
			si.Name = k.Name
		}
	}
	return si
}

// trimSeq is a spool sequence without its leading zeros: the id operators type.
func trimSeq(seq string) string {
	for len(seq) > 1 && seq[0] == '0' {
		seq = seq[1:]
	}
	return seq
}

// seqOf is the spool sequence of an operator's id.
func seqOf(id string) (string, error) {
	var n uint64
	if _, err := fmt.Sscan(id, &n); err != nil || fmt.Sprint(n) != id {
		return "", fmt.Errorf("%w: %q is not a save id (a number from \"wopibridge saves list\")", ErrNoSuchSave, id)
	}
	return fmt.Sprintf("%020d", n), nil
}

// ListSaves lists the waiting and recovered saves, oldest first.
func ListSaves(st state.Store) ([]SaveInfo, error) {
	var out []SaveInfo
	err := st.View(func(tx state.Tx) error {
		var recs []spoolEntry
		if err := tx.ForEach(bucketSpool, func(k string, v []byte) error {
			var rec spoolRec
			ok, err := getJSON(tx, bucketSpool, k, &rec)
			if ok {
				recs = append(recs, spoolEntry{k, rec})
			}
			return err
		}); err != nil {
			return err
		}
		for _, e := range recs {
			out = append(out, saveInfo(tx, e.seq, e.rec))
		}
		return nil
	})
	return out, err
}

func loadSave(st state.Store, id string) (string, spoolRec, error) {
	seq, err := seqOf(id)
	if err != nil {
		return "", spoolRec{}, err
	}
	var rec spoolRec
	var ok bool
	err = st.View(func(tx state.Tx) error {
		ok, err = getJSON(tx, bucketSpool, seq, &rec)
		return err
	})
	if err == nil && !ok {
		err = fmt.Errorf("%w: no save %s (\"wopibridge saves list\" shows them)", ErrNoSuchSave, id)
	}
	return seq, rec, err
}

// DescribeSave describes one save.
func DescribeSave(st state.Store, id string) (SaveInfo, error) {
	seq, rec, err := loadSave(st, id)
	if err != nil {
		return SaveInfo{}, err
	}
	var si SaveInfo
	err = st.View(func(tx state.Tx) error { si = saveInfo(tx, seq, rec); return nil })
	return si, err
}

// ExportSave writes the bytes of a save to w, streamed chunk by chunk, and checks that
// all of them were written. It marks nothing: once the copy is safe, MarkExported.
func ExportSave(st state.Store, id string, w io.Writer) (int64, error) {
	seq, rec, err := loadSave(st, id)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(w, &chunkReader{st: st, seq: seq, chunks: rec.Chunks})
	if err != nil {
		return n, fmt.Errorf("session: exporting save %s: %w", id, err)
	}
	if n != rec.Size {
		return n, fmt.Errorf("session: exporting save %s: %d bytes read, the save has %d", id, n, rec.Size)
	}
	return n, nil
}

// MarkExported notes that the size bytes of a save were exported and kept, so that it
// may be dropped; a size that is not the save's is refused.
func MarkExported(st state.Store, id string, size int64) error {
	seq, rec, err := loadSave(st, id)
	if err != nil {
		return err
	}
	if size != rec.Size {
		return fmt.Errorf("session: save %s has %d bytes, not %d: export it again", id, rec.Size, size)
	}
	return st.Update(func(tx state.Tx) error {
		var cur spoolRec
		if ok, err := getJSON(tx, bucketSpool, seq, &cur); err != nil || !ok {
			return err
		}
		cur.Exported = true
		return putJSON(tx, bucketSpool, seq, cur)
	})
}

// RetrySave puts a recovered save back in the spool (and counts a waiting one's
// failures from zero): it is replayed as if storage had just refused it.
func RetrySave(st state.Store, id string) (SaveInfo, error) {
	seq, _, err := loadSave(st, id)
	if err != nil {
		return SaveInfo{}, err
	}
	var si SaveInfo
	err = st.Update(func(tx state.Tx) error {
		var rec spoolRec
		if ok, err := getJSON(tx, bucketSpool, seq, &rec); err != nil || !ok {
			return err
		}
		if rec.Recovered && !rec.WOPI {
			// Its session counted it no more: count it again if it still lives.
			if cur, err := getSession(tx, rec.FileID); err == nil && cur != nil && cur.Key == rec.Key {
				cur.Pending++
				if err := putJSON(tx, bucketSessions, rec.FileID, cur); err != nil {
					return err
				}
			}
		}
		rec.Recovered, rec.RecoveredAt, rec.Reason, rec.Failures = false, time.Time{}, "", 0
		si = saveInfo(tx, seq, rec)
		return putJSON(tx, bucketSpool, seq, rec)
	})
	return si, err
}

// DropSave deletes a save for good; only one that was exported (refused otherwise
// with ErrNotExported, changing nothing). A waiting save no longer holds its file: a
// closing Docs API session it was the last save of ends (its lock released in the
// background).
func DropSave(st state.Store, id string, now time.Time) error {
	seq, rec, err := loadSave(st, id)
	if err != nil {
		return err
	}
	if !rec.Exported {
		return fmt.Errorf("%w: save %s was never exported; export it first (wopibridge saves export %s > file), then drop it", ErrNotExported, id, id)
	}
	err = st.Update(func(tx state.Tx) error {
		if err := tx.Delete(bucketSpool, seq); err != nil {
			return err
		}
		if rec.Recovered || rec.WOPI {
			return nil
		}
		cur, err := getSession(tx, rec.FileID)
		if err != nil || cur == nil || cur.Key != rec.Key {
			return err
		}
		if cur.Pending > 0 {
			cur.Pending--
		}
		if cur.Closing && cur.Pending == 0 {
			cur.Closing, cur.Release = false, true
			if k, err := getKey(tx, cur.Key); err == nil && k != nil && k.State == keyIssued {
				k.State, k.Updated = keyEnded, now
				if err := putJSON(tx, bucketKeys, cur.Key, k); err != nil {
					return err
				}
			}
		}
		return putJSON(tx, bucketSessions, rec.FileID, cur)
	})
	if err != nil {
		return err
	}
	dropChunks(st, seq)
	return nil
}

// Saves lists the waiting and recovered saves.
func (m *Manager) Saves() ([]SaveInfo, error) { return ListSaves(m.o.State) }

// ExportSave is ExportSave on the Manager's state, then MarkExported.
func (m *Manager) ExportSave(id string, w io.Writer) (int64, error) {
	n, err := ExportSave(m.o.State, id, w)
	if err == nil {
		err = MarkExported(m.o.State, id, n)
	}
	return n, err
}

// State is the state store the Manager keeps its records in.
func (m *Manager) State() state.Store { return m.o.State }

// RetrySave puts a save back in the spool and replays the file's saves at once.
func (m *Manager) RetrySave(id string) (SaveInfo, error) {
	si, err := DescribeSave(m.o.State, id)
	if err != nil {
		return si, err
	}
	unlock := m.files.Lock(si.FileID)
	si, err = RetrySave(m.o.State, id)
	unlock()
	if err != nil {
		return si, err
	}
	if _, err := m.loadPending(); err != nil {
		return si, err
	}
	return si, nil
}

// DropSave drops an exported save.
func (m *Manager) DropSave(id string) error {
	si, err := DescribeSave(m.o.State, id)
	if err != nil {
		return err
	}
	unlock := m.files.Lock(si.FileID)
	defer unlock()
	if err := DropSave(m.o.State, id, m.now()); err != nil {
		return err
	}
	_, err = m.loadPending()
	return err
}
