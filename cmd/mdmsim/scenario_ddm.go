package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
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

func ddmFlags(fs *flag.FlagSet) *ddmOptions {
	o := &ddmOptions{}
	fs.Float64Var(&o.off, "off", defaultDDMOff, scenarioDDMDeadline+": share of devices switched off for good during the week")
	fs.DurationVar(&o.lead, "lead", reference.DefaultDDMLead, scenarioDDMDeadline+": how far ahead the local deadline is")
	return o
}

func (o *ddmOptions) validate() error {
	if o.off < 0 || o.off > 1 {
		return fmt.Errorf("--off must be in [0,1], have %v", o.off)
	}
	if o.lead < time.Hour {
		return fmt.Errorf("--lead must be at least an hour, have %v", o.lead)
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
	Clock          string  `json:"clock"`
	BehindSeconds  float64 `json:"behind_seconds,omitempty"`
	VirtualSeconds float64 `json:"virtual_seconds"`
	WallSeconds    float64 `json:"wall_seconds"`
}

func runDDM(ctx context.Context, o runOptions, stdout, stderr io.Writer) int {
	return runJob(o, stdout, stderr,
		func() (ddmSummary, error) { return ddmDeadline(ctx, o, stdout, stderr) },
		func(s *ddmSummary, w float64) { s.WallSeconds = w },
		func(s ddmSummary) bool { return s.Compliant+s.Noncompliant == s.Devices && s.Late == 0 })
}

// ddmDeadline enrolls a fleet in the target on a virtual clock and lets
// the reference DDM enforcer bring it to its targets.
func ddmDeadline(ctx context.Context, o runOptions, stdout, stderr io.Writer) (ddmSummary, error) {
	var sum ddmSummary
	sum.Devices, sum.Reasons = o.devices, map[string]int{}
	say := sayer(o, stdout)

	cat := catalog.Default()
	vc := newVirtualClock("mdmsim run", storyStart(cat), o.legacy.speed, stderr)
	defer vc.close()
	sum.Clock = vc.mode()

	cfg := jobs.Config{Catalog: cat, Population: o.legacy.population()}
	run, err := startRun(ctx, o, jobLogger(o, stderr), say, cfg, vc.Clock)
	if run != nil {
		defer run.Close()
	}
	if err != nil {
		return sum, err
	}
	describeTarget(run, say)
	say("virtual time runs %s", vc.speedLabel())
	res, err := jobs.DDMDeadline(ctx, run, o.ddm.job(), vc.pause)
	sum.DDMSummary = res
	sum.VirtualSeconds = float64(res.Story.Round(time.Second) / time.Second)
	sum.BehindSeconds = vc.behind(stderr)
	return sum, err
}
