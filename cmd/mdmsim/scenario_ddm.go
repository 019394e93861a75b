package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/reference"
)

// scenarioDDMDeadline enforces an OS update on the fleet with a
// declaration whose local deadline is a week away, through KMFDDM, and
// checks that every able device updates by its own deadline plus an hour.
//
// Every device of the fleet is counted. Devices that cannot take the
// declaration (before macOS 14 / iOS 17, or an unsupervised Mac) are
// non-compliant under ddm-unsupported, as a server sees them; the summary
// also says how many devices were DDM-capable. A share of devices (--off)
// is switched off for good two hours into the week with ShutDownDevice: they
// never report again and end up unreachable.
const scenarioDDMDeadline = "ddm-deadline"

// defaultDDMOff is the share of devices switched off for good.
const defaultDDMOff = 0.02

// ddmOffAfter is when, into the run, those devices are switched off: after
// the declaration reached them, before most could install.
const ddmOffAfter = 2 * time.Hour

// ddmOptions are the flags only --scenario ddm-deadline reads (it also
// reads --speed and --cooperative).
type ddmOptions struct {
	off  float64
	lead time.Duration
}

func ddmFlags(fs *pflag.FlagSet) *ddmOptions {
	o := &ddmOptions{}
	fs.Float64Var(&o.off, "off", defaultDDMOff, "share of devices switched off for good during the week (0 to 1)")
	fs.DurationVar(&o.lead, "lead", reference.DefaultDDMLead, "how far ahead the local deadline is (at least an hour)")
	return o
}

func (o *ddmOptions) validate(lo *legacyOptions) error {
	if err := lo.loadPopulation(); err != nil {
		return err
	}
	if !(o.off >= 0 && o.off <= 1) {
		return usageErrorf("--off must be from 0 to 1, have %v", o.off)
	}
	if o.lead < time.Hour {
		return usageErrorf("--lead must be at least an hour, have %v", o.lead)
	}
	return nil
}

// job is the enforcement the flags describe.
func (o *ddmOptions) job() jobs.DDMConfig {
	return jobs.DDMConfig{Lead: o.lead, Off: o.off, OffAfter: ddmOffAfter}
}

// ddmSummary is the JSON line `mdmsim run --scenario ddm-deadline --json`
// prints last.
type ddmSummary struct {
	jobs.DDMSummary
	storyFields
}

// runDDM enrolls a fleet in the target on a virtual clock and lets the
// reference DDM enforcer bring it to its targets.
func runDDM(ctx context.Context, o *runOptions, rep *reporter, stderr io.Writer) jobResult {
	start := wall.Now()
	sum := &ddmSummary{storyFields: storyFields{Failures: map[string]int{}}}
	sum.Devices, sum.Reasons = o.devices, map[string]int{}
	res := jobResult{summary: sum}
	defer func() { sum.WallSeconds = roundSeconds(wall.Since(start)) }()

	cfg := jobs.Config{Population: o.legacy.population()}
	run, vc, closeStory, err := startStory(ctx, o, rep, stderr, cfg, &sum.Rollout, &sum.storyFields)
	defer closeStory()
	if err != nil {
		res.err = err
		return res
	}
	r, err := jobs.DDMDeadline(ctx, run, o.ddm.job(), vc.pause)
	sum.DDMSummary = r
	sum.endStory(r.Rollout, vc, stderr)
	sum.Failures = jobs.Unexplained(r.Report, r.SwitchedOff)
	if r.Late > 0 {
		sum.Failures["late"] = r.Late
	}
	res.err = err
	res.failures = failuresLine(sum.Failures)
	if r.Late > 0 {
		res.failures = fmt.Sprintf("%s (late: updated after their local deadline + 1 h)", res.failures)
	}
	return res
}
