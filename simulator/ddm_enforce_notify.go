package simulator

import (
	"time"

	"github.com/mdmsim/mdmsim/simulator/update"
)

// The enforcement's notifications and what the user does with them.

// notificationTimes is the schedule of notifications before a forced
// install at force, from since: daily, hourly in the last 24 h, then every
// 30 and every 10 minutes in the last hour. With notifications off, only
// the one an hour before (update-behaviour.md B4.4, macOS).
//
// An iPhone or iPad shows no such schedule: once the update is there, a
// badge on Settings and a message at the top of it offer the update until
// the deadline (Iru's iOS Managed OS user experience, [S38]); the
// simulator records that as a single notification at since.
func notificationTimes(since, force time.Time, off, mac bool) []time.Time {
	var out []time.Time
	if !mac {
		if since.Before(force) {
			out = append(out, since)
		}
		return out
	}
	add := func(t time.Time) {
		if t.Before(since) {
			t = since
		}
		if t.Before(force) && (len(out) == 0 || t.After(out[len(out)-1])) {
			out = append(out, t)
		}
	}
	lastDay := force.Add(-24 * time.Hour)
	if !off {
		for t := since; t.Before(lastDay); t = t.Add(24 * time.Hour) {
			add(t)
		}
		for t := lastDay; t.Before(force.Add(-time.Hour)); t = t.Add(time.Hour) {
			add(t)
		}
	}
	add(force.Add(-time.Hour))
	if !off {
		for _, m := range []time.Duration{30, 20, 10} {
			add(force.Add(-m * time.Minute))
		}
	}
	return out
}

// enforceNotificationLocked shows a notification and lets the user answer.
func (d *Device) enforceNotificationLocked(e *enforcement, now time.Time) {
	e.stepAt = now
	if d.id.IsMac() && d.quirk(update.QuirkDDMNoWarning) {
		return // quirk Q12: the Mac shows nothing before the forced restart
	}
	u := d.sw.user
	lastDay := now.After(e.forceAt.Add(-24*time.Hour)) || now.Equal(e.forceAt.Add(-24*time.Hour))
	if u.DoNotDisturb && !lastDay && d.id.IsMac() {
		return // hidden; the last day's notifications ignore Do Not Disturb
	}
	e.notifications = append(e.notifications, now)
	if len(e.notifications) > maxEnfNotifications {
		e.notifications = e.notifications[len(e.notifications)-maxEnfNotifications:]
	}
	j := d.sw.job
	if j == nil || j.requested || j.tonight {
		return
	}
	j.prompts++
	resp := u.Response
	if resp == update.UserDismisses && d.givesIn(j) {
		resp = update.UserActs
	}
	switch resp {
	case update.UserActs:
		d.armEnfLocked(e, enfSlotUser, d.responseDelay(), func(e *enforcement) {
			j := d.sw.job
			if j == nil || j.requested {
				return
			}
			j.authorized = j.authorized || !d.id.IsMac()
			d.setInstallReasonLocked(e, InstallReasonNotification)
			d.requestInstallLocked(j, modeUser)
			d.checkBlockedLocked(e, j)
		})
	case update.UserTonight:
		j.tonight, j.authorized = true, j.authorized || !d.id.IsMac()
		d.setInstallReasonLocked(e, InstallReasonTonight)
		if j.phase == PhasePrepared {
			j.waiting = "night"
		}
		d.armNightLocked(j)
	case update.UserDismisses:
		if d.id.IsMac() {
			j.dismissals++ // an iPhone's badge is not dismissed
		}
	}
}

func (d *Device) setInstallReasonLocked(e *enforcement, reason string) {
	e.reasons = []string{reason}
	e.reasonID = ""
	if e.cur != nil {
		e.reasonID = e.cur.id
	}
}

// enforceIOSPromptLocked is the prompt an iPhone or iPad with a passcode
// shows past the deadline: a notification on the Lock Screen, then on the
// Home Screen "Install Now" (the passcode, and the install), "Later" (the
// passcode, and the install overnight) or "Remind Me Later", which the
// user may choose Timings.IOSUserDeferrals times (3), the prompt coming
// back after Timings.PromptInterval ([S38]: "You're allowed to defer the
// update just three times"; the interval is the simulator's, U). A user
// who ignores it cannot use the device and enters the passcode within
// EnforcementPasscodeWait (B4.5).
func (d *Device) enforceIOSPromptLocked(e *enforcement) {
	j := d.sw.job
	if j == nil || j.authorized {
		return
	}
	now := d.env.clock.Now()
	e.notifications = append(e.notifications, now)
	if len(e.notifications) > maxEnfNotifications {
		e.notifications = e.notifications[len(e.notifications)-maxEnfNotifications:]
	}
	j.prompts++
	resp := d.sw.user.Response
	if resp == update.UserDismisses && (d.givesIn(j) || j.dismissals >= d.timings().IOSUserDeferrals) {
		resp = update.UserActs
	}
	install := func(e *enforcement) {
		if j := d.sw.job; j != nil {
			j.authorized = true
			d.requestInstallLocked(j, modeDeadline)
			d.checkBlockedLocked(e, j)
		}
	}
	switch resp {
	case update.UserTonight:
		j.authorized, j.tonight, j.waiting = true, true, "night"
		d.setInstallReasonLocked(e, InstallReasonTonight)
		d.armNightLocked(j)
	case update.UserDismisses:
		j.dismissals++
		j.waiting = "user"
		j.nextInstall = now.Add(d.timings().PromptInterval)
		d.armEnfLocked(e, enfSlotUser, d.timings().PromptInterval, d.enforceIOSPromptLocked)
	case update.UserActs:
		d.armEnfLocked(e, enfSlotUser, d.responseDelay(), install)
	default:
		d.armEnfLocked(e, enfSlotUser, min(d.responseDelay(), EnforcementPasscodeWait), install)
	}
}
