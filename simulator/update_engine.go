package simulator

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"time"
	"unique"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// The software-update engine of a device.
//
// A device holds a softwareUpdate value, a few words while nothing is in
// progress, and an *updateJob only while an update is. Progress is computed
// from the clock (start, size, bandwidth), never ticked; every state change
// happens on a command or on one of the job's clock timers, so an idle
// device holds no goroutine and a downloading one holds a runtime timer.
//
// The install machinery is an internal API that both command paths use: the
// legacy commands (update_commands.go) and declarative enforcement. A caller
// picks a release, starts it with startJobLocked and a plan, asks for the
// install with requestInstallLocked, and reads the state with
// updateStateLocked or statusItemLocked. plan.notify, if set, hears every
// phase change. All of these run with d.mu held; network work (bootstrap
// token, the check-in after the restart) is queued with d.sw.queueIO and
// runs once the lock is released (see withLock).

// softwareUpdate is a device's software-update state.
type softwareUpdate struct {
	user      update.UserProfile
	env       update.Environment
	quirkFlip uint32 // bit i set: quirkTable[i] is the opposite of its default

	job      *updateJob  // the update in progress; nil when none
	avail    *availCache // macOS: what the last scan found; nil until one runs after boot
	escrowed bool        // SetBootstrapToken sent
	// more is what a device needs once it has scanned, installed or been
	// locked: nil on an idle device (a fleet holds a million of them).
	more *swMore

	enforce *enforcement // DDM enforcement (ddm_enforce.go); nil until a declaration
	// settings are the combined softwareupdate.settings declarations
	// (ddm_settings.go): shared among the devices that hold the same.
	settings unique.Handle[declSettings]
}

// swMore is the state of a device that has done more than check in when
// pushed: its software-update timers and history, and its polls.
type swMore struct {
	scan      clock.Timer // a pending ScheduleOSUpdateScan
	scanGen   uint32
	tokenNag  int32          // sessions that still start with GetBootstrapToken (quirk)
	unlock    clock.Timer    // a pending unlock (Environment.UnlockAfter)
	installed *installedMark // the update whose restart came last: the reboot gap
	failed    *failedMark    // the update that failed last, until a command reports it
	history   []UpdateRecord

	io []func() // network work queued under d.mu, run after it is released

	poll clock.Timer // the next poll (poll.go): nil unless WithPollInterval

	profiles []*profile // installed configuration profiles (profiles.go), shared
}

// grow returns the device's swMore, allocating it the first time; d.mu is
// held.
func (s *softwareUpdate) grow() *swMore {
	if s.more == nil {
		s.more = &swMore{}
	}
	return s.more
}

// installed is the update whose restart came last, or nil.
func (s *softwareUpdate) installed() *installedMark {
	if s.more == nil {
		return nil
	}
	return s.more.installed
}

// queueIO queues network work to run once d.mu is released; d.mu is held.
func (s *softwareUpdate) queueIO(f func()) {
	m := s.grow()
	m.io = append(m.io, f)
}

// takeIO returns the queued network work and clears the queue; d.mu is
// held.
func (s *softwareUpdate) takeIO() []func() {
	if s.more == nil {
		return nil
	}
	io := s.more.io
	s.more.io = nil
	return io
}

type installedMark struct {
	key, version, build, action string
}

// failedMark is an update that failed (WithFailures): the next
// ScheduleOSUpdate of the same update answers with its status once.
type failedMark struct {
	key, build, action, status string
}

// installAction is what a job does once its update is downloaded.
type installAction uint8

const (
	actDownloadOnly installAction = iota
	actInstallASAP                // install, with the restart countdown on macOS and the user's passcode on iOS
	actForceRestart               // install and restart without waiting for anyone
	actInstallLater               // prompts, the night, MaxUserDeferrals
	actNotifyOnly                 // one notification
	actAutomatic                  // automatic install (settings AutomaticActions): the night after it is prepared
)

// installMode is how an install that has been asked for proceeds.
type installMode uint8

const (
	modeCountdown installMode = iota // macOS: the dismissible restart countdown
	modeForce                        // restart now; apps with unsaved work lose it
	modeNight                        // unattended: no countdown, but apps with unsaved work block it
	modeUser                         // the user chose "Restart Now": they quit their apps
	modeDeadline                     // a DDM deadline: a restart countdown nobody can dismiss, then as modeForce
)

// installPlan says what a job is for.
type installPlan struct {
	action       installAction
	reported     string // the InstallAction UpdateResults shows
	maxDeferrals int    // -1: no MaxUserDeferrals
	highPriority bool
	reason       string // "mdm", or the caller's
	notify       func(UpdateState)
}

// updateJob is one update in progress.
type updateJob struct {
	rel         catalog.Release
	key         string
	from        catalog.Version
	major, rsr  bool
	size        int64 // DownloadSize
	installSize int64
	plan        installPlan

	phase      UpdatePhase
	since      time.Time
	dlStart    time.Time
	dlDur      time.Duration
	downloaded bool
	timers     [2]clock.Timer // 0: the phase timer; 1: the night (InstallLater, tonight)
	gens       [2]uint64
	steps      [2]jobStep // what each pending timer runs (saved by State)

	requested  bool        // an install has been asked for
	mode       installMode // how
	authorized bool        // a bootstrap token or a volume owner (macOS), the passcode (iOS)
	waiting    string      // what a prepared update waits for; "" while it moves on
	blocker    string      // the UpdateResults status of the condition that stopped it
	tonight    bool        // the user (or MaxUserDeferrals) chose the night
	dataLoss   bool

	deferralsLeft int
	dismissals    int
	prompts       int
	nextInstall   time.Time
	notifications []time.Time
	stuck         bool // quirk auto-download-conflict
}

const maxNotifications = 32

const (
	slotPhase = 0
	slotNight = 1
)

// withLock runs f with d.mu held, then the network work f queued.
func (d *Device) withLock(f func()) {
	d.mu.Lock()
	f()
	io := d.sw.takeIO()
	d.mu.Unlock()
	for _, g := range io {
		g()
	}
}

// armLocked replaces a job's timer in slot: step runs with d.mu held after
// the clock has moved by after, unless the job has been replaced or the
// timer re-armed since.
func (d *Device) armLocked(j *updateJob, slot int, after time.Duration, step jobStep) {
	if t := j.timers[slot]; t != nil {
		t.Stop()
	}
	j.gens[slot]++
	gen := j.gens[slot]
	j.steps[slot] = step
	j.timers[slot] = d.after(after, func() {
		d.withLock(func() {
			if d.sw.job != j || j.gens[slot] != gen {
				return
			}
			j.timers[slot], j.steps[slot] = nil, stepNone
			d.runStepLocked(j, step)
		})
	})
}

// stopTimer stops the job's timer in slot.
func (j *updateJob) stopTimer(slot int) {
	if t := j.timers[slot]; t != nil {
		t.Stop()
		j.timers[slot] = nil
	}
	j.gens[slot]++
	j.steps[slot] = stepNone
}

func (j *updateJob) stopTimers() {
	for i := range j.timers {
		j.stopTimer(i)
	}
}

// draw picks a duration in r from the device's seeded generator.
func (d *Device) draw(r update.Range) time.Duration {
	if r.Max <= r.Min {
		return r.Min
	}
	return r.Min + time.Duration(d.rng.Int64N(int64(r.Max-r.Min)+1))
}

func (d *Device) chance(p float64) bool { return p > 0 && d.rng.Float64() < p }

func (d *Device) timings() *update.Timings { return &d.env.timings }

func (d *Device) installedVersion() catalog.Version {
	v, _ := catalog.ParseVersion(d.id.OSVersion)
	return v
}

func (d *Device) appleSiliconMac() bool {
	return d.id.IsMac() && d.id.Model.AppleSilicon && identity.Major(d.id.OSVersion) >= 11
}

// freeBytes is the space the device reports, in bytes (GB are base 10).
func (d *Device) freeBytes() int64 { return int64(d.id.AvailableDeviceCapacity * 1e9) }

// lowPower reports whether the device is on battery below level (desktop
// Macs report -1 and are always on power).
func (d *Device) lowPower(level float64) bool {
	if d.id.IsMac() && !strings.HasPrefix(d.id.Model.ModelName, "MacBook") {
		return false // as DeviceInformation says, only MacBooks have a battery
	}
	return d.sw.env.OnBattery && d.id.BatteryLevel >= 0 && d.id.BatteryLevel < level
}

func (d *Device) responseDelay() time.Duration {
	if d.sw.user.ResponseDelay > 0 {
		return d.sw.user.ResponseDelay
	}
	return d.draw(d.timings().UserResponse)
}

// givesIn reports whether a dismissing user has had enough.
func (d *Device) givesIn(j *updateJob) bool {
	return d.sw.user.DismissLimit > 0 && j.dismissals >= d.sw.user.DismissLimit
}

// startJobLocked starts an update: the download begins after the accept
// latency.
func (d *Device) startJobLocked(rel catalog.Release, key string, plan installPlan) *updateJob {
	if old := d.sw.job; old != nil {
		old.stopTimers()
	}
	now := d.env.clock.Now()
	from := d.installedVersion()
	j := &updateJob{
		rel: rel, key: key, from: from, major: rel.IsMajorFrom(from), rsr: rel.SecurityImprovement,
		size: rel.DownloadSize(*d.id.Model, from), installSize: rel.InstallSize(*d.id.Model, from),
		plan: plan, phase: PhaseQueued, since: now, deferralsLeft: plan.maxDeferrals,
	}
	if plan.reason == "" {
		j.plan.reason = "mdm"
	}
	d.sw.job = j
	if d.sw.more != nil {
		d.sw.more.installed, d.sw.more.failed = nil, nil
	}
	lat := d.timings().AcceptLatencyIOS
	if d.id.IsMac() {
		lat = d.timings().AcceptLatencyMac
	}
	d.armLocked(j, slotPhase, d.draw(lat), stepBeginDownload)
	d.notifyLocked(j)
	return j
}

// cancelJobLocked drops the job in progress.
func (d *Device) cancelJobLocked() {
	if j := d.sw.job; j != nil {
		j.stopTimers()
		d.sw.job = nil
	}
}

// setPhase moves the job to phase p; d.mu is held (notifyLocked), so the
// debug line reads the UDID from d.id, not through UDID, which would wait
// for the lock forever.
func (d *Device) setPhase(j *updateJob, p UpdatePhase) {
	j.phase = p
	j.since = d.env.clock.Now()
	if l := d.env.logger; l.Enabled(context.Background(), slog.LevelDebug) {
		name := string(p)
		if p == PhaseNone {
			name = "none"
		}
		l.LogAttrs(context.Background(), slog.LevelDebug, "device update", slog.String("udid", d.id.UDID),
			slog.String("phase", name), slog.String("product_key", j.key), slog.Time("virtual_time", j.since))
	}
	d.notifyLocked(j)
}

func (d *Device) notifyLocked(j *updateJob) {
	if j.plan.notify != nil {
		st, fn := d.updateStateLocked(), j.plan.notify
		d.sw.queueIO(func() { fn(st) })
	}
}

func (d *Device) beginDownload(j *updateJob) {
	t := d.timings()
	bw := t.IOSBandwidth
	if d.id.IsMac() {
		bw = t.MacBandwidth
	}
	if t.BandwidthJitter > 0 {
		bw *= 1 + t.BandwidthJitter*(2*d.rng.Float64()-1)
	}
	if j.plan.highPriority {
		bw *= t.HighPrioritySpeedup
	}
	if d.id.IsMac() && d.quirk(update.QuirkSlowBackgroundDownload) {
		bw /= t.SlowDownloadFactor
	}
	j.dlDur = time.Duration(float64(j.size) / bw * float64(time.Second))
	j.dlStart = d.env.clock.Now()
	d.setPhase(j, PhaseDownloading)
	d.armLocked(j, slotPhase, j.dlDur, stepDownloadDone)
}

func (d *Device) downloadDone(j *updateJob) {
	t := d.timings()
	mac := d.id.IsMac()
	if mac && d.quirk(update.QuirkSlowBackgroundDownload) && j.plan.action == actDownloadOnly && d.chance(t.SlowDownloadFailure) {
		// The download failed in the background: nothing is left in
		// progress, and the server learns only from an empty OSUpdateStatus.
		d.cancelJobLocked()
		return
	}
	if d.chance(d.env.failures.Download) {
		d.failJobLocked(j, "DownloadFailed")
		return
	}
	r := t.PrepareIOS
	switch {
	case j.rsr:
		r = t.PrepareRSR
	case mac:
		r = t.PrepareMac
	}
	prep := d.draw(r)
	if j.plan.highPriority {
		prep = time.Duration(float64(prep) / t.HighPrioritySpeedup)
	}
	if mac && d.quirk(update.QuirkPrepareStall) {
		prep = t.PrepareStall
	}
	d.setPhase(j, PhasePreparing)
	d.armLocked(j, slotPhase, prep, stepPrepared)
}

func (d *Device) preparedStep(j *updateJob) {
	if d.chance(d.env.failures.Prepare) {
		d.failJobLocked(j, "InstallFailed")
		return
	}
	j.downloaded = true
	d.setPhase(j, PhasePrepared)
	if j.requested {
		// The install was asked for while the update downloaded.
		d.requestInstallLocked(j, j.mode)
		return
	}
	d.proceedLocked(j)
}

// proceedLocked does what the job's action says once the update is
// prepared.
func (d *Device) proceedLocked(j *updateJob) {
	if j.stuck || j.phase != PhasePrepared {
		return
	}
	switch j.plan.action {
	case actInstallASAP:
		d.requestInstallLocked(j, modeCountdown)
	case actForceRestart:
		d.requestInstallLocked(j, modeForce)
	case actInstallLater, actNotifyOnly:
		j.waiting = "user"
		d.armLocked(j, slotPhase, 0, stepPrompt)
	case actAutomatic:
		// Automatic updates install unattended at night, with the
		// authorisation the user gave when turning them on (U).
		j.tonight, j.authorized, j.waiting = true, true, "night"
		d.armNightLocked(j)
	default:
		j.waiting = "server"
	}
}

// requestInstallLocked asks for the install of a prepared update (or of one
// still downloading, once it is prepared).
func (d *Device) requestInstallLocked(j *updateJob, mode installMode) {
	j.requested, j.mode, j.blocker = true, mode, ""
	if j.stuck || j.phase != PhasePrepared {
		return
	}
	if status, waiting := d.installBlockerLocked(j); status != "" {
		j.blocker, j.waiting = status, waiting
		return
	}
	j.waiting = ""
	switch {
	case d.appleSiliconMac() && !j.authorized:
		j.waiting = "volume-owner"
		d.armLocked(j, slotPhase, 0, stepAuthorize)
	case !d.id.IsMac() && d.sw.user.Passcode && !j.authorized:
		d.iosPromptLocked(j)
	default:
		d.beginInstallLocked(j)
	}
}

// installBlockerLocked returns the UpdateResults status of a condition that
// stops the install, and what the update then waits for.
func (d *Device) installBlockerLocked(j *updateJob) (status, waiting string) {
	switch {
	case d.freeBytes() < j.size+j.installSize:
		// "A device needs DownloadSize + InstallSize bytes free."
		return "InstallInsufficientSpace", "space"
	case d.lowPower(d.timings().MinInstallBattery):
		return "InstallInsufficientPower", "power"
	case !d.id.IsMac() && d.sw.env.PhoneCall:
		return "InstallPhoneCallInProgress", "phone-call"
	}
	return "", ""
}

// downloadBlockerLocked returns the UpdateResults status of a condition that
// stops a download of rel from starting.
func (d *Device) downloadBlockerLocked(rel catalog.Release) string {
	size := rel.DownloadSize(*d.id.Model, d.installedVersion())
	switch {
	case d.sw.env.NoNetwork:
		return "DownloadInsufficientNetwork"
	case !d.id.IsMac() && d.sw.env.RequiresComputer:
		return "DownloadRequiresComputer"
	case d.freeBytes() < size:
		return "DownloadInsufficientSpace"
	case d.lowPower(d.timings().MinDownloadBattery):
		return "DownloadInsufficientPower"
	}
	return ""
}

// authorizeStep: an Apple-silicon Mac needs a volume owner's authorisation.
// It asks the server for the bootstrap token; without one, a volume owner
// must authenticate, and one may never come.
func (d *Device) authorizeStep(j *updateJob) {
	d.sw.queueIO(func() {
		token := d.fetchBootstrapToken()
		d.withLock(func() {
			if d.sw.job != j || j.phase != PhasePrepared || !j.requested {
				return
			}
			if token != nil && !d.quirk(update.QuirkBootstrapTokenNag) {
				j.authorized, j.waiting = true, ""
				d.beginInstallLocked(j)
				return
			}
			u := d.sw.user
			resp := u.Response
			if resp == update.UserDismisses && d.givesIn(j) {
				resp = update.UserActs
			}
			j.prompts++
			switch {
			case u.NoSecureToken || resp == update.UserIgnores:
				j.waiting = "volume-owner"
				d.enforceAuthFailedLocked(j, token != nil)
			case resp == update.UserDismisses:
				j.dismissals++
				j.waiting = "volume-owner"
				d.enforceAuthFailedLocked(j, token != nil)
			default:
				j.waiting = "volume-owner"
				d.armLocked(j, slotPhase, d.responseDelay(), stepAuthorized)
			}
		})
	})
}

// beginInstallLocked starts the install proper: the restart countdown on
// macOS, or straight away.
func (d *Device) beginInstallLocked(j *updateJob) {
	if !d.id.IsMac() {
		d.installLocked(j)
		return
	}
	apps := d.sw.user.BlockingApps
	switch j.mode {
	case modeForce:
		j.dataLoss = apps
		d.installLocked(j)
	case modeDeadline:
		// The enforcement deadline: the restart countdown runs out whatever
		// the user does, then the Mac restarts over unsaved work
		// (update-behaviour.md B4.4: "at the deadline, a forced install
		// with a restart countdown"). Quirk Q12: no warning at all.
		j.dataLoss = apps
		if d.quirk(update.QuirkDDMNoWarning) {
			d.installLocked(j)
			return
		}
		d.setPhase(j, PhaseCountdown)
		d.enforceCountdownLocked()
		d.armLocked(j, slotPhase, d.timings().Countdown, stepInstall)
	case modeNight:
		if apps {
			// Unsaved work holds the night's restart up: the next night.
			j.waiting = "apps"
			d.armNightLocked(j)
			return
		}
		d.installLocked(j)
	case modeUser:
		d.installLocked(j)
	default:
		j.waiting = ""
		d.setPhase(j, PhaseCountdown)
		d.armLocked(j, slotPhase, d.timings().Countdown, stepCountdownDone)
	}
}

func (d *Device) countdownDone(j *updateJob) {
	u := d.sw.user
	resp := u.Response
	if resp == update.UserDismisses && d.givesIn(j) {
		resp = update.UserActs
	}
	back := func(waiting string) {
		j.phase = PhasePrepared
		j.waiting = waiting
		d.notifyLocked(j)
		if r := d.timings().CountdownRepeat; r > 0 {
			d.armLocked(j, slotPhase, r, stepBeginInstall)
		}
	}
	switch {
	case resp == update.UserDismisses:
		j.dismissals++
		j.prompts++
		back("user")
	case u.BlockingApps && resp == update.UserIgnores:
		back("apps")
	case u.BlockingApps:
		// The user quits the apps that hold the restart up.
		j.waiting = "apps"
		d.armLocked(j, slotPhase, d.responseDelay(), stepInstall)
	default:
		d.installLocked(j)
	}
}

func (d *Device) installLocked(j *updateJob) {
	j.waiting = ""
	d.setPhase(j, PhaseInstalling)
	r := d.timings().ApplyIOS
	if d.id.IsMac() {
		r = d.timings().ApplyMac
	}
	d.armLocked(j, slotPhase, d.draw(r), stepRestart)
}

// restartStep takes the device offline: it answers nothing and ignores
// pushes until it is back on the new OS.
func (d *Device) restartStep(j *updateJob) {
	d.setPhase(j, PhaseRestarting)
	j.stopTimer(slotNight)
	d.down = true
	r := d.timings().RestartIOS
	if d.id.IsMac() {
		r = d.timings().RestartMac
	}
	d.armLocked(j, slotPhase, d.draw(r), stepBackOnline)
}

// backOnline finishes the update: the new OS, an empty OSUpdateStatus, and
// the check-in a device sends when it comes back.
func (d *Device) backOnline(j *updateJob) {
	if d.chance(d.env.failures.Apply) {
		// The update did not apply: the device is back on the OS it ran.
		d.down = false
		d.sw.avail = nil
		d.failJobLocked(j, "InstallFailed")
		d.sw.queueIO(func() {
			d.checkinAfterRestart()
			d.pollServer()
		})
		return
	}
	now := d.env.clock.Now()
	rec := UpdateRecord{
		FromVersion: d.id.OSVersion, FromBuild: d.id.BuildVersion, ProductKey: j.key,
		Action: j.plan.reported, Reason: j.plan.reason, DataLoss: j.dataLoss, InstalledAt: now,
	}
	if d.id.SupplementalBuildVersion != "" {
		rec.FromBuild = d.id.SupplementalBuildVersion
	}
	if j.rsr {
		d.id.SupplementalBuildVersion = j.rel.Build
		d.id.SupplementalOSVersionExtra = j.rel.ProductVersionExtra
		rec.ToVersion, rec.ToBuild = d.id.OSVersion, j.rel.Build
	} else {
		d.id.OSVersion, d.id.BuildVersion = j.rel.ProductVersion, j.rel.Build
		d.id.SupplementalBuildVersion, d.id.SupplementalOSVersionExtra = "", ""
		rec.ToVersion, rec.ToBuild = j.rel.ProductVersion, j.rel.Build
	}
	more := d.sw.grow()
	more.history = append(more.history, rec)
	if len(more.history) > maxHistory {
		more.history = more.history[len(more.history)-maxHistory:]
	}
	more.installed = &installedMark{key: j.key, version: j.rel.ProductVersion, build: j.rel.Build, action: j.plan.reported}
	j.phase = PhaseNone
	d.sw.job = nil
	d.notifyLocked(j)
	// Software Update detects updates again after a restart.
	d.sw.avail = nil
	d.down = false
	if d.appleSiliconMac() && d.quirk(update.QuirkBootstrapTokenNag) {
		d.sw.grow().tokenNag = 3
	}
	udid, version, build := d.id.UDID, d.id.OSVersion, d.id.BuildVersion
	d.sw.queueIO(func() {
		d.env.emit(Event{Kind: EventOSUpdated, UDID: udid, OSVersion: version, BuildVersion: build})
		d.checkinAfterRestart()
		d.pollServer()
	})
}

// failJobLocked ends a job whose step failed (WithFailures) with the
// UpdateResults status it reports: the device keeps nothing of it, the
// next ScheduleOSUpdate of that update reports the failure once, and a
// declaration's enforcement reports install-state "failed" and tries again
// (EnforcementRetryInterval).
func (d *Device) failJobLocked(j *updateJob, status string) {
	j.stopTimers()
	d.sw.job = nil
	d.sw.grow().failed = &failedMark{key: j.key, build: j.rel.Build, action: j.plan.reported, status: status}
	d.env.logger.Debug("update failed", "udid", d.id.UDID, "key", j.key, "status", status)
	j.phase = PhaseNone
	if e := d.sw.enforce; e != nil && e.cur != nil && e.resolved && e.rel.Build == j.rel.Build {
		d.enforceFailLocked(e, status)
		d.enforceArmLocked(e)
	}
	d.notifyLocked(j)
}

// takeFailedLocked returns, and forgets, the failure of the update with
// this build, if it is the last one that failed.
func (d *Device) takeFailedLocked(build string) *failedMark {
	if d.sw.more == nil || d.sw.more.failed == nil || d.sw.more.failed.build != build {
		return nil
	}
	f := d.sw.more.failed
	d.sw.more.failed = nil
	return f
}

// percentLocked is DownloadPercentComplete: the share of the download done,
// from the clock, in hundredths (never 1.0 before the download is done).
func (d *Device) percentLocked(j *updateJob) float64 {
	switch j.phase {
	case PhaseQueued:
		return 0
	case PhaseDownloading:
		if j.dlDur <= 0 {
			return 0.99
		}
		f := float64(d.frozenNowLocked().Sub(j.dlStart)) / float64(j.dlDur)
		return math.Min(math.Floor(f*100)/100, 0.99)
	}
	return 1
}

// statusLocked is the OSUpdateStatus Status of a job.
func (d *Device) statusLocked(j *updateJob) string {
	switch j.phase {
	case PhaseDownloading, PhasePreparing:
		return "Downloading"
	case PhaseCountdown, PhaseInstalling, PhaseRestarting:
		return "Installing"
	case PhasePrepared:
		if !d.id.IsMac() && j.tonight && d.quirk(update.QuirkLaterReportsInstalling) {
			return "Installing"
		}
		if installUnderway(j) {
			return "Installing"
		}
	}
	return "Idle"
}

// installUnderway: a prepared update whose install has been asked for and
// is going ahead (a bootstrap token being fetched counts), not waiting on
// anyone.
func installUnderway(j *updateJob) bool {
	return j.requested && j.blocker == "" && (j.waiting == "" || j.waiting == "volume-owner" && j.prompts == 0)
}

func (d *Device) updateStateLocked() UpdateState {
	j := d.sw.job
	if j == nil {
		return UpdateState{MaxDeferral: -1}
	}
	return UpdateState{
		Phase: j.phase, ProductKey: j.key, Version: j.rel.ProductVersion, Build: j.rel.Build,
		Action: j.plan.reported, Downloaded: j.downloaded, Percent: d.percentLocked(j), WaitingFor: j.waiting,
		MaxDeferral: j.plan.maxDeferrals, Deferrals: j.deferralsLeft, Dismissals: j.dismissals, Prompts: j.prompts,
		NextInstall: j.nextInstall, Reason: j.plan.reason,
	}
}
