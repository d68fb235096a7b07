package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/wopibridge/wopibridge/config"
)

// healthcheck asks the server on the configured listen address (the admin one when
// set) for /healthz: exit 0 when
// it answers 200. Container images without a shell or curl use it as their HEALTHCHECK.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(args, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "wopibridge healthcheck: invalid configuration:\n%v\n", err)
		return 2
	}
	// With an admin listener, /healthz is served there only.
	addr, name := cfg.Listen, "WOPIBRIDGE_LISTEN"
	if cfg.AdminListen != "" {
		addr, name = cfg.AdminListen, "WOPIBRIDGE_ADMIN_LISTEN"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintf(stderr, "wopibridge healthcheck: %s=%q: %v\n", name, addr, err)
		return 2
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "unhealthy: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "unhealthy: /healthz answered %d\n", resp.StatusCode)
		return 1
	}
	fmt.Fprintln(stdout, "healthy")
	return 0
}
