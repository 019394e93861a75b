package clock

import (
	"context"
	"time"
)

// Clock is the source of time and timers. Every implementation is safe for
// concurrent use.
type Clock interface {
	// Now returns the clock's current time.
	Now() time.Time
	// Since returns the time elapsed on this clock since t.
	Since(t time.Time) time.Duration
	// Until returns the duration on this clock until t.
	Until(t time.Time) time.Duration
	// AfterFunc calls f in its own goroutine once the clock has advanced by
	// d, like time.AfterFunc. The returned Timer's C is nil. [Manual]
	// documents where it departs from "its own goroutine".
	AfterFunc(d time.Duration, f func()) Timer
	// NewTimer is like time.NewTimer: its channel C receives the clock's
	// time when it fires.
	NewTimer(d time.Duration) Timer
	// Sleep blocks until d has passed on this clock or ctx is done. It
	// returns nil once d has passed and ctx.Err() if ctx is done first; a
	// ctx that is already done wins even over d <= 0.
	Sleep(ctx context.Context, d time.Duration) error
}

// Timer is a pending event on a Clock. Its methods follow time.Timer as of
// Go 1.23: a channel timer is not "fired" until its value has been
// received, and once Stop or Reset returns no stale value is received.
type Timer interface {
	// C returns the channel that receives the clock's time when a NewTimer
	// timer fires; it is nil for AfterFunc timers.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It returns true if the call
	// stopped the timer, false if it had already fired or been stopped.
	Stop() bool
	// Reset stops the timer and arms it again to fire after d. It returns
	// true if the timer was active, as Stop would.
	Reset(d time.Duration) bool
}

// Local returns c's current time in loc, for the many decisions that are
// made in a device's own time zone ("install tonight", a local deadline).
// Like time.Time.In, it panics if loc is nil.
func Local(c Clock, loc *time.Location) time.Time {
	return c.Now().In(loc)
}
