package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// scenarioLegacyUpdate enforces an OS update on the fleet with the legacy
// MDM commands, driven by the reference enforcer through the embedded stack.
const scenarioLegacyUpdate = "legacy-update"

// legacyOptions are the flags only --scenario legacy-update reads.
type legacyOptions struct {
	speed     float64
	deadline  time.Duration
	escalate  time.Duration
	quirks    string
	noProfile bool
	quirkMap  map[string]float64
}

func legacyFlags(fs *flag.FlagSet) *legacyOptions {
	o := &legacyOptions{}
	fs.Float64Var(&o.speed, "speed", 0, "scenarios: run virtual time this many times faster than the wall clock, for a server on real time; 0 (default) runs the discrete-event clock, as fast as the CPU allows and independent of load")
	fs.DurationVar(&o.deadline, "deadline", refmdm.DefaultEnforceDeadline, scenarioLegacyUpdate+": how long (virtual) the enforcer tries each device")
	fs.DurationVar(&o.escalate, "escalate", 0, scenarioLegacyUpdate+": switch to InstallForceRestart after this long (virtual); 0 never does")
	fs.StringVar(&o.quirks, "quirks", "", scenarioLegacyUpdate+": quirks and the share of devices they apply to, e.g. prepare-stall=0.1,available-empty=0.05")
	fs.BoolVar(&o.noProfile, "cooperative", false, scenarioLegacyUpdate+": every user acts and every device is fit (no population mix)")
	return o
}

func (o *legacyOptions) validate() error {
	if o.speed != 0 && !(o.speed >= 1) {
		return fmt.Errorf("--speed must be 0 (discrete-event clock) or at least 1, have %v", o.speed)
	}
	if o.deadline <= 0 {
		return errors.New("--deadline must be positive")
	}
	o.quirkMap = map[string]float64{}
	for _, kv := range strings.Split(o.quirks, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		name, share, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(share, 64)
		if !ok || err != nil {
			return fmt.Errorf("--quirks: %q is not name=share", kv)
		}
		if _, err := update.LookupQuirk(name); err != nil {
			return fmt.Errorf("--quirks: %w", err)
		}
		o.quirkMap[name] = f
	}
	return nil
}

// legacySummary is the JSON line `mdmsim run --scenario legacy-update
// --json` prints last.
type legacySummary struct {
	refmdm.Report
	Enrolled       int            `json:"enrolled"`
	Commands       int            `json:"commands"`
	NotNow         int            `json:"not_now"`
	Updated        int            `json:"updated"` // devices that installed something
	Mix            map[string]int `json:"mix"`
	Clock          string         `json:"clock"`
	BehindSeconds  float64        `json:"behind_seconds,omitempty"`
	VirtualSeconds float64        `json:"virtual_seconds"`
	WallSeconds    float64        `json:"wall_seconds"`
}

func runLegacy(ctx context.Context, o runOptions, stdout, stderr io.Writer) int {
	return runJob(o, stdout, stderr,
		func() (legacySummary, error) { return legacyUpdate(ctx, o, stdout, stderr) },
		func(s *legacySummary, w float64) { s.WallSeconds = w },
		func(s legacySummary) bool { return s.Compliant+s.Noncompliant == s.Devices })
}

// legacyUpdate starts the stack, draws and enrolls a fleet on a scaled
// clock, and lets the reference enforcer bring every device to its target.
func legacyUpdate(ctx context.Context, o runOptions, stdout, stderr io.Writer) (legacySummary, error) {
	lo := o.legacy
	sum := legacySummary{Report: refmdm.Report{Devices: o.devices, Reasons: map[string]int{}}}
	logger := jobLogger(o, stderr)
	say := sayer(o, stdout)

	// Devices' time and the enforcer's: a weekday morning ten days after
	// the newest release of the catalog. It stands still while the fleet
	// enrolls and starts with the enforcement. Certificates keep to the
	// wall clock.
	cat := catalog.Default()
	start := cat.LatestPostingDate().AddDate(0, 0, 10).Add(9 * time.Hour)
	vc := newVirtualClock(start, lo.speed, stderr)
	defer vc.close()
	clk := vc.Clock
	sum.Clock = vc.mode()

	cfg := fleet.Config{Devices: o.devices, Seed: o.seed, MacFraction: fleet.DefaultMacFraction, Catalog: cat, Quirks: lo.quirkMap}
	if !lo.noProfile {
		pop := fleet.DefaultPopulation()
		cfg.Population = &pop
	}
	ef, err := enrollFleet(ctx, o, logger, cfg, clk)
	if ef != nil {
		defer ef.stack.Close()
	}
	if err != nil {
		return sum, err
	}
	stack, f, n := ef.stack, ef.fleet, ef.enrolled
	sum.Mix = f.Mix()
	sum.Enrolled = n
	say("enrolled %d devices (%s); enforcing an OS update %s, deadline %v", n, mixString(sum.Mix), vc.speedLabel(), lo.deadline)

	enforcer := refmdm.NewEnforcer(stack, refmdm.EnforcerConfig{Clock: clk, Deadline: lo.deadline, EscalateAfter: lo.escalate})
	virtual := clk.Now()
	outcomes := enforcer.Run(ctx, f.UDIDs())
	story := end(vc, outcomes, func(o refmdm.Outcome) time.Duration { return o.Elapsed })
	sum.VirtualSeconds = float64(story.Round(time.Second) / time.Second)
	sum.BehindSeconds = vc.behind(stderr)
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("enforcement: %w", err)
	}
	sum.Report = refmdm.Summarize(outcomes)
	for _, out := range outcomes {
		sum.Commands += out.Commands
		sum.NotNow += out.NotNow
	}
	for _, d := range f.Devices() {
		for _, rec := range d.UpdateHistory() {
			if !rec.InstalledAt.After(virtual.Add(story)) {
				sum.Updated++
				break
			}
		}
	}

	say("compliant %d, not compliant %d, after %s of virtual time; %d commands, %d NotNow",
		sum.Compliant, sum.Noncompliant, time.Duration(sum.VirtualSeconds)*time.Second, sum.Commands, sum.NotNow)
	for _, r := range sum.SortReasons() {
		say("  %-24s %d", r, sum.Reasons[r])
	}
	return sum, nil
}
