package clock

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Scaled is a Clock whose time runs factor times faster than wall time:
// Now is start + factor × the wall time elapsed since NewScaled.
//
// Its timers are runtime timers (time.AfterFunc) armed for the virtual
// duration divided by the factor, so they cost no goroutine while pending.
// Converting between virtual and wall durations rounds, so Scaled keeps a
// floor under Now: when a timer fires, the floor is raised to its deadline
// before the callback runs or the channel receives. Now therefore never
// reads earlier than the deadline of a timer that has fired, in any
// goroutine, and never goes backwards.
//
// Callbacks run in their own goroutines, as with time.AfterFunc, so two
// timers due at nearly the same wall instant may run in either order.
type Scaled struct {
	start     time.Time // virtual time at realStart, without a monotonic reading
	realStart time.Time // wall time at creation, with its monotonic reading
	factor    float64
	floor     atomic.Int64 // virtual nanoseconds since start that Now never reads below
	behind    atomic.Int64 // the most virtual nanoseconds a timer fired after its deadline
}

var _ Clock = (*Scaled)(nil)

// NewScaled returns a clock that reads start now and then runs factor times
// faster than wall time. Any finite factor above zero works; mdmsim uses
// 1 to a million. It panics on any other factor.
func NewScaled(start time.Time, factor float64) *Scaled {
	if !(factor > 0) || math.IsInf(factor, 1) {
		panic("clock: NewScaled factor must be finite and above zero")
	}
	// Round(0) drops the monotonic reading: virtual times must compare by
	// their wall value, never against the process's monotonic clock.
	return &Scaled{start: start.Round(0), realStart: time.Now(), factor: factor}
}

// Factor returns how many virtual seconds pass per wall-clock second.
func (s *Scaled) Factor() float64 { return s.factor }

// Now returns the virtual time.
func (s *Scaled) Now() time.Time {
	return s.start.Add(time.Duration(s.elapsed(time.Since(s.realStart))))
}

// Since returns the virtual time elapsed since t.
func (s *Scaled) Since(t time.Time) time.Duration { return s.Now().Sub(t) }

// Until returns the virtual time left until t.
func (s *Scaled) Until(t time.Time) time.Duration { return t.Sub(s.Now()) }

// AfterFunc calls f in its own goroutine once d has passed on this clock.
func (s *Scaled) AfterFunc(d time.Duration, f func()) Timer {
	if f == nil {
		panic("clock: AfterFunc with nil func")
	}
	t := &scaledTimer{s: s, f: f}
	t.mu.Lock()
	t.arm(d)
	t.mu.Unlock()
	return t
}

// NewTimer returns a timer whose channel receives the virtual time, never
// earlier than the deadline, once d has passed on this clock.
func (s *Scaled) NewTimer(d time.Duration) Timer {
	t := &scaledTimer{s: s, c: make(chan time.Time, 1)}
	t.mu.Lock()
	t.arm(d)
	t.mu.Unlock()
	return t
}

// Sleep blocks until d has passed on this clock or ctx is done.
func (s *Scaled) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil || d <= 0 {
		return err
	}
	deadline, wait := s.schedule(d)
	rt := time.NewTimer(wait)
	defer rt.Stop()
	select {
	case <-rt.C:
		s.noteLate(deadline)
		s.raiseFloor(deadline)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// elapsed returns the virtual nanoseconds since start after wall has passed
// since realStart, never below the floor.
func (s *Scaled) elapsed(wall time.Duration) int64 {
	v := s.toVirtual(wall)
	if f := s.floor.Load(); f > v {
		return f
	}
	return v
}

func (s *Scaled) toVirtual(wall time.Duration) int64 {
	v := float64(wall) * s.factor
	if v >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// realAt returns the wall time since realStart at which the virtual
// elapsed time reaches v, rounded up so a timer is never armed early.
func (s *Scaled) realAt(v int64) time.Duration {
	r := math.Ceil(float64(v) / s.factor)
	if r >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(r)
}

// schedule returns the virtual deadline, in nanoseconds since start, that is
// d from now, and the wall duration to wait for it. The deadline maps to an
// absolute wall instant, so two timers keep their order however far apart
// they were armed. A wait of zero still fires, at once.
func (s *Scaled) schedule(d time.Duration) (deadline int64, wait time.Duration) {
	wall := time.Since(s.realStart)
	deadline = addSat(s.elapsed(wall), max(d, 0))
	return deadline, max(s.realAt(deadline)-wall, 0)
}

// noteLate records how far behind its deadline a timer fired: the wall
// clock is the pacer, so a starved process fires timers late.
func (s *Scaled) noteLate(deadline int64) {
	late := s.toVirtual(time.Since(s.realStart)) - deadline
	for {
		b := s.behind.Load()
		if late <= b || s.behind.CompareAndSwap(b, late) {
			return
		}
	}
}

// Behind returns the most virtual time by which a timer has fired after
// its deadline so far. A scaled run whose pacing the machine cannot keep
// up with shows it here: at a factor of 30 000, 10 ms of CPU starvation is
// five minutes of device time. Runs whose verdicts must not depend on load
// use [Discrete] instead.
func (s *Scaled) Behind() time.Duration { return time.Duration(s.behind.Load()) }

// raiseFloor makes sure Now reads at least deadline from here on.
func (s *Scaled) raiseFloor(deadline int64) {
	for {
		f := s.floor.Load()
		if f >= deadline || s.floor.CompareAndSwap(f, deadline) {
			return
		}
	}
}

// scaledTimer wraps one runtime timer per arming. Each arming carries a
// generation, so a runtime callback already on its way when Stop or Reset
// runs sees it is stale and does nothing: Stop's answer is exact, and no
// stale value reaches the channel.
type scaledTimer struct {
	s *Scaled
	f func()         // AfterFunc timers
	c chan time.Time // NewTimer timers; buffered, drained by Stop and Reset

	mu    sync.Mutex
	rt    *time.Timer
	gen   uint64
	armed bool // armed and not yet fired
}

// arm starts a new generation due d from now. t.mu must be held.
func (t *scaledTimer) arm(d time.Duration) {
	t.gen++
	gen := t.gen
	deadline, wait := t.s.schedule(d)
	t.armed = true
	t.rt = time.AfterFunc(wait, func() { t.fire(gen, deadline) })
}

func (t *scaledTimer) fire(gen uint64, deadline int64) {
	t.mu.Lock()
	if gen != t.gen || !t.armed {
		t.mu.Unlock()
		return
	}
	t.armed = false
	t.s.noteLate(deadline)
	t.s.raiseFloor(deadline)
	if t.c != nil {
		// Stop and Reset drain the buffer, so it is empty here.
		select {
		case t.c <- t.s.Now():
		default:
		}
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	t.f()
}

func (t *scaledTimer) C() <-chan time.Time { return t.c }

func (t *scaledTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stopLocked()
}

func (t *scaledTimer) Reset(d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	active := t.stopLocked()
	t.arm(d)
	return active
}

func (t *scaledTimer) stopLocked() bool {
	active := t.armed
	t.armed = false
	t.gen++
	t.rt.Stop()
	if t.c != nil {
		select {
		case <-t.c:
			active = true // fired but never received: it counts as stopped
		default:
		}
	}
	return active
}

// addSat returns a+b for b >= 0, saturating instead of overflowing.
func addSat(a int64, b time.Duration) int64 {
	if a > math.MaxInt64-int64(b) {
		return math.MaxInt64
	}
	return a + int64(b)
}
