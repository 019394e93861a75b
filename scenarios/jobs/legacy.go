package jobs

import (
	"context"
	"time"

	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/reference"
)

// LegacyConfig tunes the legacy-update job.
type LegacyConfig struct {
	// Enforcer tunes the reference enforcer; its Clock is the world's.
	Enforcer reference.EnforcerConfig
}

// LegacySummary is what the legacy-update job found.
type LegacySummary struct {
	Rollout
	Commands int `json:"commands"`
	NotNow   int `json:"not_now"`
	Updated  int `json:"updated"` // devices that installed something
}

// LegacyUpdate lets the reference legacy enforcer bring every enrolled
// device to its target through the target's command channel. stop, if
// set, is called when enforcement ends, before devices' histories are
// read (a discrete-event clock pauses there).
func LegacyUpdate(ctx context.Context, r *Run, cfg LegacyConfig, stop func()) (LegacySummary, error) {
	f := r.Fleet
	sum := LegacySummary{Rollout: r.rollout(JobLegacyUpdate)}
	if err := scenarios.Require(r.Target, scenarios.CapCommands); err != nil {
		return sum, err
	}
	ec := cfg.Enforcer
	ec.Clock = r.World.Clock
	enforcer := reference.NewEnforcer(r.Target.Commands(), r.World.Observer, ec)
	r.Config.Say("enrolled %d devices (%s); enforcing an OS update, deadline %v", f.Enrolled, MixString(sum.Mix), enforcer.Deadline())
	virtual := r.World.Clock.Now()
	r.enforcePhase(virtual, enforcer.Deadline(), func() (int, int) { return enforcer.Progress() })
	outcomes := enforcer.Run(ctx, f.EnrolledUDIDs())
	err := sum.end(ctx, r, outcomes, stop)
	for _, out := range outcomes {
		sum.Commands += out.Commands
		sum.NotNow += out.NotNow
	}
	storyEnd := virtual.Add(sum.Story)
	for _, d := range f.Devices() {
		for _, rec := range d.UpdateHistory() {
			if !rec.InstalledAt.After(storyEnd) {
				sum.Updated++
				break
			}
		}
	}
	r.Config.Say("compliant %d, not compliant %d, after %s; %d commands, %d NotNow%s",
		sum.Compliant, sum.Noncompliant, sum.Story.Round(time.Second), sum.Commands, sum.NotNow, partialNote(sum.Partial))
	r.sayReasons(sum.Report)
	return sum, err
}
