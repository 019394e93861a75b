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
	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/reference"
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
	fs.DurationVar(&o.deadline, "deadline", reference.DefaultEnforceDeadline, scenarioLegacyUpdate+": how long (virtual) the enforcer tries each device")
	fs.DurationVar(&o.escalate, "escalate", 0, scenarioLegacyUpdate+": switch to InstallForceRestart after this long (virtual); 0 never does")
	fs.StringVar(&o.quirks, "quirks", "", scenarioLegacyUpdate+": quirks and the share of devices they apply to, e.g. prepare-stall=0.1,available-empty=0.05")
	fs.BoolVar(&o.noProfile, "cooperative", false, scenarioLegacyUpdate+": every user acts and every device is fit (no population mix)")
	return o
}

func (o *legacyOptions) validate() error {
	if err := checkSpeed(o.speed, "discrete-event clock"); err != nil {
		return err
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

// population is the fleet's mix of users and situations: the default one
// unless --cooperative.
func (o *legacyOptions) population() *fleet.Population {
	if o.noProfile {
		return nil
	}
	pop := fleet.DefaultPopulation()
	return &pop
}

// job is the enforcement the flags describe.
func (o *legacyOptions) job() jobs.LegacyConfig {
	return jobs.LegacyConfig{Enforcer: reference.EnforcerConfig{Deadline: o.deadline, EscalateAfter: o.escalate}}
}

// legacySummary is the JSON line `mdmsim run --scenario legacy-update
// --json` prints last.
type legacySummary struct {
	jobs.LegacySummary
	Clock          string  `json:"clock"`
	BehindSeconds  float64 `json:"behind_seconds,omitempty"`
	VirtualSeconds float64 `json:"virtual_seconds"`
	WallSeconds    float64 `json:"wall_seconds"`
}

func runLegacy(ctx context.Context, o runOptions, stdout, stderr io.Writer) int {
	return runJob(o, stdout, stderr,
		func() (legacySummary, error) { return legacyUpdate(ctx, o, stdout, stderr) },
		func(s *legacySummary, w float64) { s.WallSeconds = w },
		func(s legacySummary) bool { return s.Compliant+s.Noncompliant == s.Devices })
}

// legacyUpdate enrolls a fleet in the target on a virtual clock and lets
// the reference enforcer bring every device to its target.
func legacyUpdate(ctx context.Context, o runOptions, stdout, stderr io.Writer) (legacySummary, error) {
	lo := o.legacy
	var sum legacySummary
	sum.Devices, sum.Reasons = o.devices, map[string]int{}
	say := sayer(o, stdout)

	// Devices' time and the enforcer's (storyStart). It stands still while
	// the fleet enrolls and starts with the enforcement. Certificates keep
	// to the wall clock.
	cat := catalog.Default()
	vc := newVirtualClock("mdmsim run", storyStart(cat), lo.speed, stderr)
	defer vc.close()
	sum.Clock = vc.mode()

	cfg := jobs.Config{Catalog: cat, Quirks: lo.quirkMap, Population: lo.population()}
	run, err := startRun(ctx, o, jobLogger(o, stderr), say, cfg, vc.Clock)
	if run != nil {
		defer run.Close()
	}
	if err != nil {
		return sum, err
	}
	describeTarget(run, say)
	say("virtual time runs %s", vc.speedLabel())
	res, err := jobs.LegacyUpdate(ctx, run, lo.job(), vc.pause)
	sum.LegacySummary = res
	sum.VirtualSeconds = float64(res.Story.Round(time.Second) / time.Second)
	sum.BehindSeconds = vc.behind(stderr)
	return sum, err
}
