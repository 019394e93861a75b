package report

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdmsim/mdmsim/clock"
)

// DefaultProgressInterval is how often Progress redraws at most.
const DefaultProgressInterval = 200 * time.Millisecond

// Progress is a one-line status for terminals, redrawn in place with \r:
//
//	enroll  4200/10000  42.0%  1.3k/s  ETA 4s
//
// On anything but a terminal (a file, a pipe, CI's log) it writes nothing,
// so logs stay clean; the JSON and text reports are the record. Add and Set
// are safe for concurrent use and cheap: the line is redrawn at most once
// per interval, by whichever caller finds it due.
type Progress struct {
	w       io.Writer
	enabled bool
	clk     clock.Clock
	every   time.Duration

	done atomic.Int64

	mu     sync.Mutex
	phase  string
	detail func() string
	total  int64
	start  time.Time
	last   time.Time
	width  int // of the last line drawn, to blank what a shorter one leaves
	drawn  bool
}

// ProgressOption configures NewProgress.
type ProgressOption func(*Progress)

// WithProgressClock measures rate and ETA on c (the wall clock by default:
// a progress line is for the person waiting).
func WithProgressClock(c clock.Clock) ProgressOption { return func(p *Progress) { p.clk = c } }

// WithProgressInterval sets the minimum time between redraws.
func WithProgressInterval(d time.Duration) ProgressOption {
	return func(p *Progress) { p.every = d }
}

// WithTerminal overrides terminal detection (for tests, or a --progress
// flag that insists).
func WithTerminal(on bool) ProgressOption { return func(p *Progress) { p.enabled = on } }

// NewProgress writes to w when w is a terminal.
func NewProgress(w io.Writer, opts ...ProgressOption) *Progress {
	p := &Progress{w: w, enabled: IsTerminal(w), clk: clock.Real(), every: DefaultProgressInterval}
	for _, o := range opts {
		o(p)
	}
	p.start = p.clk.Now()
	return p
}

// IsTerminal reports whether w is a character device other than the null
// device: a terminal, in practice, without a dependency on termios.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}

// Enabled reports whether the line is drawn at all.
func (p *Progress) Enabled() bool { return p.enabled }

// Phase starts a named phase of total steps (0 when unknown), resetting
// the count, rate and ETA, and draws it.
func (p *Progress) Phase(name string, total int) {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase, p.total, p.detail = name, int64(total), nil
	p.done.Store(0)
	p.start = p.clk.Now()
	p.drawLocked(p.start)
}

// SetDetail adds what fn returns to the line from now on, until the next
// Phase: the state of the phase beyond its count (a virtual day,
// compliance so far). fn is called at every redraw.
func (p *Progress) SetDetail(fn func() string) {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.detail = fn
}

// Above erases the line, runs write (which prints lines that stay, on
// the same terminal) and draws the line again below them.
func (p *Progress) Above(write func()) {
	if !p.enabled {
		write()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r"+strings.Repeat(" ", p.width)+"\r")
		p.drawn, p.width = false, 0
	}
	write()
	if p.phase != "" {
		p.drawLocked(p.clk.Now())
	}
}

// Add counts n more steps done.
func (p *Progress) Add(n int) {
	if !p.enabled {
		return
	}
	p.done.Add(int64(n))
	p.maybeDraw()
}

// Set sets the steps done.
func (p *Progress) Set(done int) {
	if !p.enabled {
		return
	}
	p.done.Store(int64(done))
	p.maybeDraw()
}

// Flush redraws now, whatever the interval.
func (p *Progress) Flush() {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drawLocked(p.clk.Now())
}

// Done draws the final line and ends it, so what follows starts on a line
// of its own.
func (p *Progress) Done() {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drawLocked(p.clk.Now())
	if p.drawn {
		fmt.Fprint(p.w, "\n")
	}
	p.drawn, p.width, p.phase, p.detail = false, 0, "", nil
}

func (p *Progress) maybeDraw() {
	// Many workers call Add; one draws, the others go on working.
	if !p.mu.TryLock() {
		return
	}
	defer p.mu.Unlock()
	now := p.clk.Now()
	if p.drawn && now.Sub(p.last) < p.every {
		return
	}
	p.drawLocked(now)
}

func (p *Progress) drawLocked(now time.Time) {
	line := p.line(now)
	pad := max(0, p.width-len(line))
	fmt.Fprint(p.w, "\r"+line+strings.Repeat(" ", pad))
	p.width, p.last, p.drawn = len(line), now, true
}

// line is the status text, without \r or padding.
func (p *Progress) line(now time.Time) string {
	done := p.done.Load()
	elapsed := now.Sub(p.start)
	var b strings.Builder
	if p.phase != "" {
		b.WriteString(p.phase + "  ")
	}
	if p.total > 0 {
		fmt.Fprintf(&b, "%d/%d  %.1f%%", done, p.total, 100*float64(done)/float64(p.total))
	} else {
		fmt.Fprintf(&b, "%d", done)
	}
	if p.detail != nil {
		if d := p.detail(); d != "" {
			b.WriteString("  " + d)
		}
	}
	if elapsed <= 0 || done <= 0 {
		return b.String()
	}
	rate := float64(done) / elapsed.Seconds()
	fmt.Fprintf(&b, "  %s/s", fmtRate(rate))
	if p.total > 0 {
		if left := p.total - done; left > 0 {
			eta := time.Duration(float64(left) / rate * float64(time.Second))
			fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
		} else {
			fmt.Fprintf(&b, "  in %s", elapsed.Round(100*time.Millisecond))
		}
	}
	return b.String()
}

func fmtRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.1fM", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.1fk", r/1e3)
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}
