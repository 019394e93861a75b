package jobs

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
)

// DDMConfig tunes the ddm-deadline job.
type DDMConfig struct {
	// Lead puts the deadline this far ahead.
	Lead time.Duration
	// Off is the share of the fleet switched off for good (ShutDownDevice)
	// OffAfter into the run.
	Off      float64
	OffAfter time.Duration
	// PollInterval and LateWindow tune the enforcer (0: its defaults).
	PollInterval, LateWindow time.Duration
}

// DefaultDDMOffAfter is when DDMConfig.Off devices are switched off.
const DefaultDDMOffAfter = 2 * time.Hour

// DDMSummary is what the ddm-deadline job found.
type DDMSummary struct {
	Rollout
	// Late counts devices that reached the target after their local
	// deadline + 1 h, from their own record.
	Late        int `json:"late"`
	DDMCapable  int `json:"ddm_capable"`
	SwitchedOff int `json:"switched_off"`
	TimeZones   int `json:"time_zones"`
	// Zones are the time zones counted, sorted: what merging shards
	// unites.
	Zones               []string `json:"zones,omitempty"`
	TargetLocalDateTime string   `json:"target_local_date_time"`
}

// DDMDeadline lets the reference DDM enforcer send every enrolled device
// an enforcement declaration through the target's declaration channel and
// reads compliance from the devices' status reports.
func DDMDeadline(ctx context.Context, r *Run, cfg DDMConfig, stop func()) (DDMSummary, error) {
	f := r.Fleet
	sum := DDMSummary{Rollout: r.rollout(JobDDMDeadline)}
	if err := scenarios.Require(r.Target, scenarios.CapCommands, scenarios.CapDeclarations); err != nil {
		return sum, err
	}
	clk := r.World.Clock
	zones := map[string]bool{}
	for _, d := range f.Devices() {
		zones[d.Identity().TimeZone] = true
	}
	sum.TimeZones = len(zones)
	sum.Zones = slices.Sorted(maps.Keys(zones))
	udids := f.EnrolledUDIDs()

	// The devices switched off for good, drawn from the seed: one draw
	// per device of the whole fleet, in its order, so that a device is
	// switched off in its shard as in the unsharded run (with every
	// device enrolled, the draws are those of one per enrolled device).
	rng := rand.New(rand.NewPCG(uint64(r.Config.Seed), 0xdd))
	for range f.Offset() {
		rng.Float64()
	}
	var off []string
	for _, d := range f.Devices() {
		if x := rng.Float64(); x < cfg.Off && d.Enrolled() {
			off = append(off, d.UDID())
		}
	}
	for range f.Size() - f.Offset() - len(f.Devices()) {
		rng.Float64()
	}
	sum.SwitchedOff = len(off)
	if len(off) > 0 {
		after := cfg.OffAfter
		if after <= 0 {
			after = DefaultDDMOffAfter
		}
		uuid := fmt.Sprintf("%08X-0000-4000-8%03X-%012X", rng.Uint32(), r.Config.Shard.Tag(), rng.Uint64()&0xffffffffffff)
		t := clk.AfterFunc(after, func() {
			cmd := scenarios.Command{UUID: uuid, RequestType: "ShutDownDevice"}
			if err := r.Target.Commands().Enqueue(context.Background(), off, cmd); err != nil {
				r.Config.Logger.Error("ShutDownDevice", "err", err)
			}
		})
		defer t.Stop()
	}

	enforcer := reference.NewDDMEnforcer(r.Target.Commands(), r.Target.Declarations(), r.World.Observer,
		reference.DDMEnforcerConfig{Clock: clk, Lead: cfg.Lead, PollInterval: cfg.PollInterval, LateWindow: cfg.LateWindow,
			Releases: r.World.Releases})
	sum.TargetLocalDateTime = enforcer.Deadline()
	r.Config.Say("enrolled %d devices (%s) in %d time zones; enforcing by declaration, local deadline %s",
		f.Enrolled, MixString(sum.Mix), sum.TimeZones, sum.TargetLocalDateTime)
	r.enforcePhase(clk.Now(), enforcer.Horizon(), func() (int, int) { return -1, enforcer.Compliant() })
	outcomes := enforcer.Run(ctx, udids)
	plain := make([]reference.Outcome, len(outcomes))
	for i, o := range outcomes {
		plain[i] = o.Outcome
	}
	err := sum.end(ctx, r, plain, stop)
	for _, out := range outcomes {
		if out.Reason != reference.ReasonDDMUnsupported && out.Reason != reference.ReasonUnknownModel {
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
	r.Config.Say("compliant %d, not compliant %d, late %d, after %s (%d DDM-capable, %d switched off)%s",
		sum.Compliant, sum.Noncompliant, sum.Late, sum.Story.Round(time.Second), sum.DDMCapable, sum.SwitchedOff, partialNote(sum.Partial))
	r.sayReasons(sum.Report)
	return sum, err
}

// late reports whether a device installed its target after its local
// deadline plus an hour, from the device's own record.
func late(d *simulator.Device, out reference.DDMOutcome) bool {
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
