package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisKeyPrefix starts the name of every Redis key the store uses: a bucket is the
// hash RedisKeyPrefix+bucket, one field per key.
const RedisKeyPrefix = "wopibridge:"

const (
	// redisOpenTimeout bounds the reachability check at open.
	redisOpenTimeout = 10 * time.Second

	// An Update whose watched hashes keep changing under it runs fn at most
	// redisMaxAttempts times, sleeping a jittered, doubling pause between attempts
	// (redisBackoffMin, capped at redisBackoffMax): about a second in all.
	redisMaxAttempts = 32
	redisBackoffMin  = 2 * time.Millisecond
	redisBackoffMax  = 50 * time.Millisecond

	// ForEach fetches values in batches sized to about forEachBatchBytes, learning the
	// bucket's value size from the previous batch: a bucket of 1 MiB spool chunks is
	// read a few values at a time, a bucket of small records hundreds at a time.
	forEachBatchBytes = 4 << 20
	forEachFirstBatch = 8
	forEachMaxBatch   = 512
)

// ErrConflict is returned, wrapped, by Redis.Update when other writers changed the data
// the transaction read on every attempt. Nothing was written; the operation can be
// tried again.
var ErrConflict = errors.New("state: transaction kept conflicting with concurrent writers")

// ErrNotReplicated is returned, wrapped, by Redis.Update when the master applied the
// writes but fewer replicas than the URL's wait option confirmed them in time: they
// may be lost if a replica takes over now, so the operation must not count as done.
var ErrNotReplicated = errors.New("state: the write did not reach enough Redis replicas")

// Redis is the Store shared by several bridge replicas: one Redis server (4.0 or
// later), a master watched by Sentinel, or a Redis Cluster; each bucket is a hash named
// RedisKeyPrefix+bucket (RedisClusterKeyPrefix+bucket in a Cluster, where the hash tag
// keeps every bucket in one slot, so that one transaction can span them: the store
// then lives on one shard and its replicas; a Cluster gives it failover, not
// sharding).
//
// With a wait option (the default for Sentinel and Cluster) an Update that wrote
// returns only once that many replicas hold the writes (WAIT), and fails with
// ErrNotReplicated otherwise: what an Update reported done survives the failover to a
// replica that acknowledged it.
//
// Update is optimistic. Every hash fn touches is WATCHed from its first use, reads go
// to the server, writes are buffered in the transaction (later reads see them) and are
// sent as one MULTI/EXEC at the end. If another client changed a watched hash since,
// EXEC does nothing and fn runs again on fresh data, up to redisMaxAttempts times, then
// Update fails with ErrConflict. Retries run one at a time in a process (the store's
// other Updates wait meanwhile), so contention converges to one transaction per
// replica. When fn returns an error, Update first checks the same way that what fn
// read was consistent: if not, the error came from a state that never existed as a
// whole, and fn runs again; if so, the error is returned as is. A read-only Update is
// checked too, so what it read is one consistent state. As with bolt, fn must not
// start another Update of the same store.
//
// View runs fn once, without a transaction: each Get is atomic, but a View is not a
// snapshot across several keys, nor across one ForEach, which lists the bucket's keys
// first and then fetches their values in batches (a key removed in between is
// skipped, a key added is not seen). Callers that need several reads to agree use
// Update.
//
// ForEach costs one HKEYS of the whole bucket (all keys held in memory, sorted bytewise
// in Go) plus one HMGET per batch of values; stopping early skips the remaining
// fetches. HKEYS blocks the server for time linear in the bucket's size, like any
// full-hash command.
//
// Durability and retention are the server's: run Redis with the append-only file
// (appendonly yes) so spooled saves survive a Redis restart, and with
// maxmemory-policy noeviction so locks and sessions are never evicted.
type Redis struct {
	client redis.UniversalClient
	shown  string   // the URL without its passwords, for messages
	prefix string   // RedisKeyPrefix, or RedisClusterKeyPrefix in a Cluster
	anchor []string // the key a Cluster transaction is routed by

	// wait is how many replicas must hold a transaction's writes before Update
	// returns (Redis WAIT), within waitTimeout.
	wait        int
	waitTimeout time.Duration

	// retry is shared by first attempts and held alone by an Update retrying after a
	// conflict.
	retry sync.RWMutex

	mu     sync.Mutex
	idle   sync.Cond // signalled when active drops to zero
	active int       // transactions running
	closed bool
}

var _ Store = (*Redis)(nil)

// OpenRedis connects to the Redis named by rawURL, one server, a Sentinel-watched
// master or a Cluster (see the forms in redis_url.go), and checks that it answers.
// Errors name WOPIBRIDGE_STATE and never show a password.
func OpenRedis(rawURL string) (*Redis, error) {
	target, err := parseRedisURL(rawURL)
	if err != nil {
		return nil, err
	}
	client := target.client()
	ctx, cancel := context.WithTimeout(context.Background(), redisOpenTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, target.redact(fmt.Errorf("WOPIBRIDGE_STATE: cannot reach Redis (%s) at %s: %w (is the server running, and are the hosts, ports, password, database and master name in the URL right?)", target.mode, target.shown, err))
	}
	r := &Redis{client: client, shown: target.shown, prefix: target.prefix, wait: target.wait, waitTimeout: target.waitTimeout}
	if target.mode == redisCluster {
		// ClusterClient.Watch needs a key to find the node: any key of the slot the
		// hash tag picks, never written.
		r.anchor = []string{target.prefix + "tx"}
	}
	r.idle.L = &r.mu
	return r, nil
}

// Update runs fn in an optimistic transaction (see Redis) and returns fn's error
// unchanged.
func (r *Redis) Update(fn func(tx Tx) error) error {
	if err := r.begin(); err != nil {
		return err
	}
	defer r.end()
	ctx := context.Background()

	r.retry.RLock()
	done, err := r.try(ctx, fn)
	r.retry.RUnlock()
	if done {
		return err
	}
	// A conflict. The retries run alone in this process, pauses included, so that they
	// only compete with other replicas and not with a stream of this process's own
	// first attempts.
	r.retry.Lock()
	defer r.retry.Unlock()
	for attempt := 2; ; attempt++ {
		time.Sleep(backoff(attempt - 1))
		if done, err := r.try(ctx, fn); done {
			return err
		}
		if attempt == redisMaxAttempts {
			return fmt.Errorf("%w: gave up after %d attempts (WOPIBRIDGE_STATE %s); nothing was written, try again", ErrConflict, attempt, r.shown)
		}
	}
}

// try runs fn once. It reports done=false when a hash fn touched changed before the
// end of the transaction: fn saw stale data and must run again.
func (r *Redis) try(ctx context.Context, fn func(Tx) error) (done bool, err error) {
	var fnErr error
	err = r.client.Watch(ctx, func(rtx *redis.Tx) error {
		tx := &redisTx{r: r, ctx: ctx, rd: rtx, rtx: rtx, watched: map[string]bool{}}
		defer tx.finish()
		if fnErr = fn(tx); fnErr != nil {
			tx.writes = nil
		}
		if err := tx.exec(); err != nil {
			return err
		}
		return tx.replicate()
	}, r.anchor...)
	switch {
	case errors.Is(err, redis.TxFailedErr):
		return false, nil
	case fnErr != nil:
		// Also when checking the reads failed otherwise (the connection broke):
		// fn's error is then the better report.
		return true, fnErr
	default:
		return true, r.wrap("commit", err)
	}
}

// View runs fn once with plain reads (not a snapshot, see Redis) and returns fn's error
// unchanged.
func (r *Redis) View(fn func(tx Tx) error) error {
	if err := r.begin(); err != nil {
		return err
	}
	defer r.end()
	tx := &redisTx{r: r, ctx: context.Background(), rd: r.client}
	defer tx.finish()
	return fn(tx)
}

// Close waits for running transactions and disconnects. Closing twice is allowed.
func (r *Redis) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	for r.active > 0 {
		r.idle.Wait()
	}
	r.mu.Unlock()
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("state: close redis %s: %w", r.shown, err)
	}
	return nil
}

func (r *Redis) begin() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.active++
	return nil
}

func (r *Redis) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active--; r.active == 0 {
		r.idle.Broadcast()
	}
}

func (r *Redis) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.ErrClosed):
		return ErrClosed
	default:
		return fmt.Errorf("state: redis %s (WOPIBRIDGE_STATE %s): %w", op, r.shown, err)
	}
}

func (r *Redis) key(bucket string) string { return r.prefix + bucket }

// backoff is the pause before attempt+1: doubling from redisBackoffMin up to
// redisBackoffMax, half of it random so that writers which collided spread out.
func backoff(attempt int) time.Duration {
	d := min(redisBackoffMax, redisBackoffMin<<min(attempt-1, 16))
	return d/2 + rand.N(d/2+1)
}

// redisReader is what a transaction reads through: the pooled client in a View, the
// transaction's own connection (where the WATCHes live) in an Update.
type redisReader interface {
	HGet(ctx context.Context, key, field string) *redis.StringCmd
	HKeys(ctx context.Context, key string) *redis.StringSliceCmd
	HMGet(ctx context.Context, key string, fields ...string) *redis.SliceCmd
}

type redisTx struct {
	r   *Redis
	ctx context.Context
	rd  redisReader
	rtx *redis.Tx // nil in a View

	watched map[string]bool                  // buckets WATCHed so far
	writes  map[string]map[string]redisWrite // bucket → key → buffered write
	ended   bool
}

// redisWrite is a buffered Put (value) or Delete (deleted).
type redisWrite struct {
	value   []byte
	deleted bool
}

var errTxEnded = errors.New("state: transaction used after it ended")

func (t *redisTx) finish() { t.ended = true }

func (t *redisTx) Get(bucket, key string) ([]byte, error) {
	if key == "" {
		return nil, errEmptyKey
	}
	if t.ended {
		return nil, errTxEnded
	}
	if w, ok := t.writes[bucket][key]; ok {
		if w.deleted {
			return nil, nil
		}
		return clone(w.value), nil
	}
	if err := t.watch(bucket, "read"); err != nil {
		return nil, err
	}
	s, err := t.rd.HGet(t.ctx, t.r.key(bucket), key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, t.r.wrap("read", err)
	}
	return bytesOf(s), nil
}

func (t *redisTx) Put(bucket, key string, value []byte) error {
	if key == "" {
		return errEmptyKey
	}
	v := make([]byte, len(value)) // never nil: a present empty value stays present
	copy(v, value)
	return t.buffer(bucket, key, redisWrite{value: v})
}

func (t *redisTx) Delete(bucket, key string) error {
	if key == "" {
		return errEmptyKey
	}
	return t.buffer(bucket, key, redisWrite{deleted: true})
}

func (t *redisTx) buffer(bucket, key string, w redisWrite) error {
	if t.rtx == nil {
		return errReadOnly
	}
	if t.ended {
		return errTxEnded
	}
	if err := t.watch(bucket, "write"); err != nil {
		return err
	}
	if t.writes == nil {
		t.writes = map[string]map[string]redisWrite{}
	}
	if t.writes[bucket] == nil {
		t.writes[bucket] = map[string]redisWrite{}
	}
	t.writes[bucket][key] = w
	return nil
}

func (t *redisTx) ForEach(bucket string, fn func(key string, value []byte) error) error {
	if t.ended {
		return errTxEnded
	}
	if err := t.watch(bucket, "list"); err != nil {
		return err
	}
	hkey := t.r.key(bucket)
	onServer, err := t.rd.HKeys(t.ctx, hkey).Result()
	if err != nil {
		return t.r.wrap("list", err)
	}
	buffered := t.writes[bucket]
	keys := onServer[:0]
	for _, k := range onServer {
		if _, ok := buffered[k]; !ok {
			keys = append(keys, k)
		}
	}
	for k, w := range buffered {
		if !w.deleted {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // Go compares strings bytewise

	batch := forEachFirstBatch
	for len(keys) > 0 {
		page := keys[:min(batch, len(keys))]
		keys = keys[len(page):]
		var fetch []string
		for _, k := range page {
			if _, ok := buffered[k]; !ok {
				fetch = append(fetch, k)
			}
		}
		fetched := make(map[string][]byte, len(fetch))
		if len(fetch) > 0 {
			vals, err := t.rd.HMGet(t.ctx, hkey, fetch...).Result()
			if err != nil {
				return t.r.wrap("read", err)
			}
			size := 0
			for i, v := range vals {
				if s, ok := v.(string); ok { // nil: removed since HKEYS
					fetched[fetch[i]] = bytesOf(s)
					size += len(s)
				}
			}
			batch = nextBatch(size, len(vals))
		}
		for _, k := range page {
			v, ok := fetched[k]
			if w, inTx := buffered[k]; inTx {
				v, ok = clone(w.value), true
			}
			if !ok {
				continue
			}
			if err := fn(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// nextBatch sizes the next HMGET from the last one's size bytes over n values.
func nextBatch(size, n int) int {
	if size == 0 || n == 0 {
		return forEachMaxBatch
	}
	return max(1, min(forEachMaxBatch, forEachBatchBytes/max(1, size/n)))
}

// watch WATCHes a bucket's hash before the transaction first uses it, so that a change
// by anyone else from then on makes EXEC fail.
func (t *redisTx) watch(bucket, op string) error {
	if t.rtx == nil || t.watched[bucket] {
		return nil
	}
	if err := t.rtx.Watch(t.ctx, t.r.key(bucket)).Err(); err != nil {
		return t.r.wrap(op, err)
	}
	t.watched[bucket] = true
	return nil
}

// exec ends an Update: the buffered writes in one MULTI/EXEC, or, with nothing to
// write, an empty one (a PING) that only checks that no watched hash changed. It
// returns redis.TxFailedErr when one did.
func (t *redisTx) exec() error {
	if len(t.watched) == 0 {
		return nil // fn touched nothing
	}
	_, err := t.rtx.TxPipelined(t.ctx, func(p redis.Pipeliner) error {
		if len(t.writes) == 0 {
			p.Ping(t.ctx)
			return nil
		}
		for bucket, ws := range t.writes {
			var set []any
			var del []string
			for k, w := range ws {
				if w.deleted {
					del = append(del, k)
				} else {
					set = append(set, k, w.value)
				}
			}
			if len(set) > 0 {
				p.HSet(t.ctx, t.r.key(bucket), set...)
			}
			if len(del) > 0 {
				p.HDel(t.ctx, t.r.key(bucket), del...)
			}
		}
		return nil
	})
	return err
}

// replicate waits, after writes, until r.wait replicas acknowledged them (WAIT on the
// connection that wrote). Replication is asynchronous: without this a write the
// master acknowledged can be lost when a replica takes over, and a save would have
// been acknowledged to the editor on the strength of it.
func (t *redisTx) replicate() error {
	if t.r.wait == 0 || len(t.writes) == 0 {
		return nil
	}
	n, err := t.rtx.Wait(t.ctx, t.r.wait, t.r.waitTimeout).Result()
	if err != nil {
		return fmt.Errorf("wait for %d replicas: %w", t.r.wait, err)
	}
	if int(n) < t.r.wait {
		return fmt.Errorf("%w: %d of %d replicas acknowledged the write within %v", ErrNotReplicated, n, t.r.wait, t.r.waitTimeout)
	}
	return nil
}

// bytesOf copies s into a new slice, non-nil even when empty.
func bytesOf(s string) []byte {
	b := make([]byte, len(s))
	copy(b, s)
	return b
}

// redact keeps a password out of an error's message.
func redact(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return redactedError{err: err, password: password}
}

type redactedError struct {
	err      error
	password string
}

func (e redactedError) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.password, "xxxxx")
}

func (e redactedError) Unwrap() error { return e.err }
