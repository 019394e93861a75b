package simulator

// A device does one thing at a time: a command session, or a run of its
// own timers. Two things that happen to a device at the same virtual
// instant (its download finishing, a push from a server that polled at
// that very instant) would otherwise run side by side on different
// goroutines, and what the device answered would depend on the scheduler.
// The rule that makes it depend on nothing else: at an instant, the
// device's own timers due by then run first, then a session; a timer that
// falls due while a session runs (armed by a command with no delay) runs
// when the session ends. Nothing here blocks a clock's worker: a timer
// that finds the device busy leaves its run to whoever holds the activity.

// tryActivity takes the device's activity for a run of its timers, or, if
// the device is busy, leaves that run to the holder and reports false.
func (d *Device) tryActivity() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.active {
		d.timersPending = true
		return false
	}
	d.active = true
	return true
}

// beginActivity takes the device's activity for a session or a switch of
// its power, waiting for a run of timers (or another session) to end, and
// first runs the timers due by now.
func (d *Device) beginActivity() {
	d.mu.Lock()
	for d.active {
		if d.activityDone == nil {
			d.activityDone = make(chan struct{})
		}
		done := d.activityDone
		d.mu.Unlock()
		<-done
		d.mu.Lock()
	}
	d.active = true
	d.mu.Unlock()
	d.runDue()
}

// endActivity gives the activity back, after the timers that fell due
// while it was held have run.
func (d *Device) endActivity() {
	for {
		d.mu.Lock()
		if !d.timersPending {
			d.active = false
			if d.activityDone != nil {
				close(d.activityDone)
				d.activityDone = nil
			}
			d.mu.Unlock()
			d.changed()
			return
		}
		d.timersPending = false
		d.mu.Unlock()
		d.runDue()
	}
}
