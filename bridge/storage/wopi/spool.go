package wopi

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// sized gives body with its exact length, for a Content-Length. A body whose length is
// not known from its type is spooled to a temp file first, never held in memory. More
// than limit bytes (when limit > 0) is storage.ErrTooLarge, found before anything is
// sent. release removes the spool.
func (b *Backend) sized(body io.Reader, limit int64) (r io.Reader, n int64, release func(), err error) {
	release = func() {}
	n = -1
	switch v := body.(type) {
	case *bytes.Reader:
		n = int64(v.Len())
	case *strings.Reader:
		n = int64(v.Len())
	case *bytes.Buffer:
		n = int64(v.Len())
	case *os.File:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			if off, err := v.Seek(0, io.SeekCurrent); err == nil {
				n = fi.Size() - off
			}
		}
	}
	if n >= 0 {
		if limit > 0 && n > limit {
			return nil, 0, release, tooLarge(limit)
		}
		return io.LimitReader(body, n), n, release, nil
	}

	f, err := os.CreateTemp(b.tempDir, ".wopibridge-upload-*")
	if err != nil {
		return nil, 0, release, fmt.Errorf("wopi storage: spooling the upload: %w", err)
	}
	release = func() {
		f.Close()
		os.Remove(f.Name())
	}
	src := body
	if limit > 0 {
		src = io.LimitReader(body, limit+1)
	}
	n, err = io.Copy(f, src)
	if err != nil {
		release()
		return nil, 0, func() {}, fmt.Errorf("wopi storage: reading the upload: %w", err)
	}
	if limit > 0 && n > limit {
		release()
		return nil, 0, func() {}, tooLarge(limit)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		release()
		return nil, 0, func() {}, fmt.Errorf("wopi storage: spooling the upload: %w", err)
	}
	return f, n, release, nil
}

func tooLarge(limit int64) error {
	return fmt.Errorf("%w: the content is larger than %d bytes", storage.ErrTooLarge, limit)
}
