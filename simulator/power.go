package simulator

import (
	"context"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/clock"
)

// A device's own timers (prompts, deferral counts, downloads, scans,
// enforcement, DDM syncs, session retries) live in devTimers. They share
// one clock timer per device, armed for the earliest of them, and run one
// at a time in deadline order (those due at the same instant in the order
// they were armed), never beside a session of the same device: whatever
// the clock's workers and the Go scheduler do, a device's own events at one
// virtual instant happen in one order (see activity.go). They stop while
// the device is switched off and go on with the time they had left when
// it is switched on again, as a real device's do.
type devTimers struct {
	mu      sync.Mutex
	pending []*devTimer
	seq     uint64
	clk     clock.Timer // the device's clock timer; nil before the first
	armedAt int64       // what clk is armed for (UnixNano), 0 when it is not
	offAt   int64       // when the device was switched off (UnixNano), while paused
	paused  bool
}

// devTimer is one of a device's timers. It satisfies clock.Timer.
type devTimer struct {
	d     *Device
	f     func()
	due   time.Time     // while running
	left  time.Duration // while paused
	seq   uint64
	index int // in ts.pending, -1 when not pending
}

// after arms f, d later on the device's clock, as one of its own timers.
func (d *Device) after(dur time.Duration, f func()) clock.Timer {
	t := &devTimer{d: d, f: f, index: -1}
	ts := &d.timers
	ts.mu.Lock()
	t.armLocked(dur)
	ts.mu.Unlock()
	return t
}

// armLocked (ts.mu held) makes t pending, running unless the device is off.
func (t *devTimer) armLocked(dur time.Duration) {
	ts := &t.d.timers
	dur = max(dur, 0)
	ts.seq++
	t.seq = ts.seq
	if t.index < 0 {
		t.index = len(ts.pending)
		ts.pending = append(ts.pending, t)
	}
	if ts.paused {
		t.left = dur
		return
	}
	t.due = t.d.env.clock.Now().Add(dur)
	t.d.rearmLocked()
}

// timerDueLocked returns when t, one of the device's timers, runs in
// virtual time; one switched off with the device runs the time it had
// left after now, and one that has fired but not yet run is due now. It
// is what a saved state keeps of a pending timer. d.mu is held.
func (d *Device) timerDueLocked(t clock.Timer) time.Time {
	now := d.env.clock.Now()
	dt, ok := t.(*devTimer)
	if !ok || dt == nil {
		return now
	}
	ts := &d.timers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	switch {
	case dt.index < 0:
		return now
	case ts.paused:
		return now.Add(dt.left)
	}
	return dt.due
}

func (t *devTimer) removeLocked() {
	p := t.d.timers.pending
	last := len(p) - 1
	p[t.index] = p[last]
	p[t.index].index = t.index
	p[last] = nil
	t.d.timers.pending = p[:last]
	t.index = -1
}

func (t *devTimer) C() <-chan time.Time { return nil }

func (t *devTimer) Stop() bool {
	ts := &t.d.timers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t.index < 0 {
		return false
	}
	t.removeLocked()
	t.d.rearmLocked()
	return true
}

func (t *devTimer) Reset(dur time.Duration) bool {
	ts := &t.d.timers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	active := t.index >= 0
	t.armLocked(dur)
	return active
}

// earliestLocked returns the pending timer that is due first, by deadline
// and then by the order timers were armed.
func (ts *devTimers) earliestLocked() *devTimer {
	var first *devTimer
	for _, t := range ts.pending {
		if first == nil || t.due.Before(first.due) || t.due.Equal(first.due) && t.seq < first.seq {
			first = t
		}
	}
	return first
}

// rearmLocked (ts.mu held) points the device's clock timer at its earliest
// timer, or stops it when there is none.
func (d *Device) rearmLocked() {
	ts := &d.timers
	first := ts.earliestLocked()
	if ts.paused || first == nil {
		if ts.armedAt != 0 {
			ts.clk.Stop()
			ts.armedAt = 0
		}
		return
	}
	due := first.due.UnixNano()
	if ts.armedAt == due {
		return
	}
	wait := d.env.clock.Until(first.due)
	if ts.clk == nil {
		ts.clk = d.env.clock.AfterFunc(wait, d.timersDue)
	} else {
		ts.clk.Reset(wait)
	}
	ts.armedAt = due
}

// runDue runs, one at a time, every timer of the device due by now, then
// arms the device's clock timer for the next. The caller holds the
// device's activity.
func (d *Device) runDue() {
	ts := &d.timers
	for {
		ts.mu.Lock()
		first := ts.earliestLocked()
		if ts.paused || first == nil || first.due.After(d.env.clock.Now()) {
			d.rearmLocked()
			ts.mu.Unlock()
			return
		}
		first.removeLocked()
		ts.mu.Unlock()
		first.f()
	}
}

// timersDue is the device's clock timer firing. A device that is busy runs
// its timers when it is done (endActivity), which also arms the next: this
// timer must not be re-armed meanwhile, or it would fire again and again
// at the same instant.
func (d *Device) timersDue() {
	ts := &d.timers
	ts.mu.Lock()
	ts.armedAt = 0
	ts.mu.Unlock()
	if d.tryActivity() {
		d.runDue()
		d.endActivity()
	}
}

// pause stops every pending timer, keeping what each had left.
func (ts *devTimers) pause(now time.Time) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.paused {
		return
	}
	ts.paused, ts.offAt = true, now.UnixNano()
	for _, t := range ts.pending {
		t.left = max(t.due.Sub(now), 0)
	}
	if ts.armedAt != 0 {
		ts.clk.Stop()
		ts.armedAt = 0
	}
}

// resume starts every paused timer again with the time it had left, and
// returns when the device was switched off.
func (d *Device) resumeTimers() time.Time {
	ts := &d.timers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !ts.paused {
		return time.Time{}
	}
	ts.paused = false
	now := d.env.clock.Now()
	for _, t := range ts.pending {
		t.due = now.Add(t.left)
	}
	d.rearmLocked()
	return time.Unix(0, ts.offAt)
}

// count returns the timers pending, for tests.
func (ts *devTimers) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.pending)
}

// frozenNowLocked is the device's notion of "now" for progress it measures from
// the clock (a download's percentage): the time it was switched off while
// it is off.
func (d *Device) frozenNowLocked() time.Time {
	if d.off {
		d.timers.mu.Lock()
		defer d.timers.mu.Unlock()
		return time.Unix(0, d.timers.offAt)
	}
	return d.env.clock.Now()
}

// PowerOff switches the device off, as holding the power button does: it
// answers nothing, ignores pushes, and its own timers stop until PowerOn.
// Like a session it takes the device's activity (activity.go), so it never
// falls between a timer firing and its step running: timers due by now run
// first, the rest wait for PowerOn.
func (d *Device) PowerOff() {
	d.beginActivity()
	d.mu.Lock()
	d.powerOffLocked()
	d.mu.Unlock()
	d.endActivity()
}

// unreachableLocked: switched off, or restarting into an update.
func (d *Device) unreachableLocked() bool { return d.off || d.down }

func (d *Device) powerOffLocked() {
	if d.off {
		return
	}
	d.off = true
	d.timers.pause(d.env.clock.Now())
}

// PowerOn switches the device back on: its timers go on where they stopped
// and it polls the server, as a device that starts up does. What is tied to
// a time of day or a date is met as such: a night install waits for the
// next night, an enforcement deadline that passed while it was off is met
// an hour after it starts, one still ahead at its own time. A device still
// restarting into an update polls when the restart ends.
func (d *Device) PowerOn(ctx context.Context) error {
	d.beginActivity()
	d.mu.Lock()
	if d.off {
		d.off = false
		offAt := d.resumeTimers()
		d.updateResumeLocked(d.env.clock.Since(offAt))
		d.enforceResumeLocked()
	}
	down := d.down
	d.mu.Unlock()
	d.endActivity()
	if down {
		return nil
	}
	return d.Connect(ctx)
}

// updateResumeLocked moves the update job's own measures of progress past
// the time the device was off, and re-arms its night for the next night.
func (d *Device) updateResumeLocked(off time.Duration) {
	j := d.sw.job
	if j == nil || off <= 0 {
		return
	}
	if !j.dlStart.IsZero() {
		j.dlStart = j.dlStart.Add(off)
	}
	if j.timers[slotNight] != nil {
		d.armNightLocked(j) // "tonight" is a time of day, not a countdown
		if j.tonight {
			return
		}
	}
	if !j.nextInstall.IsZero() {
		j.nextInstall = j.nextInstall.Add(off)
	}
}
