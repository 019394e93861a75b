package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/targets/embedded"
)

// start opens the embedded target in a new world on clk (nil: the wall
// clock); both are closed when the test ends.
func start(ctx context.Context, t *testing.T, clk clock.Clock, opts ...embedded.Option) (*scenarios.World, *embedded.Target) {
	t.Helper()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{Clock: clk})
	if err != nil {
		t.Fatalf("NewWorld: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	tg, err := embedded.New(ctx, w, opts...)
	if err != nil {
		t.Fatalf("embedded.New: %v", err)
	}
	t.Cleanup(func() {
		if err := tg.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w, tg
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, tg := start(ctx, t, nil)
	want := []scenarios.Capability{scenarios.CapCommands, scenarios.CapDeclarations, scenarios.CapUpdatePolicy, scenarios.CapServerView}
	if have := scenarios.Capabilities(tg); !reflect.DeepEqual(have, want) {
		t.Errorf("Capabilities: have %v, want %v", have, want)
	}
	if err := scenarios.Require(tg, want...); err != nil {
		t.Errorf("Require(all): %v", err)
	}
	if have := tg.Name(); have != "embedded" {
		t.Errorf("Name: have %q, want embedded", have)
	}
	bt, ok := tg.Commands().(scenarios.BootstrapTokens)
	if !ok {
		t.Fatalf("Commands() is a %T: want it to tell bootstrap tokens (scenarios.BootstrapTokens)", tg.Commands())
	}
	if bt.BootstrapTokenEscrowed(ctx, "NO-SUCH-DEVICE") {
		t.Error("BootstrapTokenEscrowed of a device never seen: have true, want false")
	}
	if v := tg.ServerView(); v.Seen() != 0 {
		t.Errorf("ServerView().Seen() before any device: have %d, want 0", v.Seen())
	} else if st, ok := v.CommandStatus("NO-SUCH-DEVICE", "NO-SUCH-COMMAND"); ok {
		t.Errorf("CommandStatus of nothing: have %q, true; want false", st)
	}
}

func TestEnrollment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     []embedded.Option
		wantMint bool
	}{
		{"SCEP", nil, false},
		{"minted", []embedded.Option{embedded.WithMintedIdentities()}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, tg := start(ctx, t, nil, tt.opts...)
			e, err := tg.Enrollment(ctx)
			if err != nil {
				t.Fatalf("Enrollment: %v", err)
			}
			if len(e.Profile) == 0 && e.ProfileURL == "" {
				t.Error("Enrollment: no profile and no profile URL")
			}
			if len(e.Roots) == 0 {
				t.Error("Enrollment: no roots: devices could not trust the stack's TLS")
			}
			if have := e.Identities != nil; have != tt.wantMint {
				t.Errorf("Enrollment().Identities set: have %v, want %v", have, tt.wantMint)
			}
			if e.PollInterval != 0 {
				t.Errorf("Enrollment().PollInterval: have %v, want 0 (the stack pushes)", e.PollInterval)
			}
			if tt.wantMint {
				id, err := e.Identities("mdmsim test device")
				if err != nil || id == nil {
					t.Errorf("minting an identity: have %v, %v", id, err)
				}
			}
		})
	}
}

func TestUpdatePolicyRefuses(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, tg := start(ctx, t, clock.NewManual(time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)))
	now := w.Clock.Now()
	tests := []struct {
		name   string
		req    scenarios.UpdateRequest
		is     error
		substr string
	}{
		{"fixed version", scenarios.UpdateRequest{UDIDs: []string{"D1"}, Version: "17.5", Deadline: now.Add(time.Hour), Method: scenarios.MethodLegacy},
			scenarios.ErrUnsupported, "choose the version"},
		{"fixed version, DDM", scenarios.UpdateRequest{UDIDs: []string{"D1"}, Version: "17.5", Deadline: now.Add(time.Hour), Method: scenarios.MethodDDM},
			scenarios.ErrUnsupported, "choose the version"},
		{"past deadline", scenarios.UpdateRequest{UDIDs: []string{"D1"}, Deadline: now.Add(-time.Minute), Method: scenarios.MethodLegacy},
			nil, "deadline " + now.Add(-time.Minute).Format(time.RFC3339) + " has passed"},
		{"deadline now", scenarios.UpdateRequest{UDIDs: []string{"D1"}, Deadline: now, Method: scenarios.MethodDDM},
			nil, "has passed"},
		{"no deadline", scenarios.UpdateRequest{UDIDs: []string{"D1"}, Method: scenarios.MethodDDM},
			nil, "has passed"},
		{"unknown method", scenarios.UpdateRequest{UDIDs: []string{"D1"}, Deadline: now.Add(time.Hour), Method: "carrier-pigeon"},
			nil, `unknown method "carrier-pigeon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tg.UpdatePolicy().EnforceUpdate(ctx, tt.req)
			if err == nil {
				t.Fatalf("EnforceUpdate(%+v): have nil, want an error", tt.req)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("EnforceUpdate: have %v, want it to wrap %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.substr) || !strings.Contains(err.Error(), "update policy") {
				t.Errorf("EnforceUpdate: have %q, want it to say %q", err, tt.substr)
			}
		})
	}
}

// newDiscrete returns a paused discrete-event clock reading start that
// names, on stderr, who holds work if virtual time stops moving for a
// while (as scenarios/reference's tests do).
func newDiscrete(name string, start time.Time) *clock.Discrete {
	return clock.NewDiscrete(start, clock.WithStallReport(time.Minute, func(s clock.Stall) {
		fmt.Fprintf(os.Stderr, "%s: warning: %v\n", name, s)
	}))
}

// freeze stops virtual time for good d from now, once everything else due
// then (the enforcers' work included) has finished; the channel is closed
// then. Devices read afterwards are read at that instant.
func freeze(clk *clock.Discrete, d time.Duration) <-chan struct{} {
	frozen := make(chan struct{})
	hold := clk.Work("test-freeze")
	clock.InPhase(clk, 2).AfterFunc(d, func() {
		hold.Begin()
		close(frozen)
	})
	return frozen
}

// TestEnforceUpdateLegacy: devices enrolled with scenarios.Enroll are
// brought to a newer OS by the target's own update policy (the reference
// legacy enforcer, in the background), on the discrete-event clock.
func TestEnforceUpdateLegacy(t *testing.T) {
	t.Parallel()
	// A bound for a hang only: virtual time does not depend on it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cat := catalog.Default()
	// A weekday morning ten days after the newest release, as mdmsim run.
	clk := newDiscrete(t.Name(), cat.LatestPostingDate().AddDate(0, 0, 10).Add(9*time.Hour))
	t.Cleanup(clk.Close) // after the target and the world: cleanups run last first
	w, tg := start(ctx, t, clk, embedded.WithMintedIdentities())

	const devices = 4
	f, err := scenarios.Enroll(ctx, w, tg, fleet.Config{Devices: devices, Seed: 5, MacFraction: 0.5, Catalog: cat})
	if err != nil {
		t.Fatalf("Enroll: %v", err)
	}
	if f.Enrolled != devices || f.Polling {
		t.Fatalf("Enroll: have %d enrolled (polling %v), want %d pushed", f.Enrolled, f.Polling, devices)
	}
	if err := tg.Stack().WaitEnrolled(ctx, devices); err != nil {
		t.Fatal(err)
	}
	// Which devices the enforcer can update: the supervised ones with
	// something newer to install, now.
	before, want := map[string]string{}, map[string]bool{}
	for _, d := range f.Devices() {
		id := d.Identity()
		before[id.UDID] = id.OSVersion
		v, err := catalog.ParseVersion(id.OSVersion)
		if err != nil {
			t.Fatalf("%s runs %q: %v", id.UDID, id.OSVersion, err)
		}
		want[id.UDID] = id.IsSupervised && len(cat.Installable(*id.Model, v, id.BuildVersion, clk.Now())) > 0
	}

	const lead = 3 * 24 * time.Hour
	frozen := freeze(clk, lead)
	err = tg.UpdatePolicy().EnforceUpdate(ctx, scenarios.UpdateRequest{UDIDs: f.EnrolledUDIDs(),
		Deadline: clk.Now().Add(lead), Method: scenarios.MethodLegacy})
	if err != nil {
		t.Fatalf("EnforceUpdate: %v", err)
	}
	select {
	case <-frozen:
	case <-ctx.Done():
		t.Fatalf("virtual time did not get to the deadline: %v; work held: %v", ctx.Err(), clk.Busy())
	}

	updated := 0
	for _, d := range f.Devices() {
		id := d.Identity()
		hist := d.UpdateHistory()
		where := fmt.Sprintf("%s (%s, supervised %v, ran %s)", id.UDID, id.Model.Identifier, id.IsSupervised, before[id.UDID])
		if have := len(hist) > 0; have != want[id.UDID] {
			t.Errorf("%s: updated %v (history %+v), want %v", where, have, hist, want[id.UDID])
		}
		if len(hist) == 0 {
			continue
		}
		updated++
		if hist[0].FromVersion != before[id.UDID] {
			t.Errorf("%s: history %+v does not start from the version it ran", where, hist)
		}
		last := hist[len(hist)-1]
		if id.OSVersion != last.ToVersion {
			t.Errorf("%s: runs %s after installing %s", where, id.OSVersion, last.ToVersion)
		}
		if last.InstalledAt.After(clk.Now()) {
			t.Errorf("%s: installed at %v, after the deadline %v", where, last.InstalledAt, clk.Now())
		}
	}
	if updated == 0 {
		t.Errorf("no device of %d updated: want some (the seed gives %v)", devices, want)
	}
	if answers, _ := w.Observer.Counts(); answers == 0 {
		t.Error("the observer saw no answers: the enforcer did not go through the command channel")
	}
}
