package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/bench"
)

func TestCompareIdentical(t *testing.T) {
	t.Parallel()
	c := Compare(sampleResult(), sampleResult())
	if regs := c.Regressions(); len(regs) != 0 {
		t.Errorf("identical runs regress: %v", regs)
	}
	if len(c.Notes) != 0 {
		t.Errorf("notes for identical runs: %v", c.Notes)
	}
	var buf bytes.Buffer
	if err := c.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "no regression beyond 10%") {
		t.Errorf("verdict missing:\n%s", buf.String())
	}
}

func TestCompareRegressions(t *testing.T) {
	t.Parallel()
	old, new := sampleResult(), sampleResult()
	new.Ops["checkin"].P99 = ms(14 * 1.25) // +25%
	new.Ops["checkin"].Rate = 140          // -6.7%: within 10%
	new.Ops["command"].Rate = 40           // -20%
	new.Ops["command"].Errors = 30         // 0 → 1%
	new.Ops["command"].P50 = ms(6)         // better
	new.HeapBytes = old.HeapBytes * 2
	new.CPU["server"] = bench.Duration(30 * time.Second) // total 30s → 50s
	new.Ops["push"] = &bench.OpStats{Count: 5, Rate: 1, P99: ms(3)}
	new.Devices = 2000

	c := Compare(old, new)
	got := map[string]bool{}
	for _, r := range c.Regressions() {
		got[r.Op+"/"+r.Delta.Name] = true
	}
	for _, want := range []string{"checkin/p99", "command/rate", "command/error rate", "/heap", "/cpu total"} {
		if !got[want] {
			t.Errorf("%s not flagged; flagged %v", want, got)
		}
	}
	for _, not := range []string{"checkin/rate", "command/p50", "push/rate", "/cpu server", "/max rss"} {
		if got[not] {
			t.Errorf("%s flagged", not)
		}
	}
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "devices differs: 1000 → 2000") {
		t.Errorf("notes %v", c.Notes)
	}

	d := c.Ops[0].P99 // checkin
	if c.Ops[0].Op != "checkin" || math.Abs(float64(d.Pct)-25) > 1e-6 || math.Abs(d.Abs-0.0035) > 1e-9 {
		t.Errorf("checkin p99 delta %+v", d)
	}

	c.Threshold = 0.30 // looser: only the big ones remain
	got = map[string]bool{}
	for _, r := range c.Regressions() {
		got[r.Op+"/"+r.Delta.Name] = true
	}
	if got["checkin/p99"] || got["command/rate"] || !got["/heap"] || !got["command/error rate"] {
		t.Errorf("at 30%%: flagged %v", got)
	}

	var buf bytes.Buffer
	if err := c.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"push (new only)", "regression(s) beyond 30%", "heap: 256.0 MiB → 512.0 MiB (+256.0 MiB (+100.0%))"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, buf.String())
		}
	}
	if _, err := json.Marshal(c); err != nil {
		t.Errorf("json: %v", err)
	}
}

func TestCompareOpGone(t *testing.T) {
	t.Parallel()
	old, new := sampleResult(), sampleResult()
	delete(new.Ops, "command")
	regs := Compare(old, new).Regressions()
	if len(regs) != 1 || regs[0].Op != "command" {
		t.Errorf("an op gone from the new run: %v", regs)
	}
}

func TestCompareEmpty(t *testing.T) {
	t.Parallel()
	c := Compare(nil, &bench.Result{})
	if len(c.Regressions()) != 0 {
		t.Errorf("empty runs regress")
	}
	var buf bytes.Buffer
	if err := c.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
}

func TestDeltaRegressed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    Delta
		want bool
	}{
		{delta("p99", UnitSeconds, 0.010, 0.0111, false), true},
		{delta("p99", UnitSeconds, 0.010, 0.0109, false), false},
		{delta("p99", UnitSeconds, 2e-6, 3e-6, false), false}, // below resolution
		{delta("rate", UnitPerSec, 100, 89, true), true},
		{delta("rate", UnitPerSec, 100, 150, true), false},
		{delta("errors", UnitRatio, 0, 0.001, false), true},
		{delta("errors", UnitRatio, 0, 0, false), false},
	} {
		if have := tc.d.Regressed(0.10); have != tc.want {
			t.Errorf("%+v: Regressed = %v, want %v", tc.d, have, tc.want)
		}
	}
}

// TestCompareScenario: two rollouts of different scenarios are noted as
// such.
func TestCompareScenario(t *testing.T) {
	t.Parallel()
	old, new := sampleResult(), sampleResult()
	old.Scenario, new.Scenario = "legacy-update", "ddm-deadline"
	c := Compare(old, new)
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "scenario differs: legacy-update → ddm-deadline") {
		t.Errorf("notes %v", c.Notes)
	}
}
