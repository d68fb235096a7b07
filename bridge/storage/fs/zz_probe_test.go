package fs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wopibridge/wopibridge/bridge/state"
)

func BenchmarkProbe(b *testing.B) {
	base := b.TempDir()
	store, _ := state.OpenBolt(filepath.Join(base, "s.db"))
	defer store.Close()
	s, err := New(Options{Root: filepath.Join(base, "data"), State: store})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	root, _ := s.Root(ctx)
	sub, _ := s.CreateFolder(ctx, root.ID, "work")
	f, _ := s.Create(ctx, sub.ID, "doc.docx", strings.NewReader("hello"), false, 0)
	b.Run("stat", func(b *testing.B) {
		for b.Loop() {
			s.Stat(ctx, f.ID)
		}
	})
	b.Run("lookupFile", func(b *testing.B) {
		for b.Loop() {
			s.lookupFile(f.ID)
		}
	})
	b.Run("view2get", func(b *testing.B) {
		for b.Loop() {
			store.View(func(tx state.Tx) error {
				tx.Get(bucketMeta, "gen")
				tx.Get(bucketNodes, f.ID)
				return nil
			})
		}
	})
	b.Run("lstat-nested", func(b *testing.B) {
		for b.Loop() {
			s.root.Lstat("work/doc.docx")
		}
	})
	sr, _ := s.root.OpenRoot("work")
	b.Run("lstat-2single", func(b *testing.B) {
		for b.Loop() {
			s.root.Lstat("work")
			sr.Lstat("doc.docx")
		}
	})
	b.Run("lstat-single", func(b *testing.B) {
		for b.Loop() {
			sr.Lstat("doc.docx")
		}
	})
	b.Run("keyedmutex", func(b *testing.B) {
		for b.Loop() {
			s.files.lock(f.ID)()
		}
	})
	_ = os.Getpid
}
