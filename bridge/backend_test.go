package bridge

import (
	"testing"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/bridge/storage/fs"
)

// newTestBackend is the storage the handler tests run on: the fs backend over a
// temporary directory.
func newTestBackend(t testing.TB, st state.Store, now func() time.Time) storage.Backend {
	t.Helper()
	b, err := fs.New(fs.Options{Root: t.TempDir(), State: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
