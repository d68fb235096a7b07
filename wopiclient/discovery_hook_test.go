package wopiclient

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// OnFetch hears every fetch, successful or not, and nothing served from the cache.
func TestDiscoveryCacheOnFetch(t *testing.T) {
	ds := newFakeDS(t, string(readTestdata(t, "discovery-fixture.xml")))
	clock := newFakeClock()
	var mu sync.Mutex
	var got []bool
	c, err := NewDiscoveryCache(DiscoveryCacheOptions{
		URL: ds.URL, TTL: time.Hour, RetryInterval: 15 * time.Second, Now: clock.Now,
		OnFetch: func(ok bool) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, ok)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Get(ctx); err != nil { // fetch: ok
		t.Fatal(err)
	}
	if _, err := c.Get(ctx); err != nil { // cached: no fetch
		t.Fatal(err)
	}
	ds.set(http.StatusBadGateway, "down")
	if _, err := c.Refresh(ctx); err == nil { // fetch: error
		t.Fatal("Refresh with DS down succeeded")
	}
	clock.Advance(2 * time.Hour)
	if _, err := c.Get(ctx); err != nil { // fetch: error, the last good copy served
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []bool{true, false, false}; !slices.Equal(got, want) {
		t.Errorf("OnFetch calls = %v, want %v", got, want)
	}
}
