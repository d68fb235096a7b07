package state

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Notifier is implemented by stores whose users can tell each other of a change at
// once: the replicas of a Redis state (PUBLISH/SUBSCRIBE), the users of one embedded
// state within its process. A notice is a hint to look at the store again, never the
// change itself: a listener that was away (a reconnect) misses notices, so users keep
// looking now and then as well.
type Notifier interface {
	// Notify sends msg to every listener of channel, this process's included.
	Notify(ctx context.Context, channel, msg string) error
	// Listen returns the notices of channel until ctx ends (then the channel closes).
	// Notices that arrive faster than they are read are dropped.
	Listen(ctx context.Context, channel string) (<-chan string, error)
}

var (
	_ Notifier = (*Redis)(nil)
	_ Notifier = (*Bolt)(nil)
)

// noticeBuffer is how many notices a slow listener may fall behind by.
const noticeBuffer = 64

// Notify publishes msg on the channel (under the keys' prefix).
func (r *Redis) Notify(ctx context.Context, channel, msg string) error {
	if err := r.begin(); err != nil {
		return err
	}
	defer r.end()
	return r.wrap("notify", r.client.Publish(ctx, RedisKeyPrefix+channel, msg).Err())
}

// Listen subscribes to the channel. The client reconnects by itself after a lost
// connection and subscribes again; notices sent meanwhile are lost.
func (r *Redis) Listen(ctx context.Context, channel string) (<-chan string, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	ps := r.client.Subscribe(ctx, RedisKeyPrefix+channel)
	if _, err := ps.Receive(ctx); err != nil { // the subscription is confirmed
		ps.Close()
		return nil, r.wrap("listen", err)
	}
	out := make(chan string, noticeBuffer)
	go func() {
		defer close(out)
		defer ps.Close()
		in := ps.Channel(redis.WithChannelSize(noticeBuffer))
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- m.Payload:
				default:
				}
			}
		}
	}()
	return out, nil
}

// hub delivers notices within one process.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan string]struct{}
}

func (h *hub) notify(channel, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs[channel] {
		select {
		case c <- msg:
		default:
		}
	}
}

func (h *hub) listen(ctx context.Context, channel string) <-chan string {
	c := make(chan string, noticeBuffer)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[string]map[chan string]struct{}{}
	}
	if h.subs[channel] == nil {
		h.subs[channel] = map[chan string]struct{}{}
	}
	h.subs[channel][c] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		delete(h.subs[channel], c)
		h.mu.Unlock()
		close(c)
	}()
	return c
}

// Notify tells this process's listeners of the channel.
func (b *Bolt) Notify(ctx context.Context, channel, msg string) error {
	if b.closed.Load() {
		return ErrClosed
	}
	b.hub.notify(channel, msg)
	return nil
}

// Listen returns this process's notices of the channel.
func (b *Bolt) Listen(ctx context.Context, channel string) (<-chan string, error) {
	if b.closed.Load() {
		return nil, ErrClosed
	}
	return b.hub.listen(ctx, channel), nil
}
