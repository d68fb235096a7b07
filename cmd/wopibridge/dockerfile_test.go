package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// No Docker engine runs where the tests run, so the image cannot be built here. This
// checks what the Dockerfile relies on: its build command makes a static binary, the
// image runs as a non-root user, and the HEALTHCHECK and CMD name real subcommands.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := strings.ReplaceAll(string(raw), "\\\n", " ")

	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(df)
	if user == nil || strings.HasPrefix(user[1], "0") || strings.HasPrefix(user[1], "root") {
		t.Errorf("the image must run as a non-root user, USER is %v", user)
	}
	health := regexp.MustCompile(`(?m)^HEALTHCHECK .*CMD \["/usr/local/bin/wopibridge", "([a-z]+)"\]`).FindStringSubmatch(df)
	cmd := regexp.MustCompile(`(?m)^CMD \["([a-z]+)"\]`).FindStringSubmatch(df)
	if health == nil || cmd == nil {
		t.Fatalf("HEALTHCHECK %v / CMD %v not found", health, cmd)
	}
	for _, sub := range []string{health[1], cmd[1]} {
		var out, errb bytes.Buffer
		code := run(t.Context(), []string{sub, "--help"}, func(string) string { return "" }, &out, &errb)
		if strings.Contains(errb.String(), "unknown command") {
			t.Errorf("the Dockerfile runs %q, which wopibridge does not know (exit %d)", sub, code)
		}
	}

	build := regexp.MustCompile(`RUN (CGO_ENABLED=0 go build [^&]*?) -o /out/wopibridge (\./cmd/wopibridge)`).FindStringSubmatch(df)
	if build == nil {
		t.Fatal("no static go build command in the Dockerfile")
	}
	bin := filepath.Join(t.TempDir(), "wopibridge")
	args := shellFields(strings.ReplaceAll(build[1], "${VERSION}", "test"))
	c := exec.Command("go", append(append(args[2:], "-o", bin), "../../"+strings.TrimPrefix(build[2], "./"))...)
	c.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build command fails: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary is dynamically linked: the distroless static image cannot run it")
		}
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.Contains(string(out), "wopibridge test") {
		t.Fatalf("the built binary: %q %v", out, err)
	}
}

// shellFields splits a command line on spaces outside double quotes.
func shellFields(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, started := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, started = !quoted, true
		case r == ' ' && !quoted:
			if started {
				out = append(out, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if started {
		out = append(out, cur.String())
	}
	return out
}
