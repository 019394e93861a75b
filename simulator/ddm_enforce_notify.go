package simulator

import (
	"time"

	"github.com/mdmsim/mdmsim/simulator/update"
)

// The enforcement's notifications and what the user does with them.

// notificationTimes is the schedule of notifications before a forced
// install at force, from since: daily, hourly in the last 24 h, then every
// 30 and every 10 minutes in the last hour. With notifications off, only
// the one an hour before.
func notificationTimes(since, force time.Time, off bool) []time.Time {
	var out []time.Time
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
	if u.DoNotDisturb && !lastDay {
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
		j.dismissals++
	}
}

func (d *Device) setInstallReasonLocked(e *enforcement, reason string) {
	e.reasons = []string{reason}
	e.reasonID = ""
	if e.cur != nil {
		e.reasonID = e.cur.id
	}
}
