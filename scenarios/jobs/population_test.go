package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/mockgdmf"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/reference"
)

// startDefault starts an embedded run of n devices of pop on the
// discrete-event clock at the story's start.
func startDefault(ctx context.Context, t *testing.T, n int, seed int64, pop fleet.Population) (*jobs.Run, *clock.Discrete) {
	t.Helper()
	clk := clock.NewDiscrete(catalog.Default().LatestPostingDate().AddDate(0, 0, 10).Add(9 * time.Hour))
	t.Cleanup(clk.Close)
	r, err := jobs.Start(ctx, jobs.Config{Devices: n, Seed: seed, Mint: true, Clock: clk, Population: &pop})
	if r != nil {
		t.Cleanup(func() { r.Close() })
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return r, clk
}

func checkMajors(t *testing.T, what string, m map[catalog.Platform]map[int]int) {
	t.Helper()
	t.Logf("%s: %s", what, jobs.OSMajorsString(m))
	for _, p := range []catalog.Platform{catalog.MacOS, catalog.IOS} {
		if len(m[p]) < 3 {
			t.Errorf("%s: %s runs %d majors (%v), want at least three", what, p, len(m[p]), m[p])
		}
	}
}

// TestDefaultPopulationRuns: the default population's legacy-update and
// ddm-deadline runs hold devices on at least three OS majors per
// platform, and the verdicts include what only older OS versions and a
// realistic enrollment give: Macs too old for DDM, unsupervised devices.
func TestDefaultPopulationRuns(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a bound for a hang only
	defer cancel()
	pop := fleet.DefaultPopulation()

	r, clk := startDefault(ctx, t, 30, 21, pop)
	leg, err := jobs.LegacyUpdate(ctx, r, jobs.LegacyConfig{Enforcer: reference.EnforcerConfig{Deadline: 48 * time.Hour}}, clk.Pause)
	if err != nil {
		t.Fatalf("LegacyUpdate: %v", err)
	}
	t.Logf("legacy-update: %+v", leg.Reasons)
	checkMajors(t, "legacy-update", leg.OSMajors)
	for _, reason := range []string{reference.ReasonNotSupervised, reference.ReasonUserIgnoredDeferrals, reference.ReasonInsufficientSpace} {
		if leg.Reasons[reason] == 0 {
			t.Errorf("legacy-update: no device %s: %v", reason, leg.Reasons)
		}
	}
	if leg.Reasons[reference.ReasonNotSupervised] == 0 || leg.Compliant == 0 {
		t.Errorf("legacy-update: %d compliant, reasons %v: want some compliant and some not supervised", leg.Compliant, leg.Reasons)
	}

	r2, clk2 := startDefault(ctx, t, 30, 22, pop)
	dd, err := jobs.DDMDeadline(ctx, r2, jobs.DDMConfig{Lead: 24 * time.Hour}, clk2.Pause)
	if err != nil {
		t.Fatalf("DDMDeadline: %v", err)
	}
	t.Logf("ddm-deadline: %+v", dd.Reasons)
	checkMajors(t, "ddm-deadline", dd.OSMajors)
	if dd.Reasons[reference.ReasonDDMUnsupported] == 0 || dd.DDMCapable == 0 {
		t.Errorf("ddm-deadline: %d DDM-capable, reasons %v: want devices on both sides of macOS 14", dd.DDMCapable, dd.Reasons)
	}
}

// TestPopulationReasonsReachable: every verdict a population can cause is
// reachable from a population file: a cooperative population with one
// share at 1 gives that reason on a small fleet's legacy-update run.
func TestPopulationReasonsReachable(t *testing.T) {
	t.Parallel()
	def := fleet.DefaultPopulation()
	base := func(edit func(p *fleet.Population)) fleet.Population {
		p := fleet.Population{OS: def.OS, Enrollment: fleet.Enrollment{ADE: 1}, FreeDisk: []fleet.DiskBand{{MinGB: 200, MaxGB: 400, Share: 1}}}
		edit(&p)
		return p
	}
	tests := []struct {
		reason string
		mac    bool
		pop    fleet.Population
	}{
		{reference.ReasonNotSupervised, false, base(func(p *fleet.Population) { p.Enrollment.ADE = 0 })},
		{reference.ReasonInsufficientSpace, true, base(func(p *fleet.Population) { p.FreeDisk[0] = fleet.DiskBand{MinGB: 0.1, MaxGB: 1, Share: 1} })},
		{reference.ReasonInsufficientPower, false, base(func(p *fleet.Population) { p.LowBattery = 1 })},
		{reference.ReasonInsufficientNetwork, true, base(func(p *fleet.Population) { p.NoNetwork = 1 })},
		{reference.ReasonScanFailed, false, base(func(p *fleet.Population) { p.NoNetwork = 1 })},
		{reference.ReasonRequiresComputer, false, base(func(p *fleet.Population) { p.RequiresComputer = 1 })},
		{reference.ReasonNotNow, false, base(func(p *fleet.Population) { p.Passcode, p.LockedForever = 1, 1 })},
		{reference.ReasonUpdateFailed, false, base(func(p *fleet.Population) { p.Failures.Download = 1 })},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a bound for a hang only
			defer cancel()
			if err := tt.pop.Validate(); err != nil {
				t.Fatal(err)
			}
			clk := clock.NewDiscrete(catalog.Default().LatestPostingDate().AddDate(0, 0, 10).Add(9 * time.Hour))
			defer clk.Close()
			mac := 0.0
			if tt.mac {
				mac = 1
			}
			pop := tt.pop
			r, err := jobs.Start(ctx, jobs.Config{Devices: 3, Seed: 3, Mint: true, Clock: clk, Population: &pop, MacFraction: &mac})
			if r != nil {
				defer r.Close()
			}
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			sum, err := jobs.LegacyUpdate(ctx, r, jobs.LegacyConfig{Enforcer: reference.EnforcerConfig{Deadline: 24 * time.Hour}}, clk.Pause)
			if err != nil {
				t.Fatalf("LegacyUpdate: %v", err)
			}
			if sum.Reasons[tt.reason] == 0 {
				t.Errorf("reasons %v (%s), want %s", sum.Reasons, jobs.OSMajorsString(sum.OSMajors), tt.reason)
			}
		})
	}
}

// TestPostedRelease: a release a job posts on its timeline (iOS 27.0, which
// does not exist) is what the world's catalog offers from its time on, and
// a bad posting stops the job before any device is drawn.
func TestPostedRelease(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a bound for a hang only
	defer cancel()
	start := catalog.Default().LatestPostingDate().AddDate(0, 0, 10).Add(9 * time.Hour)
	clk := clock.NewManual(start)
	post := mockgdmf.Posting{Platform: catalog.IOS, ProductVersion: "27.0", Build: "24A330",
		SupportedDevices: []string{"iPhone15,2"}, At: start.Add(24 * time.Hour)}
	r, err := jobs.Start(ctx, jobs.Config{Devices: 1, Seed: 1, Mint: true, Clock: clk, Releases: []mockgdmf.Posting{post}})
	if r != nil {
		defer r.Close()
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	m, _ := catalog.LookupModel("iPhone15,2")
	if rel, ok := r.World.Catalog.Latest(m, 27, -1, start); ok {
		t.Errorf("27.0 offered before its posting: %+v", rel)
	}
	if rel, ok := r.World.Catalog.Latest(m, 27, -1, post.At); !ok || rel.Build != "24A330" {
		t.Errorf("27.0 not offered once posted: %+v, %v", rel, ok)
	}
	// A 26.7 posted a day into the story for every iPhone and iPad: no
	// device of a population drawn at the start runs it, though it would
	// be the newest 26.
	var ios []string
	for _, m := range catalog.Models() {
		if m.Platform == catalog.IOS {
			ios = append(ios, m.SoftwareUpdateDeviceID)
		}
	}
	pop := fleet.DefaultPopulation()
	ios0 := 0.0
	r3, err := jobs.Start(ctx, jobs.Config{Devices: 20, Seed: 4, Mint: true, Clock: clock.NewManual(start), Population: &pop, MacFraction: &ios0,
		Releases: []mockgdmf.Posting{{Platform: catalog.IOS, ProductVersion: "26.7", Build: "23H20", SupportedDevices: ios, At: start.Add(24 * time.Hour)}}})
	if r3 != nil {
		defer r3.Close()
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	on26 := 0
	for _, d := range r3.Fleet.Devices() {
		switch v := d.Identity().OSVersion; {
		case v == "26.7":
			t.Errorf("%s runs 26.7, posted after the start", d.Identity().Model.Identifier)
		case strings.HasPrefix(v, "26."):
			on26++
		}
	}
	if on26 == 0 {
		t.Error("no device on 26: the check above proves nothing")
	}
	bad := post
	bad.Build = ""
	r2, err := jobs.Start(ctx, jobs.Config{Devices: 1, Seed: 1, Mint: true, Clock: clock.NewManual(start), Releases: []mockgdmf.Posting{bad}})
	if r2 != nil {
		defer r2.Close()
	}
	if !errors.Is(err, jobs.ErrSetup) || r2 == nil || r2.Fleet != nil {
		t.Errorf("a bad posting: err %v, want ErrSetup before any device is drawn", err)
	}
}
