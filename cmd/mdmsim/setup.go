package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet/store"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
)

// startRun builds the world on clk (nil: wall time), opens the target and
// enrolls the fleet cfg describes, as the flags say, telling rep how it
// goes. The caller closes the run, also on error when it is not nil.
func startRun(ctx context.Context, o *runOptions, rep *reporter, stderr io.Writer, cfg jobs.Config, clk clock.Clock) (*jobs.Run, error) {
	o.jobConfig(&cfg)
	cfg.Devices, cfg.Seed, cfg.Shard = o.devices, o.seed, o.shard
	cfg.StateDir = o.state
	cfg.Clock = clk
	cfg.Mint = o.enroll == "fast"
	cfg.MutualTLS = o.mtls
	cfg.Logger, cfg.ServerLogger = o.out.loggers(stderr)
	cfg.Say, cfg.OnPhase = rep.say, rep.onPhase
	return jobs.Start(ctx, cfg)
}

// virtualClock is the clock of a scenario: discrete-event by default, so a
// run's verdict depends on its seed alone, or scaled (--speed) for a server
// that lives on real time.
type virtualClock struct {
	clock.Clock
	discrete *clock.Discrete
	scaled   *clock.Scaled
	// verb starts its warnings ("mdmsim run").
	verb string
}

// behindWarn is how far a scaled run may fall behind its pacing before it
// says so: more than the device timings' own granularity.
const behindWarn = time.Minute

// storyStart is when a scenario's story begins: a weekday morning ten
// days after the newest release of the catalog.
func storyStart(cat *catalog.Catalog) time.Time {
	return cat.LatestPostingDate().AddDate(0, 0, 10).Add(9 * time.Hour)
}

// storyStartFor is where a scenario's clock starts: where the saved run
// left it when --state resumes one, else storyStart.
func (o *runOptions) storyStartFor(cat *catalog.Catalog) (time.Time, error) {
	if o.state != "" {
		info, ok, err := store.Peek(o.state)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: --state: %w", jobs.ErrSetup, err)
		}
		if ok && !info.VirtualTime.IsZero() {
			return info.VirtualTime, nil
		}
	}
	return storyStart(cat), nil
}

// maxSpeed bounds --speed: at 1e9 a second of wall time is already three
// decades of virtual time, far more than any machine's timers keep up
// with (a test runs there to see the run say so); beyond it a story's
// dates overflow into nonsense.
const maxSpeed = 1e9

// checkSpeed refuses a --speed that is not 0 (zero meaning what zeroMeans
// says) or a finite number from 1 to maxSpeed.
func checkSpeed(v float64, zeroMeans string) error {
	if v == 0 || (v >= 1 && v <= maxSpeed) {
		return nil
	}
	return usageErrorf("--speed must be 0 (%s) or from 1 to %g, have %v", zeroMeans, float64(maxSpeed), v)
}

func newVirtualClock(verb string, start time.Time, speed float64, stderr io.Writer) *virtualClock {
	if speed > 0 {
		s := clock.NewScaled(start, speed)
		return &virtualClock{Clock: s, scaled: s, verb: verb}
	}
	d := clock.NewDiscrete(start, clock.WithStallReport(30*time.Second, func(s clock.Stall) {
		fmt.Fprintf(stderr, "%s: warning: %s\n", verb, s)
	}))
	return &virtualClock{Clock: d, discrete: d, verb: verb}
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
		fmt.Fprintf(stderr, "%s: warning: the machine could not keep up with --speed %g: timers fired up to %s of virtual time late; results may show it (run without --speed for the discrete-event clock)\n",
			v.verb, v.scaled.Factor(), b.Round(time.Second))
	}
	return b.Round(time.Second).Seconds()
}

// pause closes a job's story: virtual time stops (on the discrete clock),
// so what the job reads afterwards (devices' histories) is that instant.
func (v *virtualClock) pause() {
	if v.discrete != nil {
		v.discrete.Pause()
	}
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
