package reference

import (
	"time"

	"github.com/mdmsim/mdmsim/catalog"
)

// Mutants of the DDM enforcer (ddm.go): mistakes real declarative
// servers make with the software-update enforcement declaration.
const (
	// MutantDDMDeadlineUTCZ writes TargetLocalDateTime as a UTC time with
	// a trailing Z, as time.Time's RFC 3339 form does.
	MutantDDMDeadlineUTCZ Mutant = "deadline-utc-z"
	// MutantDDMDeadlinePast sends a deadline that has already passed.
	MutantDDMDeadlinePast Mutant = "deadline-past"
	// MutantDDMIgnoresInvalid sends the declaration to every device,
	// however old, and keeps nudging a device that reports it invalid.
	MutantDDMIgnoresInvalid Mutant = "ignores-invalid"
	// MutantDDMNoStatusSubscription subscribes to the OS version only, not
	// to the softwareupdate.* status items.
	MutantDDMNoStatusSubscription Mutant = "no-status-subscription"
	// MutantDDMWrongTargetVersion takes the target from the other
	// platform's releases.
	MutantDDMWrongTargetVersion Mutant = "wrong-target-version"
	// MutantDDMFixedGraceWeek ignores the deadline it was asked for and
	// gives every device its own default week.
	MutantDDMFixedGraceWeek Mutant = "fixed-grace-week"
)

func init() {
	Mutants = append(Mutants,
		MutantInfo{Name: MutantDDMDeadlineUTCZ, Mistake: "TargetLocalDateTime is written in UTC with a trailing Z (2026-12-01T09:00:00Z): the device cannot read it and reports the declaration invalid"},
		MutantInfo{Name: MutantDDMDeadlinePast, Mistake: "TargetLocalDateTime is already in the past when the declaration is sent: every device is forced to install an hour after it arrives"},
		MutantInfo{Name: MutantDDMIgnoresInvalid, Mistake: "the declaration goes to every device, even one too old to take it, and a device that reports it invalid is sent DeclarativeManagement again at every poll, forever"},
		MutantInfo{Name: MutantDDMNoStatusSubscription, Mistake: "the status subscription lists device.operating-system.* only: install-state, pending-version and failure-reason are never reported, so a stuck device gives no reason"},
		MutantInfo{Name: MutantDDMWrongTargetVersion, Mistake: "TargetOSVersion is taken from the other platform's releases in GDMF (an iOS version for a Mac): the device can never find it"},
		MutantInfo{Name: MutantDDMFixedGraceWeek, Mistake: "the deadline the admin asked for is ignored: every declaration carries the server's default grace period of a week"},
	)
}

// otherPlatformRelease is MutantDDMWrongTargetVersion's target: the newest
// release GDMF lists for the other platform whose version the device's
// model has no release of, newer than the installed OS if there is one.
func (e *DDMEnforcer) otherPlatformRelease(dev ddmDevice, now time.Time) (catalog.Release, bool) {
	own := map[string]bool{}
	for _, r := range e.releases.ReleasesFor(dev.model, now) {
		own[r.ProductVersion] = true
	}
	var fallback catalog.Release
	found := false
	for _, r := range e.releases.Releases(now) {
		if r.Platform == dev.model.Platform || r.SecurityImprovement || own[r.ProductVersion] {
			continue
		}
		if compareVersion(r.ProductVersion, dev.os) > 0 {
			return r, true
		}
		if !found {
			fallback, found = r, true
		}
	}
	return fallback, found
}
