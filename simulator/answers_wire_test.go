package simulator_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/schemacheck"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// TestBootstrapTokenNeedsTheCapability: an Apple-silicon Mac escrows its
// bootstrap token only with a server whose enrollment profile lists
// com.apple.mdm.bootstraptoken; without it, its first session sends no
// SetBootstrapToken, and an install asks for no token either.
func TestBootstrapTokenNeedsTheCapability(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		caps []string
		want string
	}{
		{[]string{simulator.CapabilityBootstrapToken}, "Authenticate TokenUpdate SetBootstrapToken"},
		{[]string{"com.apple.mdm.per-user-connections"}, "Authenticate TokenUpdate"},
		{nil, "Authenticate TokenUpdate"},
	} {
		srv := newScriptedServer(t)
		id, err := identity.New(gofakeit.New(5), identity.Options{Model: "Mac14,2"})
		if err != nil {
			t.Fatal(err)
		}
		clk := clock.NewManual(catalog.Default().LatestPostingDate())
		d := simulator.New(id, simulator.WithClock(clk))
		p := srv.profile(simulator.AccessAll)
		p.MDM.ServerCapabilities = tt.caps
		if err := d.EnrollWithIdentity(context.Background(), p, selfIdentity(t)); err != nil {
			t.Fatal(err)
		}
		srv.enqueue(t, "info", "DeviceInformation", map[string]any{"Queries": []string{"UDID"}})
		if err := d.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := d.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		have := strings.Join(srv.checkinTypes(), " ")
		if have != tt.want {
			t.Errorf("capabilities %v: check-ins %q, want %q", tt.caps, have, tt.want)
		}
		if escrowed := slices.Contains(tt.caps, simulator.CapabilityBootstrapToken); d.BootstrapTokenEscrowed() != escrowed {
			t.Errorf("capabilities %v: escrowed %v", tt.caps, d.BootstrapTokenEscrowed())
		}
	}
}

// TestRestartEndsTheSession: after RestartDevice the device sends nothing
// more in that session, ignores pushes while it boots, and comes back with
// a session of its own, Idle first, that takes the server's next command.
func TestRestartEndsTheSession(t *testing.T) {
	t.Parallel()
	srv := newScriptedServer(t)
	clk := clock.NewManual(catalog.Default().LatestPostingDate())
	d, push := updateDevice(t, srv, clk, "Mac14,2", "26.6.1", "25G76")
	srv.enqueue(t, "restart", "RestartDevice", nil)
	srv.enqueue(t, "info", "DeviceInformation", map[string]any{"Queries": []string{"OSVersion"}})
	if err := d.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	statuses := func() string {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		var s []string
		for _, r := range srv.results {
			s = append(s, strings.TrimSpace(string(r.Status)+" "+r.CommandUUID))
		}
		return strings.Join(s, ", ")
	}
	if have, want := statuses(), "Idle, Acknowledged restart"; have != want {
		t.Fatalf("the restart's session: %s, want %s", have, want)
	}
	if d.PoweredOn() {
		t.Fatal("the device did not go down")
	}
	for _, deliver := range push.reg {
		deliver() // lost: the device is booting
	}
	if err := d.Connect(context.Background()); err == nil {
		t.Fatal("a booting device opened a session")
	}
	// The device never answered it: the server sends it again.
	srv.enqueue(t, "info", "DeviceInformation", map[string]any{"Queries": []string{"OSVersion"}})
	for !d.PoweredOn() && clk.AdvanceToNext() {
	}
	srv.waitResult(t, "info")
	if have, want := statuses(), "Idle, Acknowledged restart, Idle, Acknowledged info"; have != want {
		t.Errorf("after the restart: %s, want %s", have, want)
	}
	if d.Restarts() != 1 {
		t.Errorf("%d restarts", d.Restarts())
	}
}

// TestLowBatteryIPadWaits: an iPad on a low battery under an enforcement
// declaration reports install-state waiting, not failed, counts no
// failure, and sends no report an hour; once plugged in it goes on at
// once and installs before the deadline.
func TestLowBatteryIPadWaits(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, deviceSpec{"iPad12,1", "18.6", "22G86", true}, update.UserProfile{Response: update.UserIgnores})
	r.d.SetEnvironment(update.Environment{OnBattery: true})
	r.d.SetBatteryLevel(0.1)
	r.declare(enfDeclSpec{id: "su", target: "18.7", due: 24 * time.Hour})
	reports := r.srv.reportCount()
	r.run(6 * time.Hour)
	checkStates(t, r.states(), []string{"none@18.6", "waiting"})
	if fr, _ := r.item("failure-reason").(map[string]any); fmt.Sprint(fr["count"]) != "0" {
		t.Errorf("failure-reason %v, want no failure counted", fr)
	}
	if n := r.srv.reportCount(); n != reports {
		t.Errorf("%d status reports in six hours of waiting, want none", n-reports)
	}
	r.d.SetEnvironment(update.Environment{}) // plugged in
	r.run(time.Minute)
	if st := r.d.UpdateState(); st.Phase == simulator.PhaseNone {
		t.Errorf("plugged in, the iPad still waits: %+v", st)
	}
	r.run(24 * time.Hour)
	if at := r.installedAt("18.7.3"); at.IsZero() || at.After(r.deadline(24*time.Hour).Add(time.Hour)) {
		t.Errorf("installed at %v, want by the deadline", at)
	}
}

// TestProfileListOfAnEnrolledDevice: the enrollment profile's ProfileList
// entry follows Apple's schema on both platforms: PayloadUUID on its
// payloads, IsManaged only where the platform has the key.
func TestProfileListOfAnEnrolledDevice(t *testing.T) {
	t.Parallel()
	schema, err := schemacheck.For("ProfileList")
	if err != nil {
		t.Fatal(err)
	}
	for _, dev := range []struct{ model, version, build, os string }{
		{"Mac14,2", "26.6.1", "25G76", "macOS"},
		{"iPhone15,2", "26.6.1", "23G80", "iOS"},
	} {
		srv := newScriptedServer(t)
		clk := clock.NewManual(catalog.Default().LatestPostingDate())
		d, _ := updateDevice(t, srv, clk, dev.model, dev.version, dev.build)
		srv.enqueue(t, "profiles", "ProfileList", nil)
		if err := d.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		res := srv.waitResult(t, "profiles")
		list, _ := res.Fields["ProfileList"].([]any)
		if len(list) == 0 {
			t.Fatalf("%s: no profile listed: %v", dev.model, res.Fields)
		}
		first, _ := list[0].(map[string]any)
		if _, ok := first["IsManaged"]; ok == (dev.os == "macOS") {
			t.Errorf("%s: IsManaged present %v", dev.model, ok)
		}
		if err := schema.CheckResponse(schemacheck.Target{OS: dev.os, Version: dev.version}, res.Fields); err != nil {
			t.Errorf("%s: %v", dev.model, err)
		}
	}
}
