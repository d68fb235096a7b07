package main

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	env := func(k string) string {
		if k == "WOPIBRIDGE_LISTEN" {
			return ln.Addr().String()
		}
		return ""
	}
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"healthcheck"}, env, &out, &errb); code != 0 || strings.TrimSpace(out.String()) != "healthy" {
		t.Fatalf("healthy server: exit %d, %q %q", code, out.String(), errb.String())
	}
	status.Store(http.StatusServiceUnavailable)
	out.Reset()
	errb.Reset()
	if code := run(t.Context(), []string{"healthcheck"}, env, &out, &errb); code != 1 || !strings.Contains(errb.String(), "503") {
		t.Fatalf("failing server: exit %d, %q", code, errb.String())
	}
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln2.Addr().String()
	ln2.Close()
	errb.Reset()
	env2 := func(k string) string {
		if k == "WOPIBRIDGE_LISTEN" {
			return closed
		}
		return ""
	}
	if code := run(t.Context(), []string{"healthcheck"}, env2, &out, &errb); code != 1 || !strings.Contains(errb.String(), "unhealthy") {
		t.Fatalf("nothing listening: exit %d, %q", code, errb.String())
	}
}

// TestHealthcheckAdminListen: with WOPIBRIDGE_ADMIN_LISTEN set, healthcheck asks there
// (the main address no longer serves /healthz).
func TestHealthcheckAdminListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	main := closed.Addr().String()
	closed.Close()
	env := func(k string) string {
		switch k {
		case "WOPIBRIDGE_LISTEN":
			return main
		case "WOPIBRIDGE_ADMIN_LISTEN":
			return ln.Addr().String()
		}
		return ""
	}
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"healthcheck"}, env, &out, &errb); code != 0 || strings.TrimSpace(out.String()) != "healthy" {
		t.Fatalf("exit %d, %q %q", code, out.String(), errb.String())
	}
}
