package report

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/clock"
)

func TestProgressNotATerminal(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := NewProgress(&buf)
	if p.Enabled() {
		t.Fatalf("enabled on a bytes.Buffer")
	}
	p.Phase("enroll", 10)
	p.Add(5)
	p.Set(10)
	p.Flush()
	p.Done()
	if buf.Len() != 0 {
		t.Errorf("wrote %q to a non-terminal", buf.String())
	}

	f, err := os.CreateTemp(t.TempDir(), "progress")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Errorf("a regular file is a terminal")
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if IsTerminal(null) {
		t.Errorf("%s is a terminal", os.DevNull)
	}
	if IsTerminal(nil) || IsTerminal((*os.File)(nil)) {
		t.Errorf("nil is a terminal")
	}
}

func TestProgressLine(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var buf bytes.Buffer
	p := NewProgress(&buf, WithTerminal(true), WithProgressClock(clk), WithProgressInterval(time.Second))
	p.Phase("enroll", 1000)
	if have, want := buf.String(), "\renroll  0/1000  0.0%"; have != want {
		t.Errorf("first line %q, want %q", have, want)
	}
	buf.Reset()

	clk.Advance(2 * time.Second)
	p.Add(500)
	if have, want := buf.String(), "\renroll  500/1000  50.0%  250/s  ETA 2s"; have != want {
		t.Errorf("line %q, want %q", have, want)
	}
	buf.Reset()

	p.Add(100) // within the interval: not drawn
	if buf.Len() != 0 {
		t.Errorf("redrawn within the interval: %q", buf.String())
	}

	clk.Advance(2 * time.Second)
	p.Set(1000)
	if have, want := buf.String(), "\renroll  1000/1000  100.0%  250/s  in 4s"; have != want {
		t.Errorf("line %q, want %q", have, want)
	}
	buf.Reset()

	// A shorter line blanks what the longer one left.
	p.Phase("push", 0)
	have := buf.String()
	if !strings.HasPrefix(have, "\rpush  0") || len(have) != len("\renroll  1000/1000  100.0%  250/s  in 4s") {
		t.Errorf("shorter line %q not padded to the last one's width", have)
	}
	buf.Reset()
	p.Done()
	if !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("Done does not end the line: %q", buf.String())
	}
}

func TestProgressConcurrent(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	p := NewProgress(&buf, WithTerminal(true), WithProgressInterval(0))
	p.Phase("checkin", 8000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				p.Add(1)
			}
		})
	}
	wg.Wait()
	p.Done()
	if !strings.Contains(buf.String(), "8000/8000") {
		t.Errorf("final line lacks 8000/8000: %q", buf.String()[max(0, buf.Len()-80):])
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
func (s *syncBuffer) Len() int       { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Len() }
