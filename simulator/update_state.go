package simulator

import (
	"fmt"
	"slices"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
)

// UpdateJobState is an update in progress as a device saves it: the job's
// fields and its pending timers as (step, due) pairs in virtual time, so a
// restored device re-arms them for the time that remained when it was
// saved (Restore). The release is saved by build and looked up again in
// the Env's catalog, so a restored fleet shares the catalog's release
// tables instead of holding a copy each.
type UpdateJobState struct {
	Platform     catalog.Platform `json:"platform"`
	Build        string           `json:"build"`
	ProductKey   string           `json:"product_key"`
	From         string           `json:"from"`
	Major        bool             `json:"major,omitempty"`
	RSR          bool             `json:"rsr,omitempty"`
	Size         int64            `json:"size"`
	InstallSize  int64            `json:"install_size"`
	Action       uint8            `json:"action"`
	Reported     string           `json:"reported"`
	MaxDeferrals int              `json:"max_deferrals"`
	HighPriority bool             `json:"high_priority,omitempty"`
	Reason       string           `json:"reason"`

	Phase      UpdatePhase   `json:"phase"`
	Since      time.Time     `json:"since"`
	DLStart    time.Time     `json:"dl_start"`
	DLDur      time.Duration `json:"dl_dur"`
	Downloaded bool          `json:"downloaded,omitempty"`
	// Steps and Due are the pending timers: the phase timer, then the
	// night's. A zero step has no timer.
	Steps [2]uint8     `json:"steps"`
	Due   [2]time.Time `json:"due"`

	Requested     bool        `json:"requested,omitempty"`
	Mode          uint8       `json:"mode,omitempty"`
	Authorized    bool        `json:"authorized,omitempty"`
	Waiting       string      `json:"waiting,omitempty"`
	Blocker       string      `json:"blocker,omitempty"`
	Tonight       bool        `json:"tonight,omitempty"`
	DataLoss      bool        `json:"data_loss,omitempty"`
	DeferralsLeft int         `json:"deferrals_left"`
	Dismissals    int         `json:"dismissals,omitempty"`
	Prompts       int         `json:"prompts,omitempty"`
	NextInstall   time.Time   `json:"next_install"`
	Notifications []time.Time `json:"notifications,omitempty"`
	Stuck         bool        `json:"stuck,omitempty"`
}

// saveJobLocked returns the state of the job in progress, or nil; d.mu is
// held.
func (d *Device) saveJobLocked() *UpdateJobState {
	j := d.sw.job
	if j == nil {
		return nil
	}
	s := &UpdateJobState{
		Platform: j.rel.Platform, Build: j.rel.Build, ProductKey: j.key, From: j.from.String(), Major: j.major, RSR: j.rsr,
		Size: j.size, InstallSize: j.installSize, Action: uint8(j.plan.action), Reported: j.plan.reported,
		MaxDeferrals: j.plan.maxDeferrals, HighPriority: j.plan.highPriority, Reason: j.plan.reason,
		Phase: j.phase, Since: j.since, DLStart: j.dlStart, DLDur: j.dlDur, Downloaded: j.downloaded,
		Requested: j.requested, Mode: uint8(j.mode), Authorized: j.authorized, Waiting: j.waiting, Blocker: j.blocker,
		Tonight: j.tonight, DataLoss: j.dataLoss, DeferralsLeft: j.deferralsLeft, Dismissals: j.dismissals,
		Prompts: j.prompts, NextInstall: j.nextInstall, Stuck: j.stuck,
	}
	if len(j.notifications) > 0 {
		s.Notifications = slices.Clone(j.notifications)
	}
	for i := range j.steps {
		if j.timers[i] != nil && j.steps[i] != stepNone {
			s.Steps[i], s.Due[i] = uint8(j.steps[i]), d.timerDueLocked(j.timers[i])
		}
	}
	return s
}

// restoreJobLocked puts a saved update back in progress and re-arms its
// timers on the device's clock for the time that remained at the saved
// virtual time: a step that fell due while the simulator was not running
// runs at once. d.mu is held.
func (d *Device) restoreJobLocked(s *UpdateJobState) error {
	switch {
	case s.Phase == PhaseNone || !validPhase(s.Phase):
		return fmt.Errorf("update in progress: phase %q", s.Phase)
	case installAction(s.Action) > actAutomatic || installMode(s.Mode) > modeDeadline:
		return fmt.Errorf("update in progress: action %d, mode %d", s.Action, s.Mode)
	case s.Steps[slotPhase] >= uint8(stepCount) || s.Steps[slotNight] >= uint8(stepCount):
		return fmt.Errorf("update in progress: steps %v", s.Steps)
	case len(s.Notifications) > maxNotifications:
		return fmt.Errorf("update in progress: %d notifications", len(s.Notifications))
	}
	from, err := catalog.ParseVersion(s.From)
	if err != nil {
		return fmt.Errorf("update in progress: from %q: %w", s.From, err)
	}
	rel, ok := d.findReleaseLocked(s.Platform, s.Build, s.Since, s.DLStart)
	if !ok {
		return fmt.Errorf("update in progress: %s build %s is not in the catalog", s.Platform, s.Build)
	}
	j := &updateJob{
		rel: rel, key: s.ProductKey, from: from, major: s.Major, rsr: s.RSR, size: s.Size, installSize: s.InstallSize,
		plan: installPlan{action: installAction(s.Action), reported: s.Reported, maxDeferrals: s.MaxDeferrals,
			highPriority: s.HighPriority, reason: s.Reason},
		phase: s.Phase, since: s.Since, dlStart: s.DLStart, dlDur: s.DLDur, downloaded: s.Downloaded,
		requested: s.Requested, mode: installMode(s.Mode), authorized: s.Authorized, waiting: s.Waiting, blocker: s.Blocker,
		tonight: s.Tonight, dataLoss: s.DataLoss, deferralsLeft: s.DeferralsLeft, dismissals: s.Dismissals,
		prompts: s.Prompts, nextInstall: s.NextInstall, notifications: slices.Clone(s.Notifications), stuck: s.Stuck,
	}
	switch j.plan.reason {
	case InstallReasonDeclaration, InstallReasonNotification, InstallReasonTonight, InstallReasonAutoUpdate:
		// The enforcement of a declaration hears of the job's phases; the
		// Setup Assistant's wait for its update does not outlive the
		// process, so that job goes on unheard.
		j.plan.notify = d.enforceNotify
	}
	d.sw.job = j
	if j.phase == PhaseRestarting {
		d.down = true // still restarting: offline until the job brings it back
	}
	now := d.env.clock.Now()
	for slot, st := range s.Steps {
		if st != uint8(stepNone) {
			d.armLocked(j, slot, s.Due[slot].Sub(now), jobStep(st))
		}
	}
	return nil
}

func validPhase(p UpdatePhase) bool {
	switch p {
	case PhaseQueued, PhaseDownloading, PhasePreparing, PhasePrepared, PhaseCountdown, PhaseInstalling, PhaseRestarting:
		return true
	}
	return false
}

// findReleaseLocked looks a saved job's release up by build: visible now,
// or when the job last moved on (it may have expired since the device
// downloaded it).
func (d *Device) findReleaseLocked(p catalog.Platform, build string, at ...time.Time) (catalog.Release, bool) {
	for _, t := range append([]time.Time{d.env.clock.Now()}, at...) {
		if r, ok := d.env.catalog.FindBuild(*d.id.Model, build, t); ok && r.Platform == p {
			return r, true
		}
	}
	return catalog.Release{}, false
}
