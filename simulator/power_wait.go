package simulator

// A device held up by a low battery waits for power rather than failing:
// "If the device is not running at the deadline, it enforces 1 h after
// restarting, or once all conditions (for example minimum battery) are
// met" (update-behaviour.md B4.4). Its install-state is "waiting", its
// failure-reason count does not grow, and it tries again as soon as it is
// charged or plugged in, besides the hourly check.

// waitsForPower reports whether an UpdateResults status is a power
// condition a device waits out.
func waitsForPower(status string) bool {
	return status == "DownloadInsufficientPower" || status == "InstallInsufficientPower"
}

// powerChangedLocked: the battery level or the power source changed; an
// enforcement waiting for power tries again now.
func (d *Device) powerChangedLocked() {
	e := d.sw.enforce
	if e == nil || e.cur == nil || !e.waitPower || d.lowPower(min(d.timings().MinDownloadBattery, d.timings().MinInstallBattery)) {
		return
	}
	d.armEnfLocked(e, enfSlotStep, 0, d.enforceStepLocked)
}
