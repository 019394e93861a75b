package refmdm_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/simulator"
)

// enrollTimeout bounds one fast enrollment of the benchmark: a store that
// makes enrollment quadratic never finishes 50 000 devices, and the
// benchmark then reports the rate it reached instead of hanging.
var enrollTimeout = flag.Duration("refmdm.enroll-timeout", 10*time.Minute, "bound on one BenchmarkEnrollFast enrollment")

// BenchmarkEnrollFast enrolls a fleet into a fresh stack on the fast path
// (identities the stack mints, as mdmsim run --enroll fast does) and
// reports devices/s. Each iteration is a new stack and a new fleet, so run
// it with -benchtime 1x.
func BenchmarkEnrollFast(b *testing.B) {
	if testing.Short() {
		b.Skip("enrolls up to 50 000 devices")
	}
	for _, n := range []int{1_000, 10_000, 50_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var devices int
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				d, e := enrollFast(b, n)
				b.StartTimer()
				devices, elapsed = devices+d, elapsed+e
			}
			b.ReportMetric(float64(devices)/elapsed.Seconds(), "devices/s")
		})
	}
}

// enrollFast enrolls n devices into a new stack and returns how many
// enrolled and how long it took; setup is not timed.
func enrollFast(b *testing.B, n int) (int, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), *enrollTimeout+time.Minute)
	defer cancel()
	stack, err := refmdm.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stack.Close()
	f, err := fleet.New(fleet.Config{Devices: n, Seed: 1},
		simulator.WithPushService(stack.APNs()), simulator.WithHTTPClient(stack.HTTPClient()))
	if err != nil {
		b.Fatal(err)
	}
	profile, err := f.Env().FetchProfile(ctx, stack.EnrollURL())
	if err != nil {
		b.Fatal(err)
	}
	ectx, ecancel := context.WithTimeout(ctx, *enrollTimeout)
	defer ecancel()
	start := time.Now()
	got, err := f.Enroll(ectx, profile, stack.MintCredential)
	elapsed := time.Since(start)
	if ectx.Err() != nil {
		got = int(f.Counters().Enrolled.Load())
		b.Logf("%d devices: timed out after %v with %d enrolled", n, elapsed.Round(time.Second), got)
		return got, elapsed
	}
	if err != nil || got != n {
		b.Fatalf("enrolled %d of %d: %v", got, n, err)
	}
	return got, elapsed
}
