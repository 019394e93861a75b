package clock

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Discrete is a discrete-event Clock for a simulated world that lives in
// one process. Virtual time stands still while any work is in flight and
// jumps straight to the next deadline the moment the world is quiescent:
// a run goes as fast as the CPU allows, idle virtual time costs nothing,
// and what happens at each instant does not depend on how busy the machine
// is.
//
// Work in flight is what the clock cannot see by itself: a device's
// session with the server, a push the mock APNs has accepted and not yet
// delivered, an enforcer's step. Whoever starts such work holds a unit of
// a named [Work] ([NewWork]) and gives it back when done; a goroutine that
// waits for an event hands its unit to whoever wakes it ([Wakeup]). Timer
// callbacks count as work while they run. [Discrete.Busy] names who holds
// work, which is what to look at when a run stalls.
//
// Due callbacks run on a fixed set of worker goroutines ([WithWorkers]),
// never one goroutine per timer, so a fleet with every device's timers
// armed holds a small, fixed number of goroutines. Callbacks due at the
// same instant may run in parallel and in any order; timers armed through
// [InPhase] views wait, within one instant, for every lower phase to finish
// first (devices act before the server that watches them observes).
//
// Within one instant, whatever runs in parallel may interleave in any
// order. A simulated world stays deterministic by keeping each device's
// behaviour a function of its own state, its own seed and the virtual
// time, never of which device went first; the order shows only where many
// devices meet: log lines, the order of a server's records (the embedded
// stack's Results), the order events reach a fleet's reporters.
//
// A Discrete clock starts paused: due callbacks run, but time does not move
// until [Discrete.Start], so a fleet can enroll before its story begins.
// NewTimer channels and Sleep are served like any timer, but a goroutine
// woken through them is not counted as work; code of the simulated world
// that waits uses [Work.Sleep] or a [Wakeup] instead.
type Discrete struct {
	base time.Time
	now  atomic.Int64 // nanoseconds after base

	busy    atomic.Int64  // units of work in flight, running callbacks included
	ended   atomic.Uint64 // units of work ended so far: progress within an instant
	poke    chan struct{}
	jobs    chan func()
	workers int
	running sync.WaitGroup

	mu      sync.Mutex
	seq     uint64
	timers  timerHeap
	phase   int  // the phase being run at the current instant
	started bool // time may move
	closed  bool
	fired   uint64
	jumps   uint64
	works   map[string]*Work
	timerW  *Work
	stall   stallReport
	idle    chan struct{} // closed and replaced each time the driver finds nothing to do
}

var _ Clock = (*Discrete)(nil)

// DiscreteOption configures a Discrete clock.
type DiscreteOption func(*Discrete)

// DefaultWorkers is how many goroutines run a Discrete clock's callbacks.
// Callbacks of the simulated world often wait for a round trip to a server
// in the same process, so there are more than the CPU count.
const DefaultWorkers = 64

// WithWorkers sets how many goroutines run due callbacks (at least one).
func WithWorkers(n int) DiscreteOption {
	return func(d *Discrete) { d.workers = max(n, 1) }
}

// WithStallReport calls report, on its own goroutine, when work is in
// flight and no unit of it has ended for after (up to twice after) of wall
// time: a leak of work, or a server that stopped answering. It reports
// once until the clock makes progress again.
func WithStallReport(after time.Duration, report func(Stall)) DiscreteOption {
	return func(d *Discrete) { d.stall = stallReport{after: after, report: report} }
}

// Stall is what a stalled Discrete clock reports.
type Stall struct {
	// At is the virtual time that stopped moving.
	At time.Time
	// Holders counts the units of work held, by name.
	Holders map[string]int64
}

func (s Stall) String() string {
	return fmt.Sprintf("virtual time stalled at %s; work still held by: %s", s.At.Format(time.RFC3339), formatHolders(s.Holders))
}

// NewDiscrete returns a paused discrete-event clock that reads start.
func NewDiscrete(start time.Time, opts ...DiscreteOption) *Discrete {
	d := &Discrete{base: start.Round(0), poke: make(chan struct{}, 1), workers: DefaultWorkers, works: map[string]*Work{},
		idle: make(chan struct{})}
	for _, o := range opts {
		o(d)
	}
	d.timerW = d.Work("timer-callback")
	d.jobs = make(chan func(), d.workers)
	for range d.workers {
		d.running.Add(1)
		go d.worker()
	}
	d.running.Add(1)
	go d.drive()
	return d
}

// Now returns the virtual time.
func (d *Discrete) Now() time.Time { return d.base.Add(time.Duration(d.now.Load())) }

// Since returns the virtual time elapsed since t.
func (d *Discrete) Since(t time.Time) time.Duration { return d.Now().Sub(t) }

// Until returns the virtual time left until t.
func (d *Discrete) Until(t time.Time) time.Duration { return t.Sub(d.Now()) }

// AfterFunc runs f on one of the clock's workers once d has passed.
func (d *Discrete) AfterFunc(dur time.Duration, f func()) Timer { return d.afterFunc(dur, 0, f) }

func (d *Discrete) afterFunc(dur time.Duration, phase int, f func()) Timer {
	if f == nil {
		panic("clock: AfterFunc with nil func")
	}
	t := &timer{clk: d, f: f, slot: slot{index: -1, phase: phase}}
	d.mu.Lock()
	d.arm(t, dur)
	d.mu.Unlock()
	return t
}

// NewTimer returns a timer whose channel receives the virtual time once d
// has passed. The receiving goroutine is not counted as work.
func (d *Discrete) NewTimer(dur time.Duration) Timer { return d.newTimer(dur, 0) }

func (d *Discrete) newTimer(dur time.Duration, phase int) Timer {
	t := &timer{clk: d, c: make(chan time.Time, 1), slot: slot{index: -1, phase: phase}}
	d.mu.Lock()
	d.arm(t, dur)
	d.mu.Unlock()
	return t
}

// Sleep blocks until d has passed or ctx is done. The sleeping goroutine
// holds no work, and is not counted as work once woken: see [Work.Sleep].
func (d *Discrete) Sleep(ctx context.Context, dur time.Duration) error {
	return sleepOn(ctx, d, dur)
}

func sleepOn(ctx context.Context, c Clock, dur time.Duration) error {
	if err := ctx.Err(); err != nil || dur <= 0 {
		return err
	}
	t := c.NewTimer(dur)
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}

// Start lets virtual time move. Until then only callbacks already due run.
func (d *Discrete) Start() {
	d.mu.Lock()
	d.started = true
	d.mu.Unlock()
	d.wake()
}

// Pause stops virtual time from moving again until Start; callbacks
// already due still run. A job pauses the clock when its story ends, so
// that what it reads afterwards (devices' histories, the time elapsed) is
// the state at that instant and not of a world that runs on.
func (d *Discrete) Pause() {
	d.mu.Lock()
	d.started = false
	d.mu.Unlock()
}

// Close stops the clock: pending timers never fire, and the workers and
// the driving goroutine exit once the callbacks that are running return.
// It must not be called from a callback, which it would wait for.
func (d *Discrete) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	d.mu.Unlock()
	d.wake()
	d.running.Wait()
}

// Pending returns the number of timers waiting to fire.
func (d *Discrete) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.timers)
}

// Idle reports whether no work is in flight and no timer is due now.
func (d *Discrete) Idle() bool {
	if d.busy.Load() != 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.timers) == 0 || d.timers[0].when > d.now.Load()
}

// DiscreteStats counts what a Discrete clock has done.
type DiscreteStats struct {
	Fired   uint64 // timers fired
	Jumps   uint64 // times virtual time moved
	Pending int    // timers pending
	Busy    int64  // units of work in flight
}

// Stats returns the clock's counters.
func (d *Discrete) Stats() DiscreteStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return DiscreteStats{Fired: d.fired, Jumps: d.jumps, Pending: len(d.timers), Busy: d.busy.Load()}
}

// Busy returns the units of work in flight by holder name, leaving out
// holders that hold none: the answer to "why does virtual time not move?".
func (d *Discrete) Busy() map[string]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int64{}
	for name, w := range d.works {
		if n := w.n.Load(); n != 0 {
			out[name] = n
		}
	}
	return out
}

// Work returns the clock's Work named name, the same one for every call
// with that name.
func (d *Discrete) Work(name string) *Work {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.works[name]
	if w == nil {
		w = &Work{name: name, d: d}
		d.works[name] = w
	}
	return w
}

// WaitIdle blocks until the simulated world has nothing left to do (no
// work in flight, and no timer pending, or none due now while the clock is
// paused), or ctx is done.
func (d *Discrete) WaitIdle(ctx context.Context) error {
	for {
		d.mu.Lock()
		done := d.finishedLocked()
		ch := d.idle
		d.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// finishedLocked: nothing in flight and nothing that will ever run by
// itself. d.mu must be held.
func (d *Discrete) finishedLocked() bool {
	if d.busy.Load() != 0 {
		return false
	}
	if len(d.timers) == 0 {
		return true
	}
	return !d.started && d.timers[0].when > d.now.Load()
}

// arm schedules t dur from now. d.mu must be held.
func (d *Discrete) arm(t *timer, dur time.Duration) {
	t.when = addSat(d.now.Load(), max(dur, 0))
	d.seq++
	t.seq = d.seq
	d.timers.push(t)
	if t.index == 0 {
		d.wake()
	}
}

func (d *Discrete) lock()                                 { d.mu.Lock() }
func (d *Discrete) unlock()                               { d.mu.Unlock() }
func (d *Discrete) armLocked(t *timer, dur time.Duration) { d.arm(t, dur) }
func (d *Discrete) removeLocked(t *timer)                 { d.timers.remove(t.index) }

func (d *Discrete) wake() {
	select {
	case d.poke <- struct{}{}:
	default:
	}
}

func (d *Discrete) begin() { d.busy.Add(1) }

func (d *Discrete) end() {
	d.ended.Add(1)
	switch n := d.busy.Add(-1); {
	case n == 0:
		d.wake()
	case n < 0:
		panic("clock: Discrete work ended more often than it began")
	}
}

func (d *Discrete) worker() {
	defer d.running.Done()
	for f := range d.jobs {
		f()
		d.timerW.n.Add(-1)
		d.end()
	}
}

// drive is the clock's one driving goroutine: it hands due callbacks to
// the workers and moves time when the world is quiescent.
func (d *Discrete) drive() {
	defer d.running.Done()
	defer close(d.jobs)
	watch := stallWatch{d: d}
	defer watch.stop()
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return
		}
		f, ok := d.nextLocked()
		if !ok && d.finishedLocked() {
			close(d.idle)
			d.idle = make(chan struct{})
		}
		d.mu.Unlock()
		if ok {
			watch.progress()
			if f != nil {
				d.hand(f, &watch)
			}
			continue
		}
		d.waitPoke(&watch)
	}
}

// nextLocked picks the next thing to do: a callback to run (ok, f set), a
// channel timer fired or time moved (ok, f nil), or nothing (!ok).
func (d *Discrete) nextLocked() (func(), bool) {
	if len(d.timers) == 0 {
		return nil, false
	}
	head := d.timers[0]
	now := d.now.Load()
	quiet := d.busy.Load() == 0
	switch {
	case head.when <= now && (head.phase <= d.phase || quiet):
		// Due now: a phase above the one running waits for quiescence,
		// and a lower one that falls due later in the instant runs first
		// again.
		d.phase = head.phase
	case head.when > now && quiet && d.started:
		d.now.Store(head.when)
		d.phase = head.phase
		d.jumps++
		return nil, true
	default:
		return nil, false
	}
	d.timers.pop()
	d.fired++
	if head.c != nil {
		select {
		case head.c <- d.at(head.when):
		default: // cannot happen: Stop and Reset drain the buffer
		}
		return nil, true
	}
	d.begin()
	d.timerW.n.Add(1)
	return head.f, true
}

// hand gives f to a worker. Only when every worker is busy does it wait,
// reporting a stall if none frees up for the stall period (callbacks
// waiting on a server that stopped answering).
func (d *Discrete) hand(f func(), w *stallWatch) {
	select {
	case d.jobs <- f:
		return
	default:
	}
	if d.stall.after <= 0 {
		d.jobs <- f
		return
	}
	for {
		select {
		case d.jobs <- f:
			return
		case <-w.tick():
			w.check()
		}
	}
}

func (d *Discrete) waitPoke(w *stallWatch) {
	if d.stall.after <= 0 {
		<-d.poke
		return
	}
	select {
	case <-d.poke:
	case <-w.tick():
		w.check()
	}
}

func (d *Discrete) at(ns int64) time.Time { return d.base.Add(time.Duration(ns)) }

type stallReport struct {
	after  time.Duration
	report func(Stall)
}

// stallWatch reports a stall once until the clock makes progress again.
// Work ending counts as progress: a big instant (thousands of devices
// answering at once on a slow machine) is not a stall. Its one wall-clock
// timer is re-armed only when it has fired, not for every wait.
type stallWatch struct {
	d        *Discrete
	t        *time.Timer
	reported bool
	ended    uint64 // d.ended when last looked at
}

func (w *stallWatch) progress() { w.reported = false }

// tick returns the channel of the watch's timer, armed if it is not.
func (w *stallWatch) tick() <-chan time.Time {
	if w.t == nil {
		w.t = time.NewTimer(w.d.stall.after)
	}
	return w.t.C
}

// check is the timer having fired: it reports a stall if no work has
// ended since it last looked and none has been reported since progress.
func (w *stallWatch) check() {
	w.t.Reset(w.d.stall.after)
	if n := w.d.ended.Load(); n != w.ended {
		w.ended, w.reported = n, false
		return
	}
	if w.reported || w.d.busy.Load() == 0 {
		return
	}
	w.reported = true
	st := Stall{At: w.d.Now(), Holders: w.d.Busy()}
	go w.d.stall.report(st)
}

func (w *stallWatch) stop() {
	if w.t != nil {
		w.t.Stop()
	}
}

// phased is a view of a Discrete clock whose timers run in a later phase.
type phased struct {
	*Discrete
	phase int
}

// InPhase returns a view of c whose timers, when they fall due at the same
// instant as timers of a lower phase, run only once those have finished
// and the world is quiescent. Phase 0 is the default. The embedded stack
// puts devices and the mocks in phase 0 and the server's enforcers in
// phase 1, so a server that polls at the very instant a device finishes
// something sees it finished, whatever the load. On any clock other than
// Discrete it returns c.
func InPhase(c Clock, phase int) Clock {
	d, ok := discreteOf(c)
	if !ok {
		return c
	}
	return phased{Discrete: d, phase: phase}
}

func (p phased) AfterFunc(d time.Duration, f func()) Timer { return p.afterFunc(d, p.phase, f) }
func (p phased) NewTimer(d time.Duration) Timer            { return p.newTimer(d, p.phase) }
func (p phased) Sleep(ctx context.Context, d time.Duration) error {
	return sleepOn(ctx, p, d)
}

func discreteOf(c Clock) (*Discrete, bool) {
	switch v := c.(type) {
	case *Discrete:
		return v, true
	case phased:
		return v.Discrete, true
	}
	return nil, false
}

func formatHolders(h map[string]int64) string {
	if len(h) == 0 {
		return "nobody"
	}
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, h[n])
	}
	return strings.Join(parts, ", ")
}

// Start lets a paused [Discrete] clock (or a view of one) move; on any
// other clock it does nothing. A job calls it once everything that starts
// its story holds its work.
func Start(c Clock) {
	if d, ok := discreteOf(c); ok {
		d.Start()
	}
}
