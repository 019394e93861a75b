package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/simulator"
)

func TestSameSeedSameFleet(t *testing.T) {
	t.Parallel()
	a, err := fleet.New(fleet.Config{Devices: 50, Seed: 9, MacFraction: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := fleet.New(fleet.Config{Devices: 50, Seed: 9, MacFraction: 0.5})
	c, _ := fleet.New(fleet.Config{Devices: 50, Seed: 10, MacFraction: 0.5})
	for i, d := range a.Devices() {
		if d.Identity() != b.Devices()[i].Identity() {
			t.Fatalf("device %d differs between two fleets of the same seed", i)
		}
	}
	if a.Devices()[0].UDID() == c.Devices()[0].UDID() {
		t.Fatal("different seeds gave the same first device")
	}
	mix := a.Mix()
	if mix["Mac"] < 10 || mix["Mac"] > 40 {
		t.Fatalf("MacFraction 0.5 of 50 gave %v", mix)
	}
	if m, _ := fleet.New(fleet.Config{Devices: 30, Seed: 1, MacFraction: 1}); m.Mix()["Mac"] != 30 {
		t.Fatalf("MacFraction 1 gave %v", m.Mix())
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []fleet.Config{{Devices: -1}, {Devices: 1, MacFraction: 2}} {
		if _, err := fleet.New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestEnrollCounts(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stack, err := refmdm.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	f, err := fleet.New(fleet.Config{Devices: 40, Seed: 3, Concurrency: 8},
		simulator.WithPushService(stack.APNs()), simulator.WithHTTPClient(stack.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	profile, err := f.Env().FetchProfile(ctx, stack.EnrollURL())
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.Enroll(ctx, profile, stack.MintCredential)
	if err != nil || n != 40 || f.Counters().Enrolled.Load() != 40 {
		t.Fatalf("enrolled %d (counter %d): %v", n, f.Counters().Enrolled.Load(), err)
	}
	if n, err := f.Enroll(ctx, profile, stack.MintCredential); n != 0 || err != nil {
		t.Fatalf("second Enroll enrolled %d again: %v", n, err)
	}
	if _, err := stack.Enqueue(ctx, f.UDIDs(), "c1", "SecurityInfo", nil); err != nil {
		t.Fatal(err)
	}
	if err := stack.WaitResults(ctx, "c1", 40); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute) // a hang guard, not a timing
	for f.Counters().Acknowledged.Load() < 40 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := f.Counters().Acknowledged.Load(); got != 40 {
		t.Fatalf("fleet counted %d acknowledged, want 40", got)
	}
}
