package report

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mdmsim/mdmsim/bench"
)

// DefaultThreshold is the relative change beyond which Compare flags a
// regression: 10%.
const DefaultThreshold = 0.10

// MinLatencyChange is the latency change that cannot regress, however large
// in percent: the histograms' resolution. Below it a 2µs→3µs "50%" is noise.
const MinLatencyChange = time.Microsecond

// Comparison is two runs side by side: per operation the change in rate,
// latency and errors, and the change in CPU and memory. Deltas are new
// minus old. Set Threshold before reading Regressions or writing it.
type Comparison struct {
	Threshold float64 `json:"threshold"`
	// Notes say why the runs may not be comparable (different workload,
	// devices, pacing, target, or a partial run).
	Notes  []string  `json:"notes,omitempty"`
	Ops    []OpDelta `json:"ops"`
	CPU    []Delta   `json:"cpu,omitempty"`
	Memory []Delta   `json:"memory,omitempty"`
	Errors []Delta   `json:"errors,omitempty"` // by kind
}

// OpDelta is one operation's change. Only is "old" or "new" when the
// operation ran in one run only (then the deltas are against zero).
type OpDelta struct {
	Op     string `json:"op"`
	Only   string `json:"only,omitempty"`
	Rate   Delta  `json:"rate"`
	P50    Delta  `json:"p50"`
	P99    Delta  `json:"p99"`
	P999   Delta  `json:"p999"`
	Max    Delta  `json:"max"`
	Errors Delta  `json:"errors"`
	// ErrorRate is errors per operation, 0..1.
	ErrorRate Delta `json:"error_rate"`
}

// Unit says how a Delta reads.
type Unit string

const (
	UnitSeconds Unit = "s"
	UnitPerSec  Unit = "/s"
	UnitBytes   Unit = "B"
	UnitCount   Unit = ""
	UnitRatio   Unit = "ratio"
)

// Delta is one figure before and after. Pct is the relative change in
// percent, NaN when Old is zero (undefined; JSON writes null).
type Delta struct {
	Name string  `json:"name"`
	Unit Unit    `json:"unit"`
	Old  float64 `json:"old"`
	New  float64 `json:"new"`
	Abs  float64 `json:"abs"`
	Pct  JSONPct `json:"pct"`
	// HigherIsBetter: a rate; otherwise lower is better (latency, errors,
	// CPU, memory).
	HigherIsBetter bool `json:"higher_is_better,omitempty"`
}

// JSONPct is a percentage that writes NaN as null.
type JSONPct float64

// MarshalJSON writes null for NaN and ±Inf.
func (p JSONPct) MarshalJSON() ([]byte, error) {
	f := float64(p)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return fmt.Appendf(nil, "%.4g", f), nil
}

func delta(name string, unit Unit, old, new float64, higherBetter bool) Delta {
	d := Delta{Name: name, Unit: unit, Old: old, New: new, Abs: new - old, Pct: JSONPct(math.NaN()), HigherIsBetter: higherBetter}
	if old != 0 {
		d.Pct = JSONPct(100 * (new - old) / math.Abs(old))
	}
	return d
}

// Regressed reports whether d got worse by more than threshold (a
// fraction: 0.1 is 10%). From zero, any worsening counts (errors
// appearing); latencies must also move by more than MinLatencyChange.
func (d Delta) Regressed(threshold float64) bool {
	worse := d.Abs
	if d.HigherIsBetter {
		worse = -d.Abs
	}
	if worse <= 0 {
		return false
	}
	if d.Unit == UnitSeconds && time.Duration(math.Round(worse*1e9)) <= MinLatencyChange {
		return false
	}
	if d.Old == 0 {
		return true
	}
	return worse/math.Abs(d.Old) > threshold
}

// Regression is one figure flagged by Regressions.
type Regression struct {
	Op    string // "" for run-wide figures (CPU, memory, error kinds)
	Delta Delta
}

func (r Regression) String() string {
	what := r.Delta.Name
	if r.Op != "" {
		what = r.Op + " " + what
	}
	return fmt.Sprintf("%s: %s → %s (%s)", what, r.Delta.format(r.Delta.Old), r.Delta.format(r.Delta.New), r.Delta.change())
}

// Compare sets new against old, with DefaultThreshold.
func Compare(old, new *bench.Result) Comparison {
	if old == nil {
		old = &bench.Result{}
	}
	if new == nil {
		new = &bench.Result{}
	}
	c := Comparison{Threshold: DefaultThreshold, Notes: notes(old, new)}

	ops := slices.Sorted(maps.Keys(old.Ops))
	for op := range new.Ops {
		if _, ok := old.Ops[op]; !ok {
			ops = append(ops, op)
		}
	}
	slices.Sort(ops)
	for _, op := range ops {
		o, n := old.Ops[op], new.Ops[op]
		d := OpDelta{Op: op}
		switch {
		case o == nil && n == nil:
			continue
		case o == nil:
			d.Only, o = "new", &bench.OpStats{}
		case n == nil:
			d.Only, n = "old", &bench.OpStats{}
		}
		lat := func(name string, a, b bench.Duration) Delta {
			return delta(name, UnitSeconds, a.Seconds(), b.Seconds(), false)
		}
		d.Rate = delta("rate", UnitPerSec, o.Rate, n.Rate, true)
		d.P50, d.P99, d.P999, d.Max = lat("p50", o.P50, n.P50), lat("p99", o.P99, n.P99), lat("p99.9", o.P999, n.P999), lat("max", o.Max, n.Max)
		d.Errors = delta("errors", UnitCount, float64(o.Errors), float64(n.Errors), false)
		d.ErrorRate = delta("error rate", UnitRatio, ratio(o.Errors, o.Count), ratio(n.Errors, n.Count), false)
		c.Ops = append(c.Ops, d)
	}

	for _, who := range union(old.CPU, new.CPU) {
		c.CPU = append(c.CPU, delta("cpu "+who, UnitSeconds, old.CPU[who].Seconds(), new.CPU[who].Seconds(), false))
	}
	if len(old.CPU) > 1 || len(new.CPU) > 1 {
		c.CPU = append(c.CPU, delta("cpu total", UnitSeconds, cpuTotal(old), cpuTotal(new), false))
	}
	for _, m := range []struct {
		name     string
		old, new float64
	}{
		{"heap", float64(old.HeapBytes), float64(new.HeapBytes)},
		{"max rss", float64(old.MaxRSSBytes), float64(new.MaxRSSBytes)},
		{"bytes per device", old.BytesPerDevice, new.BytesPerDevice},
	} {
		// A figure one run did not measure says nothing about the other.
		if m.old > 0 && m.new > 0 {
			c.Memory = append(c.Memory, delta(m.name, UnitBytes, m.old, m.new, false))
		}
	}
	for _, kind := range union(old.Errors, new.Errors) {
		c.Errors = append(c.Errors, delta(kind, UnitCount, float64(old.Errors[kind]), float64(new.Errors[kind]), false))
	}
	return c
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func cpuTotal(r *bench.Result) float64 {
	var t float64
	for _, d := range r.CPU {
		t += d.Seconds()
	}
	return t
}

func union[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func notes(old, new *bench.Result) []string {
	var n []string
	diff := func(what string, a, b any) {
		if a != b {
			n = append(n, fmt.Sprintf("%s differs: %v → %v", what, a, b))
		}
	}
	diff("workload", old.Workload, new.Workload)
	diff("scenario", old.Scenario, new.Scenario)
	diff("target", old.Target, new.Target)
	diff("devices", old.Devices, new.Devices)
	diff("pacing", pacing(old.Pacing), pacing(new.Pacing))
	if old.Partial {
		n = append(n, "old run is partial")
	}
	if new.Partial {
		n = append(n, "new run is partial")
	}
	return n
}

// Regressions lists the figures that got worse by more than c.Threshold:
// rate, p50, p99, p99.9, max and error rate per operation (an operation
// gone from the new run counts), total CPU (or the only CPU figure),
// memory. Error kinds are reported but not flagged on their own: the
// per-operation error rate already is.
func (c Comparison) Regressions() []Regression {
	var out []Regression
	for _, d := range c.Ops {
		if d.Only == "old" {
			out = append(out, Regression{Op: d.Op, Delta: d.Rate})
			continue
		}
		if d.Only == "new" {
			continue
		}
		for _, x := range []Delta{d.Rate, d.P50, d.P99, d.P999, d.Max, d.ErrorRate} {
			if x.Regressed(c.Threshold) {
				out = append(out, Regression{Op: d.Op, Delta: x})
			}
		}
	}
	for i, x := range c.CPU {
		// The total when there is one (the split moves between who spends
		// it without the run costing more), else the single figure.
		if (len(c.CPU) == 1 || i == len(c.CPU)-1) && x.Regressed(c.Threshold) {
			out = append(out, Regression{Delta: x})
		}
	}
	for _, x := range c.Memory {
		if x.Regressed(c.Threshold) {
			out = append(out, Regression{Delta: x})
		}
	}
	return out
}

// WriteText prints the comparison as aligned tables, regressions marked
// with "!", and a closing verdict line.
func (c Comparison) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	for _, n := range c.Notes {
		fmt.Fprintf(ew, "note: %s\n", n)
	}
	if len(c.Notes) > 0 {
		fmt.Fprintln(ew)
	}
	regs := c.Regressions()
	flagged := map[string]bool{}
	for _, r := range regs {
		flagged[r.Op+"/"+r.Delta.Name] = true
	}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tfigure\told\tnew\tchange\t\t")
	for _, d := range c.Ops {
		op := d.Op
		if d.Only != "" {
			op += " (" + d.Only + " only)"
		}
		for _, x := range []Delta{d.Rate, d.P50, d.P99, d.P999, d.Max, d.Errors} {
			// The errors row stands for the error rate, which is flagged.
			f := flagged[d.Op+"/"+x.Name] || (x.Name == "errors" && flagged[d.Op+"/error rate"])
			row(tw, op, x, f)
			op = ""
		}
	}
	for _, group := range [][]Delta{c.CPU, c.Memory} {
		for _, x := range group {
			row(tw, "", x, flagged["/"+x.Name])
		}
	}
	op := "errors"
	for _, x := range c.Errors {
		row(tw, op, x, false)
		op = ""
	}
	tw.Flush()
	fmt.Fprintln(ew)
	if len(regs) == 0 {
		fmt.Fprintf(ew, "no regression beyond %s\n", pct(c.Threshold))
	} else {
		fmt.Fprintf(ew, "%d regression(s) beyond %s:\n", len(regs), pct(c.Threshold))
		for _, r := range regs {
			fmt.Fprintf(ew, "  %s\n", r)
		}
	}
	return ew.err
}

func row(w io.Writer, op string, x Delta, flagged bool) {
	mark := ""
	if flagged {
		mark = "!"
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t\n", op, x.Name, x.format(x.Old), x.format(x.New), x.change(), mark)
}

func pct(f float64) string { return trimFloat(100*f) + "%" }

func (d Delta) format(v float64) string {
	switch d.Unit {
	case UnitSeconds:
		return fmtDur(bench.Duration(v * float64(time.Second)))
	case UnitPerSec:
		return fmt.Sprintf("%.1f/s", v)
	case UnitBytes:
		return fmtBytes(v)
	case UnitRatio:
		return fmt.Sprintf("%.2f%%", 100*v)
	}
	return trimFloat(v)
}

// change reads "+1.2ms (+8.0%)"; "n/a" for the percentage from zero.
func (d Delta) change() string {
	sign := "+"
	if d.Abs < 0 {
		sign = "-"
	}
	abs := sign + strings.TrimPrefix(d.format(math.Abs(d.Abs)), "-")
	if d.Abs == 0 {
		abs = "0"
	}
	p := float64(d.Pct)
	if math.IsNaN(p) {
		if d.Abs == 0 {
			return abs
		}
		return abs + " (new)"
	}
	return fmt.Sprintf("%s (%+.1f%%)", abs, p)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
