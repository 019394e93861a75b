package simulator_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// Devices of the enforcement tests. On 2026-01-05 the catalog offers the
// iPhone 18.7.1 (22H31) and 26.0.1, the Intel Mac 15.7.1 (24G231) and
// 26.0.1. Neither needs a volume owner's authorisation; the Apple-silicon
// Macs, which do, are in ddm_deadline_test.go (the scripted server keeps
// the bootstrap token the Mac escrows).
var (
	enfIPhone = deviceSpec{"iPhone15,2", "18.6", "22G86", true}
	enfMac    = deviceSpec{"MacBookPro16,1", "15.6", "24G84", true}
)

var enfSubscriptions = map[string]any{"StatusItems": []any{
	map[string]any{"Name": "softwareupdate.install-state"},
	map[string]any{"Name": "softwareupdate.pending-version"},
	map[string]any{"Name": "softwareupdate.failure-reason"},
	map[string]any{"Name": "softwareupdate.install-reason"},
	map[string]any{"Name": "device.operating-system.version"},
}}

// enfRig is a device and a scripted server holding status subscriptions
// and enforcement declarations.
type enfRig struct {
	t   *testing.T
	srv *ddmServer
	d   *simulator.Device
	clk *clock.Manual
	cat *catalog.Catalog
	t0  time.Time
}

type enfDeclSpec struct {
	id, target, build string
	due               time.Duration // deadline after t0, in the device's zone
	at                string        // or a literal TargetLocalDateTime
}

func newEnfRig(t *testing.T, ds deviceSpec, u update.UserProfile, decls ...enfDeclSpec) *enfRig {
	t.Helper()
	return newEnfRigWith(t, ds, u, nil, decls...)
}

// newEnfRigWith takes the device's handlers (nil: the defaults).
func newEnfRigWith(t *testing.T, ds deviceSpec, u update.UserProfile, h *simulator.Handlers, decls ...enfDeclSpec) *enfRig {
	t.Helper()
	return newEnfRigOpts(t, ds, u, h, nil, decls...)
}

// newEnfRigOpts adds Env options.
func newEnfRigOpts(t *testing.T, ds deviceSpec, u update.UserProfile, h *simulator.Handlers, extra []simulator.Option, decls ...enfDeclSpec) *enfRig {
	t.Helper()
	srv := newDDMServer(t)
	cat := catalog.Default()
	opts := append([]simulator.Option{simulator.WithCatalog(cat)}, extra...)
	if h != nil {
		opts = append(opts, simulator.WithHandlers(h))
	}
	d, clk := newDDMDevice(t, srv, ds, opts...)
	d.SetUserProfile(u)
	r := &enfRig{t: t, srv: srv, d: d, clk: clk, cat: cat, t0: clk.Now()}
	r.declare(decls...)
	return r
}

// declare replaces the server's declarations and sends DeclarativeManagement.
func (r *enfRig) declare(decls ...enfDeclSpec) {
	r.t.Helper()
	loc := r.d.Identity().Location()
	ids := []string{"subs"}
	r.srv.put(ddm.TypeStatusSubscriptions, "subs", "s1", enfSubscriptions)
	for _, e := range decls {
		at := e.at
		if at == "" {
			at = r.t0.Add(e.due).In(loc).Format(ddm.LocalDateTimeLayout)
		}
		p := map[string]any{"TargetOSVersion": e.target, "TargetLocalDateTime": at}
		if e.build != "" {
			p["TargetBuildVersion"] = e.build
		}
		r.srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, e.id, "t-"+at, p)
		ids = append(ids, e.id)
	}
	r.srv.put(ddm.TypeActivationSimple, "act", strings.Join(ids, "+"), activation(ids...))
	r.srv.enqueueDM(false)
	connect(r.t, r.d)
}

// deadline is the local deadline of a declaration due after t0.
func (r *enfRig) deadline(due time.Duration) time.Time {
	loc := r.d.Identity().Location()
	dl, _ := time.ParseInLocation(ddm.LocalDateTimeLayout, r.t0.Add(due).In(loc).Format(ddm.LocalDateTimeLayout), loc)
	return dl
}

// states is the sequence of install-state values the reports carried,
// repeats (full reports) left out, with the OS version after each change.
func (r *enfRig) states() []string {
	r.srv.mu.Lock()
	defer r.srv.mu.Unlock()
	var out []string
	state, version := "", ""
	for _, rep := range r.srv.reports {
		s, _ := path(rep, "StatusItems", "softwareupdate", "install-state").(string)
		v, _ := path(rep, "StatusItems", "device", "operating-system", "version").(string)
		if s == "" {
			s = state
		}
		if v == "" {
			v = version
		}
		switch {
		case v != version:
			out = append(out, s+"@"+v)
		case s != state:
			out = append(out, s)
		}
		state, version = s, v
	}
	return out
}

// lastDeclarations is the last reported management.declarations.
func (r *enfRig) lastDeclarations() map[string][]declStatus {
	r.srv.mu.Lock()
	var rep map[string]any
	for i := len(r.srv.reports) - 1; i >= 0 && rep == nil; i-- {
		if path(r.srv.reports[i], "StatusItems", "management", "declarations") != nil {
			rep = r.srv.reports[i]
		}
	}
	r.srv.mu.Unlock()
	if rep == nil {
		r.t.Fatal("no management.declarations reported")
	}
	return declarations(r.t, rep)
}

// item returns the last reported value of a softwareupdate item.
func (r *enfRig) item(name string) any {
	r.srv.mu.Lock()
	defer r.srv.mu.Unlock()
	for i := len(r.srv.reports) - 1; i >= 0; i-- {
		if v := path(r.srv.reports[i], "StatusItems", "softwareupdate", name); v != nil {
			return v
		}
	}
	return nil
}

func (r *enfRig) run(d time.Duration) { r.clk.Advance(d) }

// installedAt is when the device came back on version.
func (r *enfRig) installedAt(version string) time.Time {
	for _, rec := range r.d.UpdateHistory() {
		if rec.ToVersion == version {
			return rec.InstalledAt
		}
	}
	r.t.Fatalf("%s never installed; history %+v, enforcement %+v", version, r.d.UpdateHistory(), r.d.EnforcementState())
	return time.Time{}
}

func checkStates(t *testing.T, have, want []string) {
	t.Helper()
	if !slices.Equal(have, want) {
		t.Errorf("install-state reports\nhave %q\nwant %q", have, want)
	}
}

func TestEnforceInstallBeforeDeadline(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfIPhone, update.UserProfile{Response: update.UserActs, ResponseDelay: 30 * time.Minute},
		enfDeclSpec{id: "su", target: "18.7", due: 72 * time.Hour})
	r.run(6 * time.Hour)
	checkStates(t, r.states(), []string{"waiting@18.6", "downloading", "prepared", "installing", "none@18.7.1"})
	if at := r.installedAt("18.7.1"); !at.Before(r.deadline(72 * time.Hour)) {
		t.Errorf("installed at %v, after the deadline", at)
	}
	reason, _ := r.item("install-reason").(map[string]any)
	if fmt.Sprint(reason["reason"]) != "[notification]" || reason["declaration-id"] != "su" {
		t.Errorf("install-reason %v", reason)
	}
	if pv := fmt.Sprint(r.item("pending-version")); pv != "map[build-version: os-version:]" {
		t.Errorf("pending-version after the install %s", pv)
	}
	if s := summary(r.lastDeclarations()["configurations"]); !slices.Contains(s, "su:true:valid") {
		t.Errorf("the met declaration should stay valid: %q", s)
	}
}

func TestEnforceForcedAtDeadline(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfMac, update.UserProfile{Response: update.UserIgnores, BlockingApps: true},
		enfDeclSpec{id: "su", target: "15.7.1", due: 48 * time.Hour})
	dl := r.deadline(48 * time.Hour)
	r.clk.Set(dl.Add(-time.Minute))
	checkStates(t, r.states(), []string{"waiting@15.6", "downloading", "prepared"})
	pv, _ := r.item("pending-version").(map[string]any)
	if pv["os-version"] != "15.7.1" || pv["build-version"] != "24G231" {
		t.Errorf("pending-version %v", pv)
	}
	r.run(2 * time.Hour)
	checkStates(t, r.states(), []string{"waiting@15.6", "downloading", "prepared", "installing", "none@15.7.1"})
	at := r.installedAt("15.7.1")
	if at.Before(dl) || at.After(dl.Add(time.Hour)) {
		t.Errorf("installed at %v, want within an hour of the deadline %v", at, dl)
	}
	if h := r.d.UpdateHistory(); !h[0].DataLoss {
		t.Error("a forced restart over unsaved work should lose it")
	}
	reason, _ := r.item("install-reason").(map[string]any)
	if fmt.Sprint(reason["reason"]) != "[declaration]" {
		t.Errorf("install-reason %v", reason)
	}
}

func TestEnforceOffAtDeadline(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfIPhone, update.UserProfile{Response: update.UserIgnores},
		enfDeclSpec{id: "su", target: "18.7", due: 24 * time.Hour})
	dl := r.deadline(24 * time.Hour)
	r.clk.Set(dl.Add(-2 * time.Hour))
	r.d.PowerOff()
	r.clk.Set(dl.Add(5 * time.Hour))
	if len(r.d.UpdateHistory()) != 0 || !r.d.EnforcementState().Missed {
		t.Fatalf("an off device installed, or did not miss its deadline: %+v", r.d.EnforcementState())
	}
	on := r.clk.Now()
	if err := r.d.PowerOn(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.run(3 * time.Hour)
	at := r.installedAt("18.7.1")
	if at.Before(on.Add(time.Hour)) || at.After(on.Add(time.Hour+simulator.EnforcementPowerCheck+30*time.Minute)) {
		t.Errorf("installed at %v, want about an hour after start-up at %v", at, on)
	}
	checkStates(t, r.states(), []string{"waiting@18.6", "downloading", "prepared", "installing", "none@18.7.1"})
}

func TestEnforcePastDeadline(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfIPhone, update.UserProfile{Response: update.UserIgnores},
		enfDeclSpec{id: "su", target: "18.7.1", due: -48 * time.Hour})
	r.run(3 * time.Hour)
	st := r.d.EnforcementState()
	if len(st.Notifications) == 0 || !st.Notifications[0].Equal(r.t0) {
		t.Errorf("notifications %v, want the first at once (%v)", st.Notifications, r.t0)
	}
	if !st.ForceAt.Equal(r.t0.Add(time.Hour)) {
		t.Errorf("forced at %v, want an hour after receipt", st.ForceAt)
	}
	at := r.installedAt("18.7.1")
	if at.Before(r.t0.Add(time.Hour)) || at.After(r.t0.Add(2*time.Hour)) {
		t.Errorf("installed at %v", at)
	}
	checkStates(t, r.states(), []string{"waiting@18.6", "downloading", "prepared", "installing", "none@18.7.1"})
}

func TestEnforceTargetNotInCatalog(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfIPhone, update.UserProfile{Response: update.UserActs, ResponseDelay: time.Minute},
		enfDeclSpec{id: "su", target: "18.7.2", due: 10 * 24 * time.Hour})
	r.run(30 * time.Hour)
	checkStates(t, r.states(), []string{"waiting@18.6"})
	if s := summary(r.lastDeclarations()["configurations"]); !slices.Contains(s, "su:true:valid") {
		t.Errorf("a target not in the catalog stays active: %q", s)
	}
	m, _ := catalog.LookupModel(enfIPhone.model)
	base, ok := r.cat.FindBuild(m, "22H31", r.clk.Now())
	if !ok {
		t.Fatal("no 18.7.1 in the catalog")
	}
	rel := base
	rel.ProductVersion, rel.Build = "18.7.2", "22H40"
	r.cat.Post(rel, r.clk.Now())
	r.run(4 * time.Hour)
	// The user acts on the notification that comes with the target, before
	// it is prepared: it installs as soon as it is.
	checkStates(t, r.states(), []string{"waiting@18.6", "downloading", "installing", "none@18.7.2"})
}

func TestEnforceTargetNotAbove(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfIPhone, update.UserProfile{},
		enfDeclSpec{id: "same", target: "18.6.0", due: 24 * time.Hour},
		enfDeclSpec{id: "older", target: "18.5", due: 24 * time.Hour})
	decls := r.lastDeclarations()["configurations"]
	if s := summary(decls); !slices.Equal(s, []string{"older:false:invalid:Error.ConfigurationIsInvalid", "same:false:invalid:Error.ConfigurationIsInvalid", "subs:true:valid"}) {
		t.Errorf("configurations %q", s)
	}
	r.run(48 * time.Hour)
	if len(r.d.UpdateHistory()) != 0 {
		t.Errorf("installed %+v", r.d.UpdateHistory())
	}
	checkStates(t, r.states(), []string{"none@18.6"})
}

func TestEnforceEarliestDeadlineFirst(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfIPhone, update.UserProfile{Response: update.UserIgnores},
		enfDeclSpec{id: "a-major", target: "26.0", due: 96 * time.Hour},
		enfDeclSpec{id: "b-minor", target: "18.7", due: 24 * time.Hour})
	if st := r.d.EnforcementState(); st.Declaration != "b-minor" {
		t.Fatalf("enforcing %q first, want b-minor", st.Declaration)
	}
	r.run(5 * 24 * time.Hour)
	h := r.d.UpdateHistory()
	if len(h) != 2 || h[0].ToVersion != "18.7.1" || h[1].ToVersion != "26.0.1" {
		t.Fatalf("history %+v, want 18.7.1 then 26.0.1", h)
	}
	if first := r.installedAt("18.7.1"); first.After(r.deadline(24 * time.Hour).Add(time.Hour)) {
		t.Errorf("18.7.1 at %v", first)
	}
	if second := r.installedAt("26.0.1"); second.Before(r.deadline(96*time.Hour)) || second.After(r.deadline(96*time.Hour).Add(time.Hour)) {
		t.Errorf("26.0.1 at %v", second)
	}
	checkStates(t, r.states(), []string{"waiting@18.6", "downloading", "prepared", "installing", "waiting@18.7.1",
		"downloading", "prepared", "installing", "none@26.0.1"})
}

func TestEnforceIOSUnusablePastDeadline(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfIPhone, update.UserProfile{Response: update.UserIgnores, Passcode: true, ResponseDelay: 10 * time.Minute},
		enfDeclSpec{id: "su", target: "18.7", due: 24 * time.Hour})
	dl := r.deadline(24 * time.Hour)
	r.clk.Set(dl.Add(time.Minute))
	if st := r.d.EnforcementState(); !st.Unusable {
		t.Errorf("past the deadline the iPhone should be unusable: %+v", st)
	}
	r.run(2 * time.Hour)
	if st := r.d.EnforcementState(); st.Unusable {
		t.Errorf("still unusable after the update: %+v", st)
	}
	at := r.installedAt("18.7.1")
	if at.Before(dl.Add(10*time.Minute)) || at.After(dl.Add(time.Hour)) {
		t.Errorf("installed at %v, want after the passcode (10 min) within the hour", at)
	}
}

func TestEnforceNotificationCadence(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		user     update.UserProfile
		settings map[string]any
		want     func(t0, dl time.Time) []time.Time
	}{
		{"default", update.UserProfile{Response: update.UserIgnores}, nil, func(t0, dl time.Time) []time.Time {
			out := []time.Time{t0, t0.Add(24 * time.Hour), t0.Add(48 * time.Hour)}
			for h := 24; h > 1; h-- {
				out = append(out, dl.Add(-time.Duration(h)*time.Hour))
			}
			return append(out, dl.Add(-time.Hour), dl.Add(-30*time.Minute), dl.Add(-20*time.Minute), dl.Add(-10*time.Minute))
		}},
		{"do-not-disturb", update.UserProfile{Response: update.UserIgnores, DoNotDisturb: true}, nil, func(t0, dl time.Time) []time.Time {
			var out []time.Time
			for h := 24; h > 1; h-- {
				out = append(out, dl.Add(-time.Duration(h)*time.Hour))
			}
			return append(out, dl.Add(-time.Hour), dl.Add(-30*time.Minute), dl.Add(-20*time.Minute), dl.Add(-10*time.Minute))
		}},
		{"notifications-off", update.UserProfile{Response: update.UserIgnores}, map[string]any{"Notifications": false},
			func(t0, dl time.Time) []time.Time { return []time.Time{dl.Add(-time.Hour)} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			due := 72*time.Hour + 30*time.Minute
			r := newEnfRig(t, enfMac, tt.user)
			ids := []string{"subs", "su"}
			if tt.settings != nil {
				r.srv.put(ddm.TypeSoftwareUpdateSettings, "set", "x1", tt.settings)
				ids = append(ids, "set")
			}
			at := r.t0.Add(due).In(r.d.Identity().Location()).Format(ddm.LocalDateTimeLayout)
			r.srv.put(ddm.TypeStatusSubscriptions, "subs", "s1", enfSubscriptions)
			r.srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, "su", "e1", map[string]any{"TargetOSVersion": "15.7.1", "TargetLocalDateTime": at})
			r.srv.put(ddm.TypeActivationSimple, "act", "a1", activation(ids...))
			r.srv.enqueueDM(false)
			connect(t, r.d)
			dl := r.deadline(due)
			r.clk.Set(dl.Add(-time.Second))
			have := r.d.EnforcementState().Notifications
			want := tt.want(r.t0, dl)
			if len(have) != len(want) {
				t.Fatalf("%d notifications %v\nwant %d %v", len(have), have, len(want), want)
			}
			for i := range want {
				if !have[i].Equal(want[i]) {
					t.Errorf("notification %d at %v, want %v", i, have[i], want[i])
				}
			}
		})
	}
}

func TestEnforceDiskFullReportsFailure(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfIPhone, update.UserProfile{Response: update.UserIgnores})
	r.d.SetAvailableCapacity(0.2)
	r.declare(enfDeclSpec{id: "su", target: "18.7", due: 24 * time.Hour})
	r.run(3 * time.Hour)
	checkStates(t, r.states(), []string{"none@18.6", "failed"})
	fr, _ := r.item("failure-reason").(map[string]any)
	if fr["reason"] != simulator.FailureInsufficientSpace || fmt.Sprint(fr["count"]) != "4" || fr["timestamp"] == nil {
		t.Errorf("failure-reason %v, want a count of 4 (receipt and three hourly retries) and %q", fr, simulator.FailureInsufficientSpace)
	}
	r.d.SetAvailableCapacity(100)
	r.run(26 * time.Hour)
	if at := r.installedAt("18.7.1"); at.After(r.deadline(24 * time.Hour).Add(time.Hour)) {
		t.Errorf("installed at %v, after the deadline + 1 h", at)
	}
}

func TestEnforceStalePendingVersion(t *testing.T) {
	t.Parallel()
	types := simulator.DefaultDDMTypes()
	simulator.RegisterEnforcement(types, simulator.EnforcementOptions{StalePendingVersion: true})
	h := simulator.DefaultHandlers()
	h.Handle(simulator.RequestTypeDeclarativeManagement, simulator.DeclarativeManagementHandler(types))
	r := newEnfRigWith(t, enfIPhone, update.UserProfile{Response: update.UserActs, ResponseDelay: time.Minute}, h,
		enfDeclSpec{id: "su", target: "18.7", due: 72 * time.Hour})
	r.run(6 * time.Hour)
	checkStates(t, r.states(), []string{"waiting@18.6", "downloading", "installing", "none@18.7.1"})
	pv, _ := r.item("pending-version").(map[string]any)
	if pv["os-version"] != "18.7.1" || pv["build-version"] != "22H31" {
		t.Errorf("pending-version %v, want the stale 18.7.1 (22H31)", pv)
	}
}

func TestEnforceSupplementalInstallsBaseFirst(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfIPhone, update.UserProfile{Response: update.UserIgnores})
	m, _ := catalog.LookupModel(enfIPhone.model)
	base, ok := r.cat.FindBuild(m, "22H31", r.clk.Now())
	if !ok {
		t.Fatal("no 18.7.1 in the catalog")
	}
	bsi := base
	bsi.Build, bsi.SecurityImprovement, bsi.PrerequisiteBuild, bsi.ProductVersionExtra = "22H31a", true, "22H31", "(a)"
	r.cat.Post(bsi, r.clk.Now())
	r.declare(enfDeclSpec{id: "bsi", target: "18.7.1", build: "22H31a", due: 24 * time.Hour})
	r.run(30 * time.Hour)
	h := r.d.UpdateHistory()
	if len(h) != 2 || h[0].ToBuild != "22H31" || h[1].ToBuild != "22H31a" {
		t.Fatalf("history %+v, want the base 22H31 then 22H31a", h)
	}
	if id := r.d.Identity(); id.SupplementalBuildVersion != "22H31a" {
		t.Errorf("supplemental build %q", id.SupplementalBuildVersion)
	}
	if h[1].InstalledAt.After(r.deadline(24 * time.Hour).Add(time.Hour)) {
		t.Errorf("the supplemental installed at %v, after the deadline + 1 h", h[1].InstalledAt)
	}
	if st := r.d.EnforcementState(); st.Declaration != "" {
		t.Errorf("still enforcing %+v", st)
	}
}
