package storagetest

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/wopibridge/wopibridge/bridge/storage"
)

// slowReader hands out its content in small pieces so that concurrent writers interleave.
type slowReader struct {
	b     byte
	left  int
	chunk int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.chunk, r.left)
	for i := range n {
		p[i] = r.b
	}
	r.left -= n
	return n, nil
}

// concurrencyTests: racing writers, lockers and creators end in one whole outcome.
var concurrencyTests = []test{
	{"PutsUnderOneLock", func(f *fixture) {
		const writers, size = 8, 256 << 10
		file := f.create("shared.docx", "initial")
		f.lock(file.ID, "L1")

		var wg sync.WaitGroup
		errs := make(chan error, writers)
		stop := make(chan struct{})
		readErrs := make(chan error, 1)
		go func() { // a reader alongside: every read is one whole version
			defer close(readErrs)
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := readAll(f.ctx, f.b, file.ID)
				if err != nil {
					readErrs <- fmt.Errorf("a read during concurrent Puts: %w", err)
					return
				}
				if got != "initial" && !uniform(got, size) {
					readErrs <- fmt.Errorf("a read during concurrent Puts saw a mix: %s", short(got))
					return
				}
			}
		}()
		for w := range writers {
			wg.Go(func() {
				_, err := f.b.Put(f.ctx, file.ID, "L1", &slowReader{b: byte('a' + w), left: size, chunk: 1 << 12}, 0)
				errs <- err
			})
		}
		wg.Wait()
		close(stop)
		close(errs)
		for err := range errs {
			if err != nil {
				f.t.Errorf("Put under the held lock: %v", err)
			}
		}
		for err := range readErrs {
			f.t.Error(err)
		}
		got, _ := f.read(file.ID)
		if !uniform(got, size) {
			f.t.Errorf("after concurrent Puts the content is %s, want %d bytes of one writer", short(got), size)
		}
	}},
	{"LocksRace", func(f *fixture) {
		const lockers = 8
		file := f.create("a.docx", "x")
		var wg sync.WaitGroup
		results := make([]error, lockers)
		for i := range lockers {
			wg.Go(func() {
				_, results[i] = f.b.Lock(f.ctx, file.ID, fmt.Sprintf("L%d", i))
			})
		}
		wg.Wait()
		held, err := f.b.GetLock(f.ctx, file.ID)
		if err != nil {
			f.t.Fatal(err)
		}
		winners := 0
		for i, err := range results {
			if err == nil {
				winners++
				if want := fmt.Sprintf("L%d", i); held != want {
					f.t.Errorf("L%d won but the file holds %q", i, held)
				}
				continue
			}
			wantConflict(f.t, fmt.Sprintf("losing Lock L%d", i), err, held)
		}
		if winners != 1 {
			f.t.Errorf("%d lockers won, want exactly 1", winners)
		}
	}},
	{"CreatesRace", func(f *fixture) {
		const creators = 8
		var wg sync.WaitGroup
		results := make([]error, creators)
		created := make([]storage.File, creators)
		for i := range creators {
			wg.Go(func() {
				created[i], results[i] = f.b.Create(f.ctx, f.root.ID, "race.docx",
					&slowReader{b: byte('a' + i), left: 64 << 10, chunk: 1 << 12}, false, 0)
			})
		}
		wg.Wait()
		winners := 0
		var winner storage.File
		for i, err := range results {
			if err == nil {
				winners++
				winner = created[i]
				continue
			}
			wantErr(f.t, fmt.Sprintf("losing Create %d", i), err, storage.ErrExists)
		}
		if winners != 1 {
			f.t.Fatalf("%d creators won, want exactly 1", winners)
		}
		f.wantFiles(f.root.ID, "race.docx")
		if got, _ := f.read(winner.ID); !uniform(got, 64<<10) {
			f.t.Errorf("racing Creates left %s", short(got))
		}
	}},
	{"LockChangesDuringPut", func(f *fixture) {
		// The lock is checked with the write, not only when the body starts: a Put whose
		// lock changed hands while its body was arriving does not land.
		file := f.create("a.docx", "base")
		f.lock(file.ID, "L1")
		body := &gateReader{started: make(chan struct{}), gate: make(chan struct{})}
		putDone := make(chan error, 1)
		go func() {
			_, err := f.b.Put(f.ctx, file.ID, "L1", body, 0)
			putDone <- err
		}()
		<-body.started
		relocked := make(chan error, 1)
		go func() {
			_, err := f.b.UnlockAndRelock(f.ctx, file.ID, "L1", "L2")
			relocked <- err
		}()
		// A backend may hold the file for the whole write; then the relock waits for it.
		var relockFirst bool
		select {
		case err := <-relocked:
			if err != nil {
				f.t.Fatalf("UnlockAndRelock: %v", err)
			}
			relockFirst = true
		case <-time.After(500 * time.Millisecond):
		}
		close(body.gate)
		putErr := <-putDone
		if !relockFirst {
			if err := <-relocked; err != nil {
				f.t.Fatalf("UnlockAndRelock after the Put: %v", err)
			}
		}
		got, _ := f.read(file.ID)
		switch {
		case relockFirst:
			wantConflict(f.t, "Put whose lock changed hands during the body", putErr, "L2")
			if got != "base" {
				f.t.Errorf("a Put under a lost lock landed: content %s", short(got))
			}
		case putErr != nil:
			f.t.Errorf("Put under the held lock: %v", putErr)
		case got != body.content():
			f.t.Errorf("content %s, want the Put's %s", short(got), short(body.content()))
		}
		f.wantLock(file.ID, "L2")
	}},
}

// gateReader gives one chunk, then waits for gate before giving the rest.
type gateReader struct {
	started chan struct{}
	gate    chan struct{}
	part    int
}

func (r *gateReader) content() string { return "first half, second half" }

func (r *gateReader) Read(p []byte) (int, error) {
	switch r.part {
	case 0:
		r.part++
		close(r.started)
		return copy(p, "first half, "), nil
	case 1:
		<-r.gate
		r.part++
		return copy(p, "second half"), nil
	}
	return 0, io.EOF
}

// uniform reports whether s is size copies of one byte.
func uniform(s string, size int) bool {
	return size > 0 && len(s) == size && strings.Count(s, s[:1]) == size
}
