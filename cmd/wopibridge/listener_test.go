package main

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// TestLimitListener: the third connection is accepted only once one of the first two
// closes.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first := <-accepted
	<-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted while two were open")
	default:
	}
	first.Close()
	first.Close() // closing twice releases once
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(20 * time.Second):
		t.Fatal("the third connection was not accepted after one closed")
	}
	// The second connection holds a slot and the accept loop, back in Accept, takes
	// another as soon as it runs again: two, unless a double close released twice.
	deadline := time.Now().Add(10 * time.Second)
	for len(ln.sem) != 2 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := len(ln.sem); n != 2 {
		t.Errorf("%d slots taken, want 2", n)
	}
}
