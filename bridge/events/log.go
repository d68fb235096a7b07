package events

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
)

// Reasons an event is dropped instead of stored.
const (
	DropQueueFull = "queue_full" // the writer was behind by LogOptions.Queue events
	DropStore     = "store"      // the state store refused the batch (down, closed, conflicting)
	DropClosed    = "closed"     // recorded after Close, or still queued when Close gave up
)

// DropReasons lists every reason, for counters that start at zero.
var DropReasons = []string{DropQueueFull, DropStore, DropClosed}

// Defaults of LogOptions.
const (
	DefaultMax    = 500
	DefaultMaxAge = 720 * time.Hour

	defaultQueue   = 4096
	defaultBatch   = 256
	defaultPoll    = time.Second
	defaultLinger  = 50 * time.Millisecond
	defaultFlush   = 5 * time.Second
	defaultPageMax = 1000
)

// LogOptions configures a Log. Zero values take the defaults.
type LogOptions struct {
	// Max is how many events a file keeps (the oldest go first); MaxAge how long an
	// event is kept. Both are enforced when a file's events are written.
	Max    int
	MaxAge time.Duration
	// Queue bounds the events waiting for the writer; Batch how many it stores in one
	// transaction.
	Queue int
	Batch int
	// Linger is how long the writer waits after an event for more to store in the same
	// transaction (each commit syncs the store to disk): events show up to this late.
	Linger time.Duration
	// Poll is how often Watch looks in the store for events other replicas wrote.
	Poll time.Duration
	// FlushTimeout bounds how long Close waits for the queued events to be stored.
	FlushTimeout time.Duration
	Now          func() time.Time
}

// Log is the store-backed timeline. Record queues the event and returns at once; one
// background writer stores the queue in batches, giving each event its file's next Seq
// inside the write transaction, so that replicas sharing a store never give one Seq
// twice. What cannot be stored (a full queue, a failing store) is dropped and counted.
//
// Layout: each file's events are one bucket, EventsBucket(fileID), one key per event
// (its Seq, zero-padded to 20 digits, so key order is Seq order) holding the event's
// JSON, and the key metaKey holding the first Seq still kept and the last Seq given.
// Reading or trimming one file never touches another's bucket (with Redis, one hash
// per file).
type Log struct {
	st  state.Store
	opt LogOptions

	queue  chan Event
	stop   chan struct{}
	done   chan struct{}
	closed atomic.Bool
	once   sync.Once

	mu       sync.Mutex
	dropped  map[string]uint64 // by reason
	perFile  map[string]uint64 // by file
	wake     map[string]chan struct{}
	wakeDone bool // no more writes: watchers need not wait for one
	// hook, when set, is called by the writer before each batch (tests use it to hold
	// the writer and fill the queue).
	hook func()
}

var _ Recorder = (*Log)(nil)

// NewLog starts a Log over st; Close stops it. The Log does not close st.
func NewLog(st state.Store, o LogOptions) *Log {
	if o.Max <= 0 {
		o.Max = DefaultMax
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Queue <= 0 {
		o.Queue = defaultQueue
	}
	if o.Batch <= 0 {
		o.Batch = defaultBatch
	}
	if o.Poll <= 0 {
		o.Poll = defaultPoll
	}
	if o.Linger <= 0 {
		o.Linger = defaultLinger
	}
	if o.FlushTimeout <= 0 {
		o.FlushTimeout = defaultFlush
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &Log{
		st:      st,
		opt:     o,
		queue:   make(chan Event, o.Queue),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		dropped: map[string]uint64{},
		perFile: map[string]uint64{},
		wake:    map[string]chan struct{}{},
	}
	go l.run()
	return l
}

// Record queues e for storage. It never blocks: with the queue full, or after Close,
// e is dropped and counted. A zero Time is set to now; Seq is given when stored.
func (l *Log) Record(e Event) {
	if e.FileID == "" {
		return
	}
	if l.closed.Load() {
		l.drop(DropClosed, e.FileID, 1)
		return
	}
	if e.Time.IsZero() {
		e.Time = l.opt.Now()
	}
	e.Seq = 0
	select {
	case l.queue <- e:
	default:
		l.drop(DropQueueFull, e.FileID, 1)
	}
}

// Dropped is how many events were dropped for a reason (one of DropReasons) since the
// Log started.
func (l *Log) Dropped(reason string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped[reason]
}

// DroppedFor is how many events of fileID this process dropped.
func (l *Log) DroppedFor(fileID string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perFile[fileID]
}

func (l *Log) drop(reason, fileID string, n uint64) {
	l.mu.Lock()
	l.dropped[reason] += n
	l.perFile[fileID] += n
	l.mu.Unlock()
}

// Close stores what is queued, waiting at most LogOptions.FlushTimeout, and stops the
// writer; events recorded from then on are dropped. Closing twice is allowed.
func (l *Log) Close() error {
	var err error
	l.once.Do(func() {
		l.closed.Store(true)
		close(l.stop)
		t := time.NewTimer(l.opt.FlushTimeout)
		defer t.Stop()
		select {
		case <-l.done:
		case <-t.C:
			n := 0
			for drained := false; !drained; {
				select {
				case e := <-l.queue:
					l.drop(DropClosed, e.FileID, 1)
					n++
				default:
					drained = true
				}
			}
			err = fmt.Errorf("events: the state store did not take the queued events within %v; %d were dropped", l.opt.FlushTimeout, n)
		}
		l.mu.Lock()
		l.wakeDone = true
		for f, ch := range l.wake {
			close(ch)
			delete(l.wake, f)
		}
		l.mu.Unlock()
	})
	return err
}

// run is the writer.
func (l *Log) run() {
	defer close(l.done)
	batch := make([]Event, 0, l.opt.Batch)
	linger := time.NewTimer(l.opt.Linger)
	linger.Stop()
	for {
		select {
		case e := <-l.queue:
			batch = append(batch[:0], e)
			linger.Reset(l.opt.Linger)
		collect:
			for len(batch) < l.opt.Batch {
				select {
				case e := <-l.queue:
					batch = append(batch, e)
				case <-linger.C:
					break collect
				case <-l.stop:
					break collect
				}
			}
			linger.Stop()
			l.write(batch)
		case <-l.stop:
			for {
				batch = batch[:0]
				for len(batch) < l.opt.Batch {
					select {
					case e := <-l.queue:
						batch = append(batch, e)
						continue
					default:
					}
					break
				}
				if len(batch) == 0 {
					return
				}
				l.write(batch)
			}
		}
	}
}

// write stores a batch in one transaction, or drops it all.
func (l *Log) write(batch []Event) {
	if l.hook != nil {
		l.hook()
	}
	var files []string
	byFile := map[string][]Event{}
	for _, e := range batch {
		if _, ok := byFile[e.FileID]; !ok {
			files = append(files, e.FileID)
		}
		byFile[e.FileID] = append(byFile[e.FileID], e)
	}
	now := l.opt.Now()
	err := l.st.Update(func(tx state.Tx) error {
		for _, f := range files {
			if err := l.append(tx, f, byFile[f], now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for _, f := range files {
			l.drop(DropStore, f, uint64(len(byFile[f])))
		}
		return
	}
	l.mu.Lock()
	for _, f := range files {
		if ch, ok := l.wake[f]; ok {
			close(ch)
			delete(l.wake, f)
		}
	}
	l.mu.Unlock()
}

// append stores evs as the next events of file, then trims the file by count and age.
// It runs inside Update, perhaps more than once: it changes nothing but tx.
func (l *Log) append(tx state.Tx, file string, evs []Event, now time.Time) error {
	b := EventsBucket(file)
	m, err := readMeta(tx, b)
	if err != nil {
		return err
	}
	for _, e := range evs {
		m.last++
		if m.first == 0 {
			m.first = m.last
		}
		e.Seq = m.last
		v, err := encode(e)
		if err != nil {
			return err
		}
		if err := tx.Put(b, seqKey(e.Seq), v); err != nil {
			return err
		}
	}
	// By count: the oldest beyond Max go.
	for m.first != 0 && m.last-m.first+1 > uint64(l.opt.Max) {
		if err := tx.Delete(b, seqKey(m.first)); err != nil {
			return err
		}
		m.first++
	}
	// By age: from the oldest on, until one is young enough.
	cutoff := now.Add(-l.opt.MaxAge)
	for m.first != 0 && m.first <= m.last {
		v, err := tx.Get(b, seqKey(m.first))
		if err != nil {
			return err
		}
		if v != nil {
			e, err := decode(v)
			if err == nil && !e.Time.Before(cutoff) {
				break
			}
			if err := tx.Delete(b, seqKey(m.first)); err != nil {
				return err
			}
		}
		m.first++
	}
	if m.first > m.last {
		m.first = 0 // nothing kept; the next event still gets last+1
	}
	return tx.Put(b, metaKey, m.encode())
}

// List returns fileID's stored events with Seq > since, newest first, at most limit
// (at most 1000; 0 or less: 100).
func (l *Log) List(fileID string, since uint64, limit int) ([]Event, error) {
	return List(l.st, fileID, since, limit)
}

// List reads fileID's events from st as Log.List does, without a Log: for tools that
// read the timeline a server writes.
func List(st state.Store, fileID string, since uint64, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, defaultPageMax)
	var out []Event
	err := st.View(func(tx state.Tx) error {
		out = out[:0]
		b := EventsBucket(fileID)
		m, err := readMeta(tx, b)
		if err != nil || m.first == 0 {
			return err
		}
		lo := max(m.first, since+1)
		if lo > m.last {
			return nil
		}
		if m.last-lo+1 <= uint64(limit) || limit < 32 {
			// Newest first by key: few reads, and never more than limit.
			for seq := m.last; seq >= lo && len(out) < limit; seq-- {
				v, err := tx.Get(b, seqKey(seq))
				if err != nil {
					return err
				}
				if e, err := decode(v); v != nil && err == nil {
					out = append(out, e)
				}
			}
			return nil
		}
		var asc [][]byte
		err = tx.ForEach(b, func(k string, v []byte) error {
			if seq, ok := parseSeqKey(k); ok && seq >= lo {
				asc = append(asc, v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := len(asc) - 1; i >= 0 && len(out) < limit; i-- {
			if e, err := decode(asc[i]); err == nil {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// after returns fileID's events with Seq > since in ascending order, at most limit.
func (l *Log) after(fileID string, since uint64, limit int) ([]Event, error) {
	var out []Event
	err := l.st.View(func(tx state.Tx) error {
		out = out[:0]
		b := EventsBucket(fileID)
		m, err := readMeta(tx, b)
		if err != nil || m.first == 0 {
			return err
		}
		for seq := max(m.first, since+1); seq <= m.last && len(out) < limit; seq++ {
			v, err := tx.Get(b, seqKey(seq))
			if err != nil {
				return err
			}
			if e, err := decode(v); v != nil && err == nil {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// Watch sends fileID's events with Seq > since in ascending order as they are stored:
// at once for this process's own writes, and within LogOptions.Poll for other
// replicas'. The channel is closed when ctx ends or the Log closes. A failing store
// is tried again at the next poll.
func (l *Log) Watch(ctx context.Context, fileID string, since uint64) <-chan Event {
	ch := make(chan Event)
	go func() {
		defer close(ch)
		tick := time.NewTicker(l.opt.Poll)
		defer tick.Stop()
		for {
			// Register for a wake-up before reading, so a write in between is not missed.
			wake := l.wakeOn(fileID)
			evs, err := l.after(fileID, since, defaultPageMax)
			if err == nil {
				for _, e := range evs {
					select {
					case ch <- e:
						since = e.Seq
					case <-ctx.Done():
						return
					}
				}
				if len(evs) == defaultPageMax {
					continue // more waiting
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-l.stop:
				return
			case <-wake:
			case <-tick.C:
			}
		}
	}()
	return ch
}

// wakeOn returns a channel closed at the next write of fileID by this Log.
func (l *Log) wakeOn(fileID string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wakeDone {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	ch, ok := l.wake[fileID]
	if !ok {
		ch = make(chan struct{})
		l.wake[fileID] = ch
	}
	return ch
}
