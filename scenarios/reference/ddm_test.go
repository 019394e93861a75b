package reference_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// TestDDMEnforcerDeadline: through KMFDDM on the embedded stack, devices in
// several time zones receive a declaration whose local deadline is a week
// away; every able one reaches its target before its own deadline plus an
// hour, the one without space reports why it cannot, and the old Mac is
// left out as unsupported.
//
// It runs on the discrete-event clock, so lateness is a matter of virtual
// time alone. It still does not run in parallel: with other stacks pushing
// at the same time the race detector has reported a race inside net/http's
// HTTP/2 set-up of the stacks' push clients.
func TestDDMEnforcerDeadline(t *testing.T) {
	// A bound for a hang only: virtual time does not depend on it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cat := catalog.Default()
	start := scenarioStart(cat)
	clk := newDiscrete(t.Name(), start)
	defer clk.Close()
	r := startRig(ctx, t, clk, cat)
	stack := r.stack
	env := simulator.NewEnv(r.options(simulator.WithCatalog(cat))...)
	profile, err := env.FetchProfile(ctx, stack.EnrollURL())
	if err != nil {
		t.Fatal(err)
	}
	type spec struct {
		model, version, build, zone string
		user                        update.UserProfile
		diskFull                    bool
	}
	ignores := update.UserProfile{Response: update.UserIgnores}
	specs := []spec{
		{"Mac14,2", "15.7.1", "24G231", "America/Los_Angeles", ignores, false},
		{"iPhone15,2", "18.6", "22G86", "Asia/Tokyo", update.UserProfile{Response: update.UserIgnores, Passcode: true}, false},
		{"Mac14,2", "15.7.1", "24G231", "Europe/Paris", update.UserProfile{Response: update.UserActs}, false},
		{"iPhone15,2", "18.6", "22G86", "Australia/Sydney", update.UserProfile{Response: update.UserTonight}, false},
		{"iPhone15,2", "18.6", "22G86", "Pacific/Honolulu", ignores, false},
		{"iPhone15,2", "18.6", "22G86", "Europe/London", ignores, true},
		{"Mac14,2", "13.7.8", "22H730", "America/New_York", ignores, false},
	}
	var devices []*simulator.Device
	var udids []string
	for i, s := range specs {
		id, err := identity.New(gofakeit.New(int64(300+i)), identity.Options{Model: s.model})
		if err != nil {
			t.Fatal(err)
		}
		id.OSVersion, id.BuildVersion, id.IsSupervised, id.TimeZone = s.version, s.build, true, s.zone
		d := env.NewDevice(id)
		d.SetUserProfile(s.user)
		if s.diskFull {
			d.SetAvailableCapacity(0.3)
		}
		ident, err := stack.MintIdentity(d.UDID())
		if err != nil {
			t.Fatal(err)
		}
		if err := d.EnrollWithIdentity(ctx, profile, ident); err != nil {
			t.Fatal(err)
		}
		devices = append(devices, d)
		udids = append(udids, d.UDID())
	}
	if err := stack.WaitEnrolled(ctx, len(devices)); err != nil {
		t.Fatal(err)
	}

	enf := r.ddm(reference.DDMEnforcerConfig{})
	local := enf.Deadline()
	// The devices are read a day after the local deadline, once Run has
	// returned: the last time zone's deadline and the enforcer's late
	// window are over.
	frozen := freeze(clk, reference.DefaultDDMLead+24*time.Hour)
	out := enf.Run(ctx, udids)
	if err := ctx.Err(); err != nil {
		t.Fatal(err)
	}
	waitFrozen(ctx, t, frozen)
	rep := reference.SummarizeDDM(out)
	if rep.Compliant != 5 || rep.Reasons[reference.ReasonInsufficientSpace] != 1 || rep.Reasons[reference.ReasonDDMUnsupported] != 1 {
		t.Errorf("report %+v", rep)
	}
	for i, o := range out {
		d := devices[i]
		if !o.Compliant {
			continue
		}
		if o.TargetLocalDateTime != local || o.Target == "" {
			t.Errorf("%s: outcome %+v", o.UDID, o)
			continue
		}
		deadline, _ := time.ParseInLocation(ddm.LocalDateTimeLayout, local, d.Identity().Location())
		version, _, _ := strings.Cut(o.Target, " ")
		h := d.UpdateHistory()
		if len(h) != 1 || h[0].ToVersion != version || h[0].InstalledAt.After(deadline.Add(time.Hour)) {
			t.Errorf("%s (%s): history %+v, local deadline %v", o.UDID, d.Identity().TimeZone, h, deadline)
		}
		// The device reports its new version minutes after the install,
		// and the enforcer reads reports every PollInterval: it sees the
		// install at its next poll, never before the install happened.
		if len(h) == 1 {
			if lag := o.Seen.Sub(h[0].InstalledAt); lag <= 0 || lag > reference.DefaultDDMPollInterval {
				t.Errorf("%s: installed at %v, seen by the enforcer at %v", o.UDID, h[0].InstalledAt, o.Seen)
			}
		}
	}
	if o := out[5]; o.FailureReason != simulator.FailureInsufficientSpace || o.InstallState != "failed" {
		t.Errorf("disk-full device: %+v", o)
	}
}
