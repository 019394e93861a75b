package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/simulator"
)

// jobLogger logs the stack's and devices' activity to stderr with -v, and
// nothing otherwise.
func jobLogger(o runOptions, stderr io.Writer) *slog.Logger {
	if o.verbose {
		return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// sayer prints a human progress line unless the job prints JSON.
func sayer(o runOptions, stdout io.Writer) func(format string, a ...any) {
	return func(format string, a ...any) {
		if !o.json {
			fmt.Fprintf(stdout, format+"\n", a...)
		}
	}
}

// enrolledFleet is what every job starts from: the embedded stack and a fleet
// enrolled in it.
type enrolledFleet struct {
	stack    *refmdm.Stack
	fleet    *fleet.Fleet
	enrolled int
}

// enrollFleet starts the embedded stack, draws the fleet cfg describes on
// clk (nil: wall time) and enrolls it as --enroll says. The caller closes
// the stack, also on error when it is not nil.
func enrollFleet(ctx context.Context, o runOptions, logger *slog.Logger, cfg fleet.Config, clk clock.Clock) (*enrolledFleet, error) {
	stackOpts := []refmdm.Option{refmdm.WithLogger(logger)}
	if clk != nil {
		stackOpts = append(stackOpts, refmdm.WithClock(clk))
	}
	if o.mtls {
		stackOpts = append(stackOpts, refmdm.WithMutualTLS())
	}
	stack, err := refmdm.Start(ctx, stackOpts...)
	if err != nil {
		return nil, err
	}
	ef := &enrolledFleet{stack: stack}
	opts := []simulator.Option{simulator.WithPushService(stack.APNs()), simulator.WithHTTPClient(stack.HTTPClient()), simulator.WithLogger(logger)}
	if clk != nil {
		opts = append(opts, simulator.WithClock(clk))
	}

	if ef.fleet, err = fleet.New(cfg, opts...); err != nil {
		return ef, err
	}
	profile, err := ef.fleet.Env().FetchProfile(ctx, stack.EnrollURL())
	if err != nil {
		return ef, err
	}
	var mint fleet.IdentitySource
	if o.enroll == "fast" {
		mint = stack.MintIdentity
	}
	n, enrollErr := ef.fleet.Enroll(ctx, profile, mint)
	if err := stack.WaitEnrolled(ctx, n); err != nil {
		return ef, fmt.Errorf("waiting for the server to record %d enrollments: %w", n, err)
	}
	ef.enrolled = n
	return ef, enrollErr
}

// virtualClock is the clock of a scenario: discrete-event by default, so a
// run's verdict depends on its seed alone, or scaled (--speed) for a server
// that lives on real time.
type virtualClock struct {
	clock.Clock
	discrete *clock.Discrete
	scaled   *clock.Scaled
}

// behindWarn is how far a scaled run may fall behind its pacing before it
// says so: more than the device timings' own granularity.
const behindWarn = time.Minute

func newVirtualClock(start time.Time, speed float64, stderr io.Writer) *virtualClock {
	if speed > 0 {
		s := clock.NewScaled(start, speed)
		return &virtualClock{Clock: s, scaled: s}
	}
	d := clock.NewDiscrete(start, clock.WithStallReport(30*time.Second, func(s clock.Stall) {
		fmt.Fprintln(stderr, "mdmsim run: warning:", s)
	}))
	return &virtualClock{Clock: d, discrete: d}
}

// mode names the clock in the summary.
func (v *virtualClock) mode() string {
	if v.scaled != nil {
		return "scaled"
	}
	return "discrete"
}

// behind reports, in virtual seconds, how far a scaled run fell behind its
// pacing (warning on stderr past behindWarn); 0 on the discrete clock,
// which never does.
func (v *virtualClock) behind(stderr io.Writer) float64 {
	if v.scaled == nil {
		return 0
	}
	b := v.scaled.Behind()
	if b > behindWarn {
		fmt.Fprintf(stderr, "mdmsim run: warning: the machine could not keep up with --speed %g: timers fired up to %s of virtual time late; results may show it (run without --speed for the discrete-event clock)\n",
			v.scaled.Factor(), b.Round(time.Second))
	}
	return b.Round(time.Second).Seconds()
}

// end closes a job's story: virtual time stops (on the discrete clock), so
// what the job reads afterwards (devices' histories) is that instant, and
// the story's length is the longest enforcement, from the outcomes: on the
// scaled clock time runs on while they are read.
func end[O any](v *virtualClock, outcomes []O, elapsed func(O) time.Duration) time.Duration {
	if v.discrete != nil {
		v.discrete.Pause()
	}
	var story time.Duration
	for _, o := range outcomes {
		story = max(story, elapsed(o))
	}
	return story
}

func (v *virtualClock) close() {
	if v.discrete != nil {
		v.discrete.Close()
	}
}

// speedLabel says how virtual time runs, for the progress line.
func (v *virtualClock) speedLabel() string {
	if v.scaled != nil {
		return fmt.Sprintf("at %gx", v.scaled.Factor())
	}
	return "on the discrete-event clock"
}
