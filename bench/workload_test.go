package bench_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

func TestWorkloads(t *testing.T) {
	t.Parallel()
	for _, target := range []string{targets.Null, targets.Embedded} {
		for _, name := range bench.Workloads {
			if name == bench.WorkloadRollout {
				continue // days of virtual time: rollout_test.go
			}
			t.Run(target+"/"+name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				w, err := scenarios.NewWorld(scenarios.WorldConfig{Seed: 2})
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				tgt, err := targets.Open(ctx, target, w, targets.Options{Mint: true})
				if err != nil {
					t.Fatal(err)
				}
				defer tgt.Close()
				run := bench.Config{Model: bench.Closed, Workers: 4}
				if name == bench.WorkloadCheckin {
					run = bench.Config{Rate: 200, Duration: 200 * time.Millisecond, MaxInFlight: 8}
				}
				res, err := bench.RunWorkload(ctx, w, tgt, bench.Workload{Name: name, Devices: 6, Seed: 4, Batch: 4, Rounds: 2,
					Wait: 30 * time.Second, Run: run})
				if err != nil {
					t.Fatal(err)
				}
				// Dropped and late hits depend on how busy the machine is: only
				// their sum with the operations run is checked.
				for k, n := range res.Errors {
					if k != bench.KindDropped && k != bench.KindLate {
						t.Errorf("errors: %s=%d", k, n)
					}
				}
				if name == bench.WorkloadCheckin && res.Ops["checkin"] != nil && res.Ops["checkin"].Count+res.Errors[bench.KindDropped] != res.Offered {
					t.Errorf("checkin: ran %d + dropped %d != offered %d", res.Ops["checkin"].Count, res.Errors[bench.KindDropped], res.Offered)
				}
				if res.Workload != name || res.Target != tgt.Name() || res.Devices != 6 || res.Enrolled != 6 {
					t.Errorf("result: workload %q target %q devices %d enrolled %d", res.Workload, res.Target, res.Devices, res.Enrolled)
				}
				want := map[string]int64{bench.WorkloadEnroll: 6, bench.WorkloadCommands: 12}[name]
				op := map[string]string{bench.WorkloadEnroll: "enroll", bench.WorkloadCheckin: "checkin",
					bench.WorkloadPush: "push", bench.WorkloadCommands: "command"}[name]
				if name == bench.WorkloadPush {
					want = 12 // 6 devices, 2 rounds
					if b := res.Ops["batch"]; b == nil || b.Count != 4 {
						t.Errorf("batches: %+v", b)
					}
				}
				st := res.Ops[op]
				if st == nil || st.Count == 0 || (want > 0 && st.Count != want) || st.P50 <= 0 || st.Max < st.P99 {
					t.Fatalf("%s: %+v (want count %d)", op, st, want)
				}
				// BytesPerDevice is not checked: parallel tests share the heap.
				if res.Wall <= 0 || res.MaxRSSBytes == 0 || res.HeapBytes == 0 || len(res.Timeline) == 0 {
					t.Errorf("wall %s, rss %d, heap %d, timeline %d", res.Wall, res.MaxRSSBytes, res.HeapBytes, len(res.Timeline))
				}
			})
		}
	}
}

// gauges follows the levels a GaugeObserver is given.
type gauges struct {
	mu                      sync.Mutex
	maxInFlight, inFlight   int
	enrolled, enrolledCalls int
}

func (g *gauges) Observe(string, time.Duration, error) {}
func (g *gauges) SetInFlight(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight, g.maxInFlight = n, max(g.maxInFlight, n)
}
func (g *gauges) SetEnrolled(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.enrolled = n
	g.enrolledCalls++
}

// A GaugeObserver hears the operations in flight and the devices enrolled
// (the Prometheus gauges of --metrics-listen).
func TestGaugeObserver(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tgt, err := targets.Open(ctx, targets.Null, w, targets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	g := &gauges{}
	_, err = bench.RunWorkload(ctx, w, tgt, bench.Workload{Name: bench.WorkloadEnroll, Devices: 8, Seed: 4,
		Run: bench.Config{Model: bench.Closed, Workers: 2, Observer: g}})
	if err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.enrolled != 8 || g.enrolledCalls < 8 || g.maxInFlight < 1 || g.maxInFlight > 2 || g.inFlight != 0 {
		t.Errorf("gauges: %+v; want 8 enrolled, 1 or 2 in flight at most, 0 at the end", g)
	}
}
