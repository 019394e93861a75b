package reference_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/scenarios/targets/embedded"
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
	// Apple's side (mock APNs and GDMF) and the server: the embedded stack.
	w, err := scenarios.NewWorld(scenarios.WorldConfig{Clock: clk, Catalog: cat})
	if err != nil {
		panic(err)
	}
	defer w.Close()
	target, err := embedded.New(ctx, w, embedded.WithMintedIdentities())
	if err != nil {
		panic(err)
	}
	defer target.Close()
	pop := fleet.DefaultPopulation()
	f, err := scenarios.Enroll(ctx, w, target, fleet.Config{Devices: 30, Seed: 1, MacFraction: 0.5, Catalog: cat, Population: &pop})
	if err != nil {
		panic(err)
	}

	// Run starts virtual time once every device's enforcement is under way.
	e := reference.NewEnforcer(target.Commands(), w.Observer, reference.EnforcerConfig{Clock: clk, Deadline: 7 * 24 * time.Hour})
	outcomes := e.Run(ctx, f.UDIDs())
	var longest time.Duration
	for _, o := range outcomes {
		longest = max(longest, o.Elapsed) // virtual time
	}
	report := reference.Summarize(outcomes)
	fmt.Printf("%d devices: %d compliant, %d not, the longest after %v\n",
		report.Devices, report.Compliant, report.Noncompliant, longest)
	for _, r := range report.SortReasons() {
		fmt.Printf("  %-24s %d\n", r, report.Reasons[r])
	}
	// Output:
	// 30 devices: 11 compliant, 19 not, the longest after 168h0m0s
	//   insufficient-space       6
	//   not-supervised           6
	//   user-ignored-deferrals   4
	//   insufficient-power       2
	//   awaiting-user            1
}
