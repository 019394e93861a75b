package simulator

import (
	"time"
	"unique"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/ddm"
)

// Software-update settings: the com.apple.configuration.softwareupdate.settings
// declarations combined, and the deferrals of com.apple.applicationaccess
// profiles (update-behaviour.md B4.8).
//
// Several settings declarations combine key by key with the combinetype
// Apple's schema gives each key (softwareupdate.settings.yaml):
// boolean-and (Notifications, RapidSecurityResponse.*), number-max (the
// Deferrals periods), enum-last (AutomaticActions.*, RecommendedCadence,
// Beta.ProgramEnrollment) and first (Beta.RequireProgram). Apple does not
// say in which order "first" and "last" are taken; the simulator takes
// the declarations in Identifier order, as the handler receives them (U,
// docs/fidelity.md).
//
// A device keeps the combined value as a unique.Handle: a fleet whose
// devices carry the same declarations shares one copy, and a device
// without settings holds a zero handle.

// Values of AutomaticActions and Beta.ProgramEnrollment.
const (
	SettingAllowed   = "Allowed"
	SettingAlwaysOn  = "AlwaysOn"
	SettingAlwaysOff = "AlwaysOff"
)

// DefaultProfileDeferralDays is the delay of a restrictions profile that
// forces delayed updates without saying how long (com.apple.applicationaccess:
// "The delay is 30 days unless you set 'enforcedSoftwareUpdateDelay'").
const DefaultProfileDeferralDays = 30

// UpdateSettings is what a device's software-update settings say, from its
// settings declarations and restriction profiles combined. The zero value
// is a device with neither.
type UpdateSettings struct {
	// NotificationsOff: Notifications false in some declaration.
	NotificationsOff bool
	// Deferral periods in days (0: none). MajorDays, MinorDays and
	// SystemDays are macOS's, CombinedDays iOS's.
	MajorDays, MinorDays, SystemDays, CombinedDays int
	// DeferralsFromProfile: the periods come from a restrictions profile,
	// no declaration setting Deferrals.
	DeferralsFromProfile bool
	// AutomaticActions: "" (Allowed), AlwaysOn or AlwaysOff.
	Download, InstallOSUpdates, InstallSecurityUpdate string
	// RSROff: RapidSecurityResponse.Enable false; RSRRollbackOff:
	// EnableRollback false.
	RSROff, RSRRollbackOff bool
	// RecommendedCadence (iOS): "", All, Oldest or Newest.
	RecommendedCadence string
	// BetaEnrollment is ProgramEnrollment; BetaProgram the program the
	// device is enrolled in (RequireProgram's Description with AlwaysOn).
	BetaEnrollment, BetaProgram string
}

// combineSettings merges settings declarations by Apple's combine rules.
// Declarations that do not decode are skipped (their validation reported
// them already).
func combineSettings(active []ddm.Declaration) (UpdateSettings, bool) {
	var s UpdateSettings
	deferrals := false
	requireSeen := false
	for _, decl := range active {
		p, err := ddm.DecodePayload[ddm.SoftwareUpdateSettings](decl)
		if err != nil {
			continue
		}
		if p.Notifications != nil && !*p.Notifications {
			s.NotificationsOff = true // boolean-and
		}
		if df := p.Deferrals; df != nil {
			deferrals = true
			s.MajorDays = maxDays(s.MajorDays, df.MajorPeriodInDays) // number-max
			s.MinorDays = maxDays(s.MinorDays, df.MinorPeriodInDays)
			s.SystemDays = maxDays(s.SystemDays, df.SystemPeriodInDays)
			s.CombinedDays = maxDays(s.CombinedDays, df.CombinedPeriodInDays)
		}
		if a := p.AutomaticActions; a != nil {
			s.Download = enumLast(s.Download, a.Download)
			s.InstallOSUpdates = enumLast(s.InstallOSUpdates, a.InstallOSUpdates)
			s.InstallSecurityUpdate = enumLast(s.InstallSecurityUpdate, a.InstallSecurityUpdate)
		}
		if r := p.RapidSecurityResponse; r != nil {
			s.RSROff = s.RSROff || r.Enable != nil && !*r.Enable
			s.RSRRollbackOff = s.RSRRollbackOff || r.EnableRollback != nil && !*r.EnableRollback
		}
		s.RecommendedCadence = enumLast(s.RecommendedCadence, p.RecommendedCadence)
		if b := p.Beta; b != nil {
			s.BetaEnrollment = enumLast(s.BetaEnrollment, b.ProgramEnrollment)
			if b.RequireProgram != nil && !requireSeen {
				requireSeen = true // first
				s.BetaProgram = b.RequireProgram.Description
			}
		}
	}
	if s.BetaEnrollment != SettingAlwaysOn {
		// Only AlwaysOn enrolls the device in RequireProgram; AlwaysOff
		// removes it from any program, and with Allowed the simulated
		// user enrolls in none.
		s.BetaProgram = ""
	}
	return s, deferrals
}

func maxDays(have int, v *int) int {
	if v != nil && *v > have {
		return *v
	}
	return have
}

func enumLast(have, v string) string {
	if v != "" {
		return v
	}
	return have
}

// applyUpdateSettings is Apply for software-update settings.
func (d *Device) applyUpdateSettings(active []ddm.Declaration) {
	s, deferrals := combineSettings(active)
	d.withLock(func() {
		if len(active) == 0 {
			d.sw.settings = unique.Handle[declSettings]{}
		} else {
			d.sw.settings = unique.Make(declSettings{UpdateSettings: s, deferrals: deferrals})
		}
		off := s.NotificationsOff
		e := d.sw.enforce
		if e == nil {
			if !off {
				d.autoUpdateLocked()
				return
			}
			e = d.enforcementLocked(EnforcementOptions{})
		}
		if e.notificationsOff != off {
			e.notificationsOff = off
			if e.cur != nil {
				d.enforceArmLocked(e)
			}
		}
		d.autoUpdateLocked()
	})
}

// declSettings is the combined declarations as a device keeps them.
type declSettings struct {
	UpdateSettings
	deferrals bool // some declaration set Deferrals
}

// UpdateSettings returns the device's software-update settings: its
// settings declarations combined, with the deferrals of its restriction
// profiles where no declaration sets Deferrals.
func (d *Device) UpdateSettings() UpdateSettings {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.updateSettingsLocked()
}

func (d *Device) updateSettingsLocked() UpdateSettings {
	var ds declSettings
	if d.sw.settings != (unique.Handle[declSettings]{}) {
		ds = d.sw.settings.Value()
	}
	s := ds.UpdateSettings
	if ds.deferrals {
		// "A declaration's deferrals override restriction-profile
		// deferrals" (B4.8).
		return s
	}
	if r := d.profileRestrictionsLocked(); r.any() {
		s.DeferralsFromProfile = true
		if d.id.IsMac() {
			s.MinorDays, s.MajorDays, s.SystemDays = r.minor, r.major, r.nonOS
		} else {
			s.CombinedDays = r.minor
		}
	}
	return s
}

// deferredUntilLocked is when a release stops being deferred for the user,
// or the zero time when it is not deferred. The period counts from the
// release's posting date (B4.8: "The deferral counts from the release
// date"); a Rapid Security Response is never deferred ("not considered
// within 'Major', 'Minor', or 'System' deferral").
func (d *Device) deferredUntilLocked(s UpdateSettings, r catalog.Release) time.Time {
	if r.SecurityImprovement {
		return time.Time{}
	}
	days := s.CombinedDays
	if d.id.IsMac() {
		days = s.MinorDays
		if r.IsMajorFrom(d.installedVersion()) {
			days = s.MajorDays
		}
	}
	if days <= 0 {
		return time.Time{}
	}
	until := r.PostingDate.AddDate(0, 0, days)
	if !d.env.clock.Now().Before(until) {
		return time.Time{}
	}
	return until
}

// deferralsLocked splits what AvailableOSUpdates would list into what the
// user may see and when each deferred one is released. macOS lists a
// deferred update with DeferredUntil (system.update.available.yaml, macOS
// 10.12.4+); iOS, which has no such key, leaves it out (U).
func (d *Device) deferralsLocked(rels []catalog.Release) ([]catalog.Release, map[string]time.Time) {
	s := d.updateSettingsLocked()
	if s.MajorDays == 0 && s.MinorDays == 0 && s.CombinedDays == 0 {
		return rels, nil
	}
	var out []catalog.Release
	var until map[string]time.Time
	for _, r := range rels {
		u := d.deferredUntilLocked(s, r)
		switch {
		case u.IsZero():
			out = append(out, r)
		case d.id.IsMac():
			out = append(out, r)
			if until == nil {
				until = map[string]time.Time{}
			}
			until[r.Build] = u
		}
	}
	return out, until
}

// betaEnrollment is softwareupdate.beta-enrollment.
func (d *Device) betaEnrollment() any {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.updateSettingsLocked().BetaProgram
}

// autoUpdateLocked is the device's own software-update check under
// AutomaticActions: with Download AlwaysOn it downloads the newest update
// of its major that is not deferred; with InstallOSUpdates (or, for a
// security response, InstallSecurityUpdate) AlwaysOn it also installs it,
// the night after it is prepared. Major upgrades are never automatic, and
// RapidSecurityResponse.Enable false keeps security responses for
// enforcement alone. It runs when the settings change and at every DDM
// safety sync (Apple: detection every 24 h, §7); nothing happens while an
// update or an enforcement is in progress.
func (d *Device) autoUpdateLocked() {
	if d.sw.job != nil || d.env.catalog == nil || d.unreachableLocked() {
		return
	}
	if e := d.sw.enforce; e != nil && e.cur != nil {
		return
	}
	s := d.updateSettingsLocked()
	installOS := s.InstallOSUpdates == SettingAlwaysOn
	installSec := !s.RSROff && (s.InstallSecurityUpdate == SettingAlwaysOn || !d.id.IsMac() && installOS)
	download := s.Download == SettingAlwaysOn
	if !installOS && !installSec && !download {
		return
	}
	installed := d.installedVersion()
	for _, r := range d.installableLocked() {
		if r.IsMajorFrom(installed) || !d.deferredUntilLocked(s, r).IsZero() {
			continue
		}
		if r.SecurityImprovement && s.RSROff {
			continue
		}
		install := installOS
		if r.SecurityImprovement {
			install = installSec
		}
		if !install && !download {
			continue
		}
		if d.downloadBlockerLocked(r) != "" {
			return // the next check tries again
		}
		plan := installPlan{action: actDownloadOnly, reported: "Default", maxDeferrals: -1, reason: InstallReasonAutoUpdate}
		if install {
			plan.action = actAutomatic
		}
		d.startJobLocked(r, r.ProductKey(installed, d.id.BuildVersion), plan)
		return
	}
}

// autoDownloaded reports whether j is an update the device
// downloaded on its own (AutomaticActions.Download AlwaysOn).
func autoDownloaded(j *updateJob) bool {
	return j.plan.reason == InstallReasonAutoUpdate && j.plan.action == actDownloadOnly
}
