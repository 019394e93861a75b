package simulator_test

import (
	"context"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// updateDevice enrolls a device of the model on the version with a scripted
// server and a manual clock.
func updateDevice(t *testing.T, srv *scriptedServer, clk *clock.Manual, model, version, build string) (*simulator.Device, *fakePush) {
	t.Helper()
	id, err := identity.New(gofakeit.New(5), identity.Options{Model: model})
	if err != nil {
		t.Fatal(err)
	}
	id.OSVersion, id.BuildVersion, id.IsSupervised = version, build, true
	id.AvailableDeviceCapacity = 100
	push := &fakePush{}
	d := simulator.New(id, simulator.WithPushService(push), simulator.WithClock(clk))
	if err := d.EnrollWithIdentity(context.Background(), srv.profile(simulator.AccessAll), selfIdentity(t)); err != nil {
		t.Fatal(err)
	}
	return d, push
}

func (s *scriptedServer) checkinTypes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.checkins {
		switch m.(type) {
		case *protocol.Authenticate:
			out = append(out, "Authenticate")
		case *protocol.TokenUpdate:
			out = append(out, "TokenUpdate")
		case *protocol.SetBootstrapToken:
			out = append(out, "SetBootstrapToken")
		case *protocol.GetBootstrapToken:
			out = append(out, "GetBootstrapToken")
		default:
			out = append(out, "other")
		}
	}
	return out
}

func (s *scriptedServer) waitResult(t *testing.T, uuid string) *protocol.Result {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a hang guard, not a timing
	for time.Now().Before(deadline) {
		s.mu.Lock()
		for _, r := range s.results {
			if r.CommandUUID == uuid {
				s.mu.Unlock()
				return r
			}
		}
		s.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no result for %s", uuid)
	return nil
}

// TestUpdateOverTheWire: an Apple-silicon Mac escrows its bootstrap token at
// its first session, installs, is silent while it restarts (pushes are
// lost, connections refused), comes back on the new OS with a TokenUpdate,
// polls, and acknowledges the resent command without UpdateResults.
func TestUpdateOverTheWire(t *testing.T) {
	t.Parallel()
	srv := newScriptedServer(t)
	clk := clock.NewManual(catalog.Default().LatestPostingDate().AddDate(0, 0, 10))
	d, push := updateDevice(t, srv, clk, "Mac14,2", "26.6.1", "25G76")
	ctx := context.Background()
	key := "MSU_UPDATE_25G83_patch_26.6.2_minor"
	srv.enqueue(t, "schedule-1", "ScheduleOSUpdate", map[string]any{"Updates": []any{map[string]any{"ProductKey": key, "InstallAction": "InstallASAP"}}})
	if err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if st := srv.result(t, "schedule-1"); st.Status != protocol.StatusAcknowledged {
		t.Fatalf("schedule: %+v", st)
	}
	if !d.BootstrapTokenEscrowed() {
		t.Fatal("the Mac did not escrow its bootstrap token")
	}
	for d.PoweredOn() && clk.AdvanceToNext() {
	}
	if d.PoweredOn() {
		t.Fatal("the device never restarted")
	}
	srv.enqueue(t, "schedule-2", "ScheduleOSUpdate", map[string]any{"Updates": []any{map[string]any{"ProductKey": key, "InstallAction": "InstallASAP"}}})
	for _, deliver := range push.reg {
		deliver()
	}
	if err := d.Connect(ctx); err == nil {
		t.Fatal("a restarting device answered")
	}
	for !d.PoweredOn() && clk.AdvanceToNext() {
	}
	res := srv.waitResult(t, "schedule-2")
	if _, ok := res.Fields["UpdateResults"]; ok || res.Status != protocol.StatusAcknowledged {
		t.Errorf("resend after the restart: %s %v, want Acknowledged without UpdateResults", res.Status, res.Fields)
	}
	if id := d.Identity(); id.OSVersion != "26.6.2" || id.BuildVersion != "25G83" {
		t.Errorf("back on %s (%s)", id.OSVersion, id.BuildVersion)
	}
	want := []string{"Authenticate", "TokenUpdate", "SetBootstrapToken", "GetBootstrapToken", "TokenUpdate"}
	if have := srv.checkinTypes(); len(have) != len(want) || have[2] != want[2] || have[3] != want[3] || have[4] != want[4] {
		t.Errorf("check-ins: have %v, want %v", have, want)
	}
	if st := d.Stats(); st.Pushes != 1 {
		t.Errorf("pushes: have %d, want the one sent while restarting", st.Pushes)
	}
}

// TestLockedPhoneNotNow: a locked iPhone answers NotNow and keeps nothing;
// once unlocked it polls, and the server's resend is taken.
func TestLockedPhoneNotNow(t *testing.T) {
	t.Parallel()
	srv := newScriptedServer(t)
	clk := clock.NewManual(catalog.Default().LatestPostingDate().AddDate(0, 0, 10))
	d, _ := updateDevice(t, srv, clk, "iPhone15,2", "26.6", "23G71")
	d.SetUserProfile(update.UserProfile{Passcode: true})
	d.SetEnvironment(update.Environment{Locked: true})
	cmd := map[string]any{"Updates": []any{map[string]any{"ProductKey": "iOSUpdate23G83", "InstallAction": "Default"}}}
	srv.enqueue(t, "schedule-1", "ScheduleOSUpdate", cmd)
	if err := d.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res := srv.result(t, "schedule-1"); res.Status != protocol.StatusNotNow {
		t.Fatalf("locked: %s", res.Status)
	}
	if st := d.UpdateState(); st.Phase != simulator.PhaseNone {
		t.Fatalf("a NotNow command was kept: %+v", st)
	}
	srv.enqueue(t, "schedule-1", "ScheduleOSUpdate", cmd) // the server keeps it
	d.SetLocked(false)
	deadline := time.Now().Add(time.Minute) // a hang guard, not a timing
	for d.UpdateState().Phase == simulator.PhaseNone && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := d.UpdateState(); st.Phase != simulator.PhaseQueued {
		t.Errorf("after the unlock: %+v, want the update queued", st)
	}
}
