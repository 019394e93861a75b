package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/internal/cpuside"
)

// Models of pacing.
const (
	// Open offers operations at a rate whatever the target's speed, as
	// devices arriving on their own do.
	Open = "open"
	// Closed runs Workers loops, each starting the next operation when
	// its previous one ends.
	Closed = "closed"
)

// Defaults of a run.
const (
	DefaultMaxInFlight = 1000
	DefaultWorkers     = 64
	// DefaultLateness is how far behind its schedule an open-model hit
	// may be offered before it counts as late.
	DefaultLateness = 10 * time.Millisecond
)

// Config says how a run offers its work.
type Config struct {
	// Model is Open or Closed.
	Model string
	// Rate (per second), Ramp and Duration make the open model's
	// RatePacer, unless Pacer is set.
	Rate     float64
	Ramp     time.Duration
	Duration time.Duration
	Pacer    Pacer
	// MaxInFlight bounds the open model's outstanding operations (and its
	// workers): a hit due while MaxInFlight are outstanding is counted
	// "dropped" and the schedule goes on.
	MaxInFlight int
	// Workers is the closed model's concurrency. The closed model runs
	// until the workload's operations are done or Duration has passed.
	Workers int
	// Interval is the timeline's resolution (DefaultInterval).
	Interval time.Duration
	// Clock times the run; nil means the wall clock.
	Clock clock.Clock
	// SplitCPU splits the run's CPU time between the simulator, an MDM
	// server in the process and the mock services (Result.CPU), from a
	// CPU profile of the run: for a target in the process. It is skipped
	// when another CPU profile is running.
	SplitCPU bool
	// Observer, if set, sees every operation as it completes (live
	// metrics for a long run).
	Observer Observer
}

// Validate checks a config and fills defaults.
func (c *Config) Validate() error {
	switch c.Model {
	case "":
		c.Model = Closed
		if c.Rate > 0 || c.Pacer != nil {
			c.Model = Open
		}
	case Open, Closed:
	default:
		return fmt.Errorf("bench: model %q: want open or closed", c.Model)
	}
	if c.Rate < 0 || c.Ramp < 0 || c.Duration < 0 || c.MaxInFlight < 0 || c.Workers < 0 {
		return errors.New("bench: rate, ramp, duration, max-in-flight and workers must not be negative")
	}
	if c.Model == Open && c.Pacer == nil && c.Rate == 0 {
		return errors.New("bench: the open model needs a rate")
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	return nil
}

// Pacing is how the config describes itself in a Result.
func (c *Config) pacing() Pacing {
	if c.Model == Open {
		return Pacing{Model: Open, Rate: c.Rate, Ramp: Duration(c.Ramp), Duration: Duration(c.Duration), MaxInFlight: c.MaxInFlight}
	}
	return Pacing{Model: Closed, Workers: c.Workers, Duration: Duration(c.Duration)}
}

// An Op is one operation of a workload: its i-th, from 0. The runner times
// it and records it under the workload's name; it may record more through
// rec.
type Op func(ctx context.Context, i uint64, rec *Recorder) error

// Ops is what a Runner runs: a name for the operation, how many there are
// (0: as many as the pacing offers) and the operation.
type Ops struct {
	Name  string
	Total uint64
	Op    Op
}

// Run runs ops under the pacing cfg describes and returns what it
// measured: Pacing, Started, Wall, Ops, Timeline, Errors, CPU, HeapBytes
// and MaxRSSBytes. Cancelling ctx ends the run early with Partial set.
// The caller fills in what the workload knows (Workload, Target, Devices,
// Seed, BytesPerDevice).
func Run(ctx context.Context, cfg Config, ops Ops) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if ops.Op == nil || ops.Name == "" {
		panic("bench: Run needs an op and its name")
	}
	if cfg.Model == Closed && ops.Total == 0 && cfg.Duration == 0 {
		return nil, errors.New("bench: the closed model needs a duration or a bounded workload")
	}
	clk := cfg.Clock
	var split *cpuProfile
	if cfg.SplitCPU {
		split = startSplit()
	}
	// The pacing runs on the caller's goroutine: the benchmark's, so the
	// simulator's side.
	cpuside.Set(cpuside.Simulator)
	cpu0, _ := usage()
	rec := NewRecorder(clk, cfg.Interval)
	if cfg.Observer != nil {
		rec.Observe(cfg.Observer)
	}
	res := &Result{Schema: SchemaVersion, Pacing: cfg.pacing(), Started: time.Now()}
	gauges, _ := cfg.Observer.(GaugeObserver)
	var inFlight atomic.Int64
	do := func(ctx context.Context, i uint64) {
		if gauges != nil {
			gauges.SetInFlight(int(inFlight.Add(1)))
			defer func() { gauges.SetInFlight(int(inFlight.Add(-1))) }()
		}
		t0 := clk.Now()
		err := ops.Op(ctx, i, rec)
		if err != nil {
			rec.Error(ops.Name, err)
			return
		}
		rec.Record(ops.Name, clk.Since(t0))
	}
	var offered uint64
	if cfg.Model == Open {
		offered = runOpen(ctx, cfg, ops, rec, do)
	} else {
		runClosed(ctx, cfg, ops, do)
	}
	wall := clk.Since(rec.start)
	rec.fill(res, wall)
	res.Wall = Duration(wall)
	res.Offered = int64(offered)
	res.Partial = ctx.Err() != nil
	cpu1, rss := usage()
	res.CPU = map[string]Duration{"process": Duration(cpu1 - cpu0)}
	if split != nil {
		res.CPUBySide = split.stop(cpu1 - cpu0)
	}
	res.MaxRSSBytes = rss
	res.HeapBytes = HeapInUse()
	return res, nil
}

// HeapInUse collects garbage and returns the live heap, in bytes.
func HeapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func runClosed(ctx context.Context, cfg Config, ops Ops, do func(context.Context, uint64)) {
	clk := cfg.Clock
	start := clk.Now()
	var next atomic.Uint64
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() {
			cpuside.Set(cpuside.Simulator)
			for ctx.Err() == nil {
				if cfg.Duration > 0 && clk.Since(start) >= cfg.Duration {
					return
				}
				i := next.Add(1) - 1
				if ops.Total > 0 && i >= ops.Total {
					return
				}
				do(ctx, i)
			}
		})
	}
	wg.Wait()
}

// dueer is a pacer that can say when a hit was due, to count late ones.
type dueer interface{ due(n uint64) time.Duration }

// runOpen offers hits on the pacer's schedule to MaxInFlight workers and
// returns how many it offered. The schedule never waits for the workers:
// a hit due while all are busy is dropped and counted.
func runOpen(ctx context.Context, cfg Config, ops Ops, rec *Recorder, do func(context.Context, uint64)) uint64 {
	clk := cfg.Clock
	pacer := cfg.Pacer
	if pacer == nil {
		pacer = RatePacer{Rate: cfg.Rate, Ramp: cfg.Ramp, Duration: cfg.Duration}
	}
	due, _ := pacer.(dueer)
	work := make(chan uint64, cfg.MaxInFlight)
	var inFlight atomic.Int64
	var wg sync.WaitGroup
	for range cfg.MaxInFlight {
		wg.Go(func() {
			cpuside.Set(cpuside.Simulator)
			for i := range work {
				do(ctx, i)
				inFlight.Add(-1)
			}
		})
	}
	var hits, issued, dropped, late uint64
	start := clk.Now()
	for ctx.Err() == nil && (ops.Total == 0 || issued < ops.Total) {
		elapsed := clk.Since(start)
		wait, stop := pacer.Pace(elapsed, hits)
		if stop {
			break
		}
		if wait > 0 {
			if clk.Sleep(ctx, wait) != nil {
				break
			}
			continue
		}
		if due != nil && elapsed-due.due(hits) > DefaultLateness {
			late++
		}
		hits++
		if inFlight.Load() >= int64(cfg.MaxInFlight) {
			dropped++
			continue
		}
		inFlight.Add(1)
		work <- issued
		issued++
	}
	close(work)
	wg.Wait()
	rec.Count(KindDropped, int64(dropped))
	rec.Count(KindLate, int64(late))
	return hits
}
