package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// boltLockTimeout bounds the wait for the file lock: a second process on the same file
// must fail at start instead of hanging.
const boltLockTimeout = 2 * time.Second

// Bolt is the embedded Store: one bbolt file, one process at a time.
type Bolt struct {
	db     *bolt.DB
	path   string
	closed atomic.Bool
	hub    hub // notices within the process (see Notifier)
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens (or creates) the state file at path. The file is private to the user
// (0600) and missing parent directories are created 0700. A file held by another process
// is reported at once rather than waited for.
func OpenBolt(path string) (*Bolt, error) {
	return openBolt(path, boltLockTimeout)
}

func openBolt(path string, timeout time.Duration) (*Bolt, error) {
	if path == "" {
		return nil, errors.New("state: empty state file path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state: create directory for %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("state file %s is in use by another wopibridge process (stop it, or give this one another state file)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", path, err)
	}
	return &Bolt{db: db, path: path}, nil
}

// Path is the state file's location.
func (b *Bolt) Path() string { return b.path }

// Update runs fn in one read-write transaction and returns fn's error unchanged.
func (b *Bolt) Update(fn func(tx Tx) error) error {
	if b.closed.Load() {
		return ErrClosed
	}
	var fnErr error
	err := b.db.Update(func(btx *bolt.Tx) error {
		fnErr = fn(boltTx{btx})
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return b.wrap("update", err)
}

// View runs fn in a read-only snapshot and returns fn's error unchanged.
func (b *Bolt) View(fn func(tx Tx) error) error {
	if b.closed.Load() {
		return ErrClosed
	}
	var fnErr error
	err := b.db.View(func(btx *bolt.Tx) error {
		fnErr = fn(boltTx{btx})
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return b.wrap("view", err)
}

// Close waits for running transactions and releases the file. Closing twice is allowed.
func (b *Bolt) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("state: close %s: %w", b.path, err)
	}
	return nil
}

func (b *Bolt) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	default:
		return fmt.Errorf("state: %s %s: %w", op, b.path, err)
	}
}

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) Get(bucket, key string) ([]byte, error) {
	if key == "" {
		return nil, errEmptyKey
	}
	bk := t.tx.Bucket([]byte(bucket))
	if bk == nil {
		return nil, nil
	}
	return clone(bk.Get([]byte(key))), nil
}

func (t boltTx) Put(bucket, key string, value []byte) error {
	if key == "" {
		return errEmptyKey
	}
	if !t.tx.Writable() {
		return errReadOnly
	}
	bk, err := t.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return fmt.Errorf("state: bucket %q: %w", bucket, err)
	}
	// bbolt keeps a reference to value until commit; the caller may reuse its slice.
	if value == nil {
		value = []byte{}
	}
	return bk.Put([]byte(key), clone(value))
}

func (t boltTx) Delete(bucket, key string) error {
	if key == "" {
		return errEmptyKey
	}
	if !t.tx.Writable() {
		return errReadOnly
	}
	bk := t.tx.Bucket([]byte(bucket))
	if bk == nil {
		return nil
	}
	return bk.Delete([]byte(key))
}

func (t boltTx) ForEach(bucket string, fn func(key string, value []byte) error) error {
	bk := t.tx.Bucket([]byte(bucket))
	if bk == nil {
		return nil
	}
	return bk.ForEach(func(k, v []byte) error {
		if v == nil { // a nested bucket; the store never makes them
			return nil
		}
		return fn(string(k), clone(v))
	})
}

var (
	errEmptyKey = errors.New("state: empty key")
	errReadOnly = errors.New("state: write in a read-only transaction")
)

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	out := make([]byte, len(b))
	copy(out, b)
	return out
}
