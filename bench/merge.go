package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/internal/lastjson"
)

// ErrMerge is wrapped by every reason MergeResults refuses its results.
var ErrMerge = errors.New("bench: merge")

// maxHistogramBuckets bounds a histogram read from a result file: HDR's
// three digits over a year of microseconds hold fewer than 100 000
// buckets, so more is not a histogram this package wrote.
const maxHistogramBuckets = 1 << 17

// exportHistogram is h as Result carries it: [value, count] for every
// non-empty bucket, the value being the bucket's lowest, which records
// into the same bucket of a histogram of the same bounds.
func exportHistogram(h *hdr.Histogram) [][2]int64 {
	var out [][2]int64
	for _, b := range h.Distribution() {
		if b.Count > 0 {
			out = append(out, [2]int64{b.From, b.Count})
		}
	}
	return out
}

// newOpHistogram is the histogram an operation records into: the run's
// bounds, or a virtual clock's.
func newOpHistogram(virtual bool) *hdr.Histogram {
	if virtual {
		return hdr.New(histLowest, histHighestVirtual, histDigits)
	}
	return hdr.New(histLowest, histHighest, histDigits)
}

// importHistogram adds the pairs of a result file to h, refusing what a
// histogram of h's bounds cannot hold instead of clamping it: a result is
// read from a file, and a wrong one must say so.
func importHistogram(h *hdr.Histogram, pairs [][2]int64) error {
	if len(pairs) > maxHistogramBuckets {
		return fmt.Errorf("%d buckets, more than a histogram holds", len(pairs))
	}
	for _, p := range pairs {
		v, n := p[0], p[1]
		if v < h.LowestTrackableValue() || v > h.HighestTrackableValue() {
			return fmt.Errorf("value %d outside [%d, %d]", v, h.LowestTrackableValue(), h.HighestTrackableValue())
		}
		if n < 0 || h.TotalCount() > math.MaxInt64-n {
			return fmt.Errorf("count %d of value %d out of range", n, v)
		}
		if err := h.RecordValues(v, n); err != nil {
			return err
		}
	}
	return nil
}

// MergeResults adds up the results of the shards of one run (Result.Shard
// set, one result per shard, all of them) into the Result one process
// running the whole fleet would report:
//
//   - counts are summed: operations and their errors, errors by kind,
//     enrolled devices, offered hits, CPU, and the timeline's completions
//     and errors per interval;
//   - latency distributions are the shards' HDR histograms added bucket by
//     bucket (OpStats.Histogram), their percentiles read from the sum:
//     exact, not averaged;
//   - a rollout's compliance curve adds the shards' compliant devices at
//     every point (a shard whose story ended earlier counts its last
//     value), over the whole fleet;
//   - memory is the processes' together (heap, max RSS), bytes per device
//     that over the enrolled devices; wall time and the start are the
//     longest and the earliest; Partial if any shard was.
//
// The timeline's p99 per interval cannot be merged from the shards'
// p99s: the merged one is their maximum, an upper bound (the charts' line,
// not a verdict). Intervals are matched by their offset from each shard's
// own start.
//
// It refuses, wrapping ErrMerge, results of different runs (schema,
// workload, scenario, target, fleet size, seed, pacing, shard count),
// unsharded results, a shard given twice, and missing shards, naming them.
func MergeResults(results []*Result) (*Result, error) {
	if len(results) == 0 {
		return nil, fmt.Errorf("%w: no results", ErrMerge)
	}
	if err := checkShards(results); err != nil {
		return nil, err
	}
	first := results[0]
	out := &Result{Schema: first.Schema, Workload: first.Workload, Target: first.Target, Devices: first.Devices,
		Seed: first.Seed, Scenario: first.Scenario, Pacing: first.Pacing, Started: first.Started,
		Ops: map[string]*OpStats{}, Errors: map[string]int64{}, Shards: len(results)}
	hists := map[string]*hdr.Histogram{}
	var rates = map[string]float64{}
	var heapCounted bool
	for _, r := range results {
		if r.Started.Before(out.Started) {
			out.Started = r.Started
		}
		out.Wall = max(out.Wall, r.Wall)
		out.Partial = out.Partial || r.Partial
		out.Offered += r.Offered
		out.Enrolled += r.Enrolled
		out.HeapBytes += r.HeapBytes
		out.MaxRSSBytes += r.MaxRSSBytes
		if r.BytesPerDevice > 0 {
			heapCounted = true
		}
		for k, n := range r.Errors {
			if n < 0 {
				return nil, fmt.Errorf("%w: shard %s: errors %q: negative count %d", ErrMerge, r.Shard, k, n)
			}
			out.Errors[k] += n
		}
		out.CPU = addDurations(out.CPU, r.CPU)
		out.CPUBySide = addDurations(out.CPUBySide, r.CPUBySide)
		for name, st := range r.Ops {
			if st == nil {
				continue
			}
			h := hists[name]
			o := out.Ops[name]
			if h == nil {
				h = newOpHistogram(st.Virtual)
				hists[name] = h
				o = &OpStats{Virtual: st.Virtual}
				out.Ops[name] = o
			}
			if o.Virtual != st.Virtual {
				return nil, fmt.Errorf("%w: shard %s: operation %q is on the virtual clock in one result and not in another", ErrMerge, r.Shard, name)
			}
			if st.Count > 0 && len(st.Histogram) == 0 {
				return nil, fmt.Errorf("%w: shard %s: operation %q has %d samples but no histogram (a result from before histograms were kept)", ErrMerge, r.Shard, name, st.Count)
			}
			before := h.TotalCount()
			if err := importHistogram(h, st.Histogram); err != nil {
				return nil, fmt.Errorf("%w: shard %s: operation %q: histogram: %w", ErrMerge, r.Shard, name, err)
			}
			if n := h.TotalCount() - before; n != st.Count {
				// The pairs must account for Count: else the figures
				// would come from a histogram other than the one read.
				return nil, fmt.Errorf("%w: shard %s: operation %q: histogram holds %d samples, not its count %d", ErrMerge, r.Shard, name, n, st.Count)
			}
			o.Errors += st.Errors
			rates[name] += st.Rate
		}
		out.Timeline = addTimeline(out.Timeline, r.Timeline)
	}
	for name, h := range hists {
		st := stats(h)
		st.Errors, st.Virtual = out.Ops[name].Errors, out.Ops[name].Virtual
		// The shards ran side by side: their rates add up.
		st.Rate = rates[name]
		if st.Virtual {
			st.Rate = 0
		}
		out.Ops[name] = st
	}
	if heapCounted && out.Enrolled > 0 {
		var heap float64
		for _, r := range results {
			heap += r.BytesPerDevice * float64(r.Enrolled)
		}
		out.BytesPerDevice = heap / float64(out.Enrolled)
	}
	var err error
	if out.Compliance, err = mergeCompliance(results, out.Devices); err != nil {
		return nil, err
	}
	return out, nil
}

// checkShards checks the results are all the shards of one run.
func checkShards(results []*Result) error {
	shards := make([]*fleet.Shard, len(results))
	for i, r := range results {
		if r == nil {
			return fmt.Errorf("%w: result %d is empty", ErrMerge, i)
		}
		shards[i] = r.Shard
	}
	if err := fleet.CheckSet(shards); err != nil {
		return fmt.Errorf("%w: %w", ErrMerge, err)
	}
	first := results[0]
	for _, r := range results {
		for _, f := range []struct {
			what       string
			have, want any
		}{
			{"schema", r.Schema, first.Schema},
			{"workload", r.Workload, first.Workload},
			{"scenario", r.Scenario, first.Scenario},
			{"target", r.Target, first.Target},
			{"fleet size (devices)", r.Devices, first.Devices},
			{"seed", r.Seed, first.Seed},
			{"pacing", r.Pacing, first.Pacing},
		} {
			if f.have != f.want {
				return fmt.Errorf("%w: shard %s and shard %s differ in %s: %v and %v", ErrMerge, r.Shard, first.Shard, f.what, f.have, f.want)
			}
		}
		if r.Schema != SchemaVersion {
			return fmt.Errorf("%w: shard %s has schema %d, this build reads %d", ErrMerge, r.Shard, r.Schema, SchemaVersion)
		}
		if lo, hi := r.Shard.Range(r.Devices); r.ShardDevices != hi-lo {
			return fmt.Errorf("%w: shard %s says it held %d devices; shard %s of %d holds %d", ErrMerge, r.Shard, r.ShardDevices, r.Shard, r.Devices, hi-lo)
		}
	}
	return nil
}

func addDurations(to, from map[string]Duration) map[string]Duration {
	if len(from) == 0 {
		return to
	}
	if to == nil {
		to = map[string]Duration{}
	}
	for k, d := range from {
		to[k] += d
	}
	return to
}

// addTimeline adds the intervals of from to to, matched by offset.
func addTimeline(to, from []Interval) []Interval {
	at := map[Duration]int{}
	for i, iv := range to {
		at[iv.At] = i
	}
	for _, iv := range from {
		i, ok := at[iv.At]
		if !ok {
			to = append(to, Interval{At: iv.At, Ops: map[string]int64{}, P99: map[string]Duration{}})
			i = len(to) - 1
			at[iv.At] = i
		}
		m := &to[i]
		for op, n := range iv.Ops {
			m.Ops[op] += n
		}
		for op, d := range iv.P99 {
			m.P99[op] = max(m.P99[op], d)
		}
		m.Errors += iv.Errors
	}
	sort.Slice(to, func(i, j int) bool { return to[i].At < to[j].At })
	return to
}

// mergeCompliance adds the shards' compliance curves: at every day any
// shard has a point, the compliant devices of each shard then (the last
// point at or before it: a curve never falls and a shard's last point is
// its end), over the whole fleet.
func mergeCompliance(results []*Result, devices int) ([]CompliancePoint, error) {
	var days []float64
	for _, r := range results {
		prev := math.Inf(-1)
		for _, p := range r.Compliance {
			if p.Day < prev || p.Devices < 0 || p.Devices > r.ShardDevices {
				return nil, fmt.Errorf("%w: shard %s: compliance curve is not a curve (day %v, %d devices)", ErrMerge, r.Shard, p.Day, p.Devices)
			}
			if p.Compliant > 0 && p.Devices == 0 {
				return nil, fmt.Errorf("%w: shard %s: compliance curve without device counts (a result from before they were kept)", ErrMerge, r.Shard)
			}
			prev = p.Day
			days = append(days, p.Day)
		}
	}
	if len(days) == 0 {
		return nil, nil
	}
	slices.Sort(days)
	days = slices.Compact(days)
	out := make([]CompliancePoint, len(days))
	for i, day := range days {
		n := 0
		for _, r := range results {
			c := r.Compliance
			j := sort.Search(len(c), func(j int) bool { return c[j].Day > day })
			if j > 0 {
				n += c[j-1].Devices
			}
		}
		out[i] = CompliancePoint{Day: day, Devices: n}
		if devices > 0 {
			out[i].Compliant = float64(n) / float64(devices)
		}
	}
	return out, nil
}

// shardOf is the Result.Shard of a run of w's fleet: nil for the whole
// fleet.
func shardOf(s fleet.Shard) *fleet.Shard {
	if !s.Sharded() {
		return nil
	}
	return &s
}

// complianceDay is a curve point's day: d in virtual days.
func complianceDay(d time.Duration) float64 { return d.Hours() / 24 }

// MaxResultSize bounds a result file ReadResult reads: a run's Result,
// histograms and a day's timeline included, is well under a megabyte.
const MaxResultSize = 64 << 20

// ReadResult reads a Result as `mdmsim bench --json` prints it (its last
// line) or `--out` writes it (alone), refusing a larger body than
// MaxResultSize, a schema newer than this build's, and text that is not a
// Result, with errors that say which.
func ReadResult(r io.Reader) (*Result, error) {
	text, err := lastjson.Read(r, MaxResultSize)
	if errors.Is(err, lastjson.ErrTooLarge) {
		return nil, fmt.Errorf("bench: a result is at most %d bytes; this one is larger", MaxResultSize)
	}
	if err != nil {
		return nil, err
	}
	var res Result
	if err := json.Unmarshal(text, &res); err != nil {
		return nil, fmt.Errorf("bench: not a bench result: %w", err)
	}
	switch {
	case res.Schema > SchemaVersion:
		return nil, fmt.Errorf("bench: schema %d is newer than this mdmsim reads (%d)", res.Schema, SchemaVersion)
	case res.Schema < 1:
		return nil, fmt.Errorf("bench: schema %d: not a bench result's (1 to %d)", res.Schema, SchemaVersion)
	}
	return &res, nil
}
