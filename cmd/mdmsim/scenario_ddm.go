package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
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
	fs.DurationVar(&o.lead, "lead", refmdm.DefaultDDMLead, scenarioDDMDeadline+": how far ahead the local deadline is")
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

// ddmSummary is the JSON line `mdmsim run --scenario ddm-deadline --json`
// prints last.
type ddmSummary struct {
	refmdm.Report
	// Late counts devices that reached their target later than their local
	// deadline plus an hour.
	Late                int            `json:"late"`
	Enrolled            int            `json:"enrolled"`
	DDMCapable          int            `json:"ddm_capable"`
	SwitchedOff         int            `json:"switched_off"`
	TimeZones           int            `json:"time_zones"`
	TargetLocalDateTime string         `json:"target_local_date_time"`
	Mix                 map[string]int `json:"mix"`
	Clock               string         `json:"clock"`
	BehindSeconds       float64        `json:"behind_seconds,omitempty"`
	VirtualSeconds      float64        `json:"virtual_seconds"`
	WallSeconds         float64        `json:"wall_seconds"`
}

func runDDM(ctx context.Context, o runOptions, stdout, stderr io.Writer) int {
	return runJob(o, stdout, stderr,
		func() (ddmSummary, error) { return ddmDeadline(ctx, o, stdout, stderr) },
		func(s *ddmSummary, w float64) { s.WallSeconds = w },
		func(s ddmSummary) bool { return s.Compliant+s.Noncompliant == s.Devices && s.Late == 0 })
}

// ddmDeadline starts the stack, enrolls a fleet on a scaled clock and lets
// the DDM enforcer bring it to its targets.
func ddmDeadline(ctx context.Context, o runOptions, stdout, stderr io.Writer) (ddmSummary, error) {
	sum := ddmSummary{Report: refmdm.Report{Devices: o.devices, Reasons: map[string]int{}}}
	logger := jobLogger(o, stderr)
	say := sayer(o, stdout)

	cat := catalog.Default()
	start := cat.LatestPostingDate().AddDate(0, 0, 10).Add(9 * time.Hour)
	vc := newVirtualClock(start, o.legacy.speed, stderr)
	defer vc.close()
	clk := vc.Clock
	sum.Clock = vc.mode()

	cfg := fleet.Config{Devices: o.devices, Seed: o.seed, MacFraction: fleet.DefaultMacFraction, Catalog: cat}
	if !o.legacy.noProfile {
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
	stack, f := ef.stack, ef.fleet
	sum.Mix = f.Mix()
	zones := map[string]bool{}
	for _, d := range f.Devices() {
		zones[d.Identity().TimeZone] = true
	}
	sum.TimeZones = len(zones)
	sum.Enrolled = ef.enrolled

	// The devices switched off for good, drawn from the seed.
	rng := rand.New(rand.NewPCG(uint64(o.seed), 0xdd))
	var off []string
	for _, udid := range f.UDIDs() {
		if rng.Float64() < o.ddm.off {
			off = append(off, udid)
		}
	}
	sum.SwitchedOff = len(off)
	if len(off) > 0 {
		t := clk.AfterFunc(ddmOffAfter, func() {
			uuid := fmt.Sprintf("%08X-0000-4000-8000-%012X", rng.Uint32(), rng.Uint64()&0xffffffffffff)
			if _, err := stack.Enqueue(context.Background(), off, uuid, "ShutDownDevice", nil); err != nil {
				fmt.Fprintln(stderr, "mdmsim run: ShutDownDevice:", err)
			}
		})
		defer t.Stop()
	}

	enforcer := refmdm.NewDDMEnforcer(stack, refmdm.DDMEnforcerConfig{Clock: clk, Catalog: cat, Lead: o.ddm.lead})
	sum.TargetLocalDateTime = enforcer.Deadline()
	say("enrolled %d devices (%s) in %d time zones; enforcing by declaration %s, local deadline %s",
		ef.enrolled, mixString(sum.Mix), sum.TimeZones, vc.speedLabel(), sum.TargetLocalDateTime)
	outcomes := enforcer.Run(ctx, f.UDIDs())
	story := end(vc, outcomes, func(o refmdm.DDMOutcome) time.Duration { return o.Elapsed })
	sum.VirtualSeconds = float64(story.Round(time.Second) / time.Second)
	sum.BehindSeconds = vc.behind(stderr)
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("enforcement: %w", err)
	}
	sum.Report = refmdm.SummarizeDDM(outcomes)
	for _, out := range outcomes {
		if out.Reason != refmdm.ReasonDDMUnsupported && out.Reason != refmdm.ReasonUnknownModel {
			sum.DDMCapable++
		}
		d, ok := f.Device(out.UDID)
		if !ok || !out.Compliant || out.Target == "" {
			continue
		}
		if late(d, out) {
			sum.Late++
		}
	}

	say("compliant %d, not compliant %d, late %d, after %s of virtual time (%d DDM-capable, %d switched off)",
		sum.Compliant, sum.Noncompliant, sum.Late, time.Duration(sum.VirtualSeconds)*time.Second, sum.DDMCapable, sum.SwitchedOff)
	for _, r := range sum.SortReasons() {
		say("  %-24s %d", r, sum.Reasons[r])
	}
	return sum, nil
}

// late reports whether a device installed its target after its local
// deadline plus an hour, from the device's own record.
func late(d *simulator.Device, out refmdm.DDMOutcome) bool {
	version, _, _ := strings.Cut(out.Target, " ")
	deadline, err := time.ParseInLocation(ddm.LocalDateTimeLayout, out.TargetLocalDateTime, d.Identity().Location())
	if err != nil {
		return true
	}
	for _, rec := range d.UpdateHistory() {
		if rec.ToVersion == version {
			return rec.InstalledAt.After(deadline.Add(time.Hour))
		}
	}
	return false
}
