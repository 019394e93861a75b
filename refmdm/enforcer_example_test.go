package refmdm_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/simulator"
)

// A week of legacy update enforcement on a fleet, in seconds of wall time:
// the stack's mock APNs, the devices and the enforcer share one
// discrete-event clock, so the same seed gives the same report on any
// machine, however busy.
func ExampleEnforcer() {
	ctx := context.Background()
	cat := catalog.Default()
	clk := clock.NewDiscrete(cat.LatestPostingDate().AddDate(0, 0, 10).Add(9 * time.Hour))
	defer clk.Close()
	stack, err := refmdm.Start(ctx, refmdm.WithClock(clk))
	if err != nil {
		panic(err)
	}
	defer stack.Close()
	pop := fleet.DefaultPopulation()
	f, err := fleet.New(fleet.Config{Devices: 30, Seed: 1, MacFraction: 0.5, Catalog: cat, Population: &pop},
		simulator.WithPushService(stack.APNs()), simulator.WithHTTPClient(stack.HTTPClient()), simulator.WithClock(clk))
	if err != nil {
		panic(err)
	}
	profile, err := f.Env().FetchProfile(ctx, stack.EnrollURL())
	if err != nil {
		panic(err)
	}
	n, err := f.Enroll(ctx, profile, stack.MintIdentity)
	if err != nil {
		panic(err)
	}
	if err := stack.WaitEnrolled(ctx, n); err != nil {
		panic(err)
	}

	// Run starts virtual time once every device's enforcement is under way.
	e := refmdm.NewEnforcer(stack, refmdm.EnforcerConfig{Clock: clk, Deadline: 7 * 24 * time.Hour})
	outcomes := e.Run(ctx, f.UDIDs())
	var longest time.Duration
	for _, o := range outcomes {
		longest = max(longest, o.Elapsed) // virtual time
	}
	report := refmdm.Summarize(outcomes)
	fmt.Printf("%d devices: %d compliant, %d not, the longest after %v\n",
		report.Devices, report.Compliant, report.Noncompliant, longest)
	for _, r := range report.SortReasons() {
		fmt.Printf("  %-24s %d\n", r, report.Reasons[r])
	}
	// Output:
	// 30 devices: 27 compliant, 3 not, the longest after 168h0m0s
	//   awaiting-user            1
	//   insufficient-power       1
	//   not-supervised           1
}
