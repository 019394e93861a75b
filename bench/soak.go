package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator"
)

// Defaults of a soak.
const (
	DefaultSoakDays = 30
	// DefaultSoakCheckinEvery is how often each device checks in on its
	// own (simulator.WithPollInterval): three idle check-ins a day.
	DefaultSoakCheckinEvery = 8 * time.Hour
	// DefaultSoakTolerance is the goal: heap and RSS within 5% of the
	// first day's for the rest of the run.
	DefaultSoakTolerance = 0.05
	// soakEnableWait bounds, on the world's clock, the wait for every
	// device to answer the DeclarativeManagement command.
	soakEnableWait = time.Hour
)

// SoakConfig describes a soak: a fleet left running for days of virtual
// time, to show that what the process holds does not grow with time.
type SoakConfig struct {
	// Devices, Seed and Shard draw the fleet (fleet.Config).
	Devices int
	Seed    int64
	Shard   fleet.Shard
	// Days of virtual time (DefaultSoakDays).
	Days int
	// CheckinEvery is how often each device checks in on its own
	// (DefaultSoakCheckinEvery).
	CheckinEvery time.Duration
	// DDM turns declarative management on for every device (a
	// DeclarativeManagement command through the target): each then syncs
	// and sends a full status report every 24 hours of its own
	// (simulator.DDMSafetySyncInterval). It needs a target with a
	// declaration channel (embedded, or a server with KMFDDM).
	DDM bool
	// Tolerance is the goal's bound (DefaultSoakTolerance).
	Tolerance float64
	// OnDay, when set, is called at every virtual day boundary, day 0
	// being the enrolled fleet before time moves; time stands still while
	// it runs on the discrete-event clock.
	OnDay func(SoakDay)
	// DeviceOptions are added to the devices' Env.
	DeviceOptions []simulator.Option
	// Say prints progress; nil prints nothing.
	Say func(format string, a ...any)
}

// Validate checks the config and fills defaults.
func (c *SoakConfig) Validate() error {
	if c.Devices < 1 {
		return fmt.Errorf("bench: soak: devices must be at least 1, have %d", c.Devices)
	}
	if err := c.Shard.Validate(); err != nil {
		return fmt.Errorf("bench: soak: %w", err)
	}
	if c.Days < 0 || c.CheckinEvery < 0 || c.Tolerance < 0 {
		return errors.New("bench: soak: days, check-in interval and tolerance must not be negative")
	}
	if c.Days == 0 {
		c.Days = DefaultSoakDays
	}
	if c.CheckinEvery == 0 {
		c.CheckinEvery = DefaultSoakCheckinEvery
	}
	if c.Tolerance == 0 {
		c.Tolerance = DefaultSoakTolerance
	}
	if c.Say == nil {
		c.Say = func(string, ...any) {}
	}
	return nil
}

// SoakDay is the process and the fleet at one virtual day boundary.
type SoakDay struct {
	Day int `json:"day"`
	// HeapBytes is the live heap after a collection; RSSBytes the
	// process's resident set once freed memory is returned to the OS
	// (debug.FreeOSMemory; VmRSS on Linux, the peak elsewhere).
	HeapBytes uint64 `json:"heap_bytes"`
	RSSBytes  uint64 `json:"rss_bytes"`
	Enrolled  int    `json:"enrolled"`
	// Sessions are the devices' exchanges with the server so far (check-
	// ins that fetch commands), SessionErrors those that failed;
	// StatusReports and Syncs are their DDM status reports and syncs.
	Sessions      int64 `json:"sessions"`
	SessionErrors int64 `json:"session_errors"`
	StatusReports int64 `json:"status_reports"`
	Syncs         int64 `json:"syncs"`
	// Wall is the wall time since the soak began (time.Duration in
	// nanoseconds in JSON): what a day of the fleet costs, not a verdict.
	Wall time.Duration `json:"wall_ns"`
}

// SoakResult is a soak's days and its verdict.
type SoakResult struct {
	Devices   int       `json:"devices"`
	Seed      int64     `json:"seed"`
	Target    string    `json:"target"`
	Days      []SoakDay `json:"days"`
	Tolerance float64   `json:"tolerance"`
	// HeapDrift and RSSDrift are the largest relative distance from day
	// 1's figure of any later day's; Flat says both are within
	// Tolerance.
	HeapDrift float64 `json:"heap_drift"`
	RSSDrift  float64 `json:"rss_drift"`
	Flat      bool    `json:"flat"`
	Partial   bool    `json:"partial,omitempty"`
}

// Verdict says whether the soak met its goal.
func (r *SoakResult) Verdict() string {
	switch {
	case len(r.Days) < 3:
		return "too short to judge: days 1 and 2 at least are needed"
	case r.Flat:
		return fmt.Sprintf("flat: heap within %.1f%% and RSS within %.1f%% of day 1's (goal %.0f%%)", 100*r.HeapDrift, 100*r.RSSDrift, 100*r.Tolerance)
	}
	return fmt.Sprintf("not flat: heap drifted %.1f%% and RSS %.1f%% from day 1's (goal %.0f%%)", 100*r.HeapDrift, 100*r.RSSDrift, 100*r.Tolerance)
}

// Drift is the largest relative distance of any day after day 1 from day
// 1's figure, as get reads it; 0 with fewer than two such days.
func Drift(days []SoakDay, get func(SoakDay) uint64) float64 {
	var base uint64
	found := false
	drift := 0.0
	for _, d := range days {
		switch {
		case d.Day < 1:
		case !found:
			base, found = get(d), true
		case base > 0:
			drift = math.Max(drift, math.Abs(float64(get(d))-float64(base))/float64(base))
		}
	}
	return drift
}

// judge fills the verdict of r from its days.
func (r *SoakResult) judge() {
	r.HeapDrift = Drift(r.Days, func(d SoakDay) uint64 { return d.HeapBytes })
	r.RSSDrift = Drift(r.Days, func(d SoakDay) uint64 { return d.RSSBytes })
	r.Flat = len(r.Days) >= 3 && r.HeapDrift <= r.Tolerance && r.RSSDrift <= r.Tolerance
}

// Soak enrolls the fleet cfg describes in t, turns DDM on if asked, and
// lets it live cfg.Days of w's clock: every device checks in every
// CheckinEvery, and with DDM syncs and reports its status every day. At
// each day boundary it reads the live heap, the RSS and the fleet's
// exchanges, calls OnDay, and at the end judges whether heap and RSS
// stayed within Tolerance of day 1's.
//
// w's clock should be the discrete-event clock, paused (as
// clock.NewDiscrete returns it): the days then cost the CPU their
// exchanges need and no more, and the counts at each boundary are the same
// for the same seed. The boundaries are read in a late phase of their
// instant (clock.InPhase), once the exchanges due then are done. Against a
// server outside the process use a scaled clock; the soak then lasts
// Days/speed of wall time.
func Soak(ctx context.Context, w *scenarios.World, t scenarios.Target, cfg SoakConfig) (*SoakResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.DDM {
		if err := scenarios.Require(t, scenarios.CapCommands, scenarios.CapDeclarations); err != nil {
			return nil, fmt.Errorf("bench: soak with DDM: %w", err)
		}
	}
	wall := clock.Real()
	began := wall.Now()
	res := &SoakResult{Devices: cfg.Devices, Seed: cfg.Seed, Target: t.Name(), Tolerance: cfg.Tolerance}
	opts := append([]simulator.Option{simulator.WithPollInterval(cfg.CheckinEvery)}, cfg.DeviceOptions...)
	cfg.Say("enrolling %d devices in %s", cfg.Devices, t.Name())
	ef, err := scenarios.Enroll(ctx, w, t, fleet.Config{Devices: cfg.Devices, Seed: cfg.Seed, Shard: cfg.Shard,
		MacFraction: fleet.DefaultMacFraction, Catalog: w.Catalog}, opts...)
	if ef == nil {
		return nil, fmt.Errorf("bench: soak: %w", err)
	}
	defer ef.Env().Close()
	if ef.Enrolled == 0 {
		return nil, fmt.Errorf("bench: soak: no device enrolled: %w", err)
	}
	if cfg.DDM {
		if err := enableDDM(ctx, w, t, ef, cfg.Seed); err != nil {
			return nil, err
		}
	}
	devices := ef.Devices()
	read := func(day int) SoakDay {
		heap := HeapInUse()
		// The resident set right after a collection still holds the
		// collector's headroom of the moment, freed but not returned, which
		// swings by a tenth from one reading to the next: return it first,
		// so that the figure is what the process holds.
		debug.FreeOSMemory()
		d := SoakDay{Day: day, HeapBytes: heap, RSSBytes: currentRSS(), Wall: wall.Since(began)}
		for _, dev := range devices {
			if dev.Enrolled() {
				d.Enrolled++
			}
			st := dev.Stats()
			d.Sessions += int64(st.Sessions)
			d.SessionErrors += int64(st.SessionErrors)
			ds := dev.DDMStats()
			d.StatusReports += int64(ds.Reports)
			d.Syncs += int64(ds.Syncs)
		}
		return d
	}
	// A day is recorded on a clock worker; the result is read here once
	// the last day is, or once ctx ends with a day perhaps being read.
	var mu sync.Mutex
	record := func(d SoakDay) {
		mu.Lock()
		defer mu.Unlock()
		res.Days = append(res.Days, d)
		if cfg.OnDay != nil {
			cfg.OnDay(d)
		}
	}
	record(read(0))

	// One timer a day, in a phase after the devices' and the server's,
	// armed by the one before: never more than one pending.
	late := clock.InPhase(w.Clock, 9)
	done := make(chan struct{})
	var day int
	var tick func()
	tick = func() {
		day++
		record(read(day))
		if day < cfg.Days && ctx.Err() == nil {
			late.AfterFunc(24*time.Hour, tick)
			return
		}
		close(done)
	}
	late.AfterFunc(24*time.Hour, tick)
	cfg.Say("%d devices enrolled; %d virtual days, a check-in every %s each%s", ef.Enrolled, cfg.Days, cfg.CheckinEvery,
		map[bool]string{true: ", DDM status reports daily", false: ""}[cfg.DDM])
	clock.Start(w.Clock)
	select {
	case <-done:
	case <-ctx.Done():
		res.Partial = true
	}
	if p, ok := w.Clock.(interface{ Pause() }); ok {
		p.Pause()
	}
	mu.Lock()
	defer mu.Unlock()
	out := *res
	out.Days = slices.Clone(res.Days)
	out.judge()
	return &out, nil
}

// enableDDM sends every enrolled device DeclarativeManagement through the
// target and waits for their answers: from then on each syncs and
// reports its status every day of its own.
func enableDDM(ctx context.Context, w *scenarios.World, t scenarios.Target, ef *scenarios.EnrolledFleet, seed int64) error {
	udids := ef.EnrolledUDIDs()
	uuid := fmt.Sprintf("6D646D73-736F-4000-8%03X-%012X", ef.Shard().Tag(), uint64(seed)&0xffffffffffff)
	obs := w.Observer
	obs.Expect(uuid)
	defer obs.Forget(uuid)
	if err := t.Commands().Enqueue(ctx, udids, scenarios.Command{UUID: uuid, RequestType: "DeclarativeManagement"}); err != nil {
		return fmt.Errorf("bench: soak: enable DDM: %w", err)
	}
	ok, err := obs.Await(ctx, uuid, len(udids), nil, w.Clock, soakEnableWait)
	if err != nil {
		return fmt.Errorf("bench: soak: enable DDM: %w", err)
	}
	if !ok {
		return fmt.Errorf("bench: soak: enable DDM: %d of %d devices answered within %s", len(obs.Answers(uuid)), len(udids), soakEnableWait)
	}
	return nil
}
