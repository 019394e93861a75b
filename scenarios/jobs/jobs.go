// Package jobs holds the harness's jobs: a fleet drawn from a seed,
// enrolled in a target, asked to do something, and summed up. The CLI's
// `mdmsim run` parses flags into these configs and prints what they
// return; Go code calls them the same way.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/fleet/store"
	"github.com/mdmsim/mdmsim/mockgdmf"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/scenarios/targets"
	"github.com/mdmsim/mdmsim/simulator"
)

// Config is what every job starts from: the target, the fleet and its time.
type Config struct {
	// Target is "embedded" (the default) or a target file.
	Target string
	// Devices, Seed, Population and Quirks draw the fleet.
	Devices    int
	Seed       int64
	Population *fleet.Population
	Quirks     map[string]float64
	// MacFraction is the share of Macs; nil means fleet.DefaultMacFraction.
	MacFraction *float64
	// Releases are posted on the catalog's timeline before the fleet is
	// drawn, each at its At: releases that may not exist yet (a 27.0),
	// served by the mock GDMF and offered to devices from then on.
	Releases []mockgdmf.Posting
	// Shard, when set, runs only that slice of the fleet (fleet.Shard):
	// Devices stays the whole fleet's size, and the job's summary counts
	// the shard's devices (Devices is the shard's), for MergeSummaries to
	// add up.
	Shard fleet.Shard
	// Catalog is Apple's world; nil means catalog.Default().
	Catalog *catalog.Catalog
	// Clock is the world's time; nil means the wall clock.
	Clock clock.Clock
	// Mint enrolls with identities the embedded stack mints (no SCEP).
	Mint bool
	// MutualTLS makes the embedded stack's devices use TLS client
	// authentication.
	MutualTLS bool
	// ProxyAddr is where the APNs CONNECT proxy listens for a server
	// outside the process ("" picks a free port when the target needs it).
	ProxyAddr string
	// GDMFAddr is where the mock GDMF listens ("" picks a free port).
	GDMFAddr string
	// CADir keeps the mock APNs's CA across runs (see
	// scenarios.WorldConfig.CADir).
	CADir string
	// Device options besides the world's (timings, request timeout, …).
	DeviceOptions []simulator.Option
	Logger        *slog.Logger
	// ServerLogger is the embedded stack's logger; nil means Logger.
	ServerLogger *slog.Logger
	// Say prints a progress line; nil prints nothing.
	Say func(format string, a ...any)
	// OnPhase, when set, is called as each phase of the job starts (see
	// Phase); a phase ends when the next one starts or the job returns.
	OnPhase func(Phase)
	// StateDir, when set, keeps the fleet's state there (fleet/store) as it
	// changes, and a run started on a directory that holds a fleet resumes
	// it: the devices come back enrolled with their identities, and only
	// the others enroll. Resuming needs a server outside the process: an
	// in-process target (embedded, null) died with the run that enrolled
	// the fleet, and Start refuses to resume against one.
	StateDir string
}

// Phase names of a job, in the order they come.
const (
	PhaseDraw    = "draw"    // drawing the fleet from the seed
	PhaseEnroll  = "enroll"  // enrolling it in the target
	PhaseCommand = "command" // the DeviceInformation job's round
	PhaseEnforce = "enforce" // an update job's enforcement
)

// Phase is one step of a job, as people follow it: its name, how many
// steps it has and, read at any time from any goroutine, how many are done
// and what else is worth saying (the virtual day, compliance so far).
type Phase struct {
	Name  string
	Total int
	// Done counts the steps done so far; nil when it is not counted.
	Done func() int
	// Detail says more about the phase's state; nil when nothing does.
	Detail func() string
}

func (c *Config) phase(p Phase) {
	if c.OnPhase != nil {
		c.OnPhase(p)
	}
}

// Validate checks the config and fills in defaults.
func (c *Config) Validate() error {
	if c.Devices < 1 {
		return fmt.Errorf("devices must be at least 1, have %d", c.Devices)
	}
	if err := c.Shard.Validate(); err != nil {
		return err
	}
	if c.Target == "" {
		c.Target = targets.Embedded
	}
	if c.Catalog == nil {
		c.Catalog = catalog.Default()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Say == nil {
		c.Say = func(string, ...any) {}
	}
	return nil
}

// Run is a world, a target and a fleet enrolled in it.
type Run struct {
	Config Config
	World  *scenarios.World
	Target scenarios.Target
	Fleet  *scenarios.EnrolledFleet
	// State is the fleet's state file when Config.StateDir is set.
	State *store.Store
	// Restored counts the devices a resumed run found enrolled in State
	// (they are in Fleet.Enrolled too, once).
	Restored int
}

// ErrResumeInProcess is a state directory of a fleet enrolled in an
// in-process target, which died with the run that enrolled it.
var ErrResumeInProcess = errors.New("resuming needs a server outside the process")

// ErrSetup wraps what kept a job from starting: the target could not be
// opened or reached. The CLI tells it from failures the job found.
var ErrSetup = errors.New("setup")

// Start builds the world, opens the target and enrolls the fleet. The
// caller closes the Run, also when Start returns an error with it.
func Start(ctx context.Context, cfg Config) (*Run, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Run{Config: cfg}
	if cfg.StateDir != "" {
		var err error
		if r.State, err = openState(cfg); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSetup, err)
		}
	}
	wc := scenarios.WorldConfig{Clock: cfg.Clock, Catalog: cfg.Catalog, Seed: cfg.Seed, CADir: cfg.CADir, GDMFAddr: cfg.GDMFAddr}
	if !targets.InProcess(cfg.Target) {
		wc.ProxyAddr = cfg.ProxyAddr
		if wc.ProxyAddr == "" {
			wc.ProxyAddr = "127.0.0.1:0"
		}
	}
	var err error
	if r.World, err = scenarios.NewWorld(wc); err != nil {
		return r, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	if err := r.post(); err != nil {
		return r, err
	}
	opts := targets.Options{Logger: cfg.ServerLogger, Mint: cfg.Mint, MutualTLS: cfg.MutualTLS}
	if opts.Logger == nil {
		opts.Logger = cfg.Logger
	}
	if r.Target, err = targets.Open(ctx, cfg.Target, r.World, opts); err != nil {
		return r, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	return r, r.enroll(ctx)
}

// Attach enrolls the fleet cfg describes in a target the caller opened in
// w: how Go code runs a job against its own Target. Closing the Run closes
// the target and the world.
func Attach(ctx context.Context, cfg Config, w *scenarios.World, t scenarios.Target) (*Run, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Clock, cfg.Catalog = w.Clock, w.Catalog
	r := &Run{Config: cfg, World: w, Target: t}
	if cfg.StateDir != "" {
		var err error
		if r.State, err = openState(cfg); err != nil {
			return r, fmt.Errorf("%w: %w", ErrSetup, err)
		}
	}
	if err := r.post(); err != nil {
		return r, err
	}
	return r, r.enroll(ctx)
}

// openState opens the state directory and refuses to resume a fleet whose
// server died with an earlier process.
func openState(cfg Config) (*store.Store, error) {
	st, err := store.Open(cfg.StateDir, store.Fleet{Seed: cfg.Seed, Devices: cfg.Devices, Target: cfg.Target, Shard: cfg.Shard})
	if err != nil {
		return nil, err
	}
	if st.Resuming() && targets.InProcess(cfg.Target) {
		st.Close()
		return nil, fmt.Errorf("%w: %s holds a fleet enrolled in the in-process target %q, whose enrollments died with it (start with an empty --state)",
			ErrResumeInProcess, cfg.StateDir, cfg.Target)
	}
	return st, nil
}

// post posts the config's releases on the world's timeline.
func (r *Run) post() error {
	for i, p := range r.Config.Releases {
		if err := r.World.GDMF.Post(p); err != nil {
			return fmt.Errorf("%w: release %d: %w", ErrSetup, i, err)
		}
	}
	return nil
}

func (r *Run) enroll(ctx context.Context) error {
	cfg := r.Config
	mac := fleet.DefaultMacFraction
	if cfg.MacFraction != nil {
		mac = *cfg.MacFraction
	}
	var built atomic.Int64
	fc := fleet.Config{Devices: cfg.Devices, Seed: cfg.Seed, MacFraction: mac,
		Catalog: cfg.Catalog, Population: cfg.Population, Quirks: cfg.Quirks, Shard: cfg.Shard,
		OnBuilt: func(n int) { built.Store(int64(n)) }}
	devOpts := append([]simulator.Option{simulator.WithLogger(cfg.Logger)}, cfg.DeviceOptions...)
	if r.State != nil {
		devOpts = append(devOpts, simulator.WithStateSink(r.State))
	}
	cfg.phase(Phase{Name: PhaseDraw, Total: r.Devices(), Done: func() int { return int(built.Load()) }})
	var err error
	r.Fleet, err = scenarios.Draw(ctx, r.World, r.Target, fc, devOpts...)
	if r.Fleet == nil || err != nil {
		if ctx.Err() != nil {
			// Stopped, not broken: the caller reports what was done.
			return err
		}
		return fmt.Errorf("%w: %w", ErrSetup, err)
	}
	if r.State != nil {
		r.State.SetClock(r.World.Clock)
		if r.Restored, err = r.State.Resume(r.Fleet.Fleet); err != nil {
			return fmt.Errorf("%w: %w", ErrSetup, err)
		}
		r.Fleet.Enrolled += r.Restored
		if r.Restored > 0 {
			cfg.Say("resumed %d enrolled devices from %s", r.Restored, cfg.StateDir)
		}
	}
	counts := r.Fleet.Counters()
	cfg.phase(Phase{Name: PhaseEnroll, Total: r.Devices(), Done: func() int { return int(counts.Enrolled.Load()) }})
	return r.Fleet.Enroll(ctx)
}

// Devices is how many devices the run holds: the whole fleet's, or its
// shard's.
func (r *Run) Devices() int {
	lo, hi := r.Config.Shard.Range(r.Config.Devices)
	return hi - lo
}

// Close writes the fleet's last changes to its state, if any, and closes
// the target and the world.
func (r *Run) Close() error {
	var errs []error
	if r.State != nil {
		errs = append(errs, r.State.Close())
	}
	if r.Target != nil {
		errs = append(errs, r.Target.Close())
	}
	if r.World != nil {
		errs = append(errs, r.World.Close())
	}
	return errors.Join(errs...)
}

// MixString prints a fleet's mix: "6 Mac, 6 iPad, 8 iPhone".
func MixString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

// OSMajorsString prints a fleet's OS majors, newest first per platform:
// "iOS 26: 14, 18: 5, 17: 1; macOS 26: 12, 15: 5, 14: 2".
func OSMajorsString(m map[catalog.Platform]map[int]int) string {
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(m)) {
		majors := slices.Sorted(maps.Keys(m[p]))
		slices.Reverse(majors)
		counts := make([]string, len(majors))
		for i, v := range majors {
			counts[i] = fmt.Sprintf("%d: %d", v, m[p][v])
		}
		parts = append(parts, string(p)+" "+strings.Join(counts, ", "))
	}
	return strings.Join(parts, "; ")
}

// Rollout is what both update jobs report of their fleet: the verdicts,
// who enrolled, the mix, and the length of the story.
type Rollout struct {
	ShardOf
	reference.Report
	Enrolled int            `json:"enrolled"`
	Mix      map[string]int `json:"mix"`
	// OSMajors counts the fleet's devices per platform and OS major
	// when the rollout starts (OSMajorsString prints it).
	OSMajors map[catalog.Platform]map[int]int `json:"os_majors"`
	// Polling is set when devices checked in on their own, not when
	// pushed: the run shows the server's command handling, not a fleet's.
	Polling bool `json:"polling,omitempty"`
	// Partial is set when the run was stopped (Ctrl-C, a timeout) before
	// its end: the report is what was done until then.
	Partial bool `json:"partial,omitempty"`
	// Story is the longest enforcement, on the world's clock.
	Story time.Duration `json:"-"`
	// ToCompliance holds, for every device found compliant, how long into
	// the enforcement the enforcer saw it run its target, on the world's
	// clock, shortest first; 0 for a device that already ran the newest
	// it could (nothing to enforce). It is the fleet's time to compliance,
	// and its compliance curve (Curve).
	ToCompliance []time.Duration `json:"-"`
}

// rollout starts a rollout's summary.
func (r *Run) rollout(job string) Rollout {
	return Rollout{ShardOf: r.shardOf(job), Report: reference.Report{Devices: r.Devices(), Reasons: map[string]int{}},
		Enrolled: r.Fleet.Enrolled, Mix: r.Fleet.Mix(), OSMajors: r.Fleet.OSMajors(), Polling: r.Fleet.Polling}
}

// end closes a rollout: stop (if set) stops time, the story is the longest
// enforcement, and the outcomes of the enrolled devices are summed up for
// the whole fleet.
func (s *Rollout) end(ctx context.Context, r *Run, outcomes []reference.Outcome, stop func()) error {
	if stop != nil {
		stop()
	}
	for _, o := range outcomes {
		s.Story = max(s.Story, o.Elapsed)
	}
	s.Report = reference.Summarize(outcomes)
	notEnrolled(&s.Report, r.Devices())
	s.ToCompliance = make([]time.Duration, 0, s.Compliant)
	for _, o := range outcomes {
		switch {
		case !o.Compliant:
		case o.Target == "":
			// Compliant from the start. Its Elapsed is the time spent
			// finding that out (legacy) or the whole story (DDM).
			s.ToCompliance = append(s.ToCompliance, 0)
		default:
			s.ToCompliance = append(s.ToCompliance, o.Elapsed)
		}
	}
	slices.Sort(s.ToCompliance)
	if err := ctx.Err(); err != nil {
		// Stopped before the end: the verdicts so far, devices cut short
		// under "interrupted".
		s.Partial = true
		return fmt.Errorf("enforcement: %w", err)
	}
	return nil
}

// CompliantAt returns how many devices of the fleet were compliant d into
// the enforcement.
func (s *Rollout) CompliantAt(d time.Duration) int {
	return sort.Search(len(s.ToCompliance), func(i int) bool { return s.ToCompliance[i] > d })
}

// Progress is the fleet's compliance at one instant of a rollout.
type Progress struct {
	// At is the time into the enforcement, on the world's clock.
	At        time.Duration
	Compliant int
	// Share is Compliant over the whole fleet, enrolled or not (0..1).
	Share float64
}

// Curve returns the fleet's compliance every step into the enforcement,
// from its start to the end of its story; the last point is at Story,
// whether a step falls there or not. A device counts from the instant the
// enforcer saw it compliant, so the curve never falls and ends at the
// report's Compliant.
func (s *Rollout) Curve(step time.Duration) []Progress {
	if step <= 0 {
		panic("jobs: Curve needs a positive step")
	}
	at := func(d time.Duration) Progress {
		p := Progress{At: d, Compliant: s.CompliantAt(d)}
		if s.Devices > 0 {
			p.Share = float64(p.Compliant) / float64(s.Devices)
		}
		return p
	}
	var out []Progress
	for d := time.Duration(0); d < s.Story; d += step {
		out = append(out, at(d))
	}
	return append(out, at(s.Story))
}

// ReasonNotEnrolled counts the devices of a job's fleet that never
// enrolled: the enforcers never saw them.
const ReasonNotEnrolled = "not-enrolled"

// notEnrolled makes a report of the enrolled devices' outcomes one of the
// whole fleet.
func notEnrolled(rep *reference.Report, devices int) {
	if missing := devices - rep.Devices; missing > 0 {
		rep.Devices = devices
		rep.Noncompliant += missing
		rep.Reasons[ReasonNotEnrolled] += missing
	}
}

// enforcePhase starts an update job's enforcement phase: devices settled
// (finished < 0: not counted) and compliant so far, and the virtual day of
// a story about horizon long, from start on the world's clock.
func (r *Run) enforcePhase(start time.Time, horizon time.Duration, progress func() (finished, compliant int)) {
	days := int((horizon + 24*time.Hour - 1) / (24 * time.Hour))
	clk := r.World.Clock
	p := Phase{Name: PhaseEnforce, Total: r.Fleet.Enrolled,
		Detail: func() string {
			day := int(clk.Since(start)/(24*time.Hour)) + 1
			_, compliant := progress()
			return fmt.Sprintf("virtual day %d of %d, %d compliant", min(day, days), days, compliant)
		}}
	if f, _ := progress(); f >= 0 {
		p.Done = func() int { f, _ := progress(); return f }
	}
	r.Config.phase(p)
}

// partialNote marks a line of a run stopped before its end.
func partialNote(partial bool) string {
	if partial {
		return " (partial: stopped before the end)"
	}
	return ""
}

// sayReasons prints a report's reasons, most frequent first.
func (r *Run) sayReasons(rep reference.Report) {
	for _, reason := range rep.SortReasons() {
		r.Config.Say("  %-24s %d", reason, rep.Reasons[reason])
	}
}
