package reference_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/internal/cpuload"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/simulator"
)

// The tests in this file change runtime.GOMAXPROCS, which is process-wide:
// they must never call t.Parallel. The Go test runner starts parallel
// tests only once every sequential test of the package has returned, so
// while one of these runs nothing else of the package does.

// TestLegacyEnforcerDeterministic: the legacy enforcer scenario (forty
// devices of the default population, a fixed seed, the discrete-event
// clock) comes to the same outcome for every device, and every device
// installs the same versions at the same virtual instants, whether the
// process has every core to itself or one P shared with a busy goroutine
// per core.
//
// NOT PARALLEL: it sets GOMAXPROCS.
func TestLegacyEnforcerDeterministic(t *testing.T) {
	const devices, seed = 40, 11
	calm := legacyScenario(t, devices, seed)
	loaded := underLoad(t, func() []string { return legacyScenario(t, devices, seed) })
	compareRuns(t, calm, loaded)
}

// TestDDMEnforcerDeterministic is TestLegacyEnforcerDeterministic for the
// DDM enforcer (thirty devices, a share of them switched off for good two
// hours in, as mdmsim run --scenario ddm-deadline does).
//
// NOT PARALLEL: it sets GOMAXPROCS.
func TestDDMEnforcerDeterministic(t *testing.T) {
	const devices, seed = 30, 12
	calm := ddmScenario(t, devices, seed)
	loaded := underLoad(t, func() []string { return ddmScenario(t, devices, seed) })
	compareRuns(t, calm, loaded)
}

// underLoad runs run with GOMAXPROCS 1 and one goroutine per CPU spinning
// beside it until it returns; GOMAXPROCS is restored afterwards.
func underLoad(t *testing.T, run func() []string) []string {
	stop := cpuload.Starve()
	t0 := time.Now()
	out := run()
	spins := stop()
	t.Logf("loaded run: GOMAXPROCS 1, %d spinning goroutines (%d spins), %v of wall time",
		runtime.NumCPU(), spins, time.Since(t0).Round(time.Millisecond))
	return out
}

// compareRuns fails with the first lines that differ between two runs'
// transcripts.
func compareRuns(t *testing.T, calm, loaded []string) {
	t.Helper()
	if len(calm) == 0 {
		t.Fatal("the calm run recorded nothing")
	}
	var diff []string
	for i := range max(len(calm), len(loaded)) {
		var a, b string
		if i < len(calm) {
			a = calm[i]
		}
		if i < len(loaded) {
			b = loaded[i]
		}
		if a != b {
			diff = append(diff, fmt.Sprintf("line %d:\n  calm:   %s\n  loaded: %s", i, a, b))
		}
	}
	if len(diff) > 0 {
		n := len(diff)
		if len(diff) > 8 {
			diff = diff[:8]
		}
		t.Errorf("the runs differ on %d of %d lines; the first:\n%s", n, max(len(calm), len(loaded)), strings.Join(diff, "\n"))
	}
}

// fields renders every field of a struct, embedded ones flattened, so
// that a field added to an outcome is compared without anyone having to
// remember this test; times are shown in UTC, without a monotonic reading.
func fields(v any) string {
	var parts []string
	var walk func(rv reflect.Value)
	walk = func(rv reflect.Value) {
		for i := range rv.NumField() {
			f, fv := rv.Type().Field(i), rv.Field(i)
			if f.Anonymous && fv.Kind() == reflect.Struct {
				walk(fv)
				continue
			}
			val := fmt.Sprintf("%v", fv.Interface())
			if tm, ok := fv.Interface().(time.Time); ok {
				val = tm.UTC().Format(time.RFC3339Nano)
			}
			parts = append(parts, f.Name+"="+val)
		}
	}
	walk(reflect.ValueOf(v))
	return strings.Join(parts, " ")
}

// history renders a device's installs: versions and virtual instants.
func history(d *simulator.Device) string {
	var b strings.Builder
	for _, r := range d.UpdateHistory() {
		fmt.Fprintf(&b, " [%s(%s)->%s(%s) %s %s %s loss=%v at %s]", r.FromVersion, r.FromBuild, r.ToVersion, r.ToBuild,
			r.ProductKey, r.Action, r.Reason, r.DataLoss, r.InstalledAt.UTC().Format(time.RFC3339Nano))
	}
	if b.Len() == 0 {
		return " none"
	}
	return b.String()
}

// scenarioFleet starts the stack on a paused discrete-event clock and
// enrolls the default population in it, as mdmsim run's scenarios do; all
// of it is closed when the test ends.
func scenarioFleet(t *testing.T, devices int, seed int64) (context.Context, *clock.Discrete, *rig, *fleet.Fleet) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	cat := catalog.Default()
	clk := newDiscrete(t.Name(), scenarioStart(cat))
	t.Cleanup(clk.Close)
	pop := fleet.DefaultPopulation()
	cfg := fleet.Config{Devices: devices, Seed: seed, MacFraction: fleet.DefaultMacFraction, Catalog: cat, Population: &pop}
	r, f := enrolledFleet(ctx, t, clk, cfg)
	return ctx, clk, r, f
}

// legacyScenario runs mdmsim run --scenario legacy-update in-process and
// returns a transcript: per device, every field of its Outcome (Elapsed
// included: it is virtual time) and its update history.
func legacyScenario(t *testing.T, devices int, seed int64) []string {
	ctx, clk, r, f := scenarioFleet(t, devices, seed)
	e := r.legacy(reference.EnforcerConfig{})
	// The devices are read where the enforcement ends, at its deadline.
	frozen := freeze(clk, reference.DefaultEnforceDeadline)
	outcomes := e.Run(ctx, f.UDIDs())
	if err := ctx.Err(); err != nil {
		t.Fatalf("the run did not finish: %v", err)
	}
	waitFrozen(ctx, t, frozen)
	lines := []string{fmt.Sprintf("run: longest enforcement %v, %+v", longest(outcomes), reference.Summarize(outcomes))}
	for _, o := range outcomes {
		d, _ := f.Device(o.UDID)
		lines = append(lines,
			fmt.Sprintf("%s outcome %s", o.UDID, fields(o)),
			fmt.Sprintf("%s history%s", o.UDID, history(d)))
	}
	t.Logf("legacy run: %s", lines[0])
	return lines
}

// ddmOff is the share of devices ddmScenario switches off for good, two
// hours in (mdmsim run --scenario ddm-deadline's defaults are 2% and two
// hours; a larger share so that thirty devices have some).
const ddmOff = 0.1

// ddmScenario runs mdmsim run --scenario ddm-deadline in-process and
// returns a transcript: per device, every field of its DDMOutcome (Seen
// and TargetLocalDateTime included, Elapsed too: virtual time) and its
// update history.
func ddmScenario(t *testing.T, devices int, seed int64) []string {
	ctx, clk, r, f := scenarioFleet(t, devices, seed)

	rng := rand.New(rand.NewPCG(uint64(seed), 0xdd))
	var off []string
	for _, udid := range f.UDIDs() {
		if rng.Float64() < ddmOff {
			off = append(off, udid)
		}
	}
	if len(off) > 0 {
		uuid := fmt.Sprintf("%08X-0000-4000-8000-%012X", rng.Uint32(), rng.Uint64()&0xffffffffffff)
		tm := clk.AfterFunc(2*time.Hour, func() {
			if _, err := r.stack.Enqueue(context.Background(), off, uuid, "ShutDownDevice", nil); err != nil {
				t.Errorf("ShutDownDevice: %v", err)
			}
		})
		defer tm.Stop()
	}

	e := r.ddm(reference.DDMEnforcerConfig{})
	// The devices are read a day after the local deadline: after the last
	// time zone's deadline and the enforcer's late window, when Run has
	// returned.
	frozen := freeze(clk, reference.DefaultDDMLead+24*time.Hour)
	outcomes := e.Run(ctx, f.UDIDs())
	if err := ctx.Err(); err != nil {
		t.Fatalf("the run did not finish: %v", err)
	}
	waitFrozen(ctx, t, frozen)
	var plain []reference.Outcome
	for _, o := range outcomes {
		plain = append(plain, o.Outcome)
	}
	lines := []string{fmt.Sprintf("run: longest enforcement %v, %d switched off, %+v", longest(plain), len(off), reference.SummarizeDDM(outcomes))}
	for _, o := range outcomes {
		d, _ := f.Device(o.UDID)
		lines = append(lines,
			fmt.Sprintf("%s outcome %s", o.UDID, fields(o)),
			fmt.Sprintf("%s history%s", o.UDID, history(d)))
	}
	t.Logf("DDM run: %s", lines[0])
	return lines
}
