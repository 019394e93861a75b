package report

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/mdmsim/mdmsim/bench"
)

// Chart ids in the HTML report, for tests and for anyone scraping it.
const (
	ChartLatency    = "chart-latency"
	ChartThroughput = "chart-throughput"
	ChartErrors     = "chart-errors"
	ChartCompliance = "chart-compliance"
)

var pageTmpl = template.Must(template.Must(template.New("page").Funcs(svgFuncs).Parse(svgTemplate)).Parse(pageTemplate))

// WriteHTML writes r as one self-contained HTML page: a header with the
// run's shape and costs, per-operation latency, charts over time (inline
// SVG), the compliance curve when there is one, and errors by kind. Every
// string from r is escaped; the page loads nothing from the network.
func WriteHTML(w io.Writer, r *bench.Result) error {
	if r == nil {
		r = &bench.Result{}
	}
	if err := pageTmpl.Execute(w, newPage(r)); err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	return nil
}

type kv struct{ Key, Value string }

type opRow struct {
	Op, Color                           string
	Count, Errors, ErrPct, Rate         string
	Min, Mean, P50, P90, P99, P999, Max string
	HasErrors                           bool
	// Virtual: the latencies are on the world's virtual clock.
	Virtual bool
}

type errRow struct {
	Kind, Count, Share string
	Width              float64 // bar width, percent of the largest
}

type page struct {
	Title   string
	Partial bool
	Summary []kv
	Costs   []kv
	Ops     []opRow
	Charts  []chartView
	Errors  []errRow
}

func newPage(r *bench.Result) page {
	p := page{Title: "mdmsim bench", Partial: r.Partial}
	if r.Workload != "" {
		p.Title += ": " + r.Workload
	}
	ops := slices.Sorted(maps.Keys(r.Ops))
	// Ops seen only in the timeline still get a colour and a line.
	for _, iv := range r.Timeline {
		for op := range iv.Ops {
			if _, ok := r.Ops[op]; !ok && !slices.Contains(ops, op) {
				ops = append(ops, op)
			}
		}
		for op := range iv.P99 {
			if _, ok := r.Ops[op]; !ok && !slices.Contains(ops, op) {
				ops = append(ops, op)
			}
		}
	}
	slices.Sort(ops)
	color := map[string]string{}
	for i, op := range ops {
		color[op] = palette[i%len(palette)]
	}

	pace := pacing(r.Pacing)
	if r.Scenario != "" {
		pace = "one rollout" // one operation: no pacing to speak of
	}
	p.Summary = []kv{
		{"Workload", orDash(r.Workload)},
		{"Target", orDash(r.Target)},
		{"Devices", fmt.Sprint(r.Devices)},
		{"Pacing", pace},
		{"Seed", fmt.Sprint(r.Seed)},
		{"Started", started(r.Started)},
		{"Wall", fmtDur(r.Wall)},
	}
	if r.Scenario != "" {
		p.Summary = slices.Insert(p.Summary, 1, kv{"Scenario", r.Scenario})
	}
	switch {
	case r.Shards > 0:
		p.Summary = append(p.Summary, kv{"Shards", fmt.Sprintf("%d processes, merged (counts and histograms added up)", r.Shards)})
	case r.Shard != nil:
		p.Summary = append(p.Summary, kv{"Shard", fmt.Sprintf("%s, %d of the %d devices", r.Shard, r.ShardDevices, r.Devices)})
	}
	if n := len(r.Compliance); n > 0 {
		last := r.Compliance[n-1]
		p.Summary = append(p.Summary, kv{"Compliant", fmt.Sprintf("%s after %s virtual days", fmtPercent(last.Compliant, 0), trimFloat(last.Day))})
	}
	p.Costs = []kv{{"CPU", cpuSplit(r.CPU, r.Wall)}}
	if r.HeapBytes > 0 {
		p.Costs = append(p.Costs, kv{"Heap in use", fmtBytes(float64(r.HeapBytes))})
	}
	if r.MaxRSSBytes > 0 {
		p.Costs = append(p.Costs, kv{"Max RSS", fmtBytes(float64(r.MaxRSSBytes))})
	}
	if r.BytesPerDevice > 0 {
		p.Costs = append(p.Costs, kv{"Bytes per device", fmtBytes(r.BytesPerDevice)})
	}

	for _, op := range slices.Sorted(maps.Keys(r.Ops)) {
		s := r.Ops[op]
		if s == nil {
			continue
		}
		d := fmtDur
		if s.Virtual {
			// Hours and days of the world's clock, to the second.
			d = func(v bench.Duration) string { return time.Duration(v).Round(time.Second).String() }
		}
		row := opRow{
			Op: op, Color: color[op],
			Count: fmt.Sprint(s.Count), Errors: fmt.Sprint(s.Errors), Rate: fmt.Sprintf("%.1f/s", s.Rate),
			Min: d(s.Min), Mean: d(s.Mean), P50: d(s.P50), P90: d(s.P90),
			P99: d(s.P99), P999: d(s.P999), Max: d(s.Max),
			HasErrors: s.Errors > 0, Virtual: s.Virtual,
		}
		if s.Virtual {
			row.Rate = "—"
		}
		if s.Count > 0 {
			row.ErrPct = fmt.Sprintf("%.2f%%", 100*float64(s.Errors)/float64(s.Count))
		}
		p.Ops = append(p.Ops, row)
	}

	p.Charts = []chartView{
		latencyChart(r, ops, color).build(),
		throughputChart(r, ops, color).build(),
		errorsChart(r).build(),
	}
	if len(r.Compliance) > 0 {
		p.Charts = append(p.Charts, complianceChart(r).build())
	}

	var total, top int64
	for _, n := range r.Errors {
		total += n
		top = max(top, n)
	}
	kinds := slices.SortedFunc(maps.Keys(r.Errors), func(a, b string) int {
		return cmp.Or(cmp.Compare(r.Errors[b], r.Errors[a]), strings.Compare(a, b))
	})
	for _, k := range kinds {
		n := r.Errors[k]
		row := errRow{Kind: k, Count: fmt.Sprint(n)}
		if total > 0 {
			row.Share = fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total))
		}
		if top > 0 {
			row.Width = math.Round(1000*float64(n)/float64(top)) / 10
		}
		p.Errors = append(p.Errors, row)
	}
	return p
}

func timelineX(r *bench.Result) []float64 {
	xs := make([]float64, len(r.Timeline))
	for i, iv := range r.Timeline {
		xs[i] = iv.At.Seconds()
	}
	return xs
}

// intervalLabel names the timeline's slice width, from its first two
// points, for the throughput axis.
func intervalLabel(r *bench.Result) string {
	if len(r.Timeline) < 2 {
		return "interval"
	}
	return fmtDur(r.Timeline[1].At - r.Timeline[0].At)
}

func latencyChart(r *bench.Result, ops []string, color map[string]string) chartSpec {
	top := 0.0
	for _, iv := range r.Timeline {
		for _, d := range iv.P99 {
			top = max(top, d.Seconds())
		}
	}
	unit, scale := latencyUnit(top)
	c := chartSpec{
		ID: ChartLatency, Title: "p99 latency over time",
		XLabel: "time since start", YLabel: "p99 (" + unit + ")",
		XFmt: fmtSeconds, YFmt: fmtCount,
	}
	xs := timelineX(r)
	for _, op := range ops {
		s := series{Name: op, Color: color[op], X: xs, Y: make([]float64, len(xs))}
		seen := false
		for i, iv := range r.Timeline {
			d, ok := iv.P99[op]
			if !ok {
				// No completions in the slice: a gap, not a zero latency.
				s.Y[i] = math.NaN()
				continue
			}
			s.Y[i] = d.Seconds() * scale
			seen = true
		}
		if seen {
			c.Series = append(c.Series, s)
		}
	}
	return c
}

func throughputChart(r *bench.Result, ops []string, color map[string]string) chartSpec {
	c := chartSpec{
		ID: ChartThroughput, Title: "Throughput over time",
		XLabel: "time since start", YLabel: "ops per " + intervalLabel(r),
		XFmt: fmtSeconds, YFmt: fmtCount,
	}
	xs := timelineX(r)
	for _, op := range ops {
		s := series{Name: op, Color: color[op], X: xs, Y: make([]float64, len(xs))}
		seen := false
		for i, iv := range r.Timeline {
			n, ok := iv.Ops[op]
			s.Y[i] = float64(n)
			seen = seen || ok
		}
		if seen {
			c.Series = append(c.Series, s)
		}
	}
	return c
}

func errorsChart(r *bench.Result) chartSpec {
	c := chartSpec{
		ID: ChartErrors, Title: "Errors over time",
		XLabel: "time since start", YLabel: "errors per " + intervalLabel(r),
		XFmt: fmtSeconds, YFmt: fmtCount,
	}
	if len(r.Timeline) == 0 {
		return c
	}
	s := series{Name: "errors", Color: "#D55E00", X: timelineX(r), Y: make([]float64, len(r.Timeline))}
	for i, iv := range r.Timeline {
		s.Y[i] = float64(iv.Errors)
	}
	c.Series = []series{s}
	return c
}

func complianceChart(r *bench.Result) chartSpec {
	s := series{Name: "compliant", Color: "#009E73"}
	for _, p := range r.Compliance {
		s.X = append(s.X, p.Day)
		s.Y = append(s.Y, p.Compliant)
	}
	return chartSpec{
		ID: ChartCompliance, Title: "Fleet compliance over virtual days",
		XLabel: "virtual day", YLabel: "compliant",
		XFmt: fmtDay, YFmt: fmtPercent, YMax: 1,
		Series: []series{s},
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func started(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 MST")
}

func pacing(p bench.Pacing) string {
	switch p.Model {
	case "open":
		s := fmt.Sprintf("open, %g/s", p.Rate)
		if p.Ramp > 0 {
			s += ", ramp " + fmtDur(p.Ramp)
		}
		if p.Duration > 0 {
			s += ", for " + fmtDur(p.Duration)
		}
		if p.MaxInFlight > 0 {
			s += fmt.Sprintf(", max %d in flight", p.MaxInFlight)
		}
		return s
	case "closed":
		s := fmt.Sprintf("closed, %d workers", p.Workers)
		if p.Duration > 0 {
			s += ", for " + fmtDur(p.Duration)
		}
		return s
	}
	return orDash(p.Model)
}

// cpuSplit reads "simulator 12.3s (61%) · server 7.9s (39%)", plus the
// cores used on average over the wall time.
func cpuSplit(cpu map[string]bench.Duration, wall bench.Duration) string {
	if len(cpu) == 0 {
		return "—"
	}
	var total bench.Duration
	for _, d := range cpu {
		total += d
	}
	var parts []string
	for _, who := range slices.Sorted(maps.Keys(cpu)) {
		part := who + " " + fmtDur(cpu[who])
		if total > 0 && len(cpu) > 1 {
			part += fmt.Sprintf(" (%.0f%%)", 100*cpu[who].Seconds()/total.Seconds())
		}
		parts = append(parts, part)
	}
	s := strings.Join(parts, " · ")
	if wall > 0 {
		s += fmt.Sprintf(" — %.2f cores on average", total.Seconds()/wall.Seconds())
	}
	return s
}

// fmtDur prints a latency the way people read them: 830µs, 12.4ms, 1.52s.
func fmtDur(d bench.Duration) string {
	t := time.Duration(d)
	switch {
	case t == 0:
		return "0"
	case t < time.Microsecond:
		return t.String()
	case t < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(t)/float64(time.Microsecond))
	case t < time.Second:
		return fmt.Sprintf("%.3gms", float64(t)/float64(time.Millisecond))
	case t < time.Minute:
		return fmt.Sprintf("%.3gs", t.Seconds())
	}
	return t.Round(time.Second).String()
}

func fmtBytes(b float64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%.0f B", b)
	}
	exp := 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", b/math.Pow(unit, float64(exp+1)), "KMGTPE"[exp])
}
