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
// have no side effects outside tx. When fn returns an error, nothing lands and Update
// returns that error as is (callers compare it with errors.Is). View runs fn in a
// read-only snapshot; writes inside View fail. Close is idempotent; every other use
// after Close returns ErrClosed. The package statetest holds the conformance suite
// every Store passes.
type Store interface {
	Update(fn func(tx Tx) error) error
	View(fn func(tx Tx) error) error
	Close() error
}

// Tx is one transaction. Keys are non-empty. Values returned by Get and passed to
// ForEach are copies, valid after the transaction; values given to Put may be reused by
// the caller as soon as Put returns.
type Tx interface {
	// Get returns the value or nil when the key is absent. A present empty value is a
	// non-nil empty slice.
	Get(bucket, key string) ([]byte, error)
	Put(bucket, key string, value []byte) error
	// Delete removes a key; deleting an absent key is not an error.
	Delete(bucket, key string) error
	// ForEach visits every key of a bucket in key order (bytewise); fn must not write.
	// An error from fn stops the walk and is returned. A bucket never written is empty.
	ForEach(bucket string, fn func(key string, value []byte) error) error
}
