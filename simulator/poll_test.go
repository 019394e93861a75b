package simulator_test

import (
	"context"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/internal/testutil"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// TestPollInterval: with WithPollInterval a device starts a session on its
// own every interval, first at an offset of its own, and stops with
// Unenroll.
func TestPollInterval(t *testing.T) {
	t.Parallel()
	const every = time.Hour
	start := time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)
	srv := newScriptedServer(t)
	offsets := map[time.Duration]bool{}
	for seed := int64(1); seed <= 5; seed++ {
		clk := clock.NewManual(start)
		id, err := identity.New(gofakeit.New(seed), identity.Options{Platform: catalog.MacOS})
		if err != nil {
			t.Fatal(err)
		}
		d := simulator.New(id, simulator.WithClock(clk), simulator.WithPollInterval(every))
		if err := d.EnrollWithIdentity(context.Background(), srv.profile(simulator.AccessAll), selfIdentity(t)); err != nil {
			t.Fatal(err)
		}
		next, ok := clk.Next()
		if !ok || clk.Pending() != 1 {
			t.Fatalf("seed %d: %d timers after enrollment, want the first poll", seed, clk.Pending())
		}
		off := next.Sub(start)
		if off < 0 || off >= every {
			t.Fatalf("seed %d: first poll after %v, want within [0, %v)", seed, off, every)
		}
		offsets[off] = true

		for n := 1; n <= 3; n++ {
			clk.Set(next)
			testutil.Eventually(t, "the condition", func() bool { return d.Stats().Sessions == n && clk.Pending() == 1 })
			if next, _ = clk.Next(); next.Sub(start) != off+time.Duration(n)*every {
				t.Fatalf("seed %d: poll %d armed for %v, want %v", seed, n+1, next.Sub(start), off+time.Duration(n)*every)
			}
		}
		if err := d.Unenroll(context.Background()); err != nil {
			t.Fatal(err)
		}
		if clk.Pending() != 0 {
			t.Fatalf("seed %d: %d timers after Unenroll, want none", seed, clk.Pending())
		}
		clk.Advance(3 * every)
		if have := d.Stats().Sessions; have != 3 {
			t.Fatalf("seed %d: %d sessions after Unenroll, want 3", seed, have)
		}
	}
	if len(offsets) < 2 {
		t.Fatalf("five devices poll at offsets %v: in lockstep", offsets)
	}
}

// TestNoPollByDefault: without WithPollInterval a device arms no timer of
// its own after enrolling; it waits for pushes, as Apple's devices do.
func TestNoPollByDefault(t *testing.T) {
	t.Parallel()
	srv := newScriptedServer(t)
	clk := clock.NewManual(time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC))
	enrolledDevice(t, srv, simulator.AccessAll, catalog.MacOS, simulator.WithClock(clk))
	if n := clk.Pending(); n != 0 {
		t.Fatalf("%d timers after enrollment, want none", n)
	}
}
