package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
)

// Rollouts the rollout workload runs: the update jobs of scenarios/jobs,
// named as `mdmsim run --scenario` names them.
const (
	// RolloutLegacyUpdate is jobs.LegacyUpdate: the reference enforcer
	// brings every device to its target with the legacy update commands.
	RolloutLegacyUpdate = "legacy-update"
	// RolloutDDMDeadline is jobs.DDMDeadline: the reference DDM enforcer
	// declares a target version and a local deadline.
	RolloutDDMDeadline = "ddm-deadline"
)

// Rollouts lists the rollouts.
var Rollouts = []string{RolloutLegacyUpdate, RolloutDDMDeadline}

// What a rollout records.
const (
	// OpRollout is the rollout itself, timed on the run's clock: what
	// simulating it cost.
	OpRollout = "rollout"
	// OpTimeToCompliant is each compliant device's time from the start of
	// the enforcement until the enforcer saw it compliant, in virtual time
	// (OpStats.Virtual). A device left behind is one of its errors, of the
	// kind the enforcer's reason names ("not-supervised", "awaiting-user",
	// jobs.ReasonNotEnrolled, ...).
	OpTimeToCompliant = "time-to-compliant"
	// KindLateInstall counts devices of a ddm-deadline rollout that
	// reached their target after their local deadline plus an hour:
	// compliant, but late.
	KindLateInstall = "late-install"
)

// DefaultComplianceStep is the resolution of a rollout's compliance curve.
const DefaultComplianceStep = time.Hour

// ErrNotCompliant is a device a rollout left behind.
var ErrNotCompliant = errors.New("bench: not compliant at the end of the rollout")

// Rollout is the rollout workload's rollout: which job, its settings, and
// the fleet it draws besides Workload's devices and seed.
type Rollout struct {
	// Scenario is one of Rollouts; empty means RolloutLegacyUpdate.
	Scenario string
	// Population and Quirks draw the fleet (jobs.Config); a nil
	// Population leaves every device cooperative, on power and online
	// (`mdmsim bench` uses fleet.DefaultPopulation, as `mdmsim run` does).
	Population *fleet.Population
	Quirks     map[string]float64
	// Legacy and DDM tune the two jobs.
	Legacy jobs.LegacyConfig
	DDM    jobs.DDMConfig
	// Step is the resolution of Result.Compliance (DefaultComplianceStep).
	Step time.Duration
}

func (ro *Rollout) validate() error {
	if ro.Scenario == "" {
		ro.Scenario = RolloutLegacyUpdate
	}
	if !slices.Contains(Rollouts, ro.Scenario) {
		return fmt.Errorf("bench: unknown rollout %q (want one of %v)", ro.Scenario, Rollouts)
	}
	if ro.Step <= 0 {
		ro.Step = DefaultComplianceStep
	}
	return nil
}

// runRollout is RunWorkload for WorkloadRollout. The fleet enrolls through
// the jobs' own enrollment; the one operation is the job, from the start
// of the enforcement to the end of its story, and its summary becomes the
// Result's compliance curve, time-to-compliant and reasons.
func runRollout(ctx context.Context, w *scenarios.World, t scenarios.Target, wl Workload) (*Result, error) {
	ro := wl.Rollout
	caps := []scenarios.Capability{scenarios.CapCommands}
	if ro.Scenario == RolloutDDMDeadline {
		caps = append(caps, scenarios.CapDeclarations)
	}
	if err := scenarios.Require(t, caps...); err != nil {
		return nil, err
	}
	wl.Say("enrolling %d devices in %s", wl.Devices, t.Name())
	cfg := jobs.Config{Devices: wl.Devices, Seed: wl.Seed, Shard: wl.Shard, Population: ro.Population, Quirks: ro.Quirks,
		DeviceOptions: wl.DeviceOptions, Say: wl.Say}
	// The Run is not closed: the target and the world are the caller's.
	r, err := jobs.Attach(ctx, cfg, w, t)
	if r == nil || r.Fleet == nil || r.Fleet.Enrolled == 0 {
		return nil, fmt.Errorf("bench: no device enrolled: %w", err)
	}
	defer r.Fleet.Env().Close()
	if r.Fleet.Polling {
		wl.Say("devices poll %s on their own (its pushes cannot reach them): the rollout shows its command handling, not a fleet's", t.Name())
	}
	// The story ends when the job's does: a discrete-event clock stops
	// there, so the devices' histories it reads are of that instant.
	stop := func() {}
	if p, ok := w.Clock.(interface{ Pause() }); ok {
		stop = p.Pause
	}
	var (
		sum    jobs.Rollout
		late   int
		jobErr error
	)
	op := func(ctx context.Context, _ uint64, rec *Recorder) error {
		switch ro.Scenario {
		case RolloutDDMDeadline:
			s, err := jobs.DDMDeadline(ctx, r, ro.DDM, stop)
			sum, late, jobErr = s.Rollout, s.Late, err
		default:
			s, err := jobs.LegacyUpdate(ctx, r, ro.Legacy, stop)
			sum, jobErr = s.Rollout, err
		}
		if jobErr != nil {
			return jobErr
		}
		for _, d := range sum.ToCompliance {
			rec.RecordVirtual(OpTimeToCompliant, d, nil)
		}
		for reason, n := range sum.Reasons {
			for range n {
				rec.RecordVirtual(OpTimeToCompliant, 0, &KindError{Kind: reason, Err: ErrNotCompliant})
			}
		}
		rec.Count(KindLateInstall, int64(late))
		return nil
	}
	wl.Say("running the %s rollout against %s", ro.Scenario, t.Name())
	res, err := Run(ctx, wl.Run, Ops{Name: OpRollout, Total: 1, Op: op})
	if err != nil {
		return nil, err
	}
	if wl.AfterRun != nil {
		wl.AfterRun()
	}
	if jobErr != nil && !res.Partial {
		return nil, fmt.Errorf("bench: %s: %w", ro.Scenario, jobErr)
	}
	wl.shardResult(res, t)
	res.Enrolled = r.Fleet.Enrolled
	if jobErr == nil {
		for _, p := range sum.Curve(ro.Step) {
			res.Compliance = append(res.Compliance, CompliancePoint{Day: complianceDay(p.At), Compliant: p.Share, Devices: p.Compliant})
		}
	}
	return res, nil
}
