package simulator

import (
	"time"

	"github.com/mdmsim/mdmsim/simulator/update"
)

// The user's side of an update: InstallLater and NotifyOnly notifications,
// the iOS install prompt, and the night window. Everything here runs with
// d.mu held, from a job's timers or a command.

// iosPromptLocked shows the iOS install prompt to a user with a passcode.
func (d *Device) iosPromptLocked(j *updateJob) {
	if j.phase != PhasePrepared {
		return
	}
	j.prompts++
	j.waiting = "user"
	u := d.sw.user
	resp := u.Response
	if u.DoNotDisturb {
		resp = update.UserIgnores
	}
	if resp == update.UserDismisses && (d.givesIn(j) || j.dismissals >= d.timings().IOSUserDeferrals) {
		// Past its deferrals the prompt comes back at every return to the
		// Home Screen: the user gives in.
		resp = update.UserActs
	}
	switch resp {
	case update.UserActs:
		d.armLocked(j, slotPhase, d.responseDelay(), stepAuthorized)
	case update.UserTonight:
		// "Later", then "Install Tonight" with the passcode.
		j.authorized, j.tonight, j.waiting = true, true, "night"
		d.armNightLocked(j)
	case update.UserDismisses:
		j.dismissals++
		j.nextInstall = d.env.clock.Now().Add(d.timings().PromptInterval)
		d.armLocked(j, slotPhase, d.timings().PromptInterval, stepIOSPrompt)
	}
}

// promptStep is an InstallLater or NotifyOnly notification.
func (d *Device) promptStep(j *updateJob) {
	if j.phase != PhasePrepared {
		return
	}
	t := d.timings()
	now := d.env.clock.Now()
	j.prompts++
	j.notifications = append(j.notifications, now)
	if len(j.notifications) > maxNotifications {
		j.notifications = j.notifications[len(j.notifications)-maxNotifications:]
	}
	u := d.sw.user
	resp := u.Response
	if u.DoNotDisturb || d.quirk(update.QuirkUpToDateShown) {
		resp = update.UserIgnores
	}
	if resp == update.UserDismisses && d.givesIn(j) {
		resp = update.UserActs
	}
	if j.plan.action == actNotifyOnly {
		// One notification; acting on it starts the install.
		j.waiting = "user"
		if resp == update.UserActs || resp == update.UserTonight {
			d.armLocked(j, slotPhase, d.responseDelay(), stepRequestCountdown)
		}
		return
	}
	if j.plan.maxDeferrals >= 0 && j.deferralsLeft <= 0 {
		// No deferral left: the update is forced.
		j.tonight = true
		d.requestInstallLocked(j, modeForce)
		return
	}
	switch resp {
	case update.UserActs:
		d.armLocked(j, slotPhase, d.responseDelay(), stepRequestUser)
		return
	case update.UserTonight:
		j.tonight, j.waiting = true, "night"
		d.armNightLocked(j)
	case update.UserDismisses:
		j.dismissals++
		if j.plan.maxDeferrals >= 0 && j.deferralsLeft > 0 {
			j.deferralsLeft--
		}
		j.waiting = "user"
	default:
		j.waiting = "user"
	}
	j.nextInstall = now.Add(t.PromptInterval)
	d.armLocked(j, slotPhase, t.PromptInterval, stepPrompt)
	if t.Deferrals == update.DeferNightly && j.plan.maxDeferrals >= 0 && j.timers[slotNight] == nil {
		d.armNightLocked(j)
	}
}

// armNightLocked arms the job's night timer for the next night window in
// the device's time zone.
func (d *Device) armNightLocked(j *updateJob) {
	t := d.timings()
	now := d.env.clock.Now()
	local := now.In(d.id.Location())
	y, m, day := local.Date()
	at := time.Date(y, m, day, 0, 0, 0, 0, local.Location()).Add(t.NightStart)
	if t.NightWindow > 0 {
		at = at.Add(time.Duration(d.rng.Int64N(int64(t.NightWindow))))
	}
	for !at.After(now) {
		at = at.AddDate(0, 0, 1)
	}
	if j.tonight {
		j.nextInstall = at
	}
	d.armLocked(j, slotNight, at.Sub(now), stepNight)
}

func (d *Device) nightStep(j *updateJob) {
	if j.phase != PhasePrepared {
		return
	}
	if !j.tonight {
		// DeferNightly: a night without the install uses a deferral.
		if j.plan.maxDeferrals >= 0 && j.deferralsLeft > 0 {
			j.deferralsLeft--
		}
		if j.plan.maxDeferrals >= 0 && j.deferralsLeft <= 0 {
			j.tonight = true
			d.requestInstallLocked(j, modeForce)
			return
		}
		d.armNightLocked(j)
		return
	}
	mode := modeNight
	if j.requested && (j.mode == modeForce || j.mode == modeDeadline) {
		mode = j.mode
	}
	d.requestInstallLocked(j, mode)
	if j.phase == PhasePrepared && j.blocker != "" {
		// Not tonight after all (power, space): try the next night.
		d.armNightLocked(j)
	}
}
