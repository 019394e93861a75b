package scenarios

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/brianvoe/gofakeit/v6"
	"github.com/micromdm/plist"
	"github.com/onsi/ginkgo/v2"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// Spec is one conformance spec's world: a clock, the mocks, the target
// opened in them, the devices the spec builds, and a transcript of
// everything the devices did. NewSpec builds it in a spec's BeforeEach
// (or It); it is closed when the spec ends.
type Spec struct {
	Ctx        context.Context
	World      *World
	Target     Target
	Clock      clock.Clock
	Transcript *Transcript
	// Start is when the spec's story begins, on Clock.
	Start time.Time

	discrete *clock.Discrete
	hold     *clock.Work
	held     bool

	env     *simulator.Env
	enr     Enrollment
	profile *protocol.EnrollmentProfile
	faker   *gofakeit.Faker
}

// SpecStart is when every spec's story begins: a weekday morning ten days
// after the newest release of the catalog, as mdmsim run's scenarios.
func SpecStart(cat *catalog.Catalog) time.Time {
	return cat.LatestPostingDate().AddDate(0, 0, 10).Add(9 * time.Hour)
}

// NewSpec builds a spec's world and opens the target in it; it fails the
// spec (ginkgo.Fail) when it cannot. seed draws the spec's devices.
func NewSpec(seed int64, opts ...simulator.Option) *Spec {
	ginkgo.GinkgoHelper()
	if suite.open == nil {
		ginkgo.Fail(ErrNoSuite.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), specTimeout())
	ginkgo.DeferCleanup(cancel)
	cat := catalog.Default()
	s := &Spec{Ctx: ctx, Start: SpecStart(cat), Transcript: newTranscript(), faker: gofakeit.New(seed)}
	o := suite.opts
	wc := WorldConfig{Catalog: cat, Seed: seed, ProxyAddr: o.ProxyAddr, CADir: o.CADir}
	switch {
	case o.InProcess:
		s.discrete = clock.NewDiscrete(s.Start)
		wc.Clock, wc.ProxyAddr = s.discrete, ""
		s.hold = s.discrete.Work("spec")
	case o.Speed > 1:
		wc.Clock = clock.NewScaled(s.Start, o.Speed)
	default:
		s.Start = time.Now()
		wc.Clock = clock.Real()
	}
	s.Clock = wc.Clock
	w, err := NewWorld(wc)
	if err != nil {
		ginkgo.Fail(fmt.Sprintf("the world: %v", err))
	}
	s.World = w
	ginkgo.DeferCleanup(func() {
		// Time stops first, so no device timer fires into a closed server.
		if s.discrete != nil {
			s.discrete.Close()
		}
		if s.Target != nil {
			s.Target.Close()
		}
		if s.env != nil {
			s.env.Close()
		}
		w.Close()
	})
	if s.Target, err = suite.open(ctx, w); err != nil {
		ginkgo.Fail(fmt.Sprintf("opening the target: %v", err))
	}
	if s.enr, err = s.Target.Enrollment(ctx); err != nil {
		ginkgo.Fail(fmt.Sprintf("%s: enrollment: %v", s.Target.Name(), err))
	}
	base := []simulator.Option{simulator.WithClock(s.Clock), simulator.WithPushService(w.APNs), simulator.WithCatalog(cat),
		simulator.WithEvents(w.Observer.OnEvent), simulator.WithEvents(s.Transcript.record(s.Clock)),
		simulator.WithRootCAs(s.enr.Roots...)}
	if s.enr.PollInterval > 0 {
		base = append(base, simulator.WithPollInterval(s.enr.PollInterval))
	}
	s.env = simulator.NewEnv(append(base, opts...)...)
	if s.profile, err = s.enr.ReadProfile(ctx, s.env); err != nil {
		ginkgo.Fail(fmt.Sprintf("%s: %v", s.Target.Name(), err))
	}
	return s
}

// Require skips the spec, with the reason, unless the target offers caps.
func (s *Spec) Require(caps ...Capability) {
	ginkgo.GinkgoHelper()
	if err := Require(s.Target, caps...); err != nil {
		ginkgo.Skip(err.Error())
	}
}

// Profile is the target's enrollment profile, parsed.
func (s *Spec) Profile() *protocol.EnrollmentProfile { return s.profile }

// Env is the devices' environment.
func (s *Spec) Env() *simulator.Env { return s.env }

// DeviceSpec describes a device a spec needs; zero fields are drawn from
// the spec's seed.
type DeviceSpec struct {
	// Model ("Mac14,2", "iPhone15,2") or Platform picks the hardware.
	Model    string
	Platform catalog.Platform
	// OSVersion and Build pin the OS (both, as the catalog has them).
	OSVersion, Build string
	Unsupervised     bool
	User             update.UserProfile
	Env              update.Environment
	// FreeGB is the free disk space; 0 leaves plenty.
	FreeGB float64
	// Battery is the battery level (0–1); 0 leaves it full.
	Battery float64
	Quirks  []string
	// TimeZone, when set, is the device's IANA time zone.
	TimeZone string
}

// Device builds one device as d says and enrolls it in the target.
func (s *Spec) Device(d DeviceSpec) *simulator.Device {
	ginkgo.GinkgoHelper()
	return s.Devices(1, d)[0]
}

// Devices builds n devices as d says and enrolls them in the target; it
// fails the spec if one cannot enroll.
func (s *Spec) Devices(n int, d DeviceSpec) []*simulator.Device {
	ginkgo.GinkgoHelper()
	out := make([]*simulator.Device, 0, n)
	for range n {
		dev, err := s.NewDevice(d)
		if err != nil {
			ginkgo.Fail(err.Error())
		}
		if err := s.Enroll(dev); err != nil {
			ginkgo.Fail(fmt.Sprintf("%s: enroll %s: %v", s.Target.Name(), dev.UDID(), err))
		}
		out = append(out, dev)
	}
	return out
}

// NewDevice builds a device as d says, not enrolled.
func (s *Spec) NewDevice(d DeviceSpec) (*simulator.Device, error) {
	id, err := identity.New(s.faker, identity.Options{Model: d.Model, Platform: d.Platform, Catalog: s.World.Catalog})
	if err != nil {
		return nil, err
	}
	if d.OSVersion != "" {
		id.OSVersion, id.BuildVersion = d.OSVersion, d.Build
		id.SupplementalBuildVersion, id.SupplementalOSVersionExtra = "", ""
	}
	id.IsSupervised = !d.Unsupervised
	id.AvailableDeviceCapacity = 100
	if d.FreeGB > 0 {
		id.AvailableDeviceCapacity = d.FreeGB
	}
	if d.TimeZone != "" {
		id.TimeZone = d.TimeZone
	}
	dev := s.env.NewDevice(id)
	dev.SetUserProfile(d.User)
	dev.SetEnvironment(d.Env)
	if d.Battery > 0 {
		dev.SetBatteryLevel(d.Battery)
	}
	for _, q := range d.Quirks {
		if err := dev.SetQuirk(q, true); err != nil {
			return nil, err
		}
	}
	return dev, nil
}

// Enroll enrolls a device in the target, as the target's enrollment says.
func (s *Spec) Enroll(dev *simulator.Device) error {
	if s.enr.Identities != nil {
		cred, err := s.enr.Identities(dev.UDID())
		if err != nil {
			return err
		}
		return dev.EnrollWithCredential(s.Ctx, s.profile, cred)
	}
	return dev.Enroll(s.Ctx, s.profile)
}

// Now is the spec's time.
func (s *Spec) Now() time.Time { return s.Clock.Now() }

// Advance lets the spec's story run for d: on the discrete-event clock
// time runs to exactly Now()+d, after everything due by then has run, and
// stops there; on real or scaled time the spec waits that long.
func (s *Spec) Advance(d time.Duration) {
	ginkgo.GinkgoHelper()
	if s.discrete == nil {
		if err := s.Clock.Sleep(s.Ctx, d); err != nil {
			ginkgo.Fail(fmt.Sprintf("waiting %v: %v", d, err))
		}
		return
	}
	reached := make(chan struct{})
	// The stop runs in a phase of its own, after the devices' and the
	// server's at that instant (clock.InPhase), and holds the clock there.
	clock.InPhase(s.discrete, 2).AfterFunc(d, func() {
		s.hold.Begin()
		close(reached)
	})
	if s.held {
		s.held = false
		s.hold.End()
	} else {
		s.discrete.Start()
	}
	select {
	case <-reached:
		s.held = true
	case <-s.Ctx.Done():
		ginkgo.Fail(fmt.Sprintf("virtual time did not reach +%v: %v (work held by %v)", d, s.Ctx.Err(), s.discrete.Busy()))
	}
}

// Eventually polls cond every step of the spec's time until it holds or
// limit has passed, and reports whether it held.
func (s *Spec) Eventually(limit, step time.Duration, cond func() bool) bool {
	ginkgo.GinkgoHelper()
	for waited := time.Duration(0); ; waited += step {
		if cond() {
			return true
		}
		if waited >= limit {
			return false
		}
		s.Advance(step)
	}
}

// Transcript is every device's history in a spec, in the order it came:
// the commands it answered (and how), its DDM status reports, its OS
// updates. A spec's fleet is small: it keeps everything.
type Transcript struct {
	mu  sync.Mutex
	log map[string][]Exchange
}

// Exchange is one thing a device did.
type Exchange struct {
	At          time.Time
	Kind        simulator.EventKind
	RequestType string
	CommandUUID string
	Status      protocol.Status
	Result      *protocol.Result
	// Command is the command as the server sent it (plist).
	Command []byte
	// Data is a status report's JSON; OSVersion the OS an update brought.
	Data      []byte
	OSVersion string
	Err       error
}

// Sent returns the command the server sent, as its dictionary
// ({"RequestType": …, …}); nil when it did not decode.
func (x Exchange) Sent() map[string]any {
	var env struct {
		Command map[string]any `plist:"Command"`
	}
	if plist.Unmarshal(x.Command, &env) != nil {
		return nil
	}
	return env.Command
}

func newTranscript() *Transcript { return &Transcript{log: map[string][]Exchange{}} }

func (t *Transcript) record(clk clock.Clock) func(simulator.Event) {
	return func(e simulator.Event) {
		x := Exchange{At: clk.Now(), Kind: e.Kind, RequestType: e.RequestType, CommandUUID: e.CommandUUID,
			Status: e.Status, Result: e.Result, Command: e.Command, Data: e.Data, OSVersion: e.OSVersion, Err: e.Err}
		t.mu.Lock()
		t.log[e.UDID] = append(t.log[e.UDID], x)
		t.mu.Unlock()
	}
}

// Of returns a device's history.
func (t *Transcript) Of(udid string) []Exchange {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Exchange(nil), t.log[udid]...)
}

// Commands returns the commands a device answered, in order, with how it
// answered ("ScheduleOSUpdate Acknowledged").
func (t *Transcript) Commands(udid string) []Exchange {
	var out []Exchange
	for _, x := range t.Of(udid) {
		if x.Kind == simulator.EventCommand {
			out = append(out, x)
		}
	}
	return out
}

// RequestTypes returns the RequestTypes a device answered, in order.
func (t *Transcript) RequestTypes(udid string) []string {
	var out []string
	for _, x := range t.Commands(udid) {
		out = append(out, x.RequestType)
	}
	return out
}

// Count returns how many times a device answered requestType.
func (t *Transcript) Count(udid, requestType string) int {
	n := 0
	for _, x := range t.Commands(udid) {
		if x.RequestType == requestType {
			n++
		}
	}
	return n
}
