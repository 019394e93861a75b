package simulator

import (
	"context"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/clock"
)

// A device's own timers (prompts, deferral counts, downloads, scans,
// enforcement, DDM syncs, session retries) stop while it is switched off
// and go on with the time they had left when it is switched on again, as
// a real device's do. devTimers holds the ones pending.
type devTimers struct {
	mu      sync.Mutex
	pending []*devTimer
	paused  bool
	offAt   time.Time // when the device was switched off, while paused
}

// devTimer is one of a device's timers. It satisfies clock.Timer.
type devTimer struct {
	ts    *devTimers
	clk   clock.Clock
	f     func()
	t     clock.Timer // nil while paused
	gen   uint64
	due   time.Time     // while running
	left  time.Duration // while paused
	index int           // in ts.pending, -1 when not pending
}

// after arms f on the device's clock as one of its own timers.
func (d *Device) after(dur time.Duration, f func()) clock.Timer {
	t := &devTimer{ts: &d.timers, clk: d.env.Clock, f: f, index: -1}
	t.ts.mu.Lock()
	t.armLocked(dur)
	t.ts.mu.Unlock()
	return t
}

// armLocked (ts.mu held) makes t pending, running unless the device is off.
func (t *devTimer) armLocked(dur time.Duration) {
	dur = max(dur, 0)
	t.gen++
	if t.index < 0 {
		t.index = len(t.ts.pending)
		t.ts.pending = append(t.ts.pending, t)
	}
	if t.ts.paused {
		t.t, t.left = nil, dur
		return
	}
	t.startLocked(dur)
}

func (t *devTimer) startLocked(dur time.Duration) {
	gen := t.gen
	t.due = t.clk.Now().Add(dur)
	t.t = t.clk.AfterFunc(dur, func() { t.fire(gen) })
}

func (t *devTimer) fire(gen uint64) {
	t.ts.mu.Lock()
	if t.gen != gen || t.index < 0 || t.t == nil {
		t.ts.mu.Unlock()
		return // stopped, reset or paused since
	}
	t.removeLocked()
	t.ts.mu.Unlock()
	t.f()
}

func (t *devTimer) removeLocked() {
	p := t.ts.pending
	last := len(p) - 1
	p[t.index] = p[last]
	p[t.index].index = t.index
	p[last] = nil
	t.ts.pending = p[:last]
	t.index = -1
}

func (t *devTimer) C() <-chan time.Time { return nil }

func (t *devTimer) Stop() bool {
	t.ts.mu.Lock()
	defer t.ts.mu.Unlock()
	return t.stopLocked()
}

func (t *devTimer) stopLocked() bool {
	if t.index < 0 {
		return false
	}
	t.gen++
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
	t.removeLocked()
	return true
}

func (t *devTimer) Reset(dur time.Duration) bool {
	t.ts.mu.Lock()
	defer t.ts.mu.Unlock()
	active := t.stopLocked()
	t.armLocked(dur)
	return active
}

// pause stops every pending timer, keeping what each had left.
func (ts *devTimers) pause(now time.Time) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.paused {
		return
	}
	ts.paused, ts.offAt = true, now
	for _, t := range ts.pending {
		if t.t != nil {
			t.t.Stop()
			t.t = nil
			t.gen++
			t.left = max(t.due.Sub(now), 0)
		}
	}
}

// resume starts every paused timer again with the time it had left, and
// returns when the device was switched off.
func (ts *devTimers) resume() time.Time {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !ts.paused {
		return time.Time{}
	}
	ts.paused = false
	for _, t := range ts.pending {
		t.startLocked(t.left)
	}
	return ts.offAt
}

// frozenNow is the device's notion of "now" for progress it measures from
// the clock (a download's percentage): the time it was switched off while
// it is off.
func (d *Device) frozenNowLocked() time.Time {
	if d.off {
		d.timers.mu.Lock()
		defer d.timers.mu.Unlock()
		return d.timers.offAt
	}
	return d.env.Clock.Now()
}

// count returns the timers pending, for tests.
func (ts *devTimers) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.pending)
}

// PowerOff switches the device off, as holding the power button does: it
// answers nothing, ignores pushes, and its own timers stop until PowerOn.
func (d *Device) PowerOff() {
	d.mu.Lock()
	d.powerOffLocked()
	d.mu.Unlock()
}

func (d *Device) powerOffLocked() {
	if d.off {
		return
	}
	d.off = true
	d.timers.pause(d.env.Clock.Now())
}

// PowerOn switches the device back on: its timers go on where they stopped
// and it polls the server, as a device that starts up does. What is tied to
// a time of day or a date is met as such: a night install waits for the
// next night, an enforcement deadline that passed while it was off is met
// an hour after it starts, one still ahead at its own time. A device still
// restarting into an update polls when the restart ends.
func (d *Device) PowerOn(ctx context.Context) error {
	d.mu.Lock()
	if d.off {
		d.off = false
		offAt := d.timers.resume()
		d.updateResumeLocked(d.env.Clock.Since(offAt))
		d.enforceResumeLocked()
	}
	down := d.down
	d.mu.Unlock()
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
