package jobs

import (
	"context"
	"fmt"
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
	reference.Report
	Enrolled int            `json:"enrolled"`
	Commands int            `json:"commands"`
	NotNow   int            `json:"not_now"`
	Updated  int            `json:"updated"` // devices that installed something
	Mix      map[string]int `json:"mix"`
	// Polling is set when devices checked in on their own, not when
	// pushed: the run shows the server's command handling, not a fleet's.
	Polling bool `json:"polling,omitempty"`
	// Story is the longest enforcement, on the world's clock.
	Story time.Duration `json:"-"`
}

// LegacyUpdate lets the reference legacy enforcer bring every enrolled
// device to its target through the target's command channel. stop, if
// set, is called when enforcement ends, before devices' histories are
// read (a discrete-event clock pauses there).
func LegacyUpdate(ctx context.Context, r *Run, cfg LegacyConfig, stop func()) (LegacySummary, error) {
	f := r.Fleet
	sum := LegacySummary{Report: reference.Report{Devices: r.Config.Devices, Reasons: map[string]int{}},
		Enrolled: f.Enrolled, Mix: f.Mix(), Polling: f.Polling}
	if err := scenarios.Require(r.Target, scenarios.CapCommands); err != nil {
		return sum, err
	}
	ec := cfg.Enforcer
	ec.Clock = r.World.Clock
	enforcer := reference.NewEnforcer(r.Target.Commands(), r.World.Observer, ec)
	r.Config.Say("enrolled %d devices (%s); enforcing an OS update, deadline %v", f.Enrolled, MixString(sum.Mix), enforcer.Deadline())
	virtual := r.World.Clock.Now()
	outcomes := enforcer.Run(ctx, f.EnrolledUDIDs())
	if stop != nil {
		stop()
	}
	for _, o := range outcomes {
		sum.Story = max(sum.Story, o.Elapsed)
	}
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("enforcement: %w", err)
	}
	sum.Report = reference.Summarize(outcomes)
	notEnrolled(&sum.Report, r.Config.Devices)
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
	r.Config.Say("compliant %d, not compliant %d, after %s; %d commands, %d NotNow",
		sum.Compliant, sum.Noncompliant, sum.Story.Round(time.Second), sum.Commands, sum.NotNow)
	r.sayReasons(sum.Report)
	return sum, nil
}
