package reference_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/scenarios/targets/embedded"
	"github.com/mdmsim/mdmsim/simulator"
)

// scenarioStart is when the scenarios' stories begin, as in mdmsim run: a
// weekday morning ten days after the newest release of the catalog.
func scenarioStart(cat *catalog.Catalog) time.Time {
	return cat.LatestPostingDate().AddDate(0, 0, 10).Add(9 * time.Hour)
}

// newDiscrete returns a paused discrete-event clock reading start that
// names, on stderr, who holds work if virtual time stops moving for a
// while: a run that hangs says why before its context runs out. The caller
// closes it.
func newDiscrete(name string, start time.Time, opts ...clock.DiscreteOption) *clock.Discrete {
	opts = append([]clock.DiscreteOption{clock.WithStallReport(time.Minute, func(s clock.Stall) {
		fmt.Fprintf(os.Stderr, "%s: warning: %v\n", name, s)
	})}, opts...)
	return clock.NewDiscrete(start, opts...)
}

// rig is the embedded target in a world on one clock: the stack, the mock
// APNs and GDMF, and the observer the enforcers read devices from.
type rig struct {
	w     *scenarios.World
	tg    *embedded.Target
	stack *refmdm.Stack
	clk   clock.Clock
}

// startRig starts the world and the embedded stack on clk with cat; both
// are closed when the test ends (close clk before: defer clk.Close()).
func startRig(ctx context.Context, t testing.TB, clk clock.Clock, cat *catalog.Catalog) *rig {
	t.Helper()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{Clock: clk, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	tg, err := embedded.New(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return &rig{w: w, tg: tg, stack: tg.Stack(), clk: clk}
}

// options are the devices' options in the rig, then opts.
func (r *rig) options(opts ...simulator.Option) []simulator.Option {
	return append([]simulator.Option{simulator.WithPushService(r.w.APNs), simulator.WithHTTPClient(r.stack.HTTPClient()),
		simulator.WithClock(r.clk), simulator.WithEvents(r.w.Observer.OnEvent)}, opts...)
}

// legacy and ddm are the reference enforcers on the rig's channels.
func (r *rig) legacy(cfg reference.EnforcerConfig) *reference.Enforcer {
	cfg.Clock = r.clk
	return reference.NewEnforcer(r.tg.Commands(), r.w.Observer, cfg)
}

func (r *rig) ddm(cfg reference.DDMEnforcerConfig) *reference.DDMEnforcer {
	cfg.Clock, cfg.Releases = r.clk, r.w.Releases
	return reference.NewDDMEnforcer(r.tg.Commands(), r.tg.Declarations(), r.w.Observer, cfg)
}

// enrolledFleet starts a rig on clk, draws the fleet cfg describes on the
// same clock and enrolls it with identities the stack mints (mdmsim run
// --enroll fast), as cmd/mdmsim does.
func enrolledFleet(ctx context.Context, t testing.TB, clk clock.Clock, cfg fleet.Config, opts ...simulator.Option) (*rig, *fleet.Fleet) {
	t.Helper()
	r := startRig(ctx, t, clk, cfg.Catalog)
	f, err := fleet.New(cfg, r.options(opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	profile, err := f.Env().FetchProfile(ctx, r.stack.EnrollURL())
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.Enroll(ctx, profile, r.stack.MintCredential)
	if err != nil || n != cfg.Devices {
		t.Fatalf("enrolled %d of %d: %v", n, cfg.Devices, err)
	}
	if err := r.stack.WaitEnrolled(ctx, n); err != nil {
		t.Fatal(err)
	}
	return r, f
}

// freeze stops virtual time for good after d from now: a callback that
// runs at that instant once everything else due then has finished (the
// phase after the enforcers', clock.InPhase) takes a unit of work and never
// gives it back. The channel is closed then.
//
// An enforcer's Run returns once its own work is done, but the simulated
// world goes on: the devices' timers keep firing, and a device timer that
// re-arms itself every night takes virtual time to the end of time within
// a second of wall time. What a test reads of the devices after Run is
// deterministic only at a fixed virtual instant.
func freeze(clk *clock.Discrete, d time.Duration) <-chan struct{} {
	frozen := make(chan struct{})
	hold := clk.Work("test-freeze")
	clock.InPhase(clk, 2).AfterFunc(d, func() {
		hold.Begin()
		close(frozen)
	})
	return frozen
}

// waitFrozen waits for freeze's channel.
func waitFrozen(ctx context.Context, t testing.TB, frozen <-chan struct{}) {
	t.Helper()
	select {
	case <-frozen:
	case <-ctx.Done():
		t.Fatalf("virtual time did not get to where it stops: %v", ctx.Err())
	}
}

// longest returns the longest time an enforcer spent on a device.
func longest(outcomes []reference.Outcome) time.Duration {
	var d time.Duration
	for _, o := range outcomes {
		d = max(d, o.Elapsed)
	}
	return d
}
