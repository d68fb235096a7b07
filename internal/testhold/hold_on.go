//go:build wopibridge_testhooks

package testhold

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Enabled says whether the hold points are compiled in.
const Enabled = true

var armed, dir = parse(os.Getenv(EnvVar))

func parse(v string) ([]string, string) {
	parts := strings.Split(v, ",")
	if len(parts) < 2 {
		return nil, ""
	}
	return parts[:len(parts)-1], parts[len(parts)-1]
}

// At holds the calling goroutine at point while it is armed (see the package).
func At(point string) {
	if dir == "" || !slices.Contains(armed, point) {
		return
	}
	release := filepath.Join(dir, point+".go")
	if _, err := os.Stat(release); err == nil {
		return
	}
	f, err := os.OpenFile(filepath.Join(dir, point+".held"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
		f.Close()
	}
	for {
		if _, err := os.Stat(release); err == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
