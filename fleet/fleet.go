package fleet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Defaults of a fleet.
const (
	DefaultDevices     = 20
	DefaultMacFraction = 0.5
	DefaultConcurrency = 32
)

// Config describes a population.
type Config struct {
	// Devices is how many devices to simulate.
	Devices int
	// Seed drives every random choice: the same seed gives the same fleet.
	Seed int64
	// MacFraction is the share of Macs; the rest are iPhones and iPads.
	MacFraction float64
	// Concurrency bounds parallel enrollments.
	Concurrency int
	// Catalog supplies models' OS releases; nil means catalog.Default().
	// The devices' Env reads it too, unless an option sets another.
	Catalog *catalog.Catalog
	// Population draws each device's user and situation, and the
	// weights of its model, OS, time zone and enrollment (population.go);
	// its failure chances go to the Env (simulator.WithFailures). Nil
	// leaves every device cooperative, on power and online.
	Population *Population
	// Start is when the fleet's story starts: with a Population, every
	// device runs an OS release posted by then. Zero means any release
	// the catalog holds.
	Start time.Time
	// Quirks switches software-update quirks, by name (update.Quirks),
	// on for a share of the devices each applies to and off for the rest.
	Quirks map[string]float64
	// OnBuilt, when set, is told how many devices are drawn so far, every
	// builtEvery devices and once at the end: a progress line for fleets
	// that take seconds to draw. A shard counts the devices it holds.
	OnBuilt func(built int)
	// Shard, when set, makes the fleet only its block of the Devices
	// (Shard.Range): every device it holds is the same device, drawn the
	// same way, as in the whole fleet. Devices stays the whole fleet's
	// size.
	Shard Shard
}

// builtEvery is how often NewContext reports its progress and looks at its
// context.
const builtEvery = 4096

// Validate checks a Config and fills defaults.
func (c *Config) Validate() error {
	if c.Devices < 0 {
		return fmt.Errorf("fleet: devices must be >= 0, have %d", c.Devices)
	}
	if c.MacFraction < 0 || c.MacFraction > 1 {
		return fmt.Errorf("fleet: mac fraction must be in [0,1], have %v", c.MacFraction)
	}
	if err := c.Shard.Validate(); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Catalog == nil {
		c.Catalog = catalog.Default()
	}
	if c.Population != nil {
		if err := c.Population.Validate(); err != nil {
			return err
		}
	}
	return validateQuirks(c.Quirks)
}

// Fleet is a population of devices sharing one simulator.Env.
type Fleet struct {
	cfg     Config
	lo      int // the fleet index of devices[0] (a shard's first)
	env     *simulator.Env
	devices []*simulator.Device
	byUDID  map[string]*simulator.Device
	counts  Counters
}

// Counters is what a fleet's devices did, updated as events arrive.
type Counters struct {
	Enrolled      atomic.Int64
	CheckedOut    atomic.Int64
	Commands      atomic.Int64
	Acknowledged  atomic.Int64
	Errors        atomic.Int64
	NotNow        atomic.Int64
	FormatErrors  atomic.Int64
	SessionErrors atomic.Int64
}

// New draws a fleet from cfg. Options configure the shared Env; an OnEvent
// given there still runs, after the fleet's own counting.
func New(cfg Config, opts ...simulator.Option) (*Fleet, error) {
	return NewContext(context.Background(), cfg, opts...)
}

// NewContext is New that gives up, with ctx's error, once ctx is done: a
// million devices take seconds to draw.
func NewContext(ctx context.Context, cfg Config, opts ...simulator.Option) (*Fleet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lo, hi := cfg.Shard.Range(cfg.Devices)
	f := &Fleet{cfg: cfg, lo: lo, byUDID: make(map[string]*simulator.Device, hi-lo)}
	base := []simulator.Option{simulator.WithCatalog(cfg.Catalog), simulator.WithEvents(f.count)}
	var picker *identity.Picker
	if cfg.Population != nil {
		var err error
		if picker, err = cfg.Population.picker(cfg.Catalog, cfg.Start, cfg.Seed); err != nil {
			return nil, err
		}
		base = append(base, simulator.WithFailures(cfg.Population.Failures))
	}
	f.env = simulator.NewEnv(append(base, opts...)...)
	faker := gofakeit.New(cfg.Seed)
	// The population's stream is its own: drawing device i's situation
	// right after its identity leaves both streams as drawing all
	// identities first would.
	var pop *rand.Rand
	if cfg.Population != nil {
		pop = populationStream(cfg.Seed)
	}
	// Quirks are shared out over the whole fleet by platform: a shard
	// needs every device's platform (for a moment, not per device kept).
	var platforms []catalog.Platform
	last := hi
	if len(cfg.Quirks) > 0 {
		platforms = make([]catalog.Platform, 0, cfg.Devices)
		last = cfg.Devices
	}
	// Devices before lo are drawn and dropped: the streams are sequential,
	// and the same device must come out at the same index in every shard.
	// A shard's cost is drawing up to hi identities (all of them with
	// quirks), not holding them.
	for i := 0; i < last; i++ {
		if i%builtEvery == 0 && i > 0 {
			if err := ctx.Err(); err != nil {
				f.env.Close()
				return nil, fmt.Errorf("fleet: drawing device %d of %d: %w", i, cfg.Devices, err)
			}
			if cfg.OnBuilt != nil {
				cfg.OnBuilt(min(max(i-lo, 0), hi-lo))
			}
		}
		platform := catalog.IOS
		if faker.Rand.Float64() < cfg.MacFraction {
			platform = catalog.MacOS
		}
		id, err := identity.New(faker, identity.Options{Platform: platform, Catalog: cfg.Catalog, Picker: picker})
		if err != nil {
			return nil, fmt.Errorf("fleet: device %d: %w", i, err)
		}
		if platforms != nil {
			platforms = append(platforms, id.Model.Platform)
		}
		if i >= hi {
			continue
		}
		var sit situation
		if pop != nil {
			sit = cfg.Population.draw(id, pop)
		}
		if i < lo {
			continue
		}
		// Duplicates are looked for within the fleet this process holds;
		// a UDID is 128 random bits (or an ECID's 64), so a duplicate
		// across shards is as unlikely as one within.
		if _, dup := f.byUDID[id.UDID]; dup {
			return nil, fmt.Errorf("fleet: device %d: duplicate UDID %s", i, id.UDID)
		}
		d := f.env.NewDevice(id)
		if pop != nil {
			sit.apply(d)
		}
		f.devices = append(f.devices, d)
		f.byUDID[id.UDID] = d
	}
	if len(cfg.Quirks) > 0 {
		applyQuirks(platforms, f.devices, lo, cfg.Quirks, cfg.Seed)
	}
	if cfg.OnBuilt != nil {
		cfg.OnBuilt(len(f.devices))
	}
	return f, nil
}

// Shard is the slice of the fleet this Fleet holds (the zero Shard: all
// of it).
func (f *Fleet) Shard() Shard { return f.cfg.Shard }

// Offset is the fleet index of Devices()[0]: the number of devices of the
// whole fleet before this shard's block. A device's fleet index,
// Offset()+i, is the same in every shard and in the unsharded run: what a
// job keys per-device draws on.
func (f *Fleet) Offset() int { return f.lo }

// Size is the whole fleet's number of devices, every shard's together.
func (f *Fleet) Size() int { return f.cfg.Devices }

func (f *Fleet) count(e simulator.Event) {
	c := &f.counts
	switch e.Kind {
	case simulator.EventEnrolled:
		c.Enrolled.Add(1)
	case simulator.EventCheckedOut:
		c.CheckedOut.Add(1)
	case simulator.EventSessionError:
		c.SessionErrors.Add(1)
	case simulator.EventCommand:
		c.Commands.Add(1)
		switch e.Status {
		case protocol.StatusAcknowledged:
			c.Acknowledged.Add(1)
		case protocol.StatusError:
			c.Errors.Add(1)
		case protocol.StatusNotNow:
			c.NotNow.Add(1)
		case protocol.StatusCommandFormatError:
			c.FormatErrors.Add(1)
		}
	}
}

// Env is the environment the devices share.
func (f *Fleet) Env() *simulator.Env { return f.env }

// Devices returns the devices in creation order.
func (f *Fleet) Devices() []*simulator.Device { return f.devices }

// Device finds a device by UDID.
func (f *Fleet) Device(udid string) (*simulator.Device, bool) {
	d, ok := f.byUDID[udid]
	return d, ok
}

// UDIDs lists the devices' UDIDs in creation order.
func (f *Fleet) UDIDs() []string {
	out := make([]string, len(f.devices))
	for i, d := range f.devices {
		out[i] = d.UDID()
	}
	return out
}

// EnrolledUDIDs returns the UDIDs of the devices enrolled now, in fleet
// order.
func (f *Fleet) EnrolledUDIDs() []string {
	out := make([]string, 0, len(f.devices))
	for _, d := range f.devices {
		if d.Enrolled() {
			out = append(out, d.UDID())
		}
	}
	return out
}

// Counters returns the live counters.
func (f *Fleet) Counters() *Counters { return &f.counts }

// Mix counts devices per model family, for reports.
func (f *Fleet) Mix() map[string]int {
	m := map[string]int{}
	for _, d := range f.devices {
		m[d.Identity().Model.Family]++
	}
	return m
}

// OSMajors counts devices per platform and OS major they run now, for
// reports: {"macOS": {26: 12, 15: 5}, "iOS": {26: 14, 18: 5}}.
func (f *Fleet) OSMajors() map[catalog.Platform]map[int]int {
	out := map[catalog.Platform]map[int]int{}
	for _, d := range f.devices {
		id := d.Identity()
		m := out[id.Model.Platform]
		if m == nil {
			m = map[int]int{}
			out[id.Model.Platform] = m
		}
		m[identity.Major(id.OSVersion)]++
	}
	return out
}

// IdentitySource mints an enrollment identity for a device (the fast path),
// in the compact form the device keeps (protocol.NewCredential converts
// an Identity); nil means every device enrolls over SCEP from the profile.
type IdentitySource func(commonName string) (*protocol.Credential, error)

// Enroll enrolls every device that is not enrolled yet, with at most
// cfg.Concurrency at once. It returns how many enrolled and the errors of
// those that did not (joined), so one bad device does not hide the rest.
func (f *Fleet) Enroll(ctx context.Context, profile *protocol.EnrollmentProfile, mint IdentitySource) (int, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		ok   atomic.Int64
		sem  = make(chan struct{}, f.cfg.Concurrency)
	)
	for _, d := range f.devices {
		if d.Enrolled() {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return int(ok.Load()), ctx.Err()
		}
		wg.Add(1)
		go func(d *simulator.Device) {
			defer wg.Done()
			defer func() { <-sem }()
			var err error
			if mint != nil {
				var cred *protocol.Credential
				if cred, err = mint(d.UDID()); err == nil {
					err = d.EnrollWithCredential(ctx, profile, cred)
				}
			} else {
				err = d.Enroll(ctx, profile)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			ok.Add(1)
		}(d)
	}
	wg.Wait()
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return int(ok.Load()), errors.Join(errs...)
}
