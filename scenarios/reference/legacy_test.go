package reference_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// TestEnforcerFleet: fifty mixed devices with the default population are
// updated by the reference enforcer through the embedded stack on the
// discrete-event clock (four virtual days, as fast as the CPU allows).
// Every device ends compliant or under a reason, and each verdict agrees
// with what the device itself knows.
func TestEnforcerFleet(t *testing.T) {
	t.Parallel()
	// A bound for a hang only: virtual time does not depend on it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	cat := catalog.Default()
	clk := newDiscrete(t.Name(), scenarioStart(cat))
	defer clk.Close()
	pop := fleet.DefaultPopulation()
	var evmu sync.Mutex
	events := map[string][]string{}
	r, f := enrolledFleet(ctx, t, clk, fleet.Config{Devices: 50, Seed: 7, MacFraction: 0.5, Catalog: cat, Population: &pop},
		simulator.WithEvents(func(ev simulator.Event) {
			evmu.Lock()
			events[ev.UDID] = append(events[ev.UDID], fmt.Sprintf("%s %s %s %s %v %s", clk.Now().Format("01-02T15:04:05"), ev.Kind, ev.RequestType, ev.Status, ev.Err, ev.OSVersion))
			evmu.Unlock()
		}))
	t.Logf("enrolled after %v", time.Since(t0))
	e := r.legacy(reference.EnforcerConfig{Deadline: 4 * 24 * time.Hour})
	// The devices are read where the enforcement ends, at its deadline.
	frozen := freeze(clk, 4*24*time.Hour)
	wall, enforceStart := time.Now(), clk.Now()
	outcomes := e.Run(ctx, f.UDIDs())
	if ctx.Err() != nil {
		t.Fatalf("the run did not finish: %v", ctx.Err())
	}
	waitFrozen(ctx, t, frozen)
	t.Logf("enforcement took %v of wall time, %v of virtual time; clock %+v", time.Since(wall), longest(outcomes), clk.Stats())
	rep := reference.Summarize(outcomes)
	t.Logf("report: %+v", rep)
	evmu.Lock()
	for udid, evs := range events {
		for _, ev := range evs {
			if strings.Contains(ev, "session-error") {
				t.Logf("%s: %s", udid, ev)
			}
		}
	}
	evmu.Unlock()
	if rep.Devices != 50 || rep.Compliant+rep.Noncompliant != 50 {
		t.Fatalf("report %+v", rep)
	}
	// While a downloaded update waits on the user the enforcer looks every
	// IdlePollInterval: a device that installed after its last look before
	// the deadline is rightly reported on what it did before. On the
	// discrete clock that window is virtual time alone; it no longer widens
	// with the machine's load (it was 12 h on a scaled clock). With this
	// seed no device needs it, but a change of the simulator's timings may
	// legitimately put one there.
	const grace = reference.DefaultEnforceIdlePollInterval
	deadline := enforceStart.Add(4 * 24 * time.Hour)
	updated := 0
	for _, o := range outcomes {
		d, _ := f.Device(o.UDID)
		id, st, u, env := d.Identity(), d.UpdateState(), d.UserProfile(), d.Environment()
		hist := d.UpdateHistory()
		late := false
		if len(hist) > 0 {
			updated++
			late = hist[len(hist)-1].InstalledAt.After(deadline.Add(-grace))
		}
		runs := fmt.Sprintf("%s (%s)", id.OSVersion, id.BuildVersion)
		if id.SupplementalBuildVersion != "" && id.SupplementalBuildVersion != id.BuildVersion {
			runs = fmt.Sprintf("%s (%s)", id.OSVersion, id.SupplementalBuildVersion)
		}
		where := fmt.Sprintf("%s %s on %s, user %+v, env %+v, update %+v, outcome %+v", id.Model.Identifier, o.Platform, runs, u, env, st, o)
		if o.Compliant {
			if o.Target != "" && o.Target != runs {
				t.Errorf("compliant but not on the target: %s", where)
			}
			continue
		}
		if o.Target != "" && o.Target == runs && !late {
			t.Errorf("on the target since long before the deadline but reported %s: %s", o.Reason, where)
		}
		ok := true
		switch o.Reason {
		case reference.ReasonNotSupervised:
			ok = !id.IsSupervised
		case reference.ReasonNoBootstrapToken:
			ok = id.Model.AppleSilicon && env.NoBootstrapToken && !d.BootstrapTokenEscrowed()
		case reference.ReasonInsufficientSpace:
			// Less free than the target's download and install need
			// (a major macOS upgrade needs some 30 GB).
			ok = id.AvailableDeviceCapacity*1e9 < float64(spaceNeeded(cat, id, o.Target, deadline))
		case reference.ReasonInsufficientPower:
			ok = env.OnBattery && id.BatteryLevel < 0.5
		case reference.ReasonInsufficientNetwork, reference.ReasonScanFailed:
			ok = env.NoNetwork
		case reference.ReasonRequiresComputer:
			ok = env.RequiresComputer
		case reference.ReasonNotNow:
			ok = env.Locked || u.Passcode && late
		case "":
			ok = false
		}
		if !ok {
			t.Errorf("reason %q does not fit the device: %s", o.Reason, where)
			evmu.Lock()
			t.Logf("events:\n%s", strings.Join(events[o.UDID], "\n"))
			evmu.Unlock()
		}
	}
	if updated == 0 || rep.Noncompliant == 0 || rep.Compliant == 0 {
		t.Errorf("%d devices updated; report %+v: want some of each", updated, rep)
	}
	for r := range rep.Reasons {
		if strings.TrimSpace(r) == "" {
			t.Errorf("empty reason in %+v", rep)
		}
	}
}

// TestEnforcerReasons: one device per way an update ends, each with the
// reason the enforcer can see from the server.
func TestEnforcerReasons(t *testing.T) {
	t.Parallel()
	// A bound for a hang only: virtual time does not depend on it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cat := catalog.Default()
	clk := newDiscrete(t.Name(), scenarioStart(cat))
	defer clk.Close()
	r := startRig(ctx, t, clk, cat)
	stack := r.stack
	env := simulator.NewEnv(r.options(simulator.WithCatalog(cat))...)
	profile, err := env.FetchProfile(ctx, stack.EnrollURL())
	if err != nil {
		t.Fatal(err)
	}
	type setup struct {
		name, model, version, build string
		user                        update.UserProfile
		env                         update.Environment
		unsupervised                bool
		freeGB                      float64
		want                        string // "" means compliant
	}
	cases := []setup{
		{name: "cooperative Mac", model: "Mac14,2", version: "26.6.1", build: "25G76"},
		{name: "cooperative iPhone", model: "iPhone15,2", version: "26.6", build: "23G71", user: update.UserProfile{Passcode: true}},
		{name: "Mac user who defers until forced", model: "Mac14,2", version: "26.6.1", build: "25G76",
			user: update.UserProfile{Response: update.UserDismisses}},
		{name: "Mac user who ignores", model: "Mac14,2", version: "26.6.1", build: "25G76",
			user: update.UserProfile{Response: update.UserIgnores}, want: reference.ReasonUserIgnoredDeferrals},
		{name: "Mac without bootstrap token or volume owner", model: "Mac14,2", version: "26.6.1", build: "25G76",
			user: update.UserProfile{NoSecureToken: true}, env: update.Environment{NoBootstrapToken: true}, want: reference.ReasonNoBootstrapToken},
		{name: "iPhone in a drawer", model: "iPhone15,2", version: "26.6", build: "23G71",
			user: update.UserProfile{Passcode: true}, env: update.Environment{Locked: true}, want: reference.ReasonNotNow},
		{name: "iPhone locked for a while", model: "iPhone15,2", version: "26.6", build: "23G71",
			user: update.UserProfile{Passcode: true}, env: update.Environment{Locked: true, UnlockAfter: 3 * time.Hour}},
		{name: "iPhone user who never enters the passcode", model: "iPhone15,2", version: "26.6", build: "23G71",
			user: update.UserProfile{Passcode: true, Response: update.UserIgnores}, want: reference.ReasonAwaitingUser},
		{name: "full iPad", model: "iPad13,18", version: "26.6", build: "23G71", freeGB: 0.3, want: reference.ReasonInsufficientSpace},
		{name: "iPhone without a route to Apple", model: "iPhone15,2", version: "26.6", build: "23G71",
			env: update.Environment{NoNetwork: true}, want: reference.ReasonScanFailed},
		{name: "unsupervised Mac", model: "Mac14,2", version: "26.6.1", build: "25G76", unsupervised: true, want: reference.ReasonNotSupervised},
		{name: "Mac on 27", model: "Mac14,2", version: "27.0", build: "26A100", want: reference.ReasonCommandsUnsupported},
	}
	var (
		udids   []string
		devices []*simulator.Device
	)
	for i, c := range cases {
		id, err := identity.New(gofakeit.New(int64(100+i)), identity.Options{Model: c.model, Catalog: cat})
		if err != nil {
			t.Fatal(err)
		}
		id.OSVersion, id.BuildVersion, id.IsSupervised = c.version, c.build, !c.unsupervised
		id.SupplementalBuildVersion, id.SupplementalOSVersionExtra = "", ""
		id.AvailableDeviceCapacity = 100
		if c.freeGB > 0 {
			id.AvailableDeviceCapacity = c.freeGB
		}
		d := env.NewDevice(id)
		d.SetUserProfile(c.user)
		d.SetEnvironment(c.env)
		ident, err := stack.MintIdentity(id.UDID)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.EnrollWithIdentity(ctx, profile, ident); err != nil {
			t.Fatal(err)
		}
		udids = append(udids, id.UDID)
		devices = append(devices, d)
	}
	e := r.legacy(reference.EnforcerConfig{Deadline: 4 * 24 * time.Hour, MaxUserDeferrals: 1})
	// The devices are read where the enforcement ends, at its deadline.
	frozen := freeze(clk, 4*24*time.Hour)
	start := clk.Now()
	out := e.Run(ctx, udids)
	if err := ctx.Err(); err != nil {
		t.Fatalf("the run did not finish: %v", err)
	}
	waitFrozen(ctx, t, frozen)
	for i, o := range out {
		c, d := cases[i], devices[i]
		have := o.Reason
		if o.Compliant {
			have = ""
		}
		if have != c.want || (c.want == "" && !o.Compliant) {
			t.Errorf("%s: have compliant=%v reason %q, want %q (%+v)", c.name, o.Compliant, o.Reason, c.want, o)
		}
		// What the device itself did agrees: a compliant device installed
		// its target once, within the deadline; the others installed
		// nothing.
		h := d.UpdateHistory()
		if !o.Compliant || o.Target == "" {
			if len(h) != 0 {
				t.Errorf("%s: not updated (%+v) but installed %+v", c.name, o, h)
			}
			continue
		}
		version, build, _ := strings.Cut(o.Target, " ")
		if len(h) != 1 || h[0].ToVersion != version || "("+h[0].ToBuild+")" != build ||
			h[0].InstalledAt.Before(start) || h[0].InstalledAt.After(start.Add(o.Elapsed)) {
			t.Errorf("%s: outcome %+v, started %v, history %+v", c.name, o, start, h)
		}
		// The locked iPhone can install only once unlocked.
		if c.env.UnlockAfter > 0 && len(h) == 1 && h[0].InstalledAt.Before(start.Add(c.env.UnlockAfter)) {
			t.Errorf("%s: installed at %v, before it was unlocked at %v", c.name, h[0].InstalledAt, start.Add(c.env.UnlockAfter))
		}
	}
}

// spaceNeeded is what installing target ("26.6.2 (25G83)") takes on the
// device: DownloadSize + InstallSize; 0 for a target the catalog lacks.
func spaceNeeded(cat *catalog.Catalog, id identity.Identity, target string, at time.Time) int64 {
	_, build, _ := strings.Cut(strings.TrimSuffix(target, ")"), " (")
	r, ok := cat.FindBuild(*id.Model, build, at)
	if !ok {
		return 0
	}
	v := catalog.MustParseVersion(id.OSVersion)
	return r.DownloadSize(*id.Model, v) + r.InstallSize(*id.Model, v)
}
