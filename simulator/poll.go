package simulator

import "time"

// WithPollInterval makes every enrolled device of the Env start a session
// on its own every d, for servers whose pushes cannot reach the mock APNs
// (a server outside the process that pushes through Apple). Each device
// polls first at an offset in [0, d) drawn from its own seeded generator, so
// a fleet does not poll in lockstep and the same seed gives the same
// offsets. The polls are device timers on the Env's clock: they cost no
// goroutine, stop while the device is off, and end with Unenroll or
// Env.Close.
//
// This is not what Apple devices do: a real device checks in with its MDM
// server only when a push wakes it (or when it restarts, or conditions
// change after a NotNow). Use it to drive a server that cannot push, not
// to measure how a fleet behaves. Zero or less, the default, disables it.
func WithPollInterval(d time.Duration) Option {
	return func(e *Env) { e.pollInterval = max(d, 0) }
}

// startPollingLocked arms the first poll of an enrollment; d.mu is held.
func (d *Device) startPollingLocked(enr *enrollment) {
	every := d.env.pollInterval
	if every <= 0 {
		return
	}
	d.armPollLocked(enr, time.Duration(d.rng.Int64N(int64(every))))
}

func (d *Device) armPollLocked(enr *enrollment, after time.Duration) {
	d.sw.grow().poll = d.after(after, func() { d.pollStep(enr) })
}

// pollStep is one poll: the next is armed before the session starts, so
// the cadence does not drift with session length. A poll of an enrollment
// that ended (Unenroll, a new enrollment) or of a closed Env stops.
func (d *Device) pollStep(enr *enrollment) {
	d.mu.Lock()
	if d.enr != enr || d.env.closed() {
		d.mu.Unlock()
		return
	}
	d.armPollLocked(enr, d.env.pollInterval)
	d.mu.Unlock()
	d.pollServer()
}

// stopPollingLocked stops the polls; d.mu is held.
func (d *Device) stopPollingLocked() {
	if m := d.sw.more; m != nil && m.poll != nil {
		m.poll.Stop()
		m.poll = nil
	}
}
