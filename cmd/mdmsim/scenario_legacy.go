package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// scenarioLegacyUpdate enforces an OS update on the fleet with the legacy
// MDM commands, driven by the reference enforcer through the embedded stack.
const scenarioLegacyUpdate = "legacy-update"

// legacyOptions are the flags only the update scenarios read.
type legacyOptions struct {
	speed          float64
	deadline       time.Duration
	escalate       time.Duration
	quirks         string
	noProfile      bool
	populationFile string
	quirkMap       map[string]float64
	pop            *fleet.Population
}

func legacyFlags(fs *pflag.FlagSet) *legacyOptions {
	o := &legacyOptions{}
	fs.Float64Var(&o.speed, "speed", 0, "run virtual time this many times faster than the wall clock (1 to 1e9), for a server on real time; 0 runs the discrete-event clock, as fast as the CPU allows and independent of load")
	fs.DurationVar(&o.deadline, "deadline", reference.DefaultEnforceDeadline, "how long (virtual) the enforcer tries each device")
	fs.DurationVar(&o.escalate, "escalate", 0, "switch to InstallForceRestart after this long (virtual); 0 never does")
	fs.StringVar(&o.quirks, "quirks", "", "quirks and the share of devices they apply to, e.g. prepare-stall=0.1,available-empty=0.05 (mdmsim quirks lists them)")
	fs.BoolVar(&o.noProfile, "cooperative", false, "every user acts and every device is fit (no population mix)")
	fs.StringVar(&o.populationFile, "population", "", "the fleet's population: OS majors, models, users, situations and failure rates (YAML; examples/population.yaml is the default)")
	return o
}

// loadPopulation reads --population: the default population unless it or
// --cooperative says otherwise.
func (o *legacyOptions) loadPopulation() error {
	switch {
	case o.noProfile && o.populationFile != "":
		return usageErrorf("--cooperative and --population exclude each other: --cooperative is a fleet without a population mix")
	case o.noProfile:
		o.pop = nil
	case o.populationFile != "":
		pop, err := fleet.LoadPopulation(o.populationFile)
		if err != nil {
			return usageErrorf("--population: %v", err)
		}
		o.pop = &pop
	default:
		pop := fleet.DefaultPopulation()
		o.pop = &pop
	}
	return nil
}

func (o *legacyOptions) validate() error {
	if err := checkSpeed(o.speed, "discrete-event clock"); err != nil {
		return err
	}
	if o.deadline <= 0 {
		return usageErrorf("--deadline must be positive, have %v", o.deadline)
	}
	if o.escalate < 0 {
		return usageErrorf("--escalate must be 0 (never) or positive, have %v", o.escalate)
	}
	if err := o.loadPopulation(); err != nil {
		return err
	}
	o.quirkMap = map[string]float64{}
	for _, kv := range strings.Split(o.quirks, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		name, share, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(share, 64)
		if !ok || err != nil {
			return usageErrorf("--quirks: %q is not name=share (e.g. prepare-stall=0.1)", kv)
		}
		if _, err := update.LookupQuirk(name); err != nil {
			return usageErrorf("--quirks: %v (mdmsim quirks lists them)", err)
		}
		if !(f >= 0 && f <= 1) {
			return usageErrorf("--quirks: the share of %s must be from 0 to 1, have %v", name, share)
		}
		o.quirkMap[name] = f
	}
	return nil
}

// population is the fleet's mix of users and situations: --population's,
// the default one, or none with --cooperative (validate loads it).
func (o *legacyOptions) population() *fleet.Population { return o.pop }

// job is the enforcement the flags describe.
func (o *legacyOptions) job() jobs.LegacyConfig {
	return jobs.LegacyConfig{Enforcer: reference.EnforcerConfig{Deadline: o.deadline, EscalateAfter: o.escalate}}
}

// legacySummary is the JSON line `mdmsim run --scenario legacy-update
// --json` prints last.
type legacySummary struct {
	jobs.LegacySummary
	storyFields
}

// storyFields end the summary of both update scenarios.
type storyFields struct {
	// Failures counts the devices left behind for reasons the fleet does
	// not explain (jobs.Unexplained), and for ddm-deadline the late ones
	// (under "late"): the run's findings.
	Failures       map[string]int `json:"failures"`
	Clock          string         `json:"clock"`
	BehindSeconds  float64        `json:"behind_seconds,omitempty"`
	VirtualSeconds float64        `json:"virtual_seconds"`
	WallSeconds    float64        `json:"wall_seconds"`
}

// startStory starts an update scenario's story: its virtual clock, from
// the story's start (or the saved virtual time of --state), and the fleet
// enrolled in the target on it, described. When the fleet cannot be
// enrolled it fills in what was done (roll) and returns the error. The
// caller calls closeStory in any case.
func startStory(ctx context.Context, o *runOptions, rep *reporter, stderr io.Writer, cfg jobs.Config,
	roll *jobs.Rollout, story *storyFields) (run *jobs.Run, vc *virtualClock, closeStory func(), err error) {
	closeStory = func() {}
	cat := catalog.Default()
	// Devices' time and the enforcer's. It stands still while the fleet
	// enrolls and starts with the enforcement. Certificates keep to the
	// wall clock.
	begin, err := o.storyStartFor(cat)
	if err != nil {
		return nil, nil, closeStory, err
	}
	vc = newVirtualClock("mdmsim run", begin, o.legacy.speed, stderr)
	story.Clock = vc.mode()
	cfg.Catalog = cat
	run, err = startRun(ctx, o, rep, stderr, cfg, vc.Clock)
	closeStory = func() {
		if run != nil {
			run.Close()
		}
		vc.close()
	}
	if err != nil {
		roll.Partial = ctx.Err() != nil
		if run != nil && run.Fleet != nil {
			roll.Enrolled, roll.Mix = run.Fleet.Enrolled, run.Fleet.Mix()
		}
		// run and vc stay set: closeStory closes them.
		return run, vc, closeStory, err
	}
	describeTarget(run, rep.say)
	describeShard(o, rep.say)
	rep.say("OS majors: %s", jobs.OSMajorsString(run.Fleet.OSMajors()))
	rep.say("virtual time runs %s", vc.speedLabel())
	return run, vc, closeStory, nil
}

// endStory records how long the story ran and how far a scaled clock fell
// behind.
func (s *storyFields) endStory(r jobs.Rollout, vc *virtualClock, stderr io.Writer) {
	s.VirtualSeconds = float64(r.Story.Round(time.Second) / time.Second)
	s.BehindSeconds = vc.behind(stderr)
}

// runLegacy enrolls a fleet in the target on a virtual clock and lets the
// reference enforcer bring every device to its target.
func runLegacy(ctx context.Context, o *runOptions, rep *reporter, stderr io.Writer) jobResult {
	start := wall.Now()
	lo := o.legacy
	sum := &legacySummary{storyFields: storyFields{Failures: map[string]int{}}}
	sum.Devices, sum.Reasons = o.devices, map[string]int{}
	res := jobResult{summary: sum}
	defer func() { sum.WallSeconds = roundSeconds(wall.Since(start)) }()

	cfg := jobs.Config{Quirks: lo.quirkMap, Population: lo.population()}
	run, vc, closeStory, err := startStory(ctx, o, rep, stderr, cfg, &sum.Rollout, &sum.storyFields)
	defer closeStory()
	if err != nil {
		res.err = err
		return res
	}
	r, err := jobs.LegacyUpdate(ctx, run, lo.job(), vc.pause)
	sum.LegacySummary = r
	sum.endStory(r.Rollout, vc, stderr)
	sum.Failures = jobs.Unexplained(r.Report, 0)
	res.err = err
	res.failures = failuresLine(sum.Failures)
	return res
}

// failuresLine says what a rollout found wrong, "" when nothing.
func failuresLine(failures map[string]int) string {
	if len(failures) == 0 {
		return ""
	}
	n := 0
	parts := make([]string, 0, len(failures))
	for _, k := range sortedKeys(failures) {
		n += failures[k]
		parts = append(parts, fmt.Sprintf("%s %d", k, failures[k]))
	}
	return fmt.Sprintf("%d devices left behind for reasons the fleet does not explain: %s", n, strings.Join(parts, ", "))
}
