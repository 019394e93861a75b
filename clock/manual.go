package clock

import (
	"context"
	"sync"
	"time"
)

// Manual is a Clock that moves only when a test moves it, with Advance,
// Set or AdvanceToNext.
//
// Timers fire inside those calls, in deadline order (timers due at the same
// instant in the order they were armed). Unlike time.AfterFunc, an AfterFunc
// callback runs synchronously in the goroutine that moves the clock, one at
// a time, so a test sees every consequence of a step before the step
// returns. While a callback runs, Now reads exactly that timer's deadline.
// The clock's lock is not held during a callback: it may read Now, arm,
// stop or reset timers, even move the clock itself. Timers a callback arms
// that fall due within the step fire in the same step.
//
// A NewTimer timer receives its deadline on its channel; one armed with
// d <= 0 receives Now at once. An AfterFunc timer armed with d <= 0 is due
// now and runs at the next step, even Advance(0).
//
// Moving the clock from several goroutines at once is safe, but then the
// callbacks of each step run in that step's goroutine and may interleave.
type Manual struct {
	mu      sync.Mutex
	base    time.Time // the start; times are kept as nanoseconds after it
	now     int64
	seq     uint64 // orders timers that share a deadline
	timers  timerHeap
	changed chan struct{} // closed when a timer is armed; made by BlockUntil
}

var _ Clock = (*Manual)(nil)

// NewManual returns a manual clock that reads start until it is moved.
func NewManual(start time.Time) *Manual {
	// Round(0) drops the monotonic reading so times compare by wall value.
	return &Manual{base: start.Round(0)}
}

// Now returns the clock's time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.at(m.now)
}

// Since returns the time elapsed on this clock since t.
func (m *Manual) Since(t time.Time) time.Duration { return m.Now().Sub(t) }

// Until returns the duration on this clock until t.
func (m *Manual) Until(t time.Time) time.Duration { return t.Sub(m.Now()) }

// AfterFunc arranges for f to run once the clock has been moved d forward.
// f runs synchronously inside the call that moves the clock; see [Manual].
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	if f == nil {
		panic("clock: AfterFunc with nil func")
	}
	t := &timer{clk: m, f: f, slot: slot{index: -1}}
	m.mu.Lock()
	m.arm(t, d)
	m.mu.Unlock()
	return t
}

// NewTimer returns a timer whose channel receives its deadline once the
// clock has been moved d forward.
func (m *Manual) NewTimer(d time.Duration) Timer {
	t := &timer{clk: m, c: make(chan time.Time, 1), slot: slot{index: -1}}
	m.mu.Lock()
	m.arm(t, d)
	m.mu.Unlock()
	return t
}

// Sleep blocks until the clock has been moved past now+d or ctx is done.
// While it sleeps it counts as one pending timer, which is what BlockUntil
// waits for.
func (m *Manual) Sleep(ctx context.Context, d time.Duration) error {
	return sleepOn(ctx, m, d)
}

// Advance moves the clock d forward, firing every timer that falls due on
// the way. A negative d counts as zero: the clock never goes backwards.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	m.runUntil(addSat(m.now, max(d, 0)))
}

// Set moves the clock forward to t, firing every timer that falls due on
// the way. If t is before Now the clock stays where it is, and only timers
// already due fire.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	m.runUntil(max(m.offset(t), m.now))
}

// AdvanceToNext moves the clock to the earliest deadline and fires every
// timer due then. It reports false, and does nothing, if no timer is
// pending. A test can drain a whole scenario with
//
//	for clk.AdvanceToNext() {
//	}
func (m *Manual) AdvanceToNext() bool {
	m.mu.Lock()
	if len(m.timers) == 0 {
		m.mu.Unlock()
		return false
	}
	m.runUntil(max(m.timers[0].when, m.now))
	return true
}

// Next returns the earliest pending deadline, and false if no timer is
// pending.
func (m *Manual) Next() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.timers) == 0 {
		return time.Time{}, false
	}
	return m.at(m.timers[0].when), true
}

// Pending returns the number of timers waiting to fire, sleeping Sleep
// calls included.
func (m *Manual) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.timers)
}

// BlockUntil waits until at least n timers are pending, or ctx is done. A
// test calls it before Advance to be sure the goroutine under test has
// armed its timer, instead of sleeping and hoping.
func (m *Manual) BlockUntil(ctx context.Context, n int) error {
	for {
		m.mu.Lock()
		if len(m.timers) >= n {
			m.mu.Unlock()
			return nil
		}
		if m.changed == nil {
			m.changed = make(chan struct{})
		}
		changed := m.changed
		m.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// runUntil fires every timer due at or before target, then leaves the clock
// at target. It is entered with m.mu held and releases it, because
// callbacks run without the lock.
func (m *Manual) runUntil(target int64) {
	for len(m.timers) > 0 && m.timers[0].when <= target {
		t := m.timers.pop()
		m.now = max(m.now, t.when)
		if t.c != nil {
			select {
			case t.c <- m.at(t.when):
			default: // cannot happen: Stop and Reset drain the buffer
			}
			continue
		}
		m.mu.Unlock()
		t.f()
		m.mu.Lock()
	}
	m.now = max(m.now, target)
	m.mu.Unlock()
}

// arm schedules t d from now. m.mu must be held.
func (m *Manual) arm(t *timer, d time.Duration) {
	t.when = addSat(m.now, max(d, 0))
	if t.c != nil && d <= 0 {
		select {
		case t.c <- m.at(m.now):
		default: // cannot happen: t is new or Stop has just drained it
		}
		return
	}
	m.seq++
	t.seq = m.seq
	m.timers.push(t)
	if m.changed != nil {
		close(m.changed)
		m.changed = nil
	}
}

func (m *Manual) at(ns int64) time.Time { return m.base.Add(time.Duration(ns)) }

// offset returns t as nanoseconds after base; time.Time.Sub saturates.
func (m *Manual) offset(t time.Time) int64 { return int64(t.Sub(m.base)) }

func (m *Manual) lock()                               { m.mu.Lock() }
func (m *Manual) unlock()                             { m.mu.Unlock() }
func (m *Manual) armLocked(t *timer, d time.Duration) { m.arm(t, d) }
func (m *Manual) removeLocked(t *timer)               { m.timers.remove(t.index) }
