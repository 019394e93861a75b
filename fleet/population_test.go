package fleet_test

import (
	"errors"
	"math"
	"testing"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/simulator/update"
)

func TestPopulationDraws(t *testing.T) {
	t.Parallel()
	pop := fleet.DefaultPopulation()
	cfg := fleet.Config{Devices: 1000, Seed: 4, MacFraction: 0.5, Population: &pop}
	a, err := fleet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := fleet.New(cfg)
	counts := map[string]int{}
	for i, d := range a.Devices() {
		other := b.Devices()[i]
		if d.UserProfile() != other.UserProfile() || d.Environment() != other.Environment() || d.Identity() != other.Identity() {
			t.Fatalf("device %d differs between two fleets of the same seed", i)
		}
		u, e := d.UserProfile(), d.Environment()
		counts[u.Response.String()]++
		if u.Passcode {
			counts["passcode"]++
		}
		if e.Locked {
			counts["locked"]++
		}
		if e.NoBootstrapToken {
			counts["no-bootstrap-token"]++
		}
		if d.Identity().AvailableDeviceCapacity < 1 {
			counts["disk-full"]++
		}
		if e.NoBootstrapToken && !d.Identity().Model.AppleSilicon {
			t.Errorf("an Intel Mac without a bootstrap token: %s", d.Identity().Model.Identifier)
		}
	}
	near := func(name string, have int, share float64, of int) {
		want := share * float64(of)
		if math.Abs(float64(have)-want) > 4*math.Sqrt(want)+5 {
			t.Errorf("%s: have %d, want about %.0f", name, have, want)
		}
	}
	mobiles := 1000 - a.Mix()["Mac"]
	near("ignores", counts["ignores"], pop.Ignores, 1000)
	near("dismisses", counts["dismisses"], pop.Dismisses, 1000)
	near("passcode", counts["passcode"], pop.Passcode, mobiles)
	near("disk-full", counts["disk-full"], pop.FreeDisk[0].Share, 1000)
	if counts["locked"] == 0 || counts["no-bootstrap-token"] == 0 {
		t.Errorf("counts %v", counts)
	}
}

func TestFleetQuirks(t *testing.T) {
	t.Parallel()
	f, err := fleet.New(fleet.Config{Devices: 200, Seed: 2, MacFraction: 0.5, Quirks: map[string]float64{
		update.QuirkPrepareStall:           0.25, // Macs only
		update.QuirkRebootGap:              0.5,  // on by default: off for the other half
		update.QuirkLaterReportsInstalling: 1,
	}})
	if err != nil {
		t.Fatal(err)
	}
	macs := f.Mix()["Mac"]
	have := f.QuirkCounts()
	want := map[string]int{
		update.QuirkPrepareStall:           int(math.Round(0.25 * float64(macs))),
		update.QuirkRebootGap:              100,
		update.QuirkLaterReportsInstalling: 200 - macs,
		update.QuirkWrongProductKey:        200, // untouched default
	}
	for q, n := range want {
		if have[q] != n {
			t.Errorf("%s: on for %d devices, want %d", q, have[q], n)
		}
	}
	for _, d := range f.Devices() {
		if d.QuirkOn(update.QuirkPrepareStall) && d.Identity().Model.Family != "Mac" {
			t.Fatal("a Mac quirk on an iPhone")
		}
	}
	for _, bad := range []map[string]float64{{"no-such-quirk": 0.1}, {update.QuirkPrepareStall: 1.5}} {
		if _, err := fleet.New(fleet.Config{Devices: 1, Quirks: bad}); err == nil {
			t.Errorf("%v accepted", bad)
		} else if _, ok := bad["no-such-quirk"]; ok && !errors.Is(err, update.ErrUnknownQuirk) {
			t.Errorf("unknown quirk: %v", err)
		}
	}
	if _, err := fleet.New(fleet.Config{Devices: 1, Population: &fleet.Population{Ignores: 0.7, Dismisses: 0.7}}); err == nil {
		t.Error("users adding up to 1.4 accepted")
	}
}
