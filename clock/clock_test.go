package clock_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mdmsim/mdmsim/clock"
)

var start = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

// flavour runs a test body against one Clock implementation, with a way to
// move that clock forward and wait until everything due has run. Scaled and
// Real run inside a synctest bubble, where the runtime's clock is fake, so
// the same steps are exact for all three.
type flavour struct {
	name string
	run  func(t *testing.T, body func(t *testing.T, clk clock.Clock, advance func(time.Duration)))
}

const scaledFactor = 1000

var flavours = []flavour{
	{"manual", func(t *testing.T, body func(*testing.T, clock.Clock, func(time.Duration))) {
		clk := clock.NewManual(start)
		body(t, clk, clk.Advance)
	}},
	{"scaled", func(t *testing.T, body func(*testing.T, clock.Clock, func(time.Duration))) {
		synctest.Test(t, func(t *testing.T) {
			clk := clock.NewScaled(start, scaledFactor)
			body(t, clk, func(d time.Duration) {
				time.Sleep(d / scaledFactor)
				synctest.Wait()
			})
		})
	}},
	{"real", func(t *testing.T, body func(*testing.T, clock.Clock, func(time.Duration))) {
		synctest.Test(t, func(t *testing.T) {
			body(t, clock.Real(), func(d time.Duration) {
				time.Sleep(d)
				synctest.Wait()
			})
		})
	}},
}

// timerHarness holds one timer under test and counts how often it fired:
// callbacks for AfterFunc timers, values received for NewTimer timers.
type timerHarness struct {
	timer   clock.Timer
	calls   atomic.Int64
	recv    int
	advance func(time.Duration)
}

func (h *timerHarness) fired() int {
	if c := h.timer.C(); c != nil {
		for {
			select {
			case <-c:
				h.recv++
				continue
			default:
			}
			return h.recv
		}
	}
	return int(h.calls.Load())
}

type step func(t *testing.T, h *timerHarness)

func advance(d time.Duration) step {
	return func(t *testing.T, h *timerHarness) { h.advance(d) }
}

func stop(want bool) step {
	return func(t *testing.T, h *timerHarness) {
		t.Helper()
		if have := h.timer.Stop(); have != want {
			t.Errorf("Stop() = %v, want %v", have, want)
		}
	}
}

func reset(d time.Duration, want bool) step {
	return func(t *testing.T, h *timerHarness) {
		t.Helper()
		if have := h.timer.Reset(d); have != want {
			t.Errorf("Reset(%v) = %v, want %v", d, have, want)
		}
	}
}

func fired(want int) step {
	return func(t *testing.T, h *timerHarness) {
		t.Helper()
		if have := h.fired(); have != want {
			t.Errorf("fired %d times, want %d", have, want)
		}
	}
}

// Which timers a stop/reset case applies to.
const (
	bothKinds = iota
	funcOnly
	chanOnly
)

// stopResetCase is one row of the Stop/Reset table; the timer starts armed
// for one minute.
type stopResetCase struct {
	name  string
	kinds int
	steps []step
}

// stopResetCases answer like time.Timer (as of Go 1.23) on every clock.
var stopResetCases = []stopResetCase{
	{"stop before deadline", bothKinds, []step{stop(true), advance(2 * time.Minute), fired(0)}},
	{"stop twice", bothKinds, []step{stop(true), stop(false), advance(2 * time.Minute), fired(0)}},
	{"stop after fire", bothKinds, []step{advance(2 * time.Minute), fired(1), stop(false), fired(1)}},
	{"stop after fire unobserved", funcOnly, []step{advance(2 * time.Minute), stop(false), fired(1)}},
	{"stop after fire before receive drops the value", chanOnly, []step{advance(2 * time.Minute), stop(true), fired(0)}},
	{"reset before deadline postpones", bothKinds, []step{
		advance(30 * time.Second), reset(time.Minute, true),
		advance(45 * time.Second), fired(0),
		advance(30 * time.Second), fired(1),
	}},
	{"reset after fire rearms", bothKinds, []step{
		advance(2 * time.Minute), fired(1), reset(time.Minute, false),
		advance(30 * time.Second), fired(1),
		advance(time.Minute), fired(2),
	}},
	{"reset after fire before receive drops the stale value", chanOnly, []step{
		advance(2 * time.Minute), reset(time.Minute, true), fired(0),
		advance(2 * time.Minute), fired(1),
	}},
	{"reset after stop", bothKinds, []step{stop(true), reset(time.Minute, false), advance(2 * time.Minute), fired(1)}},
	{"stop after reset", bothKinds, []step{reset(time.Hour, true), stop(true), advance(2 * time.Hour), fired(0)}},
}

// runStopReset runs cases on every flavour, for AfterFunc and NewTimer
// timers.
func runStopReset(t *testing.T, fls []flavour, cases []stopResetCase) {
	for _, fl := range fls {
		for _, kind := range []string{"AfterFunc", "NewTimer"} {
			for _, tt := range cases {
				if kind == "AfterFunc" && tt.kinds == chanOnly || kind == "NewTimer" && tt.kinds == funcOnly {
					continue
				}
				t.Run(fl.name+"/"+kind+"/"+tt.name, func(t *testing.T) {
					t.Parallel()
					fl.run(t, func(t *testing.T, clk clock.Clock, adv func(time.Duration)) {
						h := &timerHarness{advance: adv}
						if kind == "AfterFunc" {
							h.timer = clk.AfterFunc(time.Minute, func() { h.calls.Add(1) })
							if h.timer.C() != nil {
								t.Errorf("AfterFunc timer C() = %v, want nil", h.timer.C())
							}
						} else {
							h.timer = clk.NewTimer(time.Minute)
						}
						for _, s := range tt.steps {
							s(t, h)
						}
						h.timer.Stop()
					})
				})
			}
		}
	}
}

// TestTimerStopReset checks that Stop and Reset answer like time.Timer (as
// of Go 1.23) on every clock; the "real" flavour checks the table itself
// against the runtime.
func TestTimerStopReset(t *testing.T) {
	t.Parallel()
	runStopReset(t, flavours, stopResetCases)
}

func TestSleep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		d       time.Duration
		cancel  bool // cancel while sleeping
		expired bool // ctx already done before the call
		want    error
	}{
		{"completes", time.Hour, false, false, nil},
		{"zero returns at once", 0, false, false, nil},
		{"negative returns at once", -time.Hour, false, false, nil},
		{"cancelled while sleeping", time.Hour, true, false, context.Canceled},
		{"cancelled before", time.Hour, false, true, context.Canceled},
		{"cancelled before beats zero", 0, false, true, context.Canceled},
	}
	for _, fl := range flavours {
		for _, tt := range tests {
			t.Run(fl.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				fl.run(t, func(t *testing.T, clk clock.Clock, adv func(time.Duration)) {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					if tt.expired {
						cancel()
					}
					done := make(chan error, 1)
					go func() { done <- clk.Sleep(ctx, tt.d) }()
					if m, ok := clk.(*clock.Manual); ok && tt.d > 0 && !tt.expired {
						if err := m.BlockUntil(ctx, 1); err != nil {
							t.Fatalf("BlockUntil: %v", err)
						}
					}
					if tt.cancel {
						cancel()
					} else if tt.d > 0 && !tt.expired {
						adv(tt.d - time.Second)
						select {
						case err := <-done:
							t.Fatalf("Sleep(%v) returned %v a second early", tt.d, err)
						default:
						}
						adv(time.Second)
					}
					if have := <-done; !errors.Is(have, tt.want) {
						t.Errorf("Sleep(%v) = %v, want %v", tt.d, have, tt.want)
					}
					if m, ok := clk.(*clock.Manual); ok {
						if have := m.Pending(); have != 0 {
							t.Errorf("Pending() after Sleep = %d, want 0", have)
						}
					}
				})
			})
		}
	}
}

func TestAfterFuncNowReachesDeadline(t *testing.T) {
	t.Parallel()
	for _, fl := range flavours {
		for _, d := range []time.Duration{-time.Second, 0, 1, time.Millisecond, time.Minute, 14 * 24 * time.Hour} {
			t.Run(fl.name+"/"+d.String(), func(t *testing.T) {
				t.Parallel()
				fl.run(t, func(t *testing.T, clk clock.Clock, adv func(time.Duration)) {
					deadline := clk.Now().Add(max(d, 0))
					var at atomic.Pointer[time.Time]
					clk.AfterFunc(d, func() {
						now := clk.Now()
						at.Store(&now)
					})
					adv(max(d, 0) + time.Second)
					have := at.Load()
					if have == nil {
						t.Fatalf("AfterFunc(%v) did not fire", d)
					}
					if have.Before(deadline) {
						t.Errorf("Now() in callback = %v, want >= deadline %v", have, deadline)
					}
				})
			})
		}
	}
}

func TestLocal(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Date(2026, time.March, 2, 22, 30, 0, 0, time.UTC))
	tests := []struct {
		loc  *time.Location
		want string
	}{
		{time.UTC, "2026-03-02 22:30 UTC"},
		{time.FixedZone("JST", 9*60*60), "2026-03-03 07:30 JST"},
		{time.FixedZone("PST", -8*60*60), "2026-03-02 14:30 PST"},
	}
	for _, tt := range tests {
		if have := clock.Local(clk, tt.loc).Format("2006-01-02 15:04 MST"); have != tt.want {
			t.Errorf("Local(clk, %v) = %s, want %s", tt.loc, have, tt.want)
		}
	}
}
