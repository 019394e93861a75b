package clock_test

import (
	"context"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mdmsim/mdmsim/clock"
)

// TestScaledNowExact runs in a synctest bubble, where wall time is fake and
// exact, so virtual time must be exactly factor × the wall time elapsed.
func TestScaledNowExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		factor float64
		wall   time.Duration
		want   time.Duration
	}{
		{1, 20 * time.Millisecond, 20 * time.Millisecond},
		{1.5, 20 * time.Millisecond, 30 * time.Millisecond},
		{1000, 20 * time.Millisecond, 20 * time.Second},
		{100_000, 12096 * time.Millisecond, 14 * 24 * time.Hour},
		{1_000_000, 1209600 * time.Microsecond, 14 * 24 * time.Hour},
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			clk := clock.NewScaled(start, tt.factor)
			if have := clk.Factor(); have != tt.factor {
				t.Errorf("Factor() = %v, want %v", have, tt.factor)
			}
			if have := clk.Now(); !have.Equal(start) {
				t.Errorf("Now() before any wall time = %v, want %v", have, start)
			}
			time.Sleep(tt.wall)
			if have := clk.Since(start); have != tt.want {
				t.Errorf("factor %v after %v of wall time: Since(start) = %v, want %v", tt.factor, tt.wall, have, tt.want)
			}
			if have := clk.Until(start.Add(tt.want)); have != 0 {
				t.Errorf("Until(start+%v) = %v, want 0", tt.want, have)
			}
		})
	}
}

// TestScaledNowFollowsWallTime checks the real thing with bounds taken from
// the wall clock around the measurement, so a loaded machine cannot make it
// flake: however long the sleep really took, virtual time grew by factor ×
// that.
func TestScaledNowFollowsWallTime(t *testing.T) {
	t.Parallel()
	const factor = 1000
	clk := clock.NewScaled(start, factor)
	wall0 := time.Now()
	v0 := clk.Now()
	time.Sleep(20 * time.Millisecond)
	v1 := clk.Now()
	wall := time.Since(wall0)
	have := v1.Sub(v0)
	if low := 20 * time.Millisecond * factor; have < low-time.Microsecond {
		t.Errorf("virtual time over a 20ms sleep = %v, want >= %v", have, low)
	}
	if high := wall * factor; have > high+time.Microsecond {
		t.Errorf("virtual time over %v of wall time = %v, want <= %v", wall, have, high)
	}
}

func TestScaledAfterFuncWallTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		factor float64
		d      time.Duration
	}{
		{1, 5 * time.Millisecond},
		{1000, 10 * time.Second},
		{100_000, time.Hour}, // 36ms of wall time
		{100_000, time.Nanosecond},
		{1_000_000, 14 * 24 * time.Hour}, // 1.2s of wall time
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			t.Parallel()
			clk := clock.NewScaled(start, tt.factor)
			deadline := clk.Now().Add(tt.d)
			at := make(chan time.Time, 1)
			clk.AfterFunc(tt.d, func() { at <- clk.Now() })
			select {
			case have := <-at:
				if have.Before(deadline) {
					t.Errorf("Now() in callback = %v, want >= deadline %v", have, deadline)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("factor %v: AfterFunc(%v) did not fire within 10s of wall time", tt.factor, tt.d)
			}
		})
	}
}

// TestScaledRoundingFloor uses a deadline whose wall-time conversion rounds
// below it (found by search: 7.7 × ceil(v / 7.7) computes to v-1). The clock
// must still read the deadline when the timer fires, and keep reading at
// least that afterwards.
func TestScaledRoundingFloor(t *testing.T) {
	t.Parallel()
	const d = time.Duration(1093728160595278)
	synctest.Test(t, func(t *testing.T) {
		clk := clock.NewScaled(start, 7.7)
		var at time.Time
		tm := clk.NewTimer(d)
		clk.AfterFunc(d, func() { at = clk.Now() })
		have := <-tm.C()
		synctest.Wait()
		want := start.Add(d)
		if have.Before(want) {
			t.Errorf("NewTimer(%v) received %v, want >= %v", d, have, want)
		}
		if at.Before(want) {
			t.Errorf("Now() in AfterFunc(%v) callback = %v, want >= %v", d, at, want)
		}
		if now := clk.Now(); now.Before(want) {
			t.Errorf("Now() after the deadline fired = %v, want >= %v", now, want)
		}
	})
}

// TestScaledFiresInDeadlineOrder arms timers at different moments; their
// deadlines map to absolute wall instants, so they fire in deadline order.
func TestScaledFiresInDeadlineOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		clk := clock.NewScaled(start, 3600) // an hour per wall second
		var (
			mu   sync.Mutex
			have []int
		)
		// Armed one virtual minute apart; deadlines 10h, 9h, ... from each.
		for i := range 10 {
			clk.AfterFunc(time.Duration(10-i)*time.Hour, func() {
				mu.Lock()
				have = append(have, i)
				mu.Unlock()
			})
			time.Sleep(time.Minute / 3600)
		}
		time.Sleep(11 * time.Second)
		synctest.Wait()
		want := []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}
		if !slices.Equal(have, want) {
			t.Errorf("fired %v, want %v", have, want)
		}
	})
}

// TestScaledTimersCostNoGoroutine arms a fleet's worth of timers and checks
// that pending timers do not hold goroutines.
func TestScaledTimersCostNoGoroutine(t *testing.T) {
	t.Parallel()
	const timers = 100_000
	clk := clock.NewScaled(start, 1)
	before := runtime.NumGoroutine()
	var fired atomic.Int64
	all := make([]clock.Timer, 0, 2*timers)
	for i := range timers {
		all = append(all, clk.AfterFunc(time.Hour+time.Duration(i), func() { fired.Add(1) }))
		all = append(all, clk.NewTimer(time.Hour+time.Duration(i)))
	}
	// Other tests run in parallel and start goroutines; a goroutine per
	// timer would add 200 000.
	if grown := runtime.NumGoroutine() - before; grown > 1000 {
		t.Errorf("%d pending timers added %d goroutines", 2*timers, grown)
	}
	for _, tm := range all {
		if !tm.Stop() {
			t.Fatal("Stop() on a timer due in an hour = false, want true")
		}
	}
	if n := fired.Load(); n != 0 {
		t.Errorf("%d stopped timers fired", n)
	}
}

func TestScaledSleepWallTime(t *testing.T) {
	t.Parallel()
	clk := clock.NewScaled(start, 100_000)
	if err := clk.Sleep(context.Background(), time.Hour); err != nil {
		t.Fatalf("Sleep(1h) = %v, want nil", err)
	}
	if have := clk.Since(start); have < time.Hour {
		t.Errorf("Since(start) after Sleep(1h) = %v, want >= 1h", have)
	}
}

// TestScaledConcurrentUse gives the race detector short timers armed,
// stopped and reset from many goroutines while they fire.
func TestScaledConcurrentUse(t *testing.T) {
	t.Parallel()
	clk := clock.NewScaled(start, 1_000_000)
	var wg, fired sync.WaitGroup
	var early, calls atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				d := time.Duration(i%5+g) * time.Millisecond * 100 // up to 1.2s virtual, ~1µs wall
				deadline := clk.Now().Add(d)
				fired.Add(1)
				// The callback must run exactly once and never see a time
				// before its deadline, whatever the other goroutines do.
				clk.AfterFunc(d, func() {
					defer fired.Done()
					calls.Add(1)
					if clk.Now().Before(deadline) {
						early.Add(1)
					}
				})
				a := clk.AfterFunc(d, func() { _ = clk.Now() })
				b := clk.NewTimer(d)
				if i%2 == 0 {
					a.Reset(d)
					b.Stop()
				}
				select {
				case <-b.C():
				default:
				}
				a.Stop()
			}
		})
	}
	wg.Wait()
	fired.Wait()
	if calls.Load() != 8*300 || early.Load() != 0 {
		t.Fatalf("callbacks: %d of %d ran, %d saw Now before their deadline", calls.Load(), 8*300, early.Load())
	}
}

func TestNewScaledRejectsBadFactor(t *testing.T) {
	t.Parallel()
	for _, factor := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewScaled(start, %v) did not panic", factor)
				}
			}()
			clock.NewScaled(start, factor)
		}()
	}
}
