package events

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/state/redistest"
)

// eachStore runs fn against a bolt file and a real Redis server.
func eachStore(t *testing.T, fn func(t *testing.T, open func() state.Store)) {
	t.Run("bolt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		var st state.Store
		fn(t, func() state.Store {
			if st == nil { // bolt has one writer: every Log of the test shares the file
				b, err := state.OpenBolt(path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				st = b
			}
			return st
		})
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		fn(t, func() state.Store {
			r, err := state.OpenRedis(srv.URL(0))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		})
	})
}

func newLog(t *testing.T, st state.Store, o LogOptions) *Log {
	t.Helper()
	l := NewLog(st, o)
	t.Cleanup(func() { l.Close() })
	return l
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func list(t *testing.T, l *Log, file string, since uint64, limit int) []Event {
	t.Helper()
	evs, err := l.List(file, since, limit)
	if err != nil {
		t.Fatalf("List(%s): %v", file, err)
	}
	return evs
}

func seqs(evs []Event) []uint64 {
	var s []uint64
	for _, e := range evs {
		s = append(s, e.Seq)
	}
	return s
}

func details(evs []Event) []string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Detail)
	}
	return s
}

func TestLogOrderAndFiles(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() state.Store) {
		l := newLog(t, open(), LogOptions{})
		for i := range 6 {
			l.Record(Event{FileID: "a", Kind: KindLock, Style: StyleWOPI, Detail: fmt.Sprint("a", i)})
			if i%2 == 0 {
				l.Record(Event{FileID: "b", Kind: KindSave, Style: StyleDocs, Detail: fmt.Sprint("b", i)})
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		got := list(t, l, "a", 0, 0)
		if want := []uint64{6, 5, 4, 3, 2, 1}; fmt.Sprint(seqs(got)) != fmt.Sprint(want) {
			t.Errorf("a seqs = %v, want %v", seqs(got), want)
		}
		if want := "[a5 a4 a3 a2 a1 a0]"; fmt.Sprint(details(got)) != want {
			t.Errorf("a details = %v, want %v", details(got), want)
		}
		for _, e := range got {
			if e.FileID != "a" || e.Kind != KindLock || e.Style != StyleWOPI || e.Time.IsZero() {
				t.Errorf("event %+v: want file a, lock, wopi, a time", e)
			}
		}
		gotB := list(t, l, "b", 0, 0)
		if want := "[3 2 1] [b4 b2 b0]"; fmt.Sprint(seqs(gotB), " ", details(gotB)) != want {
			t.Errorf("b = %v %v, want %s", seqs(gotB), details(gotB), want)
		}
		if got := list(t, l, "a", 4, 0); fmt.Sprint(seqs(got)) != "[6 5]" {
			t.Errorf("since 4: %v, want [6 5]", seqs(got))
		}
		if got := list(t, l, "a", 0, 2); fmt.Sprint(seqs(got)) != "[6 5]" {
			t.Errorf("limit 2: %v, want [6 5]", seqs(got))
		}
		if got := list(t, l, "none", 0, 0); len(got) != 0 {
			t.Errorf("unknown file: %v, want none", got)
		}
	})
}

// bucketKeys lists the keys of a file's bucket as stored.
func bucketKeys(t *testing.T, st state.Store, file string) []string {
	t.Helper()
	var keys []string
	err := st.View(func(tx state.Tx) error {
		return tx.ForEach(EventsBucket(file), func(k string, _ []byte) error {
			keys = append(keys, k)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestLogBoundByCount(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() state.Store) {
		st := open()
		l := newLog(t, st, LogOptions{Max: 5, Batch: 3})
		for i := range 12 {
			l.Record(Event{FileID: "f", Kind: KindJoined, Detail: fmt.Sprint(i)})
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		got := list(t, l, "f", 0, 1000)
		if want := "[12 11 10 9 8] [11 10 9 8 7]"; fmt.Sprint(seqs(got), " ", details(got)) != want {
			t.Errorf("kept %v %v, want %s", seqs(got), details(got), want)
		}
		if keys := bucketKeys(t, st, "f"); len(keys) != 6 {
			t.Errorf("bucket holds %d keys %v, want 5 events and the meta key", len(keys), keys)
		}
	})
}

// clock is a time that tests move.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLogBoundByAge(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() state.Store) {
		st := open()
		c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
		l := newLog(t, st, LogOptions{MaxAge: time.Hour, Now: c.now})
		for range 3 {
			l.Record(Event{FileID: "f", Kind: KindOpened})
		}
		waitFor(t, "3 events stored", func() bool { return len(list(t, l, "f", 0, 0)) == 3 })
		c.add(30 * time.Minute)
		l.Record(Event{FileID: "f", Kind: KindSave})
		waitFor(t, "4 events stored", func() bool { return len(list(t, l, "f", 0, 0)) == 4 })
		c.add(45 * time.Minute) // the first three are now 75 minutes old, the save 45
		l.Record(Event{FileID: "f", Kind: KindEnded})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		got := list(t, l, "f", 0, 0)
		if want := "[5 4]"; fmt.Sprint(seqs(got)) != want {
			t.Errorf("kept %v, want %s", seqs(got), want)
		}
		if keys := bucketKeys(t, st, "f"); len(keys) != 3 {
			t.Errorf("bucket holds %v, want 2 events and the meta key", keys)
		}
	})
}

func TestLogSeqUniqueAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	const writers, each = 3, 60
	var logs []*Log
	for range 2 {
		st, err := state.OpenRedis(srv.URL(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		logs = append(logs, newLog(t, st, LogOptions{Max: 10000, Batch: 4}))
	}
	var wg sync.WaitGroup
	for r, l := range logs {
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					l.Record(Event{FileID: "shared", Kind: KindSave, Detail: fmt.Sprintf("r%d-w%d-%d", r, w, i)})
				}
			})
		}
	}
	wg.Wait()
	for _, l := range logs {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range logs {
		for _, reason := range DropReasons {
			if n := l.Dropped(reason); n != 0 {
				t.Errorf("dropped %d for %s", n, reason)
			}
		}
	}
	got := list(t, logs[0], "shared", 0, 1000)
	const total = 2 * writers * each
	if len(got) != total {
		t.Fatalf("stored %d events, want %d", len(got), total)
	}
	seen := map[string]bool{}
	for i, e := range got {
		if want := uint64(total - i); e.Seq != want {
			t.Fatalf("event %d has Seq %d, want %d (Seqs unique and without gaps)", i, e.Seq, want)
		}
		if seen[e.Detail] {
			t.Fatalf("event %s stored twice", e.Detail)
		}
		seen[e.Detail] = true
	}
}

func TestLogDropsWhenQueueFull(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() state.Store) {
		l := NewLog(open(), LogOptions{Queue: 2, Batch: 1})
		t.Cleanup(func() { l.Close() })
		held, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		l.hook = func() {
			once.Do(func() { close(held); <-release })
		}
		l.Record(Event{FileID: "f", Detail: "taken by the writer"})
		<-held
		l.Record(Event{FileID: "f", Detail: "queued 1"})
		l.Record(Event{FileID: "f", Detail: "queued 2"})
		for range 3 {
			l.Record(Event{FileID: "f", Detail: "dropped"})
		}
		l.Record(Event{FileID: "g", Detail: "dropped"})
		if got := l.Dropped(DropQueueFull); got != 4 {
			t.Errorf("Dropped(queue_full) = %d, want 4", got)
		}
		if got, gotG := l.DroppedFor("f"), l.DroppedFor("g"); got != 3 || gotG != 1 {
			t.Errorf("DroppedFor f, g = %d, %d, want 3, 1", got, gotG)
		}
		close(release)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		got := list(t, l, "f", 0, 0)
		if want := "[queued 2 queued 1 taken by the writer]"; fmt.Sprint(details(got)) != want {
			t.Errorf("stored %v, want %s", details(got), want)
		}
		l.Record(Event{FileID: "f"})
		if got := l.Dropped(DropClosed); got != 1 {
			t.Errorf("after Close: Dropped(closed) = %d, want 1", got)
		}
	})
}

// failingStore refuses every transaction.
type failingStore struct{ state.Store }

var errDown = errors.New("store down")

func (failingStore) Update(func(state.Tx) error) error { return errDown }
func (failingStore) View(func(state.Tx) error) error   { return errDown }

func TestLogDropsWhenStoreFails(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() state.Store) {
		st := open()
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		l := newLog(t, st, LogOptions{})
		for range 3 {
			l.Record(Event{FileID: "f"})
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if got := l.Dropped(DropStore); got != 3 {
			t.Errorf("closed store: Dropped(store) = %d, want 3", got)
		}
		if got := l.DroppedFor("f"); got != 3 {
			t.Errorf("closed store: DroppedFor(f) = %d, want 3", got)
		}
	})
	t.Run("failing", func(t *testing.T) {
		l := newLog(t, failingStore{}, LogOptions{})
		l.Record(Event{FileID: "f"})
		l.Record(Event{FileID: "g"})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if got := l.Dropped(DropStore); got != 2 {
			t.Errorf("Dropped(store) = %d, want 2", got)
		}
		if _, err := l.List("f", 0, 0); !errors.Is(err, errDown) {
			t.Errorf("List on a failing store: %v, want %v", err, errDown)
		}
	})
}

func receive(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("watch ended")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return Event{}
}

func TestLogWatchOwnWrites(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() state.Store) {
		// Polling once an hour: what arrives comes from the wake-up on own writes.
		l := newLog(t, open(), LogOptions{Poll: time.Hour})
		l.Record(Event{FileID: "f", Detail: "one"})
		l.Record(Event{FileID: "f", Detail: "two"})
		waitFor(t, "2 events", func() bool { return len(list(t, l, "f", 0, 0)) == 2 })
		ctx, cancel := context.WithCancel(context.Background())
		ch := l.Watch(ctx, "f", 1)
		if e := receive(t, ch); e.Seq != 2 || e.Detail != "two" {
			t.Errorf("first = %d %s, want 2 two", e.Seq, e.Detail)
		}
		l.Record(Event{FileID: "other"})
		l.Record(Event{FileID: "f", Detail: "three"})
		if e := receive(t, ch); e.Seq != 3 || e.Detail != "three" {
			t.Errorf("live = %d %s, want 3 three", e.Seq, e.Detail)
		}
		cancel()
		for range ch {
		}
	})
}

func TestLogWatchOtherReplica(t *testing.T) {
	srv := redistest.Start(t)
	open := func() state.Store {
		r, err := state.OpenRedis(srv.URL(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	a := newLog(t, open(), LogOptions{Poll: 20 * time.Millisecond})
	b := newLog(t, open(), LogOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := a.Watch(ctx, "f", 0)
	b.Record(Event{FileID: "f", Detail: "from b"})
	if e := receive(t, ch); e.Seq != 1 || e.Detail != "from b" {
		t.Errorf("got %d %s, want 1 from b", e.Seq, e.Detail)
	}
	// The Log closing ends the watch.
	a.Close()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("an event after Close")
		}
	case <-time.After(10 * time.Second):
		t.Error("watch still open 10s after Close")
	}
}

func TestLogCloseGivesUpOnAStuckStore(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() state.Store) {
		l := NewLog(open(), LogOptions{Batch: 1, FlushTimeout: 50 * time.Millisecond})
		held, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		l.hook = func() { once.Do(func() { close(held); <-release }) }
		l.Record(Event{FileID: "f", Detail: "being written"})
		<-held
		for range 3 {
			l.Record(Event{FileID: "f", Detail: "queued"})
		}
		err := l.Close()
		if err == nil || !strings.Contains(err.Error(), "3 were dropped") {
			t.Errorf("Close = %v, want an error counting 3 dropped", err)
		}
		if got := l.Dropped(DropClosed); got != 3 {
			t.Errorf("Dropped(closed) = %d, want 3", got)
		}
		close(release)
		<-l.done
		if got := details(list(t, l, "f", 0, 0)); fmt.Sprint(got) != "[being written]" {
			t.Errorf("stored %v, want only the event being written", got)
		}
	})
}
