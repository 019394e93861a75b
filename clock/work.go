package clock

import (
	"context"
	"sync/atomic"
	"time"
)

// Work is one named kind of work in flight on a [Discrete] clock: "device
// session", "push delivery", "enforcer". Whoever starts such work calls
// Begin, and End once it is done; while any unit is held, virtual time
// stands still. A nil *Work, which [NewWork] returns for any other clock,
// counts nothing, so code written for the discrete clock runs unchanged on
// real or scaled time.
//
// A unit must be taken before the work can be seen to start by anyone
// else: before the goroutine that does it is started, before the request
// that causes it returns. Taking it late lets the clock move in between.
type Work struct {
	name string
	d    *Discrete
	n    atomic.Int64
}

// NewWork returns c's Work named name when c is a [Discrete] clock (or a
// view of one), and nil otherwise.
func NewWork(c Clock, name string) *Work {
	d, ok := discreteOf(c)
	if !ok {
		return nil
	}
	return d.Work(name)
}

// Name is the holder's name.
func (w *Work) Name() string {
	if w == nil {
		return ""
	}
	return w.name
}

// Begin takes one unit of work.
func (w *Work) Begin() {
	if w == nil {
		return
	}
	w.n.Add(1)
	w.d.begin()
}

// End gives one unit back. Ending more than was begun panics: a leak of
// work should be loud, not a clock that runs ahead.
func (w *Work) End() {
	if w == nil {
		return
	}
	if w.n.Add(-1) < 0 {
		w.n.Add(1) // keep the count true for Busy after the panic
		panic("clock: Work " + w.name + " ended more often than it began")
	}
	w.d.end()
}

// Held returns the units held now.
func (w *Work) Held() int64 {
	if w == nil {
		return 0
	}
	return w.n.Load()
}

// Go takes a unit, runs f in a new goroutine and gives the unit back when
// f returns.
func (w *Work) Go(f func()) {
	w.Begin()
	go func() {
		defer w.End()
		f()
	}()
}

// Sleep is Clock.Sleep for a goroutine that holds one unit of w: the unit
// is given back while it sleeps, and taken again by the clock at the
// instant the sleep ends, so the clock cannot move between that instant
// and the goroutine running again. It returns nil once d has passed and
// ctx.Err() if ctx is done first; either way the caller holds its unit.
func (w *Work) Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if err := ctx.Err(); err != nil || d <= 0 {
		return err
	}
	_, err := w.Wakeup().Wait(ctx, c, d)
	return err
}

// Wakeup hands a unit of work from the goroutine that wakes a waiter to
// the waiter, so that a Discrete clock never sees the world quiescent
// between the two. It wakes once.
type Wakeup struct {
	w     *Work
	state atomic.Int32 // wakeWaiting, then how it was woken
	ch    chan struct{}
}

const (
	wakeWaiting int32 = iota
	wakeWoken
	wakeTimeout
	wakeCancelled
)

// Wakeup returns a new Wakeup for one wait by a holder of w.
func (w *Work) Wakeup() *Wakeup { return &Wakeup{w: w, ch: make(chan struct{})} }

// Wake wakes the waiter, taking a unit of work on its behalf. It reports
// whether this call woke it (false if it was already woken).
func (u *Wakeup) Wake() bool { return u.wake(wakeWoken) }

func (u *Wakeup) wake(how int32) bool {
	if !u.state.CompareAndSwap(wakeWaiting, how) {
		return false
	}
	u.w.Begin()
	close(u.ch)
	return true
}

// Wait is called by a goroutine that holds one unit of u's Work: it gives
// the unit back, blocks until Wake is called, d has passed on c (when
// d > 0) or ctx is done, and returns holding a unit again. woken reports
// whether Wake ended the wait; err is ctx.Err() when ctx did.
func (u *Wakeup) Wait(ctx context.Context, c Clock, d time.Duration) (woken bool, err error) {
	var t Timer
	if d > 0 {
		t = c.AfterFunc(d, func() { u.wake(wakeTimeout) })
	}
	u.w.End()
	select {
	case <-u.ch:
	case <-ctx.Done():
		u.wake(wakeCancelled) // a no-op if something else was first
		<-u.ch
	}
	if t != nil {
		t.Stop()
	}
	switch u.state.Load() {
	case wakeWoken:
		return true, nil
	case wakeCancelled:
		return false, ctx.Err()
	}
	return false, nil
}
