package wopi_test

import (
	"testing"

	"github.com/wopibridge/wopibridge/wopiclient"
)

// The cost the backend adds to a CheckFileInfo: a state read and the token choice.

func BenchmarkCheckFileInfoDirect(b *testing.B) {
	e := newEnv(b)
	u := e.addFile("a.docx", "content", "alice")
	c := &wopiclient.Client{HTTP: e.http} // the backend's client
	ctx := b.Context()
	for b.Loop() {
		if _, err := c.CheckFileInfo(ctx, u.src, u.token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckFileInfoViaBackend(b *testing.B) {
	e := newEnv(b)
	u := e.addFile("a.docx", "content", "alice")
	f := e.register(u, "alice")
	ctx := b.Context()
	for b.Loop() {
		if _, err := e.b.Stat(ctx, f.ID); err != nil {
			b.Fatal(err)
		}
	}
}
