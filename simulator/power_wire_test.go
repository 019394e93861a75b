package simulator_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// Switching an enrolled device off and on, against the scripted servers of
// device_test.go and ddm_enforce_test.go on a manual clock: pushes and
// sessions while off, and DDM enforcement deadlines. power_test.go has the
// update engine's side.

// pushAll delivers a push to every device registered with p, as APNs would.
func pushAll(p *fakePush) {
	p.mu.Lock()
	deliver := make([]func(), 0, len(p.reg))
	for _, f := range p.reg {
		deliver = append(deliver, f)
	}
	p.mu.Unlock()
	for _, f := range deliver {
		f()
	}
}

// updateOf is a device's update without Percent, which is computed from the
// clock (see TestPowerOffKeepsDownloadProgress).
func updateOf(d *simulator.Device) string {
	st := d.UpdateState()
	st.Percent = 0
	return fmt.Sprintf("%+v", st)
}

// TestShutDownMidDownloadOverTheWire: a Mac told to shut down halfway
// through its download answers the command, then ignores pushes and opens
// no session for a month, arms no timer, and keeps its update as it was.
// Switched on, it polls (and answers the command queued while it was off),
// and its download finishes exactly the time it had left later.
func TestShutDownMidDownloadOverTheWire(t *testing.T) {
	t.Parallel()
	srv := newScriptedServer(t)
	clk := clock.NewManual(catalog.Default().LatestPostingDate().AddDate(0, 0, 10))
	d, push := updateDevice(t, srv, clk, "Mac14,2", "26.6.1", "25G76")
	ctx := context.Background()
	srv.enqueue(t, "schedule", "ScheduleOSUpdate", map[string]any{"Updates": []any{
		map[string]any{"ProductKey": "MSU_UPDATE_25G83_patch_26.6.2_minor", "InstallAction": "InstallASAP"}}})
	if err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	for d.UpdateState().Phase != simulator.PhaseDownloading && clk.AdvanceToNext() {
	}
	due, ok := clk.Next()
	if d.UpdateState().Phase != simulator.PhaseDownloading || !ok {
		t.Fatalf("never downloading: %+v", d.UpdateState())
	}
	clk.Set(clk.Now().Add(due.Sub(clk.Now()) / 2))
	left := due.Sub(clk.Now())
	pending := clk.Pending()

	srv.enqueue(t, "off", "ShutDownDevice", nil)
	if err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if res := srv.result(t, "off"); res.Status != protocol.StatusAcknowledged || d.PoweredOn() {
		t.Fatalf("ShutDownDevice: %s, PoweredOn %v", res.Status, d.PoweredOn())
	}
	if n := clk.Pending(); n != 0 {
		t.Errorf("%d clock timers armed on a device that is off, want 0", n)
	}
	update, stats := updateOf(d), d.Stats()
	srv.mu.Lock()
	results, checkins := len(srv.results), len(srv.checkins)
	srv.mu.Unlock()

	srv.enqueue(t, "status", "OSUpdateStatus", nil)
	const month = 30 * 24 * time.Hour
	for range 3 {
		pushAll(push)
		clk.Advance(month / 3)
	}
	if err := d.Connect(ctx); !errors.Is(err, simulator.ErrOffline) {
		t.Errorf("Connect on a device that is off: %v, want ErrOffline", err)
	}
	if have := updateOf(d); have != update {
		t.Errorf("a month off changed the update:\nbefore %s\nafter  %s", update, have)
	}
	want := stats
	want.Pushes += 3
	if have := d.Stats(); have != want {
		t.Errorf("a month off with three pushes: stats %+v, want %+v", have, want)
	}
	srv.mu.Lock()
	if len(srv.results) != results || len(srv.checkins) != checkins {
		t.Errorf("a device that is off sent %d results and %d check-ins", len(srv.results)-results, len(srv.checkins)-checkins)
	}
	srv.mu.Unlock()
	if n := clk.Pending(); n != 0 || d.PoweredOn() {
		t.Errorf("a month off: %d clock timers, PoweredOn %v", n, d.PoweredOn())
	}

	if err := d.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	on := clk.Now()
	res := srv.result(t, "status")
	items, _ := res.Fields["OSUpdateStatus"].([]any)
	if res.Status != protocol.StatusAcknowledged || len(items) != 1 || items[0].(map[string]any)["Status"] != "Downloading" {
		t.Errorf("OSUpdateStatus queued while off, answered at start-up: %s %v", res.Status, res.Fields)
	}
	if st := d.Stats(); st.Sessions != stats.Sessions+1 {
		t.Errorf("%d sessions after PowerOn, want the one start-up poll", st.Sessions-stats.Sessions)
	}
	if n := clk.Pending(); n != pending {
		t.Errorf("%d clock timers after PowerOn, want the %d from before", n, pending)
	}
	if next, _ := clk.Next(); !next.Equal(on.Add(left)) {
		t.Errorf("after PowerOn the download ends %v later, want the %v it had left", next.Sub(on), left)
	}
	clk.Advance(left - time.Nanosecond)
	if ph := d.UpdateState().Phase; ph != simulator.PhaseDownloading {
		t.Errorf("a moment before the download's time: %s", ph)
	}
	clk.Advance(time.Nanosecond)
	if ph := d.UpdateState().Phase; ph != simulator.PhasePreparing {
		t.Errorf("when the download's time has run: %s, want preparing", ph)
	}
}

// TestEnforceOffAcrossDeadline: an Intel Mac whose user ignores the
// notifications is switched off two hours before its deadline and on five
// hours after it. Nothing happens while it is off: no notification, no
// report, no install at the deadline. It installs EnforcementMissedDelay
// after it is switched on, to the second.
func TestEnforceOffAcrossDeadline(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfMac, update.UserProfile{Response: update.UserIgnores, BlockingApps: true},
		enfDeclSpec{id: "su", target: "15.7.1", due: 48 * time.Hour})
	dl := r.deadline(48 * time.Hour)
	r.clk.Set(dl.Add(-2 * time.Hour))
	if ph := r.d.UpdateState().Phase; ph != simulator.PhasePrepared {
		t.Fatalf("two hours before the deadline: %s, want prepared", ph)
	}
	before := r.d.EnforcementState()
	reports := r.srv.reportCount()
	r.d.PowerOff()
	r.clk.Set(dl.Add(5 * time.Hour))
	after := r.d.EnforcementState()
	if before.Missed || !after.Missed {
		t.Errorf("Missed before %v, after seven hours off across the deadline %v: want false, then true", before.Missed, after.Missed)
	}
	after.Missed = false
	if have, want := fmt.Sprintf("%+v", after), fmt.Sprintf("%+v", before); have != want {
		t.Errorf("seven hours off changed the enforcement:\nbefore %s\nafter  %s", want, have)
	}
	if n := r.srv.reportCount(); n != reports {
		t.Errorf("a device that is off sent %d status reports", n-reports)
	}
	if ph := r.d.UpdateState().Phase; ph != simulator.PhasePrepared || len(r.d.UpdateHistory()) != 0 {
		t.Fatalf("off past its deadline: %s, history %+v", ph, r.d.UpdateHistory())
	}
	if err := r.d.PowerOn(context.Background()); err != nil {
		t.Fatal(err)
	}
	on := r.clk.Now()
	st := r.d.EnforcementState()
	if !st.ForceAt.Equal(on.Add(simulator.EnforcementMissedDelay)) || !st.Deadline.Equal(dl) {
		t.Errorf("after PowerOn: forced at %v, deadline %v; want %v after start-up, the deadline kept",
			st.ForceAt.Sub(on), st.Deadline, simulator.EnforcementMissedDelay)
	}
	r.clk.Set(on.Add(simulator.EnforcementMissedDelay - time.Second))
	if ph := r.d.UpdateState().Phase; ph != simulator.PhasePrepared {
		t.Errorf("a second before the hour after start-up: %s, want still prepared", ph)
	}
	if n := len(r.d.EnforcementState().Notifications); n == len(st.Notifications) {
		t.Error("no notification in the hour before the forced install")
	}
	r.clk.Set(on.Add(simulator.EnforcementMissedDelay))
	if ph := r.d.UpdateState().Phase; ph != simulator.PhaseCountdown {
		t.Errorf("an hour after start-up: %s, want the forced restart's countdown", ph)
	}
	r.run(2 * time.Hour)
	checkStates(t, r.states(), []string{"waiting@15.6", "downloading", "prepared", "installing", "none@15.7.1"})
}

// TestEnforceOffBeforeDeadline: switched off and on again a day before its
// deadline, a Mac shows no notification while off, misses nothing, and is
// forced at its original deadline.
func TestEnforceOffBeforeDeadline(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfMac, update.UserProfile{Response: update.UserIgnores, BlockingApps: true},
		enfDeclSpec{id: "su", target: "15.7.1", due: 48 * time.Hour})
	dl := r.deadline(48 * time.Hour)
	r.clk.Set(dl.Add(-30 * time.Hour)) // the next notification is the last day's first, at -24 h
	notes := len(r.d.EnforcementState().Notifications)
	r.d.PowerOff()
	r.clk.Set(dl.Add(-23 * time.Hour))
	if n := len(r.d.EnforcementState().Notifications); n != notes {
		t.Errorf("%d notifications shown while off", n-notes)
	}
	if err := r.d.PowerOn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := r.d.EnforcementState(); !st.ForceAt.Equal(dl) || st.Missed {
		t.Errorf("switched on before the deadline: forced at %v (missed %v), want the deadline %v", st.ForceAt, st.Missed, dl)
	}
	r.clk.Set(dl.Add(-time.Second))
	if ph := r.d.UpdateState().Phase; ph != simulator.PhasePrepared {
		t.Errorf("a second before the deadline: %s, want prepared", ph)
	}
	if n := len(r.d.EnforcementState().Notifications); n <= notes {
		t.Error("no notification on the last day")
	}
	r.clk.Set(dl)
	if ph := r.d.UpdateState().Phase; ph != simulator.PhaseCountdown {
		t.Errorf("at the deadline: %s, want the forced restart's countdown", ph)
	}
}

// TestEnforceOffJustBeforeDeadline: switched off when its next step is the
// deadline itself, and on again before it, a Mac is still forced at the
// deadline: enforceResumeLocked re-arms the steps for their own times, not
// for what they had left when the device was switched off.
func TestEnforceOffJustBeforeDeadline(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfMac, update.UserProfile{Response: update.UserIgnores, BlockingApps: true},
		enfDeclSpec{id: "su", target: "15.7.1", due: 48 * time.Hour})
	dl := r.deadline(48 * time.Hour)
	r.clk.Set(dl.Add(-5 * time.Minute)) // past the last notification, at -10 min
	r.d.PowerOff()
	r.clk.Advance(4 * time.Minute)
	if err := r.d.PowerOn(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.clk.Set(dl)
	if ph := r.d.UpdateState().Phase; ph != simulator.PhaseCountdown {
		t.Errorf("at the deadline: %s, want the forced restart's countdown", ph)
	}
}
