package keymutex

import (
	"sync"
	"testing"
)

func TestExclusivePerKeyAndDropped(t *testing.T) {
	var m Map
	var wg sync.WaitGroup
	counts := [2]int{} // one slot per key: different keys may run at once
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := []string{"a", "b"}[i%2]
			unlock := m.Lock(key)
			counts[i%2]++ // a data race unless the key's mutex excludes
			unlock()
		}()
	}
	wg.Wait()
	if counts[0] != 100 || counts[1] != 100 {
		t.Fatalf("counts = %v", counts)
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("%d mutexes kept after all were released", n)
	}
}

func TestKeysDoNotBlockEachOther(t *testing.T) {
	var m Map
	unlockA := m.Lock("a")
	done := make(chan struct{})
	go func() {
		m.Lock("b")()
		close(done)
	}()
	<-done // would hang if "b" waited for "a"
	unlockA()
}
