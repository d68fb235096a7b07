package state_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/state/redistest"
)

// testNotifier: a notice sent on one store reaches every listener of its channel on
// the stores that share the state (two connections to one Redis, one bolt file's
// process), and no listener of another channel; a listener whose context ends has its
// channel closed.
func testNotifier(t *testing.T, a, b state.Notifier) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	onA, err := a.Listen(ctx, "files")
	if err != nil {
		t.Fatal(err)
	}
	onB, err := b.Listen(ctx, "files")
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.Listen(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Notify(ctx, "files", "f1 spooled"); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]<-chan string{"sender": onA, "other store": onB} {
		select {
		case got := <-c:
			if got != "f1 spooled" {
				t.Errorf("%s heard %q, want %q", name, got, "f1 spooled")
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s heard nothing", name)
		}
	}
	if err := b.Notify(ctx, "other", "marker"); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-other:
		if got != "marker" {
			t.Errorf("listener of another channel heard %q first, want only its own %q", got, "marker")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("listener of the other channel heard nothing")
	}
	cancel()
	deadline := time.After(10 * time.Second)
	for _, c := range []<-chan string{onA, onB, other} {
		for open := true; open; {
			select {
			case _, open = <-c:
			case <-deadline:
				t.Fatal("a listener's channel stayed open after its context ended")
			}
		}
	}
}

func TestRedisNotifier(t *testing.T) {
	srv := redistest.Start(t)
	a, b := openRedis(t, srv.URL(0)), openRedis(t, srv.URL(0))
	testNotifier(t, a, b)
}

func TestBoltNotifier(t *testing.T) {
	st, err := state.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	testNotifier(t, st, st)
}

// TestRedisNotifierResubscribes: a listener whose connection Redis drops subscribes
// again by itself and hears later notices.
func TestRedisNotifierResubscribes(t *testing.T) {
	srv := redistest.Start(t)
	a := openRedis(t, srv.URL(0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heard, err := a.Listen(ctx, "files")
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	if n, err := admin.ClientKillByFilter(ctx, "TYPE", "pubsub").Result(); err != nil || n != 1 {
		t.Fatalf("dropping the listener's connection: %d killed, %v", n, err)
	}
	// Notices sent while it reconnects are lost: send until one is heard.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := a.Notify(ctx, "files", "after"); err != nil {
			t.Fatal(err)
		}
		select {
		case got, ok := <-heard:
			if !ok {
				t.Fatal("the listener's channel closed when its connection dropped")
			}
			if got != "after" {
				t.Fatalf("heard %q", got)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the listener never heard a notice after its connection dropped")
		}
	}
}
