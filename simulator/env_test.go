package simulator_test

import (
	"context"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/internal/testutil"
	"github.com/mdmsim/mdmsim/simulator"
)

// TestEnvEndsBackgroundSessions: cancelling the base context, or closing
// the Env, ends the session a push started and makes the device ignore
// later pushes.
func TestEnvEndsBackgroundSessions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(cancel context.CancelFunc, env *simulator.Env)
	}{
		{"cancel base context", func(cancel context.CancelFunc, _ *simulator.Env) { cancel() }},
		{"Close", func(_ context.CancelFunc, env *simulator.Env) { env.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newScriptedServer(t)
			base, cancel := context.WithCancel(context.Background())
			defer cancel()
			clk := clock.NewDiscrete(time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC))
			defer clk.Close()
			d, _ := enrolledDevice(t, srv, simulator.AccessAll, catalog.MacOS, simulator.WithClock(clk), simulator.WithBaseContext(base))
			hold := make(chan struct{})
			defer close(hold)
			srv.mu.Lock()
			srv.hold = hold
			srv.mu.Unlock()

			d.Wake()
			testutil.Eventually(t, "the condition", func() bool {
				srv.mu.Lock()
				defer srv.mu.Unlock()
				return srv.held == 1
			})
			tc.end(cancel, d.Env())
			ctx, stop := context.WithTimeout(context.Background(), time.Minute)
			defer stop()
			if err := clk.WaitIdle(ctx); err != nil {
				t.Fatalf("the pushed session did not end: %v (%v)", err, clk.Busy())
			}
			before := d.Stats()
			if before.SessionErrors != 1 {
				t.Fatalf("stats %+v, want the held session to end in an error", before)
			}
			d.Wake()
			if err := clk.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			if have := d.Stats(); have.Sessions != before.Sessions || clk.Pending() != 0 {
				t.Fatalf("a push after the end: have %+v (%d timers), want no session and no retry", have, clk.Pending())
			}
		})
	}
}
