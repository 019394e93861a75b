package clock_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/internal/cpuload"
	"github.com/mdmsim/mdmsim/internal/testutil"
)

// hangGuardTimeout only keeps a broken clock from hanging the test binary.
// No assertion depends on it: every wait below ends on an event, and a
// slow or loaded machine only makes the tests slower.
const hangGuardTimeout = 2 * time.Minute

func hangGuard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuardTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newDiscrete returns a paused Discrete clock reading start, closed when
// the test ends.
func newDiscrete(t *testing.T, opts ...clock.DiscreteOption) *clock.Discrete {
	clk := clock.NewDiscrete(start, opts...)
	t.Cleanup(clk.Close)
	return clk
}

func waitIdle(t *testing.T, ctx context.Context, clk *clock.Discrete) {
	t.Helper()
	if err := clk.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle() = %v (hang guard), busy %v, pending %d, now start+%v",
			err, clk.Busy(), clk.Pending(), clk.Since(start))
	}
}

// await receives from ch, failing the test if the hang guard ends first.
func await[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("waiting for %s: %v (hang guard)", what, ctx.Err())
	}
	var zero T
	return zero
}

// transcript collects events from callbacks and goroutines.
type transcript struct {
	mu    sync.Mutex
	lines []string
}

func (tr *transcript) add(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.lines = append(tr.lines, fmt.Sprintf(format, args...))
}

func (tr *transcript) get() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.lines)
}

var sink atomic.Int64

// spin does a little real work, so that a goroutine can be caught half-way
// by the scheduler.
func spin(n int) {
	x := 0
	for i := range n {
		x += i * i % 7
	}
	sink.Add(int64(x))
}

// at formats a virtual time as its offset from start, for transcripts.
func at(clk clock.Clock) time.Duration { return clk.Since(start) }

func TestDiscretePausedRunsOnlyDueCallbacks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d   time.Duration
		due bool // runs before Start
	}{
		{-time.Hour, true},
		{0, true},
		{time.Nanosecond, false},
		{time.Hour, false},
		{14 * 24 * time.Hour, false},
	}
	ctx := hangGuard(t)
	clk := newDiscrete(t)
	type firing struct {
		ran bool
		now time.Time
	}
	have := make([]firing, len(tests))
	var mu sync.Mutex
	for i, tt := range tests {
		clk.AfterFunc(tt.d, func() {
			mu.Lock()
			defer mu.Unlock()
			if have[i].ran {
				t.Errorf("AfterFunc(%v) ran twice", tt.d)
			}
			have[i] = firing{true, clk.Now()}
		})
	}
	tm := clk.NewTimer(0)

	// Paused: WaitIdle returns once the due callbacks have run.
	waitIdle(t, ctx, clk)
	if now := clk.Now(); !now.Equal(start) {
		t.Errorf("Now() before Start = %v, want %v", now, start)
	}
	if v := await(t, ctx, tm.C(), "NewTimer(0) on a paused clock"); !v.Equal(start) {
		t.Errorf("NewTimer(0) before Start received %v, want %v", v, start)
	}
	mu.Lock()
	for i, tt := range tests {
		if have[i].ran != tt.due {
			t.Errorf("before Start: AfterFunc(%v) ran = %v, want %v", tt.d, have[i].ran, tt.due)
		}
		if tt.due && !have[i].now.Equal(start) {
			t.Errorf("before Start: Now() in AfterFunc(%v) = %v, want %v", tt.d, have[i].now, start)
		}
	}
	mu.Unlock()
	if !clk.Idle() {
		t.Error("Idle() on a paused clock with only future timers = false, want true")
	}
	if have, want := clk.Pending(), 3; have != want {
		t.Errorf("Pending() before Start = %d, want %d", have, want)
	}
	if st := clk.Stats(); st.Jumps != 0 {
		t.Errorf("Stats().Jumps before Start = %d, want 0", st.Jumps)
	}

	clk.Start()
	waitIdle(t, ctx, clk)
	mu.Lock()
	for i, tt := range tests {
		want := start.Add(max(tt.d, 0))
		if !have[i].ran {
			t.Errorf("after Start: AfterFunc(%v) did not run", tt.d)
		} else if !have[i].now.Equal(want) {
			t.Errorf("Now() in AfterFunc(%v) = %v, want its deadline %v", tt.d, have[i].now, want)
		}
	}
	mu.Unlock()
	if have, want := clk.Since(start), 14*24*time.Hour; have != want {
		t.Errorf("Now() after the last timer = start+%v, want start+%v", have, want)
	}
	if st := clk.Stats(); st.Jumps != 3 || st.Fired != uint64(len(tests))+1 || st.Pending != 0 || st.Busy != 0 {
		t.Errorf("Stats() = %+v, want 3 jumps, %d fired, none pending or busy", st, len(tests)+1)
	}
}

func TestDiscreteNowInCallbackIsDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		delays []time.Duration
	}{
		{"single", []time.Duration{time.Hour}},
		{"nanoseconds apart", []time.Duration{3, 1, 2}},
		{"ties", []time.Duration{time.Minute, time.Minute, time.Minute, 2 * time.Minute}},
		{"fourteen days", []time.Duration{14 * 24 * time.Hour, time.Second, 7 * 24 * time.Hour}},
		{"due now", []time.Duration{-time.Second, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := hangGuard(t)
			clk := newDiscrete(t)
			have := make([]atomic.Pointer[time.Time], len(tt.delays))
			for i, d := range tt.delays {
				clk.AfterFunc(d, func() {
					now := clk.Now()
					have[i].Store(&now)
				})
			}
			clk.Start()
			waitIdle(t, ctx, clk)
			for i, d := range tt.delays {
				want := start.Add(max(d, 0))
				if h := have[i].Load(); h == nil {
					t.Errorf("AfterFunc(%v) did not run", d)
				} else if !h.Equal(want) {
					t.Errorf("Now() in AfterFunc(%v) = %v, want %v", d, *h, want)
				}
			}
		})
	}
}

// TestDiscreteFourteenDays runs a fortnight of hourly check-ins, daily
// reminders and a deadline. Virtual results only: how long it took is
// nobody's business here.
func TestDiscreteFourteenDays(t *testing.T) {
	t.Parallel()
	const fortnight = 14 * 24 * time.Hour
	ctx := hangGuard(t)
	clk := newDiscrete(t)
	var tr transcript
	var checkIns atomic.Int64
	var checkIn func()
	checkIn = func() {
		if n := checkIns.Add(1); at(clk) != time.Duration(n)*time.Hour {
			t.Errorf("check-in %d at start+%v, want start+%v", n, at(clk), time.Duration(n)*time.Hour)
		}
		if at(clk) < fortnight {
			clk.AfterFunc(time.Hour, checkIn)
		}
	}
	clk.AfterFunc(time.Hour, checkIn)
	for day := 1; day <= 14; day++ {
		clk.AfterFunc(time.Duration(day)*24*time.Hour, func() { tr.add("reminder day %d at %v", day, at(clk)) })
	}
	clk.AfterFunc(fortnight, func() { tr.add("deadline at %v", at(clk)) })
	clk.Start()
	waitIdle(t, ctx, clk)

	if have, want := checkIns.Load(), int64(14*24); have != want {
		t.Errorf("check-ins = %d, want %d", have, want)
	}
	lines := tr.get()
	slices.Sort(lines)
	var want []string
	want = append(want, "deadline at 336h0m0s")
	for day := 1; day <= 14; day++ {
		want = append(want, fmt.Sprintf("reminder day %d at %v", day, time.Duration(day)*24*time.Hour))
	}
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Errorf("events = %q, want %q", lines, want)
	}
	if have := at(clk); have != fortnight {
		t.Errorf("Now() at the end = start+%v, want start+%v", have, fortnight)
	}
	if st := clk.Stats(); st.Jumps != 14*24 || st.Fired != 14*24+14+1 {
		t.Errorf("Stats() = %+v, want %d jumps and %d fired", st, 14*24, 14*24+14+1)
	}
}

// TestDiscreteHeldWorkPinsTime: while a unit of work is held, due
// callbacks still run but time does not move, however long the holder
// takes; it moves as soon as the unit is given back.
func TestDiscreteHeldWorkPinsTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		hold func(clk *clock.Discrete) (release func())
	}{
		{"test goroutine holds a unit", func(clk *clock.Discrete) func() {
			w := clk.Work("holder")
			w.Begin()
			return w.End
		}},
		{"Work.Go goroutine runs", func(clk *clock.Discrete) func() {
			release := make(chan struct{})
			clk.Work("holder").Go(func() { <-release })
			return func() { close(release) }
		}},
		{"callback runs", func(clk *clock.Discrete) func() {
			release := make(chan struct{})
			running := make(chan struct{})
			clk.AfterFunc(0, func() {
				close(running)
				<-release
			})
			<-running // the clock is paused, so this callback is due
			return func() { close(release) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := hangGuard(t)
			clk := newDiscrete(t)
			var tr transcript
			record := func(name string) func() {
				return func() { tr.add("%s@%v", name, at(clk)) }
			}
			release := tt.hold(clk)
			var released sync.Once
			t.Cleanup(func() { released.Do(release) })
			clk.Start()
			clk.AfterFunc(time.Hour, record("1h"))

			// The holder arms more timers; a due one runs, which shows
			// the clock is serving timers, and yet time stays put.
			ran := make(chan struct{})
			clk.AfterFunc(0, func() {
				record("due")()
				close(ran)
			})
			await(t, ctx, ran, "a due callback while work is held")
			clk.AfterFunc(30*time.Minute, record("30m"))
			clk.AfterFunc(time.Nanosecond, record("1ns"))

			if have := clk.Now(); !have.Equal(start) {
				t.Errorf("Now() while work is held = %v, want %v", have, start)
			}
			if have := tr.get(); !slices.Equal(have, []string{"due@0s"}) {
				t.Errorf("fired while work is held: %q, want only [due@0s]", have)
			}
			if busy := clk.Busy(); len(busy) == 0 {
				t.Error("Busy() while work is held is empty")
			}
			if clk.Idle() {
				t.Error("Idle() while work is held = true, want false")
			}
			// WaitIdle cannot succeed while the unit is held, however
			// long it is given: only the kind of error is asserted.
			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			if err := clk.WaitIdle(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("WaitIdle() while work is held = %v, want %v", err, context.DeadlineExceeded)
			}
			cancel()
			if have := clk.Now(); !have.Equal(start) {
				t.Errorf("Now() while work is held = %v, want %v", have, start)
			}

			released.Do(release)
			waitIdle(t, ctx, clk)
			want := []string{"due@0s", "1ns@1ns", "30m@30m0s", "1h@1h0m0s"}
			if have := tr.get(); !slices.Equal(have, want) {
				t.Errorf("fired %q, want %q", have, want)
			}
			if busy := clk.Busy(); len(busy) != 0 {
				t.Errorf("Busy() when idle = %v, want empty", busy)
			}
		})
	}
}

// chainScenario: four chains of callbacks, each starting a goroutine
// through Work.Go that does some work, starts another goroutine, and that
// one arms the chain's next timer. Each callback also arms a sentinel timer
// one nanosecond later; the clock must not reach it while the goroutine
// is still working. Virtual timestamps only, sorted: the transcript is the
// same on any machine.
func chainScenario(t *testing.T) []string {
	t.Helper()
	const (
		chains = 4
		steps  = 25
	)
	ctx := hangGuard(t)
	clk := clock.NewDiscrete(start, clock.WithWorkers(4))
	defer clk.Close()
	w := clk.Work("chain")
	var tr transcript
	var step func(c, i int)
	step = func(c, i int) {
		called := at(clk)
		var sentinel atomic.Bool
		clk.AfterFunc(time.Nanosecond, func() { sentinel.Store(true) })
		w.Go(func() {
			spin(2000)
			runtime.Gosched()
			spin(2000)
			tr.add("chain %d step %02d: callback@%v goroutine@%v sentinel fired=%v",
				c, i, called, at(clk), sentinel.Load())
			if i+1 == steps {
				return
			}
			w.Go(func() {
				runtime.Gosched()
				delay := time.Duration(c+1)*time.Minute + time.Duration(i)*time.Second
				clk.AfterFunc(delay, func() { step(c, i+1) })
			})
		})
	}
	for c := range chains {
		clk.AfterFunc(time.Duration(c)*time.Second, func() { step(c, 0) })
	}
	clk.Start()
	if err := clk.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle() = %v (hang guard), busy %v", err, clk.Busy())
	}
	lines := tr.get()
	slices.Sort(lines)
	return lines
}

func chainWant() []string {
	var want []string
	for c := range 4 {
		when := time.Duration(c) * time.Second
		for i := range 25 {
			want = append(want, fmt.Sprintf("chain %d step %02d: callback@%v goroutine@%v sentinel fired=false", c, i, when, when))
			when += time.Duration(c+1)*time.Minute + time.Duration(i)*time.Second
		}
	}
	slices.Sort(want)
	return want
}

// TestDiscreteChainsThroughGoroutines is not parallel: it changes
// GOMAXPROCS, which is the whole process's.
func TestDiscreteChainsThroughGoroutines(t *testing.T) {
	want := chainWant()
	tests := []struct {
		name  string
		procs int // GOMAXPROCS, 0 to leave it
		burn  bool
	}{
		{"default", 0, false},
		{"GOMAXPROCS=1", 1, false},
		{"burning CPUs", 0, true},
		{"GOMAXPROCS=1 burning CPUs", 1, true},
	}
	var first []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.procs > 0 {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(tt.procs))
			}
			if tt.burn {
				stop := cpuload.Burn(2 * runtime.NumCPU())
				defer stop()
			}
			for run := range 2 {
				have := chainScenario(t)
				if !slices.Equal(have, want) {
					t.Fatalf("run %d: transcript differs from the expected one:\n%s", run, diffLines(have, want))
				}
				if first == nil {
					first = have
				} else if !slices.Equal(have, first) {
					t.Fatalf("run %d: transcript differs from the first run:\n%s", run, diffLines(have, first))
				}
			}
		})
	}
}

// diffLines shows the first lines where have and want differ.
func diffLines(have, want []string) string {
	var b strings.Builder
	shown := 0
	for i := range max(len(have), len(want)) {
		var h, w string
		if i < len(have) {
			h = have[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if h != w {
			fmt.Fprintf(&b, "line %d\n have %q\n want %q\n", i, h, w)
			if shown++; shown == 5 {
				break
			}
		}
	}
	fmt.Fprintf(&b, "(%d lines, want %d)", len(have), len(want))
	return b.String()
}

// TestDiscretePhases: a server's (phase 1) timer due at the same instant
// as a device's (phase 0) runs only after the device's callback and every
// piece of work it started have finished; phase 2 waits for phase 1 alike.
// Phase 1's timer is armed first, so arming order cannot be what orders
// them.
func TestDiscretePhases(t *testing.T) {
	t.Parallel()
	const instants = 200
	tests := []struct {
		name string
		// act is the phase-0 callback's work; it calls done once finished.
		act func(clk clock.Clock, w *clock.Work, done func())
	}{
		{"callback only", func(clk clock.Clock, w *clock.Work, done func()) {
			spin(1000)
			done()
		}},
		{"callback starts a goroutine", func(clk clock.Clock, w *clock.Work, done func()) {
			w.Go(func() {
				spin(1000)
				runtime.Gosched()
				spin(1000)
				done()
			})
		}},
		{"goroutine arms a due timer", func(clk clock.Clock, w *clock.Work, done func()) {
			w.Go(func() {
				spin(1000)
				runtime.Gosched()
				clk.AfterFunc(0, func() {
					w.Go(func() {
						spin(1000)
						done()
					})
				})
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := hangGuard(t)
			clk := newDiscrete(t, clock.WithWorkers(8))
			w := clk.Work("device")
			server, auditor := clock.InPhase(clk, 1), clock.InPhase(clk, 2)
			var deviceDone, serverDone [instants]atomic.Bool
			var serverRan, auditorRan atomic.Int64
			for i := range instants {
				d := time.Duration(i+1) * time.Minute
				auditor.AfterFunc(d, func() {
					auditorRan.Add(1)
					if !serverDone[i].Load() {
						t.Errorf("instant %d: phase 2 ran before phase 1 finished", i)
					}
				})
				server.AfterFunc(d, func() {
					serverRan.Add(1)
					if !deviceDone[i].Load() {
						t.Errorf("instant %d: phase 1 ran before phase 0 and its work finished", i)
					}
					if have := at(clk); have != d {
						t.Errorf("instant %d: Now() in phase 1 = start+%v, want start+%v", i, have, d)
					}
					w.Go(func() {
						spin(500)
						serverDone[i].Store(true)
					})
				})
				clk.AfterFunc(d, func() { tt.act(clk, w, func() { deviceDone[i].Store(true) }) })
			}
			clk.Start()
			waitIdle(t, ctx, clk)
			if s, a := serverRan.Load(), auditorRan.Load(); s != instants || a != instants {
				t.Errorf("phase 1 ran %d times and phase 2 %d times, want %d each", s, a, instants)
			}
		})
	}
}

// TestDiscretePhasesAfterAHigherPhaseRan: the phase order holds for timers
// armed at an instant where a phase-1 timer has already run: at a paused
// clock's one instant (enrollment), and at an instant where the server's
// timer was the first due. A device's work must finish before a server
// timer armed after it runs.
func TestDiscretePhasesAfterAHigherPhaseRan(t *testing.T) {
	t.Parallel()
	const rounds = 50
	tests := []struct {
		name    string
		started bool
	}{
		{"paused", false},
		{"started", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := hangGuard(t)
			clk := newDiscrete(t)
			server := clock.InPhase(clk, 1)
			w := clk.Work("device")
			var violations atomic.Int64
			// round arms, at the current instant, a device timer whose work
			// takes a while and then a server timer that looks at it.
			round := func() {
				var deviceDone atomic.Bool
				clk.AfterFunc(0, func() {
					w.Go(func() {
						spin(5000)
						runtime.Gosched()
						spin(5000)
						deviceDone.Store(true)
					})
				})
				server.AfterFunc(0, func() {
					if !deviceDone.Load() {
						violations.Add(1)
					}
				})
			}
			if tt.started {
				clk.Start()
				for i := range rounds {
					// Only a server timer falls due at each instant.
					server.AfterFunc(time.Duration(i+1)*time.Hour, round)
				}
				waitIdle(t, ctx, clk)
			} else {
				for range rounds {
					ran := make(chan struct{})
					server.AfterFunc(0, func() { close(ran) })
					await(t, ctx, ran, "a phase-1 timer on the paused clock")
					waitIdle(t, ctx, clk)
					round()
					waitIdle(t, ctx, clk)
				}
			}
			if n := violations.Load(); n != 0 {
				t.Errorf("in %d of %d rounds a phase-1 timer ran before phase-0 work due at the same instant finished", n, rounds)
			}
		})
	}
}

// TestDiscreteWorkSleep: a goroutine holding a unit sleeps an hour, wakes
// at exactly +1h, and time does not move on while it works after waking.
func TestDiscreteWorkSleep(t *testing.T) {
	t.Parallel()
	for _, phase := range []int{0, 1} {
		t.Run(fmt.Sprintf("phase %d", phase), func(t *testing.T) {
			t.Parallel()
			ctx := hangGuard(t)
			clk := newDiscrete(t)
			view := clock.InPhase(clk, phase)
			w := clock.NewWork(view, "sleeper")
			var tr transcript
			// Were the clock to move while the sleeper works, this
			// would fire before "worked".
			clk.AfterFunc(time.Hour+time.Microsecond, func() { tr.add("competitor@%v", at(clk)) })
			w.Begin()
			go func() {
				defer w.End()
				if err := w.Sleep(ctx, view, time.Hour); err != nil {
					t.Errorf("Work.Sleep() = %v, want nil", err)
				}
				if have := w.Held(); have != 1 {
					t.Errorf("Held() after Work.Sleep = %d, want 1", have)
				}
				tr.add("woke@%v", at(clk))
				spin(5000)
				runtime.Gosched()
				clk.AfterFunc(time.Nanosecond, func() { tr.add("timer@%v", at(clk)) })
				spin(5000)
				runtime.Gosched()
				tr.add("worked@%v", at(clk))
			}()
			clk.Start()
			waitIdle(t, ctx, clk)
			want := []string{"woke@1h0m0s", "worked@1h0m0s", "timer@1h0m0.000000001s", "competitor@1h0m0.000001s"}
			if have := tr.get(); !slices.Equal(have, want) {
				t.Errorf("events = %q, want %q", have, want)
			}
			if busy := clk.Busy(); len(busy) != 0 {
				t.Errorf("Busy() at the end = %v, want empty", busy)
			}
		})
	}
}

// TestDiscreteWakeupFromCallback: Wake hands the waker's instant to the
// waiter, whose work happens before the clock moves on.
func TestDiscreteWakeupFromCallback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		timeout time.Duration // Wait's d; the wake comes first
	}{
		{"no timeout", 0},
		{"timeout later than the wake", 3 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := hangGuard(t)
			clk := newDiscrete(t)
			w := clk.Work("waiter")
			u := w.Wakeup()
			var tr transcript
			w.Begin()
			go func() {
				defer w.End()
				woken, err := u.Wait(ctx, clk, tt.timeout)
				tr.add("woken=%v err=%v at %v", woken, err, at(clk))
				spin(5000)
				runtime.Gosched()
				spin(5000)
				tr.add("worked at %v", at(clk))
			}()
			clk.AfterFunc(2*time.Hour, func() {
				tr.add("wake at %v", at(clk))
				if !u.Wake() {
					t.Error("first Wake() = false, want true")
				}
				if u.Wake() {
					t.Error("second Wake() = true, want false")
				}
			})
			clk.AfterFunc(2*time.Hour+time.Nanosecond, func() { tr.add("next at %v", at(clk)) })
			clk.Start()
			waitIdle(t, ctx, clk)
			want := []string{"wake at 2h0m0s", "woken=true err=<nil> at 2h0m0s", "worked at 2h0m0s", "next at 2h0m0.000000001s"}
			if have := tr.get(); !slices.Equal(have, want) {
				t.Errorf("events = %q, want %q", have, want)
			}
			// A stopped timeout leaves nothing behind: the clock ends at
			// the last event, not at the timeout.
			if have := at(clk); have != 2*time.Hour+time.Nanosecond {
				t.Errorf("Now() at the end = start+%v, want start+2h0m0.000000001s", have)
			}
			if busy := clk.Busy(); len(busy) != 0 {
				t.Errorf("Busy() at the end = %v, want empty", busy)
			}
		})
	}
}

func TestDiscreteWakeupTimeout(t *testing.T) {
	t.Parallel()
	ctx := hangGuard(t)
	clk := newDiscrete(t)
	w := clk.Work("waiter")
	u := w.Wakeup()
	type result struct {
		woken bool
		err   error
		at    time.Duration
	}
	done := make(chan result, 1)
	w.Begin()
	go func() {
		defer w.End()
		woken, err := u.Wait(ctx, clk, 30*time.Minute)
		done <- result{woken, err, at(clk)}
	}()
	clk.Start()
	have := await(t, ctx, done, "Wait to time out")
	if want := (result{false, nil, 30 * time.Minute}); have != want {
		t.Errorf("Wait(30m) = %+v, want %+v", have, want)
	}
	if u.Wake() {
		t.Error("Wake() after the timeout = true, want false")
	}
	waitIdle(t, ctx, clk)
	if busy := clk.Busy(); len(busy) != 0 {
		t.Errorf("Busy() at the end = %v, want empty", busy)
	}
}

// TestDiscreteWaitCancelled: a waiter whose ctx ends gets ctx.Err() back,
// holding its unit again, so that its End balances the books.
func TestDiscreteWaitCancelled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		expired bool // ctx done before the call
		wait    func(ctx context.Context, clk clock.Clock, w *clock.Work) (woken bool, err error)
	}{
		{"Work.Sleep", false, func(ctx context.Context, clk clock.Clock, w *clock.Work) (bool, error) {
			return false, w.Sleep(ctx, clk, time.Hour)
		}},
		{"Work.Sleep ctx already done", true, func(ctx context.Context, clk clock.Clock, w *clock.Work) (bool, error) {
			return false, w.Sleep(ctx, clk, time.Hour)
		}},
		{"Wakeup.Wait without timeout", false, func(ctx context.Context, clk clock.Clock, w *clock.Work) (bool, error) {
			return w.Wakeup().Wait(ctx, clk, 0)
		}},
		{"Wakeup.Wait with timeout", false, func(ctx context.Context, clk clock.Clock, w *clock.Work) (bool, error) {
			return w.Wakeup().Wait(ctx, clk, time.Hour)
		}},
		{"Wakeup.Wait ctx already done", true, func(ctx context.Context, clk clock.Clock, w *clock.Work) (bool, error) {
			return w.Wakeup().Wait(ctx, clk, time.Hour)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			guard := hangGuard(t)
			clk := newDiscrete(t) // paused: only the cancellation can end the wait
			w := clk.Work("waiter")
			ctx, cancel := context.WithCancel(guard)
			defer cancel()
			if tt.expired {
				cancel()
			}
			type result struct {
				woken bool
				err   error
				held  int64
			}
			done := make(chan result, 1)
			w.Begin()
			go func() {
				defer w.End()
				woken, err := tt.wait(ctx, clk, w)
				done <- result{woken, err, w.Held()}
			}()
			if !tt.expired {
				// The waiter gives its unit back once it waits.
				testutil.EventuallyCtx(guard, t, "the waiter to give its unit back", func() (bool, error) { return w.Held() == 0, nil })
				cancel()
			}
			have := await(t, guard, done, "the cancelled wait to return")
			if want := (result{false, context.Canceled, 1}); have.woken != want.woken || !errors.Is(have.err, want.err) || have.held != want.held {
				t.Errorf("cancelled wait returned woken=%v err=%v holding %d, want woken=%v err=%v holding %d",
					have.woken, have.err, have.held, want.woken, want.err, want.held)
			}
			waitIdle(t, guard, clk)
			if busy := clk.Busy(); len(busy) != 0 {
				t.Errorf("Busy() at the end = %v, want empty", busy)
			}
			if p := clk.Pending(); p != 0 {
				t.Errorf("Pending() at the end = %d, want 0 (the wait's timer stopped)", p)
			}
		})
	}
}

func TestDiscreteWorkEndTooOftenPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		work      func(clk *clock.Discrete) *clock.Work
		do        func(w *clock.Work)
		wantPanic bool
	}{
		{"End without Begin", func(clk *clock.Discrete) *clock.Work { return clk.Work("w") },
			func(w *clock.Work) { w.End() }, true},
		{"End twice after one Begin", func(clk *clock.Discrete) *clock.Work { return clk.Work("w") },
			func(w *clock.Work) { w.Begin(); w.End(); w.End() }, true},
		{"balanced", func(clk *clock.Discrete) *clock.Work { return clk.Work("w") },
			func(w *clock.Work) { w.Begin(); w.Begin(); w.End(); w.End() }, false},
		{"nil Work counts nothing", func(*clock.Discrete) *clock.Work { return clock.NewWork(clock.NewManual(start), "w") },
			func(w *clock.Work) { w.End(); w.End() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newDiscrete(t)
			w := tt.work(clk)
			var recovered any
			func() {
				defer func() { recovered = recover() }()
				tt.do(w)
			}()
			if have := recovered != nil; have != tt.wantPanic {
				t.Fatalf("panicked = %v (%v), want %v", have, recovered, tt.wantPanic)
			}
			if msg := fmt.Sprint(recovered); tt.wantPanic && !strings.Contains(msg, "ended more often than it began") {
				t.Errorf("panic = %q, want it to say the work ended more often than it began", msg)
			}
		})
	}
}

func TestDiscreteStallReport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		workers int
		hold    func(t *testing.T, clk *clock.Discrete) (release func())
		want    map[string]int64
		skip    string
	}{
		{"leaked unit", 0, func(t *testing.T, clk *clock.Discrete) func() {
			w := clk.Work("stuck session")
			w.Begin()
			w.Begin()
			return func() { w.End(); w.End() }
		}, map[string]int64{"stuck session": 2}, ""},
		{"blocked callback", 0, func(t *testing.T, clk *clock.Discrete) func() {
			release := make(chan struct{})
			clk.AfterFunc(0, func() { <-release })
			return func() { close(release) }
		}, map[string]int64{"timer-callback": 1}, ""},
		// One callback on the only worker, one in the queue, one that the
		// clock cannot hand out.
		{"every worker blocked", 1, func(t *testing.T, clk *clock.Discrete) func() {
			release := make(chan struct{})
			for range 3 {
				clk.AfterFunc(0, func() { <-release })
			}
			return func() { close(release) }
		}, map[string]int64{"timer-callback": 3},
			""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			ctx := hangGuard(t)
			reports := make(chan clock.Stall, 1)
			opts := []clock.DiscreteOption{clock.WithStallReport(50*time.Millisecond, func(s clock.Stall) {
				select {
				case reports <- s:
				default:
				}
			})}
			if tt.workers > 0 {
				opts = append(opts, clock.WithWorkers(tt.workers))
			}
			clk := newDiscrete(t, opts...)
			clk.AfterFunc(time.Hour, func() {})
			release := tt.hold(t, clk)
			var released sync.Once
			t.Cleanup(func() { released.Do(release) })
			clk.Start()
			s := await(t, ctx, reports, "a stall report")
			if !maps.Equal(s.Holders, tt.want) {
				t.Errorf("Stall.Holders = %v, want %v", s.Holders, tt.want)
			}
			if !s.At.Equal(start) {
				t.Errorf("Stall.At = %v, want %v", s.At, start)
			}
			for name := range tt.want {
				if !strings.Contains(s.String(), name) {
					t.Errorf("Stall.String() = %q, want it to name %q", s.String(), name)
				}
			}
			released.Do(release)
			waitIdle(t, ctx, clk)
			if have := at(clk); have != time.Hour {
				t.Errorf("Now() after release = start+%v, want start+1h", have)
			}
		})
	}
}

// TestDiscreteBoundedGoroutines runs 100 000 callbacks at random deadlines
// over a fortnight on a fixed set of workers. It is not parallel because it
// counts the process's goroutines.
func TestDiscreteBoundedGoroutines(t *testing.T) {
	const (
		timers = 100_000
		slack  = 10
	)
	ctx := hangGuard(t)
	baseline := runtime.NumGoroutine()
	clk := clock.NewDiscrete(start)
	closed := false
	defer func() {
		if !closed {
			clk.Close()
		}
	}()
	rng := rand.New(rand.NewPCG(5, 6))
	deadlines := make([]time.Duration, timers)
	ran := make([]atomic.Int32, timers)
	order := make([]int, timers) // order[k] is the timer that ran k-th
	var (
		seq         atomic.Int64
		maxG        atomic.Int64
		wrongNow    atomic.Int64
		firstWrongI atomic.Int64
	)
	firstWrongI.Store(-1)
	for i := range deadlines {
		deadlines[i] = time.Duration(rng.Int64N(int64(14*24*time.Hour/time.Second))) * time.Second
		clk.AfterFunc(deadlines[i], func() {
			ran[i].Add(1)
			order[seq.Add(1)-1] = i
			if at(clk) != deadlines[i] {
				wrongNow.Add(1)
				firstWrongI.CompareAndSwap(-1, int64(i))
			}
			n := int64(runtime.NumGoroutine())
			for m := maxG.Load(); n > m && !maxG.CompareAndSwap(m, n); m = maxG.Load() {
			}
		})
	}
	clk.Start()
	waitIdle(t, ctx, clk)

	if bound := int64(baseline + clock.DefaultWorkers + slack); maxG.Load() > bound {
		t.Errorf("NumGoroutine() in callbacks reached %d, want at most %d (baseline %d + %d workers + %d)",
			maxG.Load(), bound, baseline, clock.DefaultWorkers, slack)
	}
	if n := wrongNow.Load(); n > 0 {
		i := firstWrongI.Load()
		t.Errorf("%d callbacks saw Now() other than their deadline, e.g. timer %d due at start+%v", n, i, deadlines[i])
	}
	if have := seq.Load(); have != timers {
		t.Fatalf("%d callbacks ran, want %d", have, timers)
	}
	for i := range ran {
		if n := ran[i].Load(); n != 1 {
			t.Fatalf("timer %d (start+%v) ran %d times, want 1", i, deadlines[i], n)
		}
	}
	for k := 1; k < timers; k++ {
		if prev, cur := deadlines[order[k-1]], deadlines[order[k]]; cur < prev {
			t.Fatalf("callback %d ran at start+%v after one due at start+%v", k, cur, prev)
		}
	}
	if have, want := at(clk), slices.Max(deadlines); have != want {
		t.Errorf("Now() at the end = start+%v, want the last deadline start+%v", have, want)
	}

	// Close gives the clock's goroutines back (give or take a stray
	// runtime goroutine, not the clock's 65).
	clk.Close()
	closed = true
	testutil.EventuallyCtx(ctx, t, "the clock's goroutines to exit", func() (bool, error) { return runtime.NumGoroutine() <= baseline+2, nil })
}

// discreteFlavour steps a Discrete clock exactly like Manual.Advance: a
// unit of work pins time, and a phase-1 marker timer takes the pin back at
// the target instant, once every phase-0 timer due then has run.
var discreteFlavour = flavour{"discrete", func(t *testing.T, body func(*testing.T, clock.Clock, func(time.Duration))) {
	ctx := hangGuard(t)
	clk := newDiscrete(t)
	pin := clk.Work("test pin")
	pin.Begin()
	clk.Start()
	marker := clock.InPhase(clk, 1)
	body(t, clk, func(d time.Duration) {
		reached := make(chan struct{})
		marker.AfterFunc(d, func() {
			pin.Begin()
			close(reached)
		})
		pin.End()
		await(t, ctx, reached, fmt.Sprintf("the clock to advance %v", d))
	})
	pin.End()
}}

// TestDiscreteTimerStopReset runs TestTimerStopReset's table on Discrete,
// and on Manual as the reference it must match.
func TestDiscreteTimerStopReset(t *testing.T) {
	t.Parallel()
	cases := append(slices.Clone(stopResetCases),
		stopResetCase{"reset to zero fires at once", bothKinds, []step{reset(0, true), advance(time.Nanosecond), fired(1), stop(false)}},
		stopResetCase{"fires on its deadline exactly", bothKinds, []step{advance(time.Minute), fired(1)}},
		stopResetCase{"not a nanosecond early", bothKinds, []step{advance(time.Minute - 1), fired(0), advance(1), fired(1)}},
	)
	runStopReset(t, []flavour{flavours[0], discreteFlavour}, cases)
}

func TestDiscreteNewTimerReceivesDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d     time.Duration
		phase int
		want  time.Duration // after start
	}{
		{time.Nanosecond, 0, time.Nanosecond},
		{time.Minute, 0, time.Minute},
		{14 * 24 * time.Hour, 0, 14 * 24 * time.Hour},
		{0, 0, 0},
		{-time.Hour, 0, 0},
		{time.Minute, 1, time.Minute},
		{0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/phase %d", tt.d, tt.phase), func(t *testing.T) {
			t.Parallel()
			ctx := hangGuard(t)
			clk := newDiscrete(t)
			tm := clock.InPhase(clk, tt.phase).NewTimer(tt.d)
			clk.Start()
			if have, want := await(t, ctx, tm.C(), "the timer's value"), start.Add(tt.want); !have.Equal(want) {
				t.Errorf("NewTimer(%v) received %v, want %v", tt.d, have, want)
			}
			if tm.Stop() {
				t.Error("Stop() after the value was received = true, want false")
			}
		})
	}
}

func TestDiscreteSleep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		d       time.Duration
		cancel  bool // cancel while sleeping, on a paused clock
		expired bool // ctx already done before the call
		want    error
		wantAt  time.Duration // Now() once Sleep returned and the clock is idle
	}{
		{"completes", time.Hour, false, false, nil, time.Hour},
		{"zero returns at once", 0, false, false, nil, 0},
		{"negative returns at once", -time.Hour, false, false, nil, 0},
		{"cancelled while sleeping", time.Hour, true, false, context.Canceled, 0},
		{"cancelled before", time.Hour, false, true, context.Canceled, 0},
		{"cancelled before beats zero", 0, false, true, context.Canceled, 0},
	}
	for _, tt := range tests {
		for _, phase := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/phase %d", tt.name, phase), func(t *testing.T) {
				t.Parallel()
				guard := hangGuard(t)
				clk := newDiscrete(t)
				view := clock.InPhase(clk, phase)
				ctx, cancel := context.WithCancel(guard)
				defer cancel()
				if tt.expired {
					cancel()
				}
				done := make(chan error, 1)
				go func() { done <- view.Sleep(ctx, tt.d) }()
				if tt.cancel {
					testutil.EventuallyCtx(guard, t, "Sleep to arm its timer", func() (bool, error) { return clk.Pending() == 1, nil })
					cancel()
				} else {
					clk.Start()
				}
				if have := await(t, guard, done, "Sleep to return"); !errors.Is(have, tt.want) {
					t.Errorf("Sleep(%v) = %v, want %v", tt.d, have, tt.want)
				}
				waitIdle(t, guard, clk)
				if have := at(clk); have != tt.wantAt {
					t.Errorf("Now() after Sleep(%v) = start+%v, want start+%v", tt.d, have, tt.wantAt)
				}
				if p := clk.Pending(); p != 0 {
					t.Errorf("Pending() after Sleep = %d, want 0", p)
				}
			})
		}
	}
}

// TestDiscreteClose: once Close returns, no pending timer fires, whatever
// happens to the clock afterwards.
func TestDiscreteClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// before runs before Close; after, if not nil, once it returned.
		before func(t *testing.T, ctx context.Context, clk *clock.Discrete) (after func())
	}{
		{"paused", func(t *testing.T, ctx context.Context, clk *clock.Discrete) func() {
			return clk.Start
		}},
		{"pinned by held work", func(t *testing.T, ctx context.Context, clk *clock.Discrete) func() {
			w := clk.Work("holder")
			w.Begin()
			clk.Start()
			return w.End
		}},
		{"callback running", func(t *testing.T, ctx context.Context, clk *clock.Discrete) func() {
			// Held work keeps the clock from moving on whichever of the
			// callback's end and Close comes first.
			w := clk.Work("holder")
			w.Begin()
			running := make(chan struct{})
			release := make(chan struct{})
			clk.AfterFunc(0, func() {
				close(running)
				<-release
			})
			await(t, ctx, running, "the callback to start")
			clk.Start()
			// Close waits for the callback to return.
			go close(release)
			return w.End
		}},
		{"closed twice", func(t *testing.T, ctx context.Context, clk *clock.Discrete) func() {
			return clk.Close
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := hangGuard(t)
			clk := clock.NewDiscrete(start)
			var fired atomic.Int64
			for _, d := range []time.Duration{time.Nanosecond, time.Hour, 14 * 24 * time.Hour} {
				clk.AfterFunc(d, func() { fired.Add(1) })
			}
			tm := clk.NewTimer(time.Minute)
			after := tt.before(t, ctx, clk)
			closed := make(chan struct{})
			go func() {
				clk.Close()
				close(closed)
			}()
			await(t, ctx, closed, "Close to return")
			statsAtClose := clk.Stats()
			if after != nil {
				after()
			}
			clk.AfterFunc(0, func() { fired.Add(1) }) // arming after Close is harmless
			clk.Close()                               // and so is closing again
			if n := fired.Load(); n != 0 {
				t.Errorf("%d pending callbacks fired around Close, want 0", n)
			}
			select {
			case v := <-tm.C():
				t.Errorf("NewTimer channel received %v after Close", v)
			default:
			}
			if st := clk.Stats(); st.Fired != statsAtClose.Fired {
				t.Errorf("Stats().Fired went from %d to %d after Close", statsAtClose.Fired, st.Fired)
			}
			if have := clk.Now(); !have.Equal(start) {
				t.Errorf("Now() after Close = %v, want %v", have, start)
			}
		})
	}
}

// TestDiscretePause: a paused clock runs what is due but never moves, so a
// job reads the world as it was when its story ended.
func TestDiscretePause(t *testing.T) {
	t.Parallel()
	ctx := hangGuard(t)
	clk := newDiscrete(t)
	var fired atomic.Int64
	clk.AfterFunc(time.Hour, func() { fired.Add(1) })
	clk.AfterFunc(2*time.Hour, func() {
		fired.Add(1)
		clk.Pause()
		clk.AfterFunc(0, func() { fired.Add(1) }) // due now: still runs
	})
	clk.AfterFunc(3*time.Hour, func() { fired.Add(1) })
	clk.Start()
	if err := clk.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if have, want := clk.Now(), start.Add(2*time.Hour); !have.Equal(want) || fired.Load() != 3 {
		t.Fatalf("paused at %v with %d callbacks run, want %v and 3", have, fired.Load(), want)
	}
	clk.Start()
	if err := clk.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if have, want := clk.Now(), start.Add(3*time.Hour); !have.Equal(want) || fired.Load() != 4 {
		t.Fatalf("started again: %v with %d callbacks run, want %v and 4", have, fired.Load(), want)
	}
}
