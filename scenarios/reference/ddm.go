package reference

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator/ddm"
)

// DDMEnforcer is the reference declarative update enforcer: the loop Apple
// recommends now that the legacy update commands are deprecated.
//
//  1. DeviceInformation: the model, the OS, supervision. Devices before
//     macOS 14 / iOS 17, and unsupervised Macs, cannot take the
//     declaration: they are reported ddm-unsupported.
//  2. The target comes from Apple's software lookup service (GDMF), as a
//     server learns it, not from the device: the newest release of the
//     installed major, or of the newest major when the device is already
//     on the latest of its own.
//  3. Through the declaration channel, a group per target holds a status
//     subscription (softwareupdate.* and device.operating-system.*), the
//     enforcement declaration with TargetOSVersion and a
//     TargetLocalDateTime Lead ahead (local: every device reads it in its
//     own time zone), and the activation; assigning the group to the
//     device makes the server send DeclarativeManagement and a push.
//  4. Compliance is read from what the devices report in their status
//     reports, every PollInterval; when the last deadline plus LateWindow
//     has passed, the declaration's validity and the last
//     softwareupdate.install-state and failure-reason of every device
//     still behind say why.
type DDMEnforcer struct {
	decls  scenarios.Declarations
	obs    *scenarios.Observer
	cfg    DDMEnforcerConfig
	legacy *Enforcer
	// releases is what GDMF listed when Run started.
	releases *catalog.Catalog

	mu       sync.Mutex
	sets     map[string]bool
	deadline string

	// compliant counts devices Run has seen reach their target.
	compliant atomic.Int64
}

// Compliant reports, while Run runs, how many devices it has seen reach
// their target (or found with nothing to install).
func (e *DDMEnforcer) Compliant() int { return int(e.compliant.Load()) }

// DDMEnforcerConfig tunes a DDMEnforcer; zero fields take the defaults.
type DDMEnforcerConfig struct {
	// Clock times every wait; devices' timers must run on the same clock.
	Clock clock.Clock
	// Releases says what Apple's software lookup service lists (the mock
	// GDMF: World.Releases); Run asks it once.
	Releases func(ctx context.Context) (*catalog.Catalog, error)
	// Lead puts the deadline this far ahead (rounded down to the hour) as
	// a local date and time.
	Lead time.Duration
	// PollInterval is how often compliance is read.
	PollInterval time.Duration
	// LateWindow is how long after the last time zone's deadline the
	// enforcer keeps watching.
	LateWindow time.Duration
	// Prefix starts the identifiers of the declarations and sets.
	Prefix string
	// Mutant, for the conformance self-test only, makes a mistake.
	Mutant Mutant
	// Started, if set, is called once Run holds its unit of clock work
	// (see EnforcerConfig.Started).
	Started func()
}

// Defaults of DDMEnforcerConfig.
const (
	DefaultDDMLead         = 7 * 24 * time.Hour
	DefaultDDMPollInterval = time.Hour
	DefaultDDMLateWindow   = 3 * time.Hour
	DefaultDDMPrefix       = "mdmsim.softwareupdate"
)

// Reasons the DDMEnforcer gives besides the legacy enforcer's.
const (
	ReasonDDMUnsupported     = "ddm-unsupported"
	ReasonDeclarationInvalid = "declaration-invalid"
	ReasonNoStatus           = "no-status"
	ReasonWaiting            = "waiting"
	ReasonDownloading        = "downloading"
	ReasonInstalling         = "installing"
	ReasonUnknownModel       = "unknown-model"
	ReasonNoReleases         = "no-releases"
)

// latestZone is the furthest a local time lies behind UTC (UTC-12): the
// last device to reach a local deadline does so that much after UTC.
const latestZone = 12 * time.Hour

// DDMOutcome is what enforcing one device came to.
type DDMOutcome struct {
	Outcome
	// Declaration is the enforcement declaration's Identifier.
	Declaration string
	// TargetLocalDateTime is the deadline as sent.
	TargetLocalDateTime string
	// Seen is when the enforcer first saw the target reported.
	Seen time.Time
	// InstallState and FailureReason are the last reported values.
	InstallState  string
	FailureReason string
}

// NewDDMEnforcer returns an enforcer that asks for DeviceInformation
// through cmds, declares through decls and reads the devices' reports from
// obs.
func NewDDMEnforcer(cmds scenarios.Commands, decls scenarios.Declarations, obs *scenarios.Observer, cfg DDMEnforcerConfig) *DDMEnforcer {
	if decls == nil {
		panic("reference: NewDDMEnforcer with a nil declaration channel")
	}
	if cfg.Releases == nil {
		panic("reference: NewDDMEnforcer without a release source")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Lead <= 0 {
		cfg.Lead = DefaultDDMLead
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultDDMPollInterval
	}
	if cfg.LateWindow <= 0 {
		cfg.LateWindow = DefaultDDMLateWindow
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultDDMPrefix
	}
	if cfg.Mutant == MutantDDMFixedGraceWeek {
		cfg.Lead = DefaultDDMLead
	}
	legacy := NewEnforcer(cmds, obs, EnforcerConfig{Clock: cfg.Clock, Mutant: cfg.Mutant})
	cfg.Clock = legacy.cfg.Clock // the server's phase (clock.InPhase)
	return &DDMEnforcer{decls: decls, obs: obs, cfg: cfg, legacy: legacy, sets: map[string]bool{}}
}

// Deadline is the TargetLocalDateTime the enforcer sends: Lead after the
// first time it is asked for (or Run starts), in UTC wall time.
func (e *DDMEnforcer) Deadline() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.deadline == "" {
		e.deadline = e.cfg.Clock.Now().UTC().Add(e.cfg.Lead).Truncate(time.Hour).Format(ddm.LocalDateTimeLayout)
		switch e.cfg.Mutant {
		case MutantDDMDeadlineUTCZ:
			e.deadline += "Z"
		case MutantDDMDeadlinePast:
			e.deadline = e.cfg.Clock.Now().UTC().Add(-15 * time.Hour).Truncate(time.Hour).Format(ddm.LocalDateTimeLayout)
		}
	}
	return e.deadline
}

// Horizon is about how long Run lasts, on its clock: the lead to the
// deadline, the latest time zone's offset, an hour's grace and the late
// window (the deadline is rounded down to the hour).
func (e *DDMEnforcer) Horizon() time.Duration {
	return e.cfg.Lead + latestZone + time.Hour + e.cfg.LateWindow
}

// SummarizeDDM counts outcomes.
func SummarizeDDM(outcomes []DDMOutcome) Report {
	plain := make([]Outcome, len(outcomes))
	for i, o := range outcomes {
		plain[i] = o.Outcome
	}
	return Summarize(plain)
}

// Run enforces every device and returns their outcomes in the order of
// udids. Devices are watched as soon as they have their declaration; one
// that does not answer before the last deadline has passed is unreachable.
//
// The releases are read from GDMF first; when that fails every device is
// reported no-releases.
func (e *DDMEnforcer) Run(ctx context.Context, udids []string) []DDMOutcome {
	runStart := e.cfg.Clock.Now()
	// The unit of work is taken before GDMF is asked: on a discrete-event
	// clock, virtual time must not run on while the answer is on its way.
	work := e.legacy.work
	work.Begin() // the poll loop below
	defer work.End()
	if e.cfg.Started != nil {
		e.cfg.Started()
	}
	rel, err := e.cfg.Releases(ctx)
	if err != nil {
		out := make([]DDMOutcome, len(udids))
		for i, id := range udids {
			out[i].UDID, out[i].Reason = id, ReasonNoReleases
		}
		return out
	}
	e.releases = rel
	local := e.Deadline()
	wall, _ := time.Parse(ddm.LocalDateTimeLayout, strings.TrimSuffix(local, "Z"))
	end := wall.Add(latestZone + time.Hour + e.cfg.LateWindow)
	if e.cfg.Mutant == MutantDDMDeadlinePast {
		end = runStart.Add(e.cfg.Lead + latestZone + time.Hour + e.cfg.LateWindow)
	}

	out := make([]DDMOutcome, len(udids))
	targets := make([]string, len(udids))
	var (
		mu      sync.Mutex
		pending = map[string]int{}
		left    = len(udids)
		wg      sync.WaitGroup
		// allDone wakes the poll loop's goroutine, handing it a unit of
		// work, when the last device's goroutine ends after the loop.
		allDone *clock.Wakeup
	)
	for i, udid := range udids {
		wg.Add(1)
		work.Begin()
		go func() {
			defer wg.Done()
			defer work.End()
			o, target := e.start(withEnd(ctx, end), udid, local)
			if ctx.Err() != nil && !o.Compliant {
				o.Reason = ReasonInterrupted
			}
			mu.Lock()
			defer mu.Unlock()
			out[i], targets[i] = o, target
			if !o.Compliant && o.Reason == "" {
				pending[udid] = i
			}
			if o.Compliant {
				e.compliant.Add(1)
			}
			if left--; left == 0 && allDone != nil {
				allDone.Wake()
			}
		}()
	}
	// Virtual time starts once every device's enforcement holds its work.
	clock.Start(e.cfg.Clock)
	for ctx.Err() == nil {
		mu.Lock()
		snapshot := make(map[string]string, len(pending))
		for id, i := range pending {
			snapshot[id] = targets[i]
		}
		done := left == 0 && len(pending) == 0
		mu.Unlock()
		if done {
			break
		}
		now := e.cfg.Clock.Now()
		if e.cfg.Mutant == MutantDDMIgnoresInvalid {
			mu.Lock()
			var nudge []string
			for id, i := range pending {
				if st, _ := e.obs.DDM(id); st.Declarations[out[i].Declaration] == "invalid" {
					nudge = append(nudge, id)
				}
			}
			mu.Unlock()
			slices.Sort(nudge)
			for _, id := range nudge {
				_ = e.legacy.cmds.Enqueue(ctx, []string{id}, scenarios.Command{UUID: newUUID(), RequestType: "DeclarativeManagement"})
			}
		}
		reached := e.poll(ctx, snapshot)
		mu.Lock()
		for _, id := range reached {
			i := pending[id]
			out[i].Compliant, out[i].Reason, out[i].Seen = true, "", now
			delete(pending, id)
			e.compliant.Add(1)
		}
		mu.Unlock()
		if !e.cfg.Clock.Now().Before(end) {
			break
		}
		wait := min(e.cfg.PollInterval, e.cfg.Clock.Until(end))
		if err := work.Sleep(ctx, e.cfg.Clock, max(wait, time.Second)); err != nil {
			break
		}
	}
	// Wait for the devices' goroutines without holding work (they may need
	// the clock to move), but without letting it move once they are done.
	mu.Lock()
	if left > 0 {
		allDone = work.Wakeup()
		mu.Unlock()
		allDone.Wait(ctx, e.cfg.Clock, 0)
	} else {
		mu.Unlock()
	}
	wg.Wait()
	e.explain(ctx, out, pending)
	if ctx.Err() != nil {
		// Stopped before the last deadline: what a device last reported
		// is not a verdict.
		for _, i := range pending {
			out[i].Reason = ReasonInterrupted
		}
		for i := range out {
			if !out[i].Compliant && out[i].Reason == "" {
				out[i].Reason = ReasonInterrupted
			}
		}
	}
	for i := range out {
		out[i].Elapsed = e.cfg.Clock.Since(runStart)
		if !out[i].Seen.IsZero() {
			out[i].Elapsed = out[i].Seen.Sub(runStart)
		}
	}
	return out
}

// ddmDevice is what DeviceInformation says of a device.
type ddmDevice struct {
	model                   catalog.Model
	os, build               string
	supervised, mac, modelK bool
}

// start finds the device's target and assigns it the declarations.
func (e *DDMEnforcer) start(ctx context.Context, udid, local string) (DDMOutcome, string) {
	o := DDMOutcome{Outcome: Outcome{UDID: udid}, TargetLocalDateTime: local}
	dev, err := e.deviceInformation(ctx, &o.Outcome)
	if err != nil {
		o.Reason = ReasonUnreachable
		return o, ""
	}
	o.From, o.Platform = dev.os, "iOS"
	if dev.mac {
		o.Platform = "macOS"
	}
	if !dev.modelK {
		o.Reason = ReasonUnknownModel
		return o, ""
	}
	major := majorOf(dev.os)
	if (dev.mac && (major < 14 || !dev.supervised) || !dev.mac && major < 17) && e.cfg.Mutant != MutantDDMIgnoresInvalid {
		o.Reason = ReasonDDMUnsupported
		return o, ""
	}
	now := e.cfg.Clock.Now()
	target, ok := e.releases.Latest(dev.model, major, -1, now)
	if ok && compareVersion(target.ProductVersion, dev.os) <= 0 {
		ok = false
	}
	if !ok {
		for _, r := range e.releases.ReleasesFor(dev.model, now) {
			if !r.SecurityImprovement && compareVersion(r.ProductVersion, dev.os) > 0 {
				target, ok = r, true
				break
			}
		}
	}
	if e.cfg.Mutant == MutantDDMWrongTargetVersion {
		target, ok = e.otherPlatformRelease(dev, now)
	}
	if !ok {
		o.Compliant = true // nothing newer
		return o, ""
	}
	o.Target = target.ProductVersion + " (" + target.Build + ")"
	set, ids, err := e.declare(ctx, o.Platform, target.ProductVersion, local)
	if err != nil {
		o.Reason = ReasonCommandError
		return o, ""
	}
	o.Declaration = ids[1]
	if err := e.decls.Assign(ctx, set, []string{udid}, ids...); err != nil {
		o.Reason = ReasonCommandError
		return o, ""
	}
	return o, target.ProductVersion
}

// declare puts the declarations of one target, once, and returns the
// group's name and the declarations' identifiers (subscriptions,
// enforcement, activation).
func (e *DDMEnforcer) declare(ctx context.Context, platform, version, local string) (set string, ids []string, err error) {
	key := strings.ToLower(platform) + "-" + strings.ReplaceAll(version, ".", "-")
	set = e.cfg.Prefix + "." + key
	decl := set + ".enforcement"
	subs := e.cfg.Prefix + ".subscriptions"
	act := set + ".activation"
	ids = []string{subs, decl, act}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sets[set] {
		return set, ids, nil
	}
	items := []any{}
	names := []string{"softwareupdate.install-state", "softwareupdate.pending-version", "softwareupdate.failure-reason",
		"softwareupdate.install-reason", "device.operating-system.version", "device.operating-system.build-version"}
	if e.cfg.Mutant == MutantDDMNoStatusSubscription {
		names = names[4:]
	}
	for _, n := range names {
		items = append(items, map[string]any{"Name": n})
	}
	if err := e.decls.Put(ctx,
		scenarios.Declaration{Type: "com.apple.configuration.management.status-subscriptions", Identifier: subs, Payload: map[string]any{"StatusItems": items}},
		scenarios.Declaration{Type: "com.apple.configuration.softwareupdate.enforcement.specific", Identifier: decl,
			Payload: map[string]any{"TargetOSVersion": version, "TargetLocalDateTime": local}},
		scenarios.Declaration{Type: "com.apple.activation.simple", Identifier: act, Payload: map[string]any{"StandardConfigurations": []string{subs, decl}}},
	); err != nil {
		return "", nil, fmt.Errorf("reference: declare %s: %w", set, err)
	}
	e.sets[set] = true
	return set, ids, nil
}

// poll returns the devices, of those pending with their targets, that
// report their target or newer.
func (e *DDMEnforcer) poll(_ context.Context, pending map[string]string) []string {
	ids := make([]string, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var reached []string
	for _, id := range ids {
		if st, ok := e.obs.DDM(id); ok && st.OSVersion != "" && compareVersion(st.OSVersion, pending[id]) >= 0 {
			reached = append(reached, id)
		}
	}
	return reached
}

// explain finds out, from what they last reported, why the devices still
// pending did not update.
func (e *DDMEnforcer) explain(_ context.Context, out []DDMOutcome, pending map[string]int) {
	for id, i := range pending {
		o := &out[i]
		st, _ := e.obs.DDM(id)
		if st.Declarations[o.Declaration] == "invalid" {
			o.Reason = ReasonDeclarationInvalid
			continue
		}
		if st.FailureCount > 0 {
			o.FailureReason = st.FailureReason
		}
		o.InstallState = st.InstallState
		o.Reason = ddmReason(o.InstallState, o.FailureReason)
	}
}

// ddmReason turns what a device last reported into a reason.
func ddmReason(state, failure string) string {
	f := strings.ToLower(failure)
	switch {
	case state == "" && failure == "":
		return ReasonNoStatus
	case state == "failed" && (strings.Contains(f, "code=7507") || strings.Contains(f, "bootstrap token")):
		// SUMacController's 7507: no one could authorise the install on an
		// Apple-silicon Mac (update-behaviour.md B3.2).
		return ReasonNoBootstrapToken
	case state == "failed" && strings.Contains(f, "space"):
		return ReasonInsufficientSpace
	case state == "failed" && (strings.Contains(f, "battery") || strings.Contains(f, "power")):
		return ReasonInsufficientPower
	case state == "failed" && strings.Contains(f, "reach"):
		return ReasonInsufficientNetwork
	case state == "failed" && strings.Contains(f, "computer"):
		return ReasonRequiresComputer
	case state == "failed" && strings.Contains(f, "phone"):
		return ReasonPhoneCall
	case state == "failed":
		return ReasonUpdateFailed
	case state == "waiting":
		return ReasonWaiting
	case state == "downloading":
		return ReasonDownloading
	case state == "prepared":
		return ReasonAwaitingUser
	case state == "installing":
		return ReasonInstalling
	}
	// install-state none with the target not reached: the device went
	// silent (off) before it could install.
	return ReasonUnreachable
}

// deviceInformation asks for what choosing a target needs.
func (e *DDMEnforcer) deviceInformation(ctx context.Context, o *Outcome) (ddmDevice, error) {
	res, err := e.legacy.send(ctx, o, "DeviceInformation", map[string]any{"Queries": []string{
		"OSVersion", "BuildVersion", "IsSupervised", "ProductName",
	}})
	if err != nil {
		return ddmDevice{}, err
	}
	var body struct {
		QueryResponses struct {
			OSVersion    string `plist:"OSVersion"`
			BuildVersion string `plist:"BuildVersion"`
			IsSupervised bool   `plist:"IsSupervised"`
			ProductName  string `plist:"ProductName"`
		} `plist:"QueryResponses"`
	}
	if err := plist.Unmarshal(res.Raw, &body); err != nil {
		return ddmDevice{}, fmt.Errorf("%w: DeviceInformation: %v", errRefused, err)
	}
	q := body.QueryResponses
	m, ok := catalog.LookupModel(q.ProductName)
	return ddmDevice{model: m, modelK: ok, os: q.OSVersion, build: q.BuildVersion, supervised: q.IsSupervised,
		mac: m.Family == "Mac"}, nil
}

func majorOf(v string) int {
	n := 0
	fmt.Sscanf(v, "%d", &n)
	return n
}

// compareVersion compares dotted versions numerically.
func compareVersion(a, b string) int {
	va, errA := catalog.ParseVersion(a)
	vb, errB := catalog.ParseVersion(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return va.Compare(vb)
}
