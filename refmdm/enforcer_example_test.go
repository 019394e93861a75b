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

// A week of legacy update enforcement on a fleet, in about twenty seconds:
// the devices and the enforcer share one scaled clock.
func ExampleEnforcer() {
	ctx := context.Background()
	stack, err := refmdm.Start(ctx)
	if err != nil {
		panic(err)
	}
	defer stack.Close()
	cat := catalog.Default()
	clk := clock.NewScaled(cat.LatestPostingDate().AddDate(0, 0, 10), 30000)
	pop := fleet.DefaultPopulation()
	f, _ := fleet.New(fleet.Config{Devices: 100, Seed: 1, MacFraction: 0.5, Catalog: cat, Population: &pop},
		simulator.WithPushService(stack.APNs()), simulator.WithHTTPClient(stack.HTTPClient()), simulator.WithClock(clk))
	profile, _ := f.Env().FetchProfile(ctx, stack.EnrollURL())
	n, _ := f.Enroll(ctx, profile, stack.MintIdentity)
	_ = stack.WaitEnrolled(ctx, n)

	e := refmdm.NewEnforcer(stack, refmdm.EnforcerConfig{Clock: clk, Deadline: 7 * 24 * time.Hour})
	report := refmdm.Summarize(e.Run(ctx, f.UDIDs()))
	fmt.Println(report.Compliant+report.Noncompliant == report.Devices, report.Reasons)
}
