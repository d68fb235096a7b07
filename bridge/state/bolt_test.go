package state_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/state/statetest"
)

func openTemp(t *testing.T) *state.Bolt {
	t.Helper()
	s, err := state.OpenBolt(filepath.Join(t.TempDir(), "wopibridge.db"))
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBoltConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Store { return openTemp(t) })
}

func TestBoltPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wopibridge.db")
	s, err := state.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(tx state.Tx) error {
		if err := tx.Put("fs.nodes", "id1", []byte("report.docx")); err != nil {
			return err
		}
		return tx.Put("secret", "key", []byte{1, 2, 3})
	})
	if err != nil {
		t.Fatal(err)
	}
	// A rolled-back transaction must not survive either.
	_ = s.Update(func(tx state.Tx) error {
		_ = tx.Put("fs.nodes", "id2", []byte("lost.docx"))
		return errors.New("abort")
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = state.OpenBolt(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	err = s.View(func(tx state.Tx) error {
		got, err := tx.Get("fs.nodes", "id1")
		if err != nil {
			return err
		}
		if string(got) != "report.docx" {
			t.Errorf("after reopen Get(id1) = %q, want %q", got, "report.docx")
		}
		if got, _ := tx.Get("fs.nodes", "id2"); got != nil {
			t.Errorf("rolled-back key survived reopen: %q", got)
		}
		if got, _ := tx.Get("secret", "key"); string(got) != "\x01\x02\x03" {
			t.Errorf("after reopen Get(secret) = %v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBoltFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "state")
	path := filepath.Join(dir, "wopibridge.db")
	s, err := state.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("state file mode = %v, want 0600", got)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		di, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := di.Mode().Perm(); got&^0o700 != 0 {
			t.Errorf("created directory %s mode = %v, want at most 0700", d, got)
		}
	}
}

func TestBoltSecondOpenFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wopibridge.db")
	first, err := state.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	start := time.Now()
	second, err := state.OpenBolt(path)
	if err == nil {
		second.Close()
		t.Fatal("second OpenBolt on a file in use succeeded")
	}
	want := "state file " + path + " is in use by another wopibridge process"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to contain %q", err, want)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("second open took %v; it must fail fast", elapsed)
	}

	// Once the first process lets go, the file opens again.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := state.OpenBolt(path)
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	third.Close()
}

func TestBoltUpdateReturnsFnErrorAsIs(t *testing.T) {
	s := openTemp(t)
	sentinel := errors.New("sentinel")
	if err := s.Update(func(state.Tx) error { return sentinel }); err != sentinel {
		t.Errorf("Update returned %v (%T), want the very error fn returned", err, err)
	}
	if err := s.View(func(state.Tx) error { return sentinel }); err != sentinel {
		t.Errorf("View returned %v (%T), want the very error fn returned", err, err)
	}
}

func TestBoltOpenErrors(t *testing.T) {
	if _, err := state.OpenBolt(""); err == nil {
		t.Error("OpenBolt(\"\") succeeded")
	}
	// A directory where the file should be.
	dir := t.TempDir()
	if _, err := state.OpenBolt(dir); err == nil {
		t.Error("OpenBolt on a directory succeeded")
	}
}
