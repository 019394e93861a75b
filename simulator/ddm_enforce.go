package simulator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// Declarative software-update enforcement (update-behaviour.md §4).
//
// The handler of com.apple.configuration.softwareupdate.enforcement.specific
// keeps, per device, the accepted declarations sorted by deadline. The first
// one whose target is above the installed OS is the current target: its
// release is looked up in the catalog (TargetOSVersion "x.y" is the latest
// x.y.z), and the update engine downloads and prepares it with a
// download-only job. The enforcement then shows notifications (daily,
// hourly in the last 24 h regardless of Do Not Disturb, every 30 then 10
// minutes in the last hour), lets the user install now or tonight as their
// profile says, and forces the install at the deadline. Once the device is
// back on its new OS the DDM client re-evaluates, Apply runs again with the
// new OS, and the next declaration, if any, takes over.
//
// An enforcement holds at most two clock timers of its own: the next step
// (notification, deadline, retry) and a user's delayed answer. Everything
// runs with d.mu held, from those timers or from Apply; status changes are
// reported by calling DDMStatusChanged once the lock is released.

// Timings of the enforcement.
const (
	// EnforcementRetryInterval is how often a device retries what stopped
	// the enforced update (no space, no network, target not in the
	// catalog yet), and counts a failure each time it still cannot.
	EnforcementRetryInterval = time.Hour
	// EnforcementPowerCheck is how often a device that was off at its
	// deadline is looked at: the forced install comes
	// EnforcementMissedDelay after it is found running again (U: Apple
	// says "1 h after restarting").
	EnforcementPowerCheck = 5 * time.Minute
	// EnforcementMissedDelay is the wait after start-up for a device that
	// missed its deadline, and after receipt for a declaration whose
	// deadline had already passed.
	EnforcementMissedDelay = time.Hour
	// EnforcementPasscodeWait bounds how long an iPhone user with a
	// passcode takes to authorise the install past the deadline: the
	// device is good for nothing else (U).
	EnforcementPasscodeWait = 15 * time.Minute
)

// Install reasons of softwareupdate.install-reason.
const (
	InstallReasonDeclaration  = "declaration"
	InstallReasonNotification = "notification"
	InstallReasonTonight      = "install-tonight"
	InstallReasonAutoUpdate   = "auto-update"
)

// Failure reasons the device reports in softwareupdate.failure-reason (U:
// Apple documents the key, not its texts; a real Mac showed "Software
// update failed.").
const (
	FailureInsufficientSpace   = "Not enough free space to download and install the update."
	FailureInsufficientPower   = "The battery level is too low to install the update."
	FailureInsufficientNetwork = "Unable to reach the software update server."
	FailureRequiresComputer    = "The update must be installed with a computer."
	FailurePhoneCall           = "A phone call is in progress."
	FailureGeneric             = "Software update failed."
	// FailureNoBootstrapToken is an Apple-silicon Mac that cannot
	// authorise the enforced install: the server has no bootstrap token
	// and no volume owner authenticates (update-behaviour.md B3.2: "under
	// DDM, sync or enforcement fails with SUMacControllerError
	// Code=7507"; the code is Apple's, the sentence the simulator's).
	FailureNoBootstrapToken = "SUMacControllerError Code=7507: the update needs a volume owner's authorization and no bootstrap token is escrowed."
)

// statusAuthorization is the pseudo-status a job stopped for want of a
// volume owner carries into enforceFailLocked.
const statusAuthorization = "InstallNeedsAuthorization"

var blockerFailures = map[string]string{
	"DownloadInsufficientSpace":   FailureInsufficientSpace,
	"InstallInsufficientSpace":    FailureInsufficientSpace,
	"DownloadInsufficientPower":   FailureInsufficientPower,
	"InstallInsufficientPower":    FailureInsufficientPower,
	"DownloadInsufficientNetwork": FailureInsufficientNetwork,
	"DownloadRequiresComputer":    FailureRequiresComputer,
	"InstallPhoneCallInProgress":  FailurePhoneCall,
	statusAuthorization:           FailureNoBootstrapToken,
}

// EnforcementOptions change how devices enforce.
type EnforcementOptions struct {
	// StalePendingVersion keeps softwareupdate.pending-version (and its
	// deadline) after the update installed, as Macs were seen to
	// (update-behaviour.md B4.2 b).
	StalePendingVersion bool
}

// RegisterEnforcement gives the software-update configurations of types
// their behaviour and registers the softwareupdate.* status items that
// report it. DefaultDDMTypes calls it with the zero options.
func RegisterEnforcement(types *DDMTypes, o EnforcementOptions) {
	types.HandleConfiguration(ddm.TypeSoftwareUpdateEnforcementSpecific, ConfigurationHandlerFunc(func(ctx context.Context, d *Device, active []ddm.Declaration) map[string][]ddm.StatusReason {
		return d.applyEnforcement(active, o)
	}))
	types.HandleConfiguration(ddm.TypeSoftwareUpdateSettings, ConfigurationHandlerFunc(func(ctx context.Context, d *Device, active []ddm.Declaration) map[string][]ddm.StatusReason {
		d.applyUpdateSettings(active)
		return nil
	}))
	locked := func(f func(d *Device) any) func(d *Device) any {
		return func(d *Device) any {
			d.mu.Lock()
			defer d.mu.Unlock()
			return f(d)
		}
	}
	types.HandleStatusItem(StatusItem{Name: "softwareupdate.install-state", Value: locked((*Device).installStateLocked)})
	types.HandleStatusItem(StatusItem{Name: "softwareupdate.pending-version", Value: locked((*Device).pendingVersionLocked)})
	types.HandleStatusItem(StatusItem{Name: "softwareupdate.failure-reason", Value: locked((*Device).failureReasonLocked)})
	types.HandleStatusItem(StatusItem{Name: "softwareupdate.install-reason", Value: locked((*Device).installReasonLocked)})
	types.HandleStatusItem(StatusItem{Name: "softwareupdate.beta-enrollment", Value: (*Device).betaEnrollment})
}

// enforcement is a device's DDM update enforcement; nil until the first
// enforcement declaration.
type enforcement struct {
	opts      EnforcementOptions
	decls     []enfDecl       // accepted and active, earliest deadline first
	accepted  map[string]bool // Identifier+ServerToken found above the OS when received
	cur       *enfDecl        // the declaration being enforced
	since     time.Time       // when cur became the target
	rel       catalog.Release // what cur installs now (the base of a supplemental target first)
	resolved  bool
	forceAt   time.Time // when the install is forced
	missed    bool      // the device was off at forceAt
	forced    bool      // the forced install was asked for
	unusable  bool      // iOS past the deadline: nothing but the update
	countdown time.Time // when the forced restart's countdown began (macOS)
	failed    bool      // the last attempt was stopped (install-state failed)
	// waitPower: the last attempt was held up by a low battery, which the
	// device waits out (install-state waiting), see power_wait.go.
	waitPower bool

	notifications    []time.Time
	stepAt           time.Time // the last notification slot processed
	notificationsOff bool      // settings: Notifications false
	applying         bool
	resumed          bool // restored from a saved state, until its first Apply

	failCount  int
	failReason string
	failAt     time.Time

	reasons  []string // install-reason of the last install
	reasonID string
	pending  map[string]any // the last pending-version, for the stale quirk

	timers [2]clock.Timer
	gens   [2]uint64
}

const (
	enfSlotStep = 0
	enfSlotUser = 1
)

// maxEnfNotifications bounds the notifications a device remembers.
const maxEnfNotifications = 64

// enfDecl is one enforcement declaration as the device holds it.
type enfDecl struct {
	id, token string
	p         ddm.SoftwareUpdateEnforcementSpecific
	deadline  time.Time
}

func (d *Device) enforcementLocked(o EnforcementOptions) *enforcement {
	if d.sw.enforce == nil {
		d.sw.enforce = &enforcement{accepted: map[string]bool{}}
	}
	d.sw.enforce.opts = o
	return d.sw.enforce
}

// applyEnforcement is Apply for enforcement declarations.
func (d *Device) applyEnforcement(active []ddm.Declaration, o EnforcementOptions) map[string][]ddm.StatusReason {
	d.mu.Lock()
	e := d.enforcementLocked(o)
	e.applying = true
	loc := d.id.Location()
	rejected := map[string][]ddm.StatusReason{}
	seen := map[string]bool{}
	var decls []enfDecl
	for _, decl := range active {
		p, err := ddm.DecodePayload[ddm.SoftwareUpdateEnforcementSpecific](decl)
		if err != nil {
			rejected[decl.Identifier] = []ddm.StatusReason{{Code: ddm.ReasonConfigurationDeserialize, Description: err.Error(), Details: ddm.IDDetails(decl)}}
			continue
		}
		deadline, err := p.Deadline(loc)
		if err != nil {
			rejected[decl.Identifier] = []ddm.StatusReason{{Code: ddm.ReasonConfigurationDeserialize, Description: err.Error(), Details: ddm.IDDetails(decl)}}
			continue
		}
		ed := enfDecl{id: decl.Identifier, token: decl.ServerToken, p: p, deadline: deadline}
		key := decl.Identifier + "\x00" + decl.ServerToken
		if !e.accepted[key] {
			// Judged once, when received: a declaration met later by an
			// update stays valid and is ignored.
			if d.targetMetLocked(ed) {
				rejected[decl.Identifier] = []ddm.StatusReason{{Code: ddm.ReasonConfigurationIsInvalid,
					Description: fmt.Sprintf("The target %s is not above the installed %s %s (%s).", targetString(p), osFamily(d.id), d.id.OSVersion, d.id.BuildVersion),
					Details:     ddm.IDDetails(decl)}}
				continue
			}
		}
		seen[key] = true
		decls = append(decls, ed)
	}
	e.accepted = seen
	slices.SortStableFunc(decls, func(a, b enfDecl) int {
		if c := a.deadline.Compare(b.deadline); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	e.decls = decls
	d.enforceEvalLocked()
	e.resumed = false
	io := d.sw.takeIO()
	d.mu.Unlock()
	// What the engine queued (phase notifications) is covered by the report
	// that follows Apply.
	for _, g := range io {
		g()
	}
	d.mu.Lock()
	e.applying = false
	d.mu.Unlock()
	if len(rejected) == 0 {
		return nil
	}
	return rejected
}

func targetString(p ddm.SoftwareUpdateEnforcementSpecific) string {
	if p.TargetBuildVersion != "" {
		return p.TargetOSVersion + " (" + p.TargetBuildVersion + ")"
	}
	return p.TargetOSVersion
}

// resolveTargetLocked finds the release a declaration targets in the catalog as
// it is now.
func (d *Device) resolveTargetLocked(p ddm.SoftwareUpdateEnforcementSpecific) (catalog.Release, bool) {
	c := d.env.catalog
	if c == nil {
		return catalog.Release{}, false
	}
	now := d.env.clock.Now()
	m := *d.id.Model
	if p.TargetBuildVersion != "" {
		if r, ok := c.FindBuild(m, p.TargetBuildVersion, now); ok && versionMatches(r.ProductVersion, p.TargetOSVersion) {
			return r, true
		}
		// The OS version wins when the two disagree.
	}
	parts := strings.Split(p.TargetOSVersion, ".")
	nums := make([]int, len(parts))
	for i, s := range parts {
		fmt.Sscan(s, &nums[i])
	}
	switch len(parts) {
	case 1:
		return c.Latest(m, nums[0], -1, now)
	case 2:
		return c.Latest(m, nums[0], nums[1], now)
	}
	for _, r := range c.ReleasesFor(m, now) {
		if !r.SecurityImprovement && ddm.CompareVersions(r.ProductVersion, p.TargetOSVersion) == 0 {
			return r, true
		}
	}
	return catalog.Release{}, false
}

// versionMatches: 26.1 matches 26.1 and 26.1.x; 26.1.1 only itself.
func versionMatches(have, want string) bool {
	return ddm.CompareVersions(have, want) == 0 || strings.HasPrefix(have, want+".")
}

// targetMetLocked reports whether the device already runs the declaration's
// target, or something newer.
func (d *Device) targetMetLocked(ed enfDecl) bool {
	p := ed.p
	installed := d.id.OSVersion
	if p.TargetBuildVersion != "" {
		if d.id.BuildVersion == p.TargetBuildVersion || d.id.SupplementalBuildVersion == p.TargetBuildVersion {
			return true
		}
		if r, ok := d.resolveTargetLocked(p); ok && r.Build == p.TargetBuildVersion {
			return ddm.CompareVersions(installed, r.ProductVersion) > 0
		}
	}
	if r, ok := d.resolveTargetLocked(p); ok {
		return ddm.CompareVersions(installed, r.ProductVersion) >= 0
	}
	return ddm.CompareVersions(installed, p.TargetOSVersion) >= 0
}

// combinedUpdates: from iOS 18 and macOS 15 a supplemental target installs
// its base first on its own.
func combinedUpdates(id identity.Identity) bool {
	if id.IsMac() {
		return identity.Major(id.OSVersion) >= 15
	}
	return identity.Major(id.OSVersion) >= 18
}

// stepReleaseLocked is what the device installs now for a target: the
// target, or the base a supplemental target needs.
func (d *Device) stepReleaseLocked(r catalog.Release) (catalog.Release, bool) {
	if !r.SecurityImprovement || r.PrerequisiteBuild == "" || d.id.BuildVersion == r.PrerequisiteBuild {
		return r, true
	}
	if !combinedUpdates(d.id) {
		// Before 18/15 the base takes a declaration of its own.
		return catalog.Release{}, false
	}
	return d.env.catalog.FindBuild(*d.id.Model, r.PrerequisiteBuild, d.env.clock.Now())
}

// enforceEvalLocked picks the declaration to enforce and sets the update
// engine going.
func (d *Device) enforceEvalLocked() {
	e := d.sw.enforce
	if e == nil {
		return
	}
	var cur *enfDecl
	for i := range e.decls {
		if !d.targetMetLocked(e.decls[i]) {
			cur = &e.decls[i]
			break
		}
	}
	now := d.env.clock.Now()
	if cur == nil {
		if e.cur != nil {
			d.enforceStopLocked(e)
		}
		return
	}
	if e.cur == nil || e.cur.id != cur.id || e.cur.token != cur.token || !e.cur.deadline.Equal(cur.deadline) {
		e.since, e.missed, e.forced, e.unusable, e.failed, e.waitPower = now, false, false, false, false, false
		e.notifications, e.stepAt, e.countdown = nil, time.Time{}, time.Time{}
		e.forceAt = cur.deadline
		if !cur.deadline.After(now) {
			// Past due on receipt: a prompt now, the install in an hour.
			e.forceAt = now.Add(EnforcementMissedDelay)
		}
	}
	c := *cur
	e.cur = &c
	d.enforceStartLocked(e)
	d.enforceArmLocked(e)
}

// enforceStopLocked ends the enforcement of a target: met, or removed.
func (d *Device) enforceStopLocked(e *enforcement) {
	for i, t := range e.timers {
		if t != nil {
			t.Stop()
			e.timers[i] = nil
		}
		e.gens[i]++
	}
	if j := d.sw.job; j != nil && j.plan.reason == InstallReasonDeclaration && j.phase.before(PhaseInstalling) {
		d.cancelJobLocked()
	}
	if e.opts.StalePendingVersion && e.cur != nil {
		e.pending = d.pendingOfLocked(e)
	}
	e.cur, e.resolved, e.unusable, e.failed, e.forced, e.waitPower = nil, false, false, false, false, false
}

// before reports whether p comes before q in an update's progress.
func (p UpdatePhase) before(q UpdatePhase) bool {
	order := map[UpdatePhase]int{PhaseNone: 0, PhaseQueued: 1, PhaseDownloading: 2, PhasePreparing: 3,
		PhasePrepared: 4, PhaseCountdown: 5, PhaseInstalling: 6, PhaseRestarting: 7}
	return order[p] < order[q]
}

// enforceStartLocked makes sure the engine works on the current target:
// it resolves the release and starts a download-only job for it.
func (d *Device) enforceStartLocked(e *enforcement) {
	rel, ok := d.resolveTargetLocked(e.cur.p)
	if ok {
		rel, ok = d.stepReleaseLocked(rel)
	}
	e.rel, e.resolved = rel, ok
	if !ok {
		return // not in the catalog (yet): the declaration waits
	}
	if j := d.sw.job; j != nil {
		if j.rel.Build == rel.Build && j.rel.Platform == rel.Platform {
			j.plan.notify = d.enforceNotify
			j.plan.reason = InstallReasonDeclaration
			return
		}
		if !j.phase.before(PhaseInstalling) {
			return // another install is under way; re-evaluated after it
		}
	}
	if b := d.downloadBlockerLocked(rel); b != "" {
		if e.resumed && (e.failed || e.waitPower) {
			// A restored device re-evaluating its declarations: the
			// failure it saved stands until its next retry.
			return
		}
		d.enforceFailLocked(e, b)
		return
	}
	e.failed, e.waitPower = false, false
	key := rel.ProductKey(d.installedVersion(), d.id.BuildVersion)
	d.startJobLocked(rel, key, installPlan{action: actDownloadOnly, reported: "Declaration", maxDeferrals: -1,
		reason: InstallReasonDeclaration, notify: d.enforceNotify})
	if e.forced {
		d.requestInstallLocked(d.sw.job, modeDeadline)
	}
}

// enforceFailLocked records a failed attempt.
func (d *Device) enforceFailLocked(e *enforcement, status string) {
	if waitsForPower(status) {
		e.waitPower = true
		return
	}
	reason := blockerFailures[status]
	if reason == "" {
		reason = FailureGeneric
	}
	e.failed = true
	e.failCount++
	e.failReason = reason
	e.failAt = d.env.clock.Now()
}

// enforceNotify is the job's phase hook: report the change.
func (d *Device) enforceNotify(UpdateState) {
	d.mu.Lock()
	skip := d.sw.enforce != nil && d.sw.enforce.applying
	d.mu.Unlock()
	if skip {
		return
	}
	d.enforceReport()
}

// enforceReport sends the status items that changed.
func (d *Device) enforceReport() {
	ctx, cancel := context.WithTimeout(d.env.ctx, ddmBackgroundTimeout)
	defer cancel()
	if err := d.DDMStatusChanged(ctx); err != nil {
		d.env.logger.Debug("DDM: enforcement report", "udid", d.UDID(), "err", err)
	}
}

// armEnfLocked replaces the enforcement timer in slot.
func (d *Device) armEnfLocked(e *enforcement, slot int, after time.Duration, step func(e *enforcement)) {
	if t := e.timers[slot]; t != nil {
		t.Stop()
	}
	e.gens[slot]++
	gen := e.gens[slot]
	e.timers[slot] = d.after(after, func() {
		report := false
		d.withLock(func() {
			if d.sw.enforce != e || e.gens[slot] != gen {
				return
			}
			e.timers[slot] = nil
			before := d.enforceSnapshotLocked()
			step(e)
			report = d.enforceSnapshotLocked() != before
		})
		if report {
			d.enforceReport()
		}
	})
}

// enforceSnapshotLocked sums up what the enforcement's own status items
// show, so a timer step reports only when it changed something.
func (d *Device) enforceSnapshotLocked() string {
	return fmt.Sprint(d.installStateLocked(), d.pendingVersionLocked(), d.failureReasonLocked(), d.installReasonLocked())
}

// enforceArmLocked arms the next step: a notification, the forced install,
// a retry.
func (d *Device) enforceArmLocked(e *enforcement) {
	if e.cur == nil {
		return
	}
	now := d.env.clock.Now()
	if !e.resolved || e.failed || e.waitPower {
		next := now.Add(EnforcementRetryInterval)
		if !e.forced && e.resolved && e.forceAt.After(now) && e.forceAt.Before(next) {
			next = e.forceAt
		}
		d.armEnfLocked(e, enfSlotStep, next.Sub(now), d.enforceStepLocked)
		return
	}
	if e.forced {
		return
	}
	if e.missed {
		d.armEnfLocked(e, enfSlotStep, EnforcementPowerCheck, d.enforceStepLocked)
		return
	}
	next := e.forceAt
	for _, t := range notificationTimes(e.since, e.forceAt, e.notificationsOff, d.id.IsMac()) {
		if t.After(e.stepAt) && !t.Before(now) {
			next = t
			break
		}
	}
	d.armEnfLocked(e, enfSlotStep, next.Sub(now), d.enforceStepLocked)
}

// enforceStepLocked is the enforcement timer.
func (d *Device) enforceStepLocked(e *enforcement) {
	if e.cur == nil {
		return
	}
	now := d.env.clock.Now()
	switch {
	case e.missed:
		if d.unreachableLocked() {
			d.enforceArmLocked(e)
			return
		}
		// Running again: the install is forced an hour later, with the
		// last hour's notifications.
		e.missed = false
		e.since, e.forceAt = now, now.Add(EnforcementMissedDelay)
		e.notifications, e.stepAt = nil, time.Time{}
	case !e.resolved || e.failed || e.waitPower:
		// Retry: the catalog may hold the target now, or the condition
		// that stopped the update may have gone.
		wasResolved := e.resolved
		e.failed, e.waitPower = false, false
		d.enforceStartLocked(e)
		switch {
		case !e.resolved || e.failed || e.waitPower:
		case !wasResolved && !e.forced:
			// The target appeared: the notifications start over, and
			// after the deadline it is past due.
			e.since, e.stepAt = now, time.Time{}
			if !now.Before(e.forceAt) {
				e.forceAt = now.Add(EnforcementMissedDelay)
			}
		case e.forced:
			if j := d.sw.job; j != nil {
				d.requestInstallLocked(j, modeDeadline)
				d.checkBlockedLocked(e, j)
			}
		case !now.Before(e.forceAt):
			d.enforceForceLocked(e)
		}
	case !now.Before(e.forceAt):
		d.enforceForceLocked(e)
	default:
		d.enforceNotificationLocked(e, now)
	}
	d.enforceArmLocked(e)
}

// checkBlockedLocked counts a failure when the requested install was
// stopped by a condition.
func (d *Device) checkBlockedLocked(e *enforcement, j *updateJob) {
	if j.blocker != "" {
		d.enforceFailLocked(e, j.blocker)
	}
}

// enforceForceLocked is the deadline: the install is forced, unless the
// device is off, in which case it comes an hour after it starts.
func (d *Device) enforceForceLocked(e *enforcement) {
	if d.unreachableLocked() {
		e.missed = true
		return
	}
	e.forced = true
	j := d.sw.job
	if j == nil {
		d.enforceStartLocked(e)
		if j = d.sw.job; j == nil {
			return
		}
	}
	d.setInstallReasonLocked(e, InstallReasonDeclaration)
	if !d.id.IsMac() {
		// iOS: past the deadline the device is good for nothing but the
		// update. With a passcode the user is prompted (ddm_enforce_notify.go);
		// without one it restarts without warning (B4.5).
		e.unusable = true
		if d.sw.user.Passcode && !j.authorized {
			d.enforceIOSPromptLocked(e)
			return
		}
	}
	d.requestInstallLocked(j, modeDeadline)
	d.checkBlockedLocked(e, j)
}

// enforceAuthFailedLocked: an Apple-silicon Mac asked for the bootstrap
// token before the enforced install and neither the server nor a volume
// owner authorised it. The enforcement counts a failure, reports it, and
// tries again at EnforcementRetryInterval as any stopped attempt does
// (update-behaviour.md B3.2).
func (d *Device) enforceAuthFailedLocked(j *updateJob, hadToken bool) {
	e := d.sw.enforce
	if e == nil || e.cur == nil || j.plan.reason != InstallReasonDeclaration {
		return
	}
	status := statusAuthorization
	if hadToken {
		// Quirk Q15: the token was there, yet the user was asked and
		// did not answer: a plain failure.
		status = "InstallFailed"
	}
	d.enforceFailLocked(e, status)
	d.enforceArmLocked(e)
	d.notifyLocked(j)
}

// enforceCountdownLocked notes the forced restart's countdown.
func (d *Device) enforceCountdownLocked() {
	if e := d.sw.enforce; e != nil && e.cur != nil {
		e.countdown = d.env.clock.Now()
	}
}

// enforceResumeLocked is the enforcement's part of PowerOn: a deadline that
// passed while the device was off is met an hour after it starts; anything
// else goes on where it stopped.
func (d *Device) enforceResumeLocked() {
	e := d.sw.enforce
	if e == nil || e.cur == nil || e.forced {
		return
	}
	if !e.missed && d.env.clock.Now().Before(e.forceAt) {
		// The deadline is still ahead: the steps are re-armed for their
		// own times, not for what they had left when it was switched off.
		d.enforceArmLocked(e)
		return
	}
	e.missed = true
	d.enforceStepLocked(e)
}
