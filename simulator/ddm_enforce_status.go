package simulator

import (
	"slices"
	"time"

	"github.com/mdmsim/mdmsim/simulator/identity"
)

// What the enforcement shows: the softwareupdate.* status items and a
// snapshot for tests and reports.

// EnforcementState is a snapshot of a device's DDM update enforcement.
type EnforcementState struct {
	Declaration string // Identifier of the declaration being enforced
	Target      string // version and build it installs now
	Deadline    time.Time
	ForceAt     time.Time // when the install is (or was) forced
	Missed      bool      // the device was off at the deadline
	Unusable    bool      // iOS past its deadline
	// Countdown is when the forced restart's countdown began at the
	// deadline (macOS); zero when none was shown (quirk Q12, iOS).
	Countdown     time.Time
	Notifications []time.Time
	FailureCount  int
	FailureReason string
}

// EnforcementState returns the device's DDM update enforcement.
func (d *Device) EnforcementState() EnforcementState {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.sw.enforce
	if e == nil {
		return EnforcementState{}
	}
	missed := e.missed || d.off && !e.forced && e.cur != nil && !d.env.clock.Now().Before(e.forceAt)
	s := EnforcementState{ForceAt: e.forceAt, Missed: missed, Unusable: e.unusable, Countdown: e.countdown,
		Notifications: slices.Clone(e.notifications), FailureCount: e.failCount, FailureReason: e.failReason}
	if e.cur != nil {
		s.Declaration, s.Deadline = e.cur.id, e.cur.deadline
		if e.resolved {
			s.Target = e.rel.ProductVersion + " (" + e.rel.Build + ")"
		}
	}
	return s
}

// installStateLocked is softwareupdate.install-state.
func (d *Device) installStateLocked() any {
	e := d.sw.enforce
	if e == nil || e.cur == nil {
		return "none"
	}
	if e.failed {
		return "failed"
	}
	j := d.sw.job
	if !e.resolved || j == nil {
		return "waiting"
	}
	switch j.phase {
	case PhaseQueued:
		return "waiting"
	case PhaseDownloading, PhasePreparing:
		return "downloading"
	case PhasePrepared:
		if waitsForPower(j.blocker) {
			return "waiting"
		}
		if j.blocker != "" {
			return "failed"
		}
		return "prepared"
	case PhaseCountdown, PhaseInstalling, PhaseRestarting:
		return "installing"
	}
	return "none"
}

// pendingOfLocked is the pending-version of the current target.
func (d *Device) pendingOfLocked(e *enforcement) map[string]any {
	m := map[string]any{"os-version": e.cur.p.TargetOSVersion, "build-version": e.cur.p.TargetBuildVersion}
	if e.resolved {
		m["os-version"], m["build-version"] = e.rel.ProductVersion, e.rel.Build
	}
	if identity.Major(d.id.OSVersion) >= 26 {
		m["target-local-date-time"] = e.cur.p.TargetLocalDateTime
	}
	return m
}

// pendingVersionLocked is softwareupdate.pending-version.
func (d *Device) pendingVersionLocked() any {
	e := d.sw.enforce
	switch {
	case e != nil && e.cur != nil:
		return d.pendingOfLocked(e)
	case e != nil && e.opts.StalePendingVersion && e.pending != nil:
		return e.pending
	}
	return map[string]any{"os-version": "", "build-version": ""}
}

// failureReasonLocked is softwareupdate.failure-reason.
func (d *Device) failureReasonLocked() any {
	e := d.sw.enforce
	if e == nil || e.failCount == 0 {
		return map[string]any{"count": 0}
	}
	return map[string]any{"count": e.failCount, "reason": e.failReason, "timestamp": e.failAt.UTC().Format(time.RFC3339)}
}

// installReasonLocked is softwareupdate.install-reason.
func (d *Device) installReasonLocked() any {
	e := d.sw.enforce
	if e == nil || len(e.reasons) == 0 {
		return map[string]any{"reason": []string{}}
	}
	m := map[string]any{"reason": slices.Clone(e.reasons)}
	if e.reasonID != "" {
		m["declaration-id"] = e.reasonID
	}
	return m
}
