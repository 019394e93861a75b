package bench

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"
)

// simulate runs a pacer's schedule on a virtual clock: every hit is
// offered the moment the pacer says it is due.
func simulate(p Pacer, limit time.Duration) (hits uint64, at []time.Duration) {
	var now time.Duration
	for now < limit {
		wait, stop := p.Pace(now, hits)
		if stop {
			break
		}
		if wait > 0 {
			now += wait
			continue
		}
		at = append(at, now)
		hits++
	}
	return hits, at
}

func TestRatePacer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		p    RatePacer
		want float64
	}{
		{"constant", RatePacer{Rate: 500, Duration: 10 * time.Second}, 5000},
		{"ramp", RatePacer{Rate: 1000, Ramp: 4 * time.Second, Duration: 10 * time.Second}, 1000*2 + 1000*6},
		{"slow", RatePacer{Rate: 0.5, Duration: 10 * time.Second}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits, at := simulate(tc.p, time.Hour)
			if math.Abs(float64(hits)-tc.want) > 1 {
				t.Errorf("hits: have %d, want %.0f", hits, tc.want)
			}
			if len(at) > 0 && at[len(at)-1] >= tc.p.Duration {
				t.Errorf("last hit at %s, after the duration %s", at[len(at)-1], tc.p.Duration)
			}
			// The achieved rate per virtual second matches Hits.
			for sec := time.Second; sec <= tc.p.Duration; sec += time.Second {
				var n int
				for _, a := range at {
					if a < sec {
						n++
					}
				}
				if want := tc.p.Hits(sec); math.Abs(float64(n)-want) > 1.01 {
					t.Errorf("by %s: have %d hits, want %.1f", sec, n, want)
				}
			}
		})
	}
}

func TestRatePacerRampIsLinear(t *testing.T) {
	t.Parallel()
	p := RatePacer{Rate: 1000, Ramp: 10 * time.Second, Duration: 20 * time.Second}
	_, at := simulate(p, time.Hour)
	perSec := make([]int, 20)
	for _, a := range at {
		perSec[int(a/time.Second)]++
	}
	for s := range 10 {
		want := 1000 * (float64(s) + 0.5) / 10 // the ramp's mean rate over second s
		if math.Abs(float64(perSec[s])-want) > 2 {
			t.Errorf("second %d of the ramp: have %d, want %.0f", s, perSec[s], want)
		}
	}
	for s := 10; s < 20; s++ {
		if math.Abs(float64(perSec[s])-1000) > 1 {
			t.Errorf("second %d: have %d, want 1000", s, perSec[s])
		}
	}
}

func TestPacerFunc(t *testing.T) {
	t.Parallel()
	p := PacerFunc(func(_ time.Duration, hits uint64) (time.Duration, bool) { return 0, hits >= 3 })
	if hits, _ := simulate(p, time.Second); hits != 3 {
		t.Errorf("hits: have %d, want 3", hits)
	}
}

func TestClosedRunsEveryOp(t *testing.T) {
	t.Parallel()
	var ran atomic.Int64
	seen := make([]atomic.Bool, 500)
	res, err := Run(context.Background(), Config{Model: Closed, Workers: 8}, Ops{Name: "fake", Total: 500,
		Op: func(_ context.Context, i uint64, rec *Recorder) error {
			ran.Add(1)
			if seen[i].Swap(true) {
				t.Errorf("op %d ran twice", i)
			}
			if i%100 == 0 {
				return errors.New("boom")
			}
			rec.Record("extra", time.Millisecond)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 500 {
		t.Errorf("ran %d ops, want 500", ran.Load())
	}
	op := res.Ops["fake"]
	if op == nil || op.Count != 495 || op.Errors != 5 || res.Errors[KindOther] != 5 {
		t.Errorf("fake: %+v, errors %v", op, res.Errors)
	}
	if ex := res.Ops["extra"]; ex == nil || ex.Count != 495 || ex.P50 < Duration(time.Millisecond*99/100) || ex.P50 > Duration(time.Millisecond*101/100) {
		t.Errorf("extra: %+v", ex)
	}
	var tl int64
	for _, iv := range res.Timeline {
		tl += iv.Ops["fake"]
	}
	if tl != 495 {
		t.Errorf("timeline counts %d, want 495", tl)
	}
	if res.Pacing.Model != Closed || res.Pacing.Workers != 8 || res.Schema != SchemaVersion {
		t.Errorf("pacing %+v schema %d", res.Pacing, res.Schema)
	}
}

func TestOpenDropsWhenFull(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var started atomic.Int64
	// Every hit is due at once; two slots; the ops block until the
	// schedule is over: the rest must be dropped, not wait.
	p := PacerFunc(func(_ time.Duration, hits uint64) (time.Duration, bool) { return 0, hits >= 50 })
	done := make(chan *Result)
	go func() {
		res, err := Run(context.Background(), Config{Model: Open, Pacer: p, MaxInFlight: 2}, Ops{Name: "fake",
			Op: func(context.Context, uint64, *Recorder) error {
				started.Add(1)
				<-release
				return nil
			}})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	for started.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	res := <-done
	if res.Offered != 50 || res.Ops["fake"].Count+res.Errors[KindDropped] != 50 || res.Errors[KindDropped] < 40 {
		t.Errorf("offered %d, ran %d, dropped %d", res.Offered, res.Ops["fake"].Count, res.Errors[KindDropped])
	}
}

func TestOpenStopsAtTotal(t *testing.T) {
	t.Parallel()
	var ran atomic.Int64
	res, err := Run(context.Background(), Config{Rate: 1e6, MaxInFlight: 4}, Ops{Name: "fake", Total: 100,
		Op: func(context.Context, uint64, *Recorder) error { ran.Add(1); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pacing.Model != Open || ran.Load() != 100 || res.Ops["fake"].Count+res.Errors[KindDropped] < 100 {
		t.Errorf("model %s, ran %d, result %+v", res.Pacing.Model, ran.Load(), res.Ops["fake"])
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{{Model: "x"}, {Model: Open}, {Rate: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if _, err := Run(context.Background(), Config{Model: Closed}, Ops{Name: "x", Op: func(context.Context, uint64, *Recorder) error { return nil }}); err == nil {
		t.Error("closed, unbounded, no duration: no error")
	}
}
