package bench_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/bench/report"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

// runShard runs wl (one shard of it, or all) against a fresh target of its
// own, as a shard's process does, and returns its Result as it reads back
// from the JSON the process writes.
func runShard(t *testing.T, target string, wl bench.Workload, virtual bool) *bench.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a bound for a hang only
	defer cancel()
	wc := scenarios.WorldConfig{Seed: wl.Seed}
	if virtual {
		clk := clock.NewDiscrete(rolloutStart)
		defer clk.Close()
		wc.Clock = clk
	}
	w, err := scenarios.NewWorld(wc)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tgt, err := targets.Open(ctx, target, w, targets.Options{Mint: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	res, err := bench.RunWorkload(ctx, w, tgt, wl)
	if err != nil {
		t.Fatalf("shard %v: %v", wl.Shard, err)
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back bench.Result
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	return &back
}

// runSharded runs wl as n shards, in reverse order (merging does not
// care), and merges them.
func runSharded(t *testing.T, target string, wl bench.Workload, n int, virtual bool) (*bench.Result, []*bench.Result) {
	t.Helper()
	var parts []*bench.Result
	for i := n - 1; i >= 0; i-- {
		s := wl
		s.Shard = fleet.Shard{Index: i, Count: n}
		parts = append(parts, runShard(t, target, s, virtual))
	}
	merged, err := bench.MergeResults(parts)
	if err != nil {
		t.Fatal(err)
	}
	return merged, parts
}

// bucketSum adds histograms' [value, count] pairs by value.
func bucketSum(hs ...[][2]int64) map[int64]int64 {
	m := map[int64]int64{}
	for _, h := range hs {
		for _, p := range h {
			m[p[0]] += p[1]
		}
	}
	return m
}

// TestMergeShardsEnroll: an enrollment storm against the null target run
// as four shards, merged, counts what one process counts, and its latency
// histogram is the shards' added up bucket by bucket.
func TestMergeShardsEnroll(t *testing.T) {
	t.Parallel()
	wl := bench.Workload{Name: bench.WorkloadEnroll, Devices: 30, Seed: 5, Run: bench.Config{Model: bench.Closed, Workers: 4}}
	whole := runShard(t, targets.Null, wl, false)
	merged, parts := runSharded(t, targets.Null, wl, 4, false)
	if merged.Devices != 30 || merged.Enrolled != whole.Enrolled || merged.Enrolled != 30 || merged.Shards != 4 || merged.Shard != nil {
		t.Errorf("merged: devices %d enrolled %d (one process: %d) shards %d shard %v", merged.Devices, merged.Enrolled, whole.Enrolled, merged.Shards, merged.Shard)
	}
	m, w := merged.Ops["enroll"], whole.Ops["enroll"]
	if m == nil || w == nil || m.Count != w.Count || m.Errors != w.Errors || m.Count != 30 {
		t.Fatalf("enroll: merged %+v, one process %+v", m, w)
	}
	var hs [][][2]int64
	var sum int64
	for _, p := range parts {
		hs = append(hs, p.Ops["enroll"].Histogram)
		sum += p.Ops["enroll"].Count
		if p.ShardDevices < 7 || p.ShardDevices > 8 {
			t.Errorf("shard %v held %d devices", p.Shard, p.ShardDevices)
		}
	}
	if have, want := bucketSum(m.Histogram), bucketSum(hs...); !reflect.DeepEqual(have, want) || sum != m.Count {
		t.Errorf("merged histogram %v, want the shards' sum %v (counts %d and %d)", have, want, m.Count, sum)
	}
	if m.Min > m.P50 || m.P50 > m.P99 || m.P99 > m.Max || m.Max <= 0 {
		t.Errorf("merged percentiles out of order: %+v", m)
	}
	if !reflect.DeepEqual(merged.Errors, whole.Errors) {
		t.Errorf("errors: merged %v, one process %v", merged.Errors, whole.Errors)
	}
	var page strings.Builder
	if err := report.WriteHTML(&page, merged); err != nil || !strings.Contains(page.String(), "4 processes, merged") {
		t.Errorf("the merged HTML page: %v; says shards: %v", err, strings.Contains(page.String(), "merged"))
	}
	var tl int64
	for _, iv := range merged.Timeline {
		tl += iv.Ops["enroll"]
	}
	if tl != 30 {
		t.Errorf("the merged timeline counts %d enrollments, want 30", tl)
	}
}

// TestMergeShardsRollout: a legacy rollout on the discrete-event clock,
// as four shards against four embedded stacks, merged, is the one-process
// run's verdict: devices, reasons, the time-to-compliant histogram bucket
// by bucket and the compliance curve's points.
func TestMergeShardsRollout(t *testing.T) {
	t.Parallel()
	ro := legacy48h
	pop := fleet.DefaultPopulation()
	ro.Population = &pop
	wl := bench.Workload{Name: bench.WorkloadRollout, Devices: 24, Seed: 7, Rollout: ro}
	whole := runShard(t, targets.Embedded, wl, true)
	merged, _ := runSharded(t, targets.Embedded, wl, 4, true)
	m, w := merged.Ops[bench.OpTimeToCompliant], whole.Ops[bench.OpTimeToCompliant]
	if m == nil || w == nil || m.Count != w.Count || m.Errors != w.Errors || m.Count+m.Errors != 24 {
		t.Fatalf("time-to-compliant: merged %+v, one process %+v", m, w)
	}
	if !reflect.DeepEqual(bucketSum(m.Histogram), bucketSum(w.Histogram)) || m.P50 != w.P50 || m.Max != w.Max {
		t.Errorf("time-to-compliant histogram: merged %v, one process %v", m.Histogram, w.Histogram)
	}
	if !reflect.DeepEqual(merged.Errors, whole.Errors) || merged.Enrolled != whole.Enrolled {
		t.Errorf("reasons: merged %v (%d enrolled), one process %v (%d)", merged.Errors, merged.Enrolled, whole.Errors, whole.Enrolled)
	}
	// The one process's curve points are all in the merged one, with the
	// same devices.
	at := map[float64]int{}
	for _, p := range merged.Compliance {
		at[p.Day] = p.Devices
	}
	for _, p := range whole.Compliance {
		if n, ok := at[p.Day]; ok && n != p.Devices {
			t.Errorf("compliance at day %v: merged %d devices, one process %d", p.Day, n, p.Devices)
		}
	}
	if a, b := merged.Compliance[len(merged.Compliance)-1], whole.Compliance[len(whole.Compliance)-1]; a.Devices != b.Devices || a.Compliant != b.Compliant {
		t.Errorf("compliance ends at %+v merged, %+v in one process", a, b)
	}
}

// TestMergeRefuses: results of different runs, a shard twice or missing,
// an unsharded result and a histogram no run writes are refused, saying
// which.
func TestMergeRefuses(t *testing.T) {
	t.Parallel()
	shard := func(i, n int, mod func(*bench.Result)) *bench.Result {
		s := fleet.Shard{Index: i, Count: n}
		lo, hi := s.Range(10)
		r := &bench.Result{Schema: bench.SchemaVersion, Workload: "enroll", Target: "null", Devices: 10, Seed: 1,
			Shard: &s, ShardDevices: hi - lo, Ops: map[string]*bench.OpStats{
				"enroll": {Count: 2, Histogram: [][2]int64{{100, 1}, {2000, 1}}}}}
		if mod != nil {
			mod(r)
		}
		return r
	}
	good := []*bench.Result{shard(0, 2, nil), shard(1, 2, nil)}
	if r, err := bench.MergeResults(good); err != nil || r.Ops["enroll"].Count != 4 || r.Ops["enroll"].Max != bench.Duration(2*time.Millisecond) {
		t.Fatalf("two good shards: %+v, %v", r, err)
	}
	for _, c := range []struct {
		name    string
		results []*bench.Result
		want    string
	}{
		{"none", nil, "no results"},
		{"seed", []*bench.Result{shard(0, 2, nil), shard(1, 2, func(r *bench.Result) { r.Seed = 2 })}, "seed"},
		{"workload", []*bench.Result{shard(0, 2, nil), shard(1, 2, func(r *bench.Result) { r.Workload = "checkin" })}, "workload"},
		{"scenario", []*bench.Result{shard(0, 2, nil), shard(1, 2, func(r *bench.Result) { r.Scenario = "ddm-deadline" })}, "scenario"},
		{"size", []*bench.Result{shard(0, 2, nil), shard(1, 2, func(r *bench.Result) { r.Devices = 11 })}, "fleet size"},
		{"count", []*bench.Result{shard(0, 2, nil), shard(1, 3, nil)}, "shard count"},
		{"twice", []*bench.Result{shard(0, 2, nil), shard(0, 2, nil)}, "given twice"},
		{"missing", []*bench.Result{shard(0, 3, nil), shard(2, 3, nil)}, "missing 1 shards of 3, [1] first"},
		{"huge count", []*bench.Result{shard(0, 1<<40, nil)}, "missing 1099511627775 shards"},
		{"unsharded", []*bench.Result{shard(0, 2, func(r *bench.Result) { r.Shard = nil })}, "not a shard"},
		{"held", []*bench.Result{shard(0, 2, nil), shard(1, 2, func(r *bench.Result) { r.ShardDevices = 9 })}, "held 9 devices"},
		{"no histogram", []*bench.Result{shard(0, 2, nil), shard(1, 2, func(r *bench.Result) { r.Ops["enroll"].Histogram = nil })}, "no histogram"},
		{"short histogram", []*bench.Result{shard(0, 2, nil), shard(1, 2, func(r *bench.Result) { r.Ops["enroll"].Count = 3 })}, "holds 2 samples, not its count 3"},
		{"value", []*bench.Result{shard(0, 2, nil), shard(1, 2, func(r *bench.Result) { r.Ops["enroll"].Histogram[0][0] = 1 << 60 })}, "outside"},
		{"negative", []*bench.Result{shard(0, 2, nil), shard(1, 2, func(r *bench.Result) { r.Ops["enroll"].Histogram[0][1] = -5 })}, "out of range"},
		{"curve", []*bench.Result{shard(0, 2, nil), shard(1, 2, func(r *bench.Result) {
			r.Compliance = []bench.CompliancePoint{{Day: 1, Devices: 2, Compliant: 0.4}, {Day: 0.5, Devices: 1, Compliant: 0.2}}
		})}, "not a curve"},
	} {
		_, err := bench.MergeResults(c.results)
		if !errors.Is(err, bench.ErrMerge) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: have %v, want an ErrMerge saying %q", c.name, err, c.want)
		}
	}
}

// TestMergeEmptyShards: with more shards than devices, the empty shards
// say so and merge into the whole.
func TestMergeEmptyShards(t *testing.T) {
	t.Parallel()
	wl := bench.Workload{Name: bench.WorkloadEnroll, Devices: 3, Seed: 5, Run: bench.Config{Model: bench.Closed, Workers: 2}}
	merged, parts := runSharded(t, targets.Null, wl, 5, false)
	empty := 0
	for _, p := range parts {
		if p.ShardDevices == 0 {
			empty++
		}
	}
	if empty != 2 || merged.Enrolled != 3 || merged.Ops["enroll"].Count != 3 {
		t.Errorf("%d empty shards; merged enrolled %d, enrollments %s", empty, merged.Enrolled, fmt.Sprint(merged.Ops["enroll"]))
	}
}

func TestReadResult(t *testing.T) {
	t.Parallel()
	ok := `{"schema":1,"workload":"enroll","devices":4,"seed":1,"shard":{"index":1,"count":2},"shard_devices":2,` +
		`"ops":{"enroll":{"count":1,"histogram":[[250,1]]}}}`
	for _, in := range []string{ok, "enrolling 2 devices\nrunning enroll\n" + ok + "\n"} {
		r, err := bench.ReadResult(strings.NewReader(in))
		if err != nil || r.Shard == nil || *r.Shard != (fleet.Shard{Index: 1, Count: 2}) || r.Ops["enroll"].Histogram[0] != [2]int64{250, 1} {
			t.Errorf("ReadResult(%.40q): %+v, %v", in, r, err)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"not json", "not a bench result"},
		{`{"schema":99}`, "schema 99"},
		{`{"schema":0}`, "schema 0"},
		{`{"schema":1,"ops":{"enroll":{"histogram":"x"}}}`, "not a bench result"},
		{strings.Repeat(" ", bench.MaxResultSize+1), "larger"},
	} {
		if _, err := bench.ReadResult(strings.NewReader(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReadResult(%.30q): have %v, want %q", c.in, err, c.want)
		}
	}
}

// FuzzReadMerge: whatever a result file holds, reading and merging it
// gives a Result or an error, never a panic.
func FuzzReadMerge(f *testing.F) {
	f.Add([]byte(`{"schema":1,"workload":"enroll","devices":4,"seed":1,"shard":{"index":0,"count":2},"shard_devices":2,"ops":{"enroll":{"count":1,"histogram":[[250,1]]}},"compliance":[{"day":0,"devices":1,"compliant":0.5}]}`))
	f.Add([]byte(`{"schema":1,"shard":{"index":0,"count":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := bench.ReadResult(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		other := *r
		if r.Shard != nil {
			s := *r.Shard
			s.Index = (s.Index + 1) % max(s.Count, 1)
			other.Shard = &s
		}
		_, _ = bench.MergeResults([]*bench.Result{r, &other})
	})
}
