package bench_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/bench/report"
	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/internal/cpuload"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

// rolloutStart is when a rollout's story begins: a weekday morning ten
// days after the catalog's newest release, as `mdmsim run` starts its
// scenarios.
var rolloutStart = catalog.Default().LatestPostingDate().AddDate(0, 0, 10).Add(9 * time.Hour)

// runRollout runs the rollout workload against target in a world on the
// discrete-event clock.
func runRollout(t *testing.T, target string, devices int, seed int64, ro bench.Rollout) (*bench.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a bound for a hang only
	defer cancel()
	clk := clock.NewDiscrete(rolloutStart)
	defer clk.Close()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{Clock: clk, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tgt, err := targets.Open(ctx, target, w, targets.Options{Mint: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	if ro.Population == nil {
		pop := fleet.DefaultPopulation()
		ro.Population = &pop
	}
	return bench.RunWorkload(ctx, w, tgt, bench.Workload{Name: bench.WorkloadRollout, Devices: devices, Seed: seed, Rollout: ro})
}

// Rollouts of the tests: two virtual days each.
var (
	legacy48h = bench.Rollout{Scenario: bench.RolloutLegacyUpdate,
		Legacy: jobs.LegacyConfig{Enforcer: reference.EnforcerConfig{Deadline: 48 * time.Hour}}}
	ddm48h = bench.Rollout{Scenario: bench.RolloutDDMDeadline,
		DDM: jobs.DDMConfig{Lead: 48 * time.Hour, Off: 0.1}}
)

// verdict is what a rollout's Result must repeat for the same seed: all of
// it but the run's own costs and wall time.
type verdict struct {
	Compliance []bench.CompliancePoint
	ToComply   bench.OpStats
	Errors     map[string]int64
	Enrolled   int
}

func verdictOf(t *testing.T, r *bench.Result) verdict {
	t.Helper()
	st := r.Ops[bench.OpTimeToCompliant]
	if st == nil {
		t.Fatalf("no %s in %v", bench.OpTimeToCompliant, r.OpNames())
	}
	return verdict{Compliance: r.Compliance, ToComply: *st, Errors: r.Errors, Enrolled: r.Enrolled}
}

// TestRolloutDeterministic: the same seed gives the same compliance curve,
// time to compliance and reasons, whether the machine is idle or starved
// (GOMAXPROCS=1 and a CPU-burning goroutine per core beside the run). Not
// parallel: GOMAXPROCS is the process's.
func TestRolloutDeterministic(t *testing.T) {
	for _, ro := range []bench.Rollout{legacy48h, ddm48h} {
		t.Run(ro.Scenario, func(t *testing.T) {
			calm, err := runRollout(t, targets.Embedded, 40, 7, ro)
			if err != nil {
				t.Fatal(err)
			}
			stop := cpuload.Starve()
			loaded, err := runRollout(t, targets.Embedded, 40, 7, ro)
			stop()
			if err != nil {
				t.Fatal(err)
			}
			a, b := verdictOf(t, calm), verdictOf(t, loaded)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("same seed, different verdicts:\n idle   %+v\n loaded %+v", a, b)
			}
			checkRollout(t, calm, 40)
		})
	}
}

// checkRollout checks a rollout's Result against itself: the curve starts
// at day 0, never falls and ends at the share time-to-compliant counts;
// every device is compliant or counted under a reason.
func checkRollout(t *testing.T, r *bench.Result, devices int) {
	t.Helper()
	st := r.Ops[bench.OpTimeToCompliant]
	if st == nil || !st.Virtual || st.Count == 0 || st.Errors == 0 {
		t.Fatalf("%s: have %+v, want virtual, with compliant devices and devices left behind", bench.OpTimeToCompliant, st)
	}
	if st.Count+st.Errors != int64(devices) {
		t.Errorf("%d compliant + %d left behind, want %d devices", st.Count, st.Errors, devices)
	}
	var reasons int64
	for kind, n := range r.Errors {
		if kind != bench.KindLateInstall {
			reasons += n
		}
	}
	if reasons != st.Errors {
		t.Errorf("errors by kind %v add up to %d, want the %d devices left behind", r.Errors, reasons, st.Errors)
	}
	if ro := r.Ops[bench.OpRollout]; ro == nil || ro.Count != 1 || ro.Errors != 0 || ro.Virtual {
		t.Errorf("%s: have %+v, want one run on the wall clock", bench.OpRollout, ro)
	}
	c := r.Compliance
	if len(c) < 2 || c[0].Day != 0 {
		t.Fatalf("compliance: have %v, want a curve from day 0", c)
	}
	for i := 1; i < len(c); i++ {
		if c[i].Compliant < c[i-1].Compliant || c[i].Day <= c[i-1].Day {
			t.Fatalf("compliance falls or stalls at %d: %+v then %+v", i, c[i-1], c[i])
		}
	}
	last := c[len(c)-1]
	if want := float64(st.Count) / float64(devices); last.Compliant != want {
		t.Errorf("compliance ends at %v, want the compliant share %v", last.Compliant, want)
	}
	// The last device to comply did so by the end of the story.
	if time.Duration(st.Max) > time.Duration(last.Day*24*float64(time.Hour))+time.Duration(last.Day*24*float64(time.Hour))/1000 {
		t.Errorf("time-to-compliant max %v after the curve's end, day %v", st.Max, last.Day)
	}
	if r.Workload != bench.WorkloadRollout || r.Target != "embedded" || r.Devices != devices || r.Enrolled != devices || r.Scenario == "" {
		t.Errorf("result: workload %q scenario %q target %q devices %d enrolled %d", r.Workload, r.Scenario, r.Target, r.Devices, r.Enrolled)
	}
}

// TestRolloutReport: a legacy rollout's curve is hourly over its two days,
// and the HTML report draws it.
func TestRolloutReport(t *testing.T) {
	t.Parallel()
	res, err := runRollout(t, targets.Embedded, 30, 3, legacy48h)
	if err != nil {
		t.Fatal(err)
	}
	checkRollout(t, res, 30)
	if n, last := len(res.Compliance), res.Compliance[len(res.Compliance)-1]; n != 49 || last.Day != 2 {
		t.Errorf("compliance: %d points ending at day %v, want 49 hourly points to day 2", n, last.Day)
	}
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="` + report.ChartCompliance + `"`, bench.OpTimeToCompliant, "legacy-update"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the HTML report lacks %q", want)
		}
	}
}

// TestRolloutNeedsChannels: a rollout says which channel the target lacks
// before it enrolls anyone.
func TestRolloutNeedsChannels(t *testing.T) {
	t.Parallel()
	_, err := runRollout(t, targets.Null, 3, 1, ddm48h)
	var me *scenarios.MissingError
	if !errors.As(err, &me) || len(me.Missing) != 1 || me.Missing[0] != scenarios.CapDeclarations {
		t.Fatalf("ddm-deadline against null: have %v, want a *scenarios.MissingError for declarations", err)
	}
}

func TestRolloutValidate(t *testing.T) {
	t.Parallel()
	for _, wl := range []bench.Workload{
		{Name: bench.WorkloadRollout, Devices: 1, Rollout: bench.Rollout{Scenario: "firmware-update"}},
		{Name: bench.WorkloadRollout, Devices: 1, Run: bench.Config{Rate: 10}},
		{Name: bench.WorkloadRollout, Devices: 1, Run: bench.Config{Duration: time.Minute}},
	} {
		if err := wl.Validate(); err == nil {
			t.Errorf("Validate(%+v): no error", wl)
		}
	}
	wl := bench.Workload{Name: bench.WorkloadRollout, Devices: 1, Run: bench.Config{Workers: 64}}
	if err := wl.Validate(); err != nil || wl.Rollout.Scenario != bench.RolloutLegacyUpdate || wl.Run.Workers != 1 ||
		wl.Rollout.Step != bench.DefaultComplianceStep {
		t.Errorf("Validate: %v; scenario %q, workers %d, step %v: want legacy-update, one worker, an hour",
			err, wl.Rollout.Scenario, wl.Run.Workers, wl.Rollout.Step)
	}
}
