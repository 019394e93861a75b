package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

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
