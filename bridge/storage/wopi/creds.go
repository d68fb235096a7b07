package wopi

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// bucket holds one record per file id.
const bucket = "wopi.files"

// maxCredentials bounds the tokens kept per file; the oldest go first.
const maxCredentials = 32

// record is what the bridge knows of an upstream file.
type record struct {
	Src        string                `json:"src"`    // canonical WOPISrc
	Folder     string                `json:"folder"` // folder id the file is in
	FolderName string                `json:"folderName,omitempty"`
	Creds      map[string]credential `json:"creds"` // by user
	Seq        int64                 `json:"seq"`   // last registration sequence
}

// credential is one user's upstream access token.
type credential struct {
	Token string `json:"token"`
	TTL   int64  `json:"ttl,omitempty"` // access_token_ttl: ms since the epoch; 0 unknown
	Seq   int64  `json:"seq"`           // registration order: higher is more recent
}

func (c credential) usable(nowMS int64) bool { return c.Token != "" && (c.TTL == 0 || c.TTL > nowMS) }

// handle is a file with the token an operation uses.
type handle struct {
	id         string
	src        string
	folder     string
	folderName string
	user       string
	token      string
	ttl        int64
}

// Records are read on every operation, so the last ones read or written are kept in
// memory for a few seconds: long enough to spare the state store (and the JSON) the
// requests of an editing session, short enough that a token another replica
// registered is seen soon. A user whose token the cached record lacks, or holds
// expired, is looked up in the state store at once. Cached records are never changed:
// remember and forget replace them.
const (
	recordCacheSize = 4096
	recordCacheTTL  = 5 * time.Second
)

func newRecordCache() *expirable.LRU[string, *record] {
	return expirable.NewLRU[string, *record](recordCacheSize, nil, recordCacheTTL)
}

// cached is load through the record cache.
func (b *Backend) cached(id string) (*record, error) {
	if rec, ok := b.records.Get(id); ok {
		return rec, nil
	}
	return b.load(id)
}

// load reads a file's record from the state store and caches it.
func (b *Backend) load(id string) (*record, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: no file %q", storage.ErrNotFound, id)
	}
	var rec *record
	err := b.state.View(func(tx state.Tx) error {
		raw, err := tx.Get(bucket, id)
		if err != nil || raw == nil {
			return err
		}
		rec = &record{}
		return json.Unmarshal(raw, rec)
	})
	if err != nil {
		return nil, fmt.Errorf("wopi storage: reading file %s: %w", id, err)
	}
	if rec == nil {
		return nil, fmt.Errorf("%w: no file %s: open it from the application first", storage.ErrNotFound, id)
	}
	b.records.Add(id, rec)
	return rec, nil
}

// handle finds file id and the upstream token to use: the context user's, or the most
// recently registered unexpired one when the context names no user. Only reads come
// without a user (ONLYOFFICE Docs fetching document.url, which names nobody): every
// write the bridge makes names the user it acts for (the WOPI face the token's user,
// Docs API saves, spooled saves and lock calls an editor of their session, FileUrl the
// user it was made for), so a write is never made with another user's token.
func (b *Backend) handle(ctx context.Context, id string) (handle, error) {
	rec, err := b.cached(id)
	if err != nil {
		return handle{}, err
	}
	now := b.now().UnixMilli()
	if user, ok := userFrom(ctx); ok {
		if c, found := rec.Creds[user]; !found || !c.usable(now) {
			// Perhaps registered since the record was cached (by another replica).
			if rec, err = b.load(id); err != nil {
				return handle{}, err
			}
		}
	}
	h := handle{id: id, src: rec.Src, folder: rec.Folder, folderName: rec.FolderName}
	if user, ok := userFrom(ctx); ok {
		c, found := rec.Creds[user]
		if !found || !c.usable(now) {
			return handle{}, fmt.Errorf("%w: no unexpired upstream access token of user %q for file %s: open the file again from the application",
				storage.ErrUnauthorized, user, id)
		}
		h.user, h.token, h.ttl = user, c.Token, c.TTL
		return h, nil
	}
	best := int64(-1)
	for user, c := range rec.Creds {
		if c.usable(now) && c.Seq > best {
			best = c.Seq
			h.user, h.token, h.ttl = user, c.Token, c.TTL
		}
	}
	if best < 0 {
		return handle{}, fmt.Errorf("%w: every upstream access token for file %s has expired: a user must open the file again from the application",
			storage.ErrUnauthorized, id)
	}
	return h, nil
}

// remember records a file and user's token, making it the file's most recent one. A
// known file keeps its folder. It returns the record as stored.
func (b *Backend) remember(id, src, folder, folderName, user string, c credential) (*record, error) {
	var stored *record
	now := b.now().UnixMilli()
	err := b.state.Update(func(tx state.Tx) error {
		rec := &record{Src: src, Folder: folder, FolderName: folderName}
		raw, err := tx.Get(bucket, id)
		if err != nil {
			return err
		}
		if raw != nil {
			rec = &record{}
			if err := json.Unmarshal(raw, rec); err != nil {
				return err
			}
		}
		if rec.Creds == nil {
			rec.Creds = map[string]credential{}
		}
		for u, old := range rec.Creds {
			if !old.usable(now) {
				delete(rec.Creds, u)
			}
		}
		rec.Seq++
		c.Seq = rec.Seq
		rec.Creds[user] = c
		for len(rec.Creds) > maxCredentials {
			oldest, seq := "", rec.Seq
			for u, old := range rec.Creds {
				if old.Seq < seq {
					oldest, seq = u, old.Seq
				}
			}
			delete(rec.Creds, oldest)
		}
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		stored = rec
		return tx.Put(bucket, id, data)
	})
	if err != nil {
		b.records.Remove(id)
		return nil, fmt.Errorf("wopi storage: recording file %s: %w", id, err)
	}
	b.records.Add(id, stored)
	return stored, nil
}

// forget drops a deleted file.
func (b *Backend) forget(id string) error {
	b.records.Remove(id)
	err := b.state.Update(func(tx state.Tx) error { return tx.Delete(bucket, id) })
	if err != nil {
		return fmt.Errorf("wopi storage: forgetting file %s: %w", id, err)
	}
	return nil
}
