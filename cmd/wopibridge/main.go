// Command wopibridge runs the bridge between ONLYOFFICE Docs and one storage.
//
//	wopibridge [serve] [flags]   run the server (the default)
//	wopibridge check [flags]     test the configuration against ONLYOFFICE Docs
//	wopibridge healthcheck       exit 0 if the local server answers /healthz
//	wopibridge saves ...         list, export, retry, drop saves waiting for storage
//	wopibridge events <file id>  print a file's timeline
//	wopibridge version           print the version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it with their own arguments,
// environment and context.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "check":
		return check(ctx, args, getenv, stdout, stderr)
	case "proof-keys":
		return proofKeysCmd(ctx, args, getenv, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, args, getenv, stdout, stderr)
	case "saves":
		return saves(ctx, args, getenv, stdout, stderr)
	case "events":
		return eventsCmd(ctx, args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "wopibridge", versionString())
		return 0
	case "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "wopibridge: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  wopibridge [serve] [flags]   run the server (default)
  wopibridge check [flags]     test the configuration against ONLYOFFICE Docs: one line per
                               check (ok, warn, FAIL with a hint, skip); exit status 0 only
                               if none failed; without WOPIBRIDGE_DOCS_URL the DS checks are
                               skipped, not failed ("wopibridge check --help" says more)
  wopibridge healthcheck       exit 0 if the server on WOPIBRIDGE_LISTEN answers /healthz
                               (for container HEALTHCHECKs)
  wopibridge saves list|export|retry|drop ...
                               the saves that wait for storage or were kept in the
                               recovery area ("wopibridge saves help" says more)
  wopibridge events <file id> [--json] [--limit n] [--since seq]
                               the file's timeline: opens, locks, saves in both styles
  wopibridge version           print the version
Settings come from defaults, then a JSON file (WOPIBRIDGE_CONFIG or --config), then
WOPIBRIDGE_* environment variables, then flags; "wopibridge serve --help" lists the flags.
`)
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
