// Package state is the bridge's durable state: file ids, versions, locks, sessions,
// the spool of pending saves and the bridge's own secret. It is a transactional
// key-value store with named buckets, implemented by an embedded bbolt file and
// (for several replicas) by Redis.
package state

import "errors"

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("state: store closed")

// Store is a transactional key-value store with named buckets. Buckets exist on first
// use. Update runs fn in one read-write transaction: either all of fn's writes land or
// none do; fn may run more than once (optimistic stores retry on conflict), so it must
// have no side effects outside tx. View runs fn in a read-only snapshot.
type Store interface {
	Update(fn func(tx Tx) error) error
	View(fn func(tx Tx) error) error
	Close() error
}

// Tx is one transaction. Values returned by Get are copies, valid after the transaction.
type Tx interface {
	// Get returns the value or nil when the key is absent.
	Get(bucket, key string) ([]byte, error)
	Put(bucket, key string, value []byte) error
	Delete(bucket, key string) error
	// ForEach visits every key of a bucket in key order; fn must not write.
	ForEach(bucket string, fn func(key string, value []byte) error) error
}
