package refmdm_test

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

// enrolledFleet starts the embedded stack on clk, draws the fleet cfg
// describes on the same clock and enrolls it with identities the stack
// mints (mdmsim run --enroll fast), as cmd/mdmsim does. The stack is closed
// when the test ends; close clk before that (defer clk.Close()) so that no
// device's timer fires into a closed server.
func enrolledFleet(ctx context.Context, t testing.TB, clk clock.Clock, cfg fleet.Config, opts ...simulator.Option) (*refmdm.Stack, *fleet.Fleet) {
	t.Helper()
	stack, err := refmdm.Start(ctx, refmdm.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stack.Close() })
	opts = append([]simulator.Option{simulator.WithPushService(stack.APNs()), simulator.WithHTTPClient(stack.HTTPClient()),
		simulator.WithClock(clk)}, opts...)
	f, err := fleet.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	profile, err := f.Env().FetchProfile(ctx, stack.EnrollURL())
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.Enroll(ctx, profile, stack.MintIdentity)
	if err != nil || n != cfg.Devices {
		t.Fatalf("enrolled %d of %d: %v", n, cfg.Devices, err)
	}
	if err := stack.WaitEnrolled(ctx, n); err != nil {
		t.Fatal(err)
	}
	return stack, f
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
func longest(outcomes []refmdm.Outcome) time.Duration {
	var d time.Duration
	for _, o := range outcomes {
		d = max(d, o.Elapsed)
	}
	return d
}
