package session

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// prefetch downloads a save's bytes into a temporary file before the save takes its
// turn on the file, so that a slow download holds up no other callback of the file. The
// Fetcher it returns opens that file (as often as the save needs the bytes); done removes
// it. An error means the bytes are not safe: DS should retry.
func (m *Manager) prefetch(ctx context.Context, fetch Fetcher) (Fetcher, func(), error) {
	body, err := fetch(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: download: %v", ErrNotSafe, err)
	}
	defer body.Close()
	tmp, err := os.CreateTemp("", "wopibridge-save-*") // mode 0600
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotSafe, err)
	}
	done := func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	src := io.Reader(body)
	if m.o.MaxFileSize > 0 {
		src = io.LimitReader(body, m.o.MaxFileSize+1)
	}
	n, err := io.Copy(tmp, src)
	if err != nil {
		done()
		return nil, nil, fmt.Errorf("%w: download: %v", ErrNotSafe, err)
	}
	if m.o.MaxFileSize > 0 && n > m.o.MaxFileSize {
		done()
		return nil, nil, fmt.Errorf("%w: %v", ErrNotSafe, storage.ErrTooLarge)
	}
	return func(context.Context) (io.ReadCloser, error) {
		return os.Open(tmp.Name())
	}, done, nil
}
