package clock_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/clock"
)

func TestManualFiresInDeadlineOrder(t *testing.T) {
	t.Parallel()
	const n = 2000
	rng := rand.New(rand.NewPCG(1, 2))
	ascending := make([]time.Duration, n)
	shuffled := make([]time.Duration, n)
	for i := range n {
		ascending[i] = time.Duration(i) * time.Second
		shuffled[i] = time.Duration(rng.IntN(500)) * time.Minute // many ties
	}
	descending := slices.Clone(ascending)
	slices.Reverse(descending)
	tests := []struct {
		name   string
		delays []time.Duration
		steps  int // Advance in this many equal steps
	}{
		{"ascending", ascending, 1},
		{"descending", descending, 1},
		{"shuffled with ties", shuffled, 1},
		{"shuffled in steps", shuffled, 37},
		{"all equal", make([]time.Duration, n), 1},
		{"single", []time.Duration{time.Hour}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewManual(start)
			type firing struct {
				i   int
				now time.Time
			}
			var have []firing
			for i, d := range tt.delays {
				clk.AfterFunc(d, func() { have = append(have, firing{i, clk.Now()}) })
			}
			if p := clk.Pending(); p != len(tt.delays) {
				t.Fatalf("Pending() = %d, want %d", p, len(tt.delays))
			}
			last := slices.Max(tt.delays)
			for range tt.steps {
				clk.Advance(last/time.Duration(tt.steps) + 1)
			}
			// Deadline order; equal deadlines in the order they were armed.
			want := make([]int, len(tt.delays))
			for i := range want {
				want[i] = i
			}
			slices.SortStableFunc(want, func(a, b int) int { return int(tt.delays[a] - tt.delays[b]) })
			if len(have) != len(want) {
				t.Fatalf("fired %d timers, want %d", len(have), len(want))
			}
			for k, f := range have {
				if f.i != want[k] {
					t.Fatalf("firing %d was timer %d, want %d", k, f.i, want[k])
				}
				if deadline := start.Add(tt.delays[f.i]); !f.now.Equal(deadline) {
					t.Fatalf("Now() in timer %d = %v, want its deadline %v", f.i, f.now, deadline)
				}
			}
			if p := clk.Pending(); p != 0 {
				t.Errorf("Pending() after Advance = %d, want 0", p)
			}
		})
	}
}

func TestManualCallbacksArmTimersDuringAdvance(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(start)
	var have []string
	record := func(name string) { have = append(have, name+"@"+clk.Since(start).String()) }
	clk.AfterFunc(time.Minute, func() {
		record("a")
		clk.AfterFunc(time.Minute, func() {
			record("b")
			clk.AfterFunc(0, func() {
				record("c")
				clk.AfterFunc(10*time.Minute, func() { record("d") })
			})
		})
	})
	clk.Advance(5 * time.Minute)
	if want := []string{"a@1m0s", "b@2m0s", "c@2m0s"}; !slices.Equal(have, want) {
		t.Errorf("after Advance(5m) fired %v, want %v", have, want)
	}
	if have := clk.Since(start); have != 5*time.Minute {
		t.Errorf("Now() after Advance(5m) = start+%v, want start+5m", have)
	}
	if next, ok := clk.Next(); !ok || !next.Equal(start.Add(12*time.Minute)) {
		t.Errorf("Next() = %v, %v, want start+12m, true", next, ok)
	}
	if !clk.AdvanceToNext() {
		t.Fatal("AdvanceToNext() = false, want true")
	}
	if want := "d@12m0s"; have[len(have)-1] != want {
		t.Errorf("AdvanceToNext fired %v, want %s", have[len(have)-1], want)
	}
	if clk.AdvanceToNext() {
		t.Error("AdvanceToNext() on an empty clock = true, want false")
	}
}

// TestManualCallbackUsesClock makes sure a callback may call back into the
// clock: were the lock held during callbacks, this would deadlock.
func TestManualCallbackUsesClock(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(start)
	var (
		victimFired, movedFired, innerFired bool
		seen                                time.Time
	)
	victim := clk.AfterFunc(3*time.Minute, func() { victimFired = true })
	moved := clk.AfterFunc(2*time.Minute, func() { movedFired = true })
	clk.AfterFunc(time.Minute, func() {
		seen = clk.Now()
		_ = clk.Pending()
		_, _ = clk.Next()
		if !victim.Stop() {
			t.Error("Stop() on a pending timer from a callback = false, want true")
		}
		moved.Reset(time.Hour)
		tm := clk.NewTimer(0)
		<-tm.C()
		clk.AfterFunc(time.Second, func() { innerFired = true })
		clk.Advance(time.Second) // moving the clock from a callback is allowed too
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		clk.Advance(10 * time.Minute)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Advance did not return: a callback using the clock deadlocked")
	}
	if want := start.Add(time.Minute); !seen.Equal(want) {
		t.Errorf("Now() in callback = %v, want %v", seen, want)
	}
	if victimFired {
		t.Error("a timer stopped by a callback fired")
	}
	if movedFired {
		t.Error("a timer reset past the window by a callback fired")
	}
	if !innerFired {
		t.Error("a timer armed and reached by a nested Advance did not fire")
	}
	if have := clk.Pending(); have != 1 {
		t.Errorf("Pending() = %d, want 1 (the reset timer)", have)
	}
}

func TestManualNewTimerReceivesDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want time.Duration // after start
	}{
		{time.Nanosecond, time.Nanosecond},
		{time.Minute, time.Minute},
		{14 * 24 * time.Hour, 14 * 24 * time.Hour},
		{0, 0},          // due at once: receives Now without a step
		{-time.Hour, 0}, // likewise
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			t.Parallel()
			clk := clock.NewManual(start)
			tm := clk.NewTimer(tt.d)
			if tt.d > 0 {
				clk.Advance(tt.d + time.Hour) // overshoot: the value is the deadline, not Now
			}
			select {
			case have := <-tm.C():
				if want := start.Add(tt.want); !have.Equal(want) {
					t.Errorf("NewTimer(%v) received %v, want %v", tt.d, have, want)
				}
			default:
				t.Fatalf("NewTimer(%v) has no value after its deadline", tt.d)
			}
		})
	}
}

func TestManualSetAndNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		set         time.Duration // Set(start + set) after Advance(time.Hour)
		wantNow     time.Duration
		wantFired   int
		wantPending int
		wantNext    time.Duration
	}{
		{"forward past two", 3 * time.Hour, 3 * time.Hour, 2, 1, 4 * time.Hour},
		{"forward onto a deadline", 2 * time.Hour, 2 * time.Hour, 2, 1, 4 * time.Hour},
		{"same time", time.Hour, time.Hour, 1, 2, 2 * time.Hour},
		{"backwards stays", 0, time.Hour, 1, 2, 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewManual(start)
			fired := 0
			for _, d := range []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour} {
				clk.AfterFunc(d, func() { fired++ })
			}
			clk.Advance(time.Hour)
			clk.Set(start.Add(tt.set))
			if have := clk.Since(start); have != tt.wantNow {
				t.Errorf("Now() = start+%v, want start+%v", have, tt.wantNow)
			}
			if fired != tt.wantFired {
				t.Errorf("fired %d, want %d", fired, tt.wantFired)
			}
			if have := clk.Pending(); have != tt.wantPending {
				t.Errorf("Pending() = %d, want %d", have, tt.wantPending)
			}
			next, ok := clk.Next()
			if want := start.Add(tt.wantNext); !ok || !next.Equal(want) {
				t.Errorf("Next() = %v, %v, want %v, true", next, ok, want)
			}
		})
	}
}

func TestManualAdvanceZeroFiresDueCallbacks(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(start)
	fired := false
	clk.AfterFunc(0, func() { fired = true })
	if fired {
		t.Fatal("AfterFunc(0) ran before the clock was stepped")
	}
	clk.Advance(0)
	if !fired {
		t.Error("AfterFunc(0) did not run on Advance(0)")
	}
	if have := clk.Now(); !have.Equal(start) {
		t.Errorf("Now() = %v, want %v", have, start)
	}
}

func TestManualBlockUntil(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		arm     int // timers armed by background goroutines
		n       int
		timeout time.Duration
		want    error
	}{
		{"already there", 0, 0, time.Second, nil},
		{"waits for goroutines", 3, 3, 5 * time.Second, nil},
		{"fewer than asked", 1, 2, 20 * time.Millisecond, context.DeadlineExceeded},
		{"none armed", 0, 1, 20 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewManual(start)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			var wg sync.WaitGroup
			for i := range tt.arm {
				wg.Go(func() {
					_ = clk.Sleep(ctx, time.Duration(i+1)*time.Minute)
				})
			}
			if have := clk.BlockUntil(ctx, tt.n); !errors.Is(have, tt.want) {
				t.Errorf("BlockUntil(%d) = %v, want %v", tt.n, have, tt.want)
			}
			if tt.want == nil {
				if have := clk.Pending(); have < tt.n {
					t.Errorf("Pending() after BlockUntil(%d) = %d", tt.n, have)
				}
			}
			cancel()
			wg.Wait()
		})
	}
}

// TestManualConcurrentUse gives the race detector timers armed, stopped and
// reset from many goroutines while another goroutine moves the clock.
func TestManualConcurrentUse(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(start)
	stopAdvancing := make(chan struct{})
	advancing := make(chan struct{})
	go func() {
		defer close(advancing)
		for {
			select {
			case <-stopAdvancing:
				return
			default:
				clk.Advance(time.Second)
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				d := time.Duration(i%7+g) * time.Second
				a := clk.AfterFunc(d, func() { _ = clk.Now() })
				b := clk.NewTimer(d)
				if i%3 == 0 {
					a.Stop()
					b.Reset(d)
				}
				_ = clk.Pending()
				b.Stop()
			}
		})
	}
	wg.Wait()
	close(stopAdvancing)
	<-advancing
	for clk.AdvanceToNext() {
	}
	if have := clk.Pending(); have != 0 {
		t.Errorf("Pending() after draining = %d, want 0", have)
	}
}

// BenchmarkManualAfterFunc arms 100 000 timers with scattered deadlines and
// fires them all with one Advance, the shape of a fleet step in a test.
func BenchmarkManualAfterFunc(b *testing.B) {
	const timers = 100_000
	delays := make([]time.Duration, timers)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range delays {
		delays[i] = time.Duration(rng.IntN(14*24*3600)) * time.Second
	}
	f := func() {}
	b.ReportAllocs()
	for b.Loop() {
		clk := clock.NewManual(start)
		for _, d := range delays {
			clk.AfterFunc(d, f)
		}
		clk.Advance(14 * 24 * time.Hour)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/timers, "ns/timer")
}
