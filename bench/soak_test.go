package bench_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

// soak runs a small soak in the embedded stack on the discrete-event
// clock.
func soak(t *testing.T, cfg bench.SoakConfig) *bench.SoakResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a bound for a hang only
	defer cancel()
	clk := clock.NewDiscrete(rolloutStart)
	defer clk.Close()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{Clock: clk, Seed: cfg.Seed})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tgt, err := targets.Open(ctx, targets.Embedded, w, targets.Options{Mint: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	res, err := bench.Soak(ctx, w, tgt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// counts are a soak day's figures that repeat for the same seed: all but
// the process's memory and the wall time.
func counts(days []bench.SoakDay) []bench.SoakDay {
	out := make([]bench.SoakDay, len(days))
	for i, d := range days {
		d.HeapBytes, d.RSSBytes, d.Wall = 0, 0, 0
		out[i] = d
	}
	return out
}

// TestSoak: 50 devices for 3 virtual days report at every day boundary,
// check in about three times a day each and send a DDM status report a
// day each; the same seed gives the same counts.
func TestSoak(t *testing.T) {
	t.Parallel()
	var seen []int
	cfg := bench.SoakConfig{Devices: 50, Seed: 3, Days: 3, DDM: true, OnDay: func(d bench.SoakDay) { seen = append(seen, d.Day) }}
	res := soak(t, cfg)
	if !reflect.DeepEqual(seen, []int{0, 1, 2, 3}) || len(res.Days) != 4 {
		t.Fatalf("OnDay saw days %v, result has %d: want 0 to 3", seen, len(res.Days))
	}
	for i, d := range res.Days {
		t.Logf("day %d: %+v", i, d)
		if d.Enrolled != 50 || d.HeapBytes == 0 || d.RSSBytes == 0 || d.SessionErrors != 0 {
			t.Errorf("day %d: %+v", i, d)
		}
		if i == 0 {
			continue
		}
		prev := res.Days[i-1]
		// 50 devices, a check-in every 8 h: 150 a day; one safety sync
		// and full status report a day each.
		if n := d.Sessions - prev.Sessions; n != 150 {
			t.Errorf("day %d: %d sessions, want 150", i, n)
		}
		if n, m := d.StatusReports-prev.StatusReports, d.Syncs-prev.Syncs; n != 50 || m != 50 {
			t.Errorf("day %d: %d status reports and %d syncs, want one a device", i, n, m)
		}
	}
	if v := res.Verdict(); !strings.Contains(v, "flat") {
		t.Errorf("verdict %q", v)
	}
	// Same seed, same story, whatever the process holds.
	again := soak(t, bench.SoakConfig{Devices: 50, Seed: 3, Days: 3, DDM: true})
	if a, b := counts(res.Days), counts(again.Days); !reflect.DeepEqual(a, b) {
		t.Errorf("same seed, different counts:\n%+v\n%+v", a, b)
	}
}

// TestSoakVerdict: the verdict is on days after the first, against day 1.
func TestSoakVerdict(t *testing.T) {
	t.Parallel()
	day := func(n int, heap, rss uint64) bench.SoakDay {
		return bench.SoakDay{Day: n, HeapBytes: heap, RSSBytes: rss}
	}
	days := []bench.SoakDay{day(0, 10, 10), day(1, 100, 200), day(2, 104, 190), day(3, 96, 209)}
	if h := bench.Drift(days, func(d bench.SoakDay) uint64 { return d.HeapBytes }); h != 0.04 {
		t.Errorf("heap drift %v, want 0.04 (day 0 does not count)", h)
	}
	if r := bench.Drift(days, func(d bench.SoakDay) uint64 { return d.RSSBytes }); r != 0.05 {
		t.Errorf("RSS drift %v, want 0.05", r)
	}
	if d := bench.Drift(days[:2], func(d bench.SoakDay) uint64 { return d.HeapBytes }); d != 0 {
		t.Errorf("one day after day 0: drift %v, want 0", d)
	}
}

func TestSoakValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []bench.SoakConfig{{}, {Devices: 1, Days: -1}, {Devices: 1, CheckinEvery: -time.Hour}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	c := bench.SoakConfig{Devices: 1}
	if err := c.Validate(); err != nil || c.Days != bench.DefaultSoakDays || c.CheckinEvery != bench.DefaultSoakCheckinEvery || c.Tolerance != bench.DefaultSoakTolerance {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}
