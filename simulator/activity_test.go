package simulator

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

func activityDevice(t *testing.T) (*Device, *clock.Discrete) {
	t.Helper()
	clk := clock.NewDiscrete(time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC))
	t.Cleanup(clk.Close)
	id, err := identity.New(gofakeit.New(3), identity.Options{Model: "Mac14,2"})
	if err != nil {
		t.Fatal(err)
	}
	return NewEnv(WithClock(clk)).NewDevice(id), clk
}

// waitLocked polls cond, with d.mu held, until it holds; ctx is a hang
// guard, not a timing.
func waitLocked(ctx context.Context, t *testing.T, d *Device, what string, cond func() bool) {
	t.Helper()
	for {
		d.mu.Lock()
		ok := cond()
		d.mu.Unlock()
		if ok {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTimersRunBeforeASessionOfTheSameInstant: whoever wins the race for
// the device (the clock's worker or the session), the timer due now has
// run when the session begins.
func TestTimersRunBeforeASessionOfTheSameInstant(t *testing.T) {
	t.Parallel()
	for i := range 200 {
		d, _ := activityDevice(t)
		var ran atomic.Bool
		d.env.sessionWork.Begin()
		d.mu.Lock()
		d.after(0, func() { ran.Store(true) })
		d.mu.Unlock()
		d.beginActivity()
		if !ran.Load() {
			t.Fatalf("round %d: a session began before the device's timer due at the same instant", i)
		}
		d.endActivity()
		d.env.sessionWork.End()
	}
}

// TestTimerDueDuringASessionWaitsForIt: a timer that falls due while a
// session runs (a command armed it with no delay) runs when the session
// ends, never beside it, and the clock's worker does not wait for it.
func TestTimerDueDuringASessionWaitsForIt(t *testing.T) {
	t.Parallel()
	d, clk := activityDevice(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	d.env.sessionWork.Begin()
	d.beginActivity()
	var ran atomic.Bool
	d.mu.Lock()
	d.after(0, func() { ran.Store(true) })
	d.mu.Unlock()
	// The clock's worker finds the device busy and leaves the run to it.
	waitLocked(ctx, t, d, "the device's timer to fire", func() bool { return d.timersPending })
	if ran.Load() {
		t.Fatal("the timer ran beside the session")
	}
	if busy := clk.Busy(); busy["timer-callback"] != 0 {
		t.Fatalf("a clock worker waits for the device: %v", busy)
	}
	d.endActivity()
	if !ran.Load() {
		t.Fatal("the timer did not run when the session ended")
	}
	d.env.sessionWork.End()
	if err := clk.WaitIdle(ctx); err != nil {
		t.Fatalf("work left in flight: %v", clk.Busy())
	}
}

// TestDiscreteEnvWaitsLong: on a discrete-event clock a device's requests
// are not cut by the default 30 s, which a starved machine can run past.
func TestDiscreteEnvWaitsLong(t *testing.T) {
	t.Parallel()
	_, clk := activityDevice(t)
	if have := NewEnv(WithClock(clk)).requestTimeout; have != DiscreteRequestTimeout {
		t.Errorf("discrete clock: request timeout %v, want %v", have, DiscreteRequestTimeout)
	}
	if have := NewEnv(WithClock(clk), WithRequestTimeout(time.Second)).requestTimeout; have != time.Second {
		t.Errorf("set explicitly: %v, want 1s", have)
	}
	if have := NewEnv().requestTimeout; have != 0 {
		t.Errorf("wall clock: %v, want 0 (the transport's default)", have)
	}
}

// TestPowerOffWaitsForARunOfTimers: switching a device off never falls
// between one of its timers firing and its step running; the step sees
// the device on, and the switch happens when it is done.
func TestPowerOffWaitsForARunOfTimers(t *testing.T) {
	t.Parallel()
	d, _ := activityDevice(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	running, release := make(chan struct{}), make(chan struct{})
	var onAtEnd atomic.Bool
	d.mu.Lock()
	d.after(0, func() { // due now: the paused clock's worker runs it
		close(running)
		<-release
		onAtEnd.Store(d.PoweredOn())
	})
	d.mu.Unlock()
	select {
	case <-running:
	case <-ctx.Done():
		t.Fatal("the timer never ran")
	}
	off := make(chan struct{})
	go func() { d.PowerOff(); close(off) }()
	// PowerOff waits for the run: it has asked for the device's activity.
	waitLocked(ctx, t, d, "PowerOff to wait for the device's run of timers", func() bool { return d.activityDone != nil })
	close(release)
	select {
	case <-off:
	case <-ctx.Done():
		t.Fatal("PowerOff never returned")
	}
	if !onAtEnd.Load() || d.PoweredOn() {
		t.Errorf("step saw the device on: %v (want true); on after PowerOff: %v (want false)", onAtEnd.Load(), d.PoweredOn())
	}
}
