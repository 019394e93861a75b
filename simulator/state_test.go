package simulator_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
)

// TestRestoreState saves a Mac enrolled with DDM enabled and restores it
// on a new device of the same identity, as a resumed run does: it comes
// back enrolled with the same push token, counters and random source. Its
// DDM client saved without its declarations (as a schema 1 state file
// holds it) syncs every declaration again, with a full report, within ten
// minutes of device time.
func TestRestoreState(t *testing.T) {
	t.Parallel()
	srv := baseServer(t)
	d, _ := newDDMDevice(t, srv, macSequoia)
	srv.enqueueDM(false)
	connect(t, d)
	srv.take()
	st, err := d.State()
	if err != nil {
		t.Fatal(err)
	}
	if st.Enrollment == nil || st.DDM == nil || st.Stats.Commands != 1 {
		t.Fatalf("state %+v: want enrolled, DDM enabled, one command", st)
	}

	st.DDM = &simulator.DDMSavedState{Token: st.DDM.Token, Stats: st.DDM.Stats}
	st.Update = nil
	clk := clock.NewManual(time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC))
	d2 := simulator.New(st.Identity, simulator.WithClock(clk))
	if err := d2.Restore(st); err != nil {
		t.Fatal(err)
	}
	tok, magic, ok := d.PushToken()
	tok2, magic2, ok2 := d2.PushToken()
	if !ok || !ok2 || string(tok) != string(tok2) || magic != magic2 {
		t.Error("the restored device has another push token or magic")
	}
	if d2.Stats() != d.Stats() || d2.DDMStats() != d.DDMStats() {
		t.Errorf("stats %+v %+v, want %+v %+v", d2.Stats(), d2.DDMStats(), d.Stats(), d.DDMStats())
	}
	// The restored source goes on from the saved one: it has drawn only
	// when the DDM client syncs.
	var pcg rand.PCG
	if err := pcg.UnmarshalBinary(st.RNG); err != nil {
		t.Fatal(err)
	}
	rand.New(&pcg).Int64N(int64(10 * time.Minute))
	want, _ := pcg.MarshalBinary()
	if again, err := d2.State(); err != nil || !slices.Equal(again.RNG, want) {
		t.Errorf("random source not restored: %v", err)
	}

	before := srv.reportCount()
	clk.Advance(10 * time.Minute)
	log := srv.take()
	for _, want := range []string{"tokens", "declaration-items", "declaration/configuration/su", "status"} {
		if !slices.Contains(log, want) {
			t.Errorf("after the resume the device sent %q, lacking %q", log, want)
		}
	}
	if srv.reportCount() != before+1 || srv.lastReport()["FullReport"] != true {
		t.Errorf("%d reports after the resume, last FullReport %v; want one full report", srv.reportCount()-before, srv.lastReport()["FullReport"])
	}
	if n := len(d2.DDMActiveConfigurations(ddm.TypeSoftwareUpdateEnforcementSpecific)); n != 1 {
		t.Errorf("%d enforcement declarations active after the resume, want 1", n)
	}
	connect(t, d2)

	if err := d2.Restore(st); !errors.Is(err, simulator.ErrRestoreBusy) {
		t.Errorf("restoring an enrolled device: %v, want ErrRestoreBusy", err)
	}
	other := simulator.New(iPhone18.identity(t))
	st.Identity.UDID = "another"
	if err := other.Restore(st); !errors.Is(err, simulator.ErrRestoreMismatch) {
		t.Errorf("restoring another device's state: %v, want ErrRestoreMismatch", err)
	}
}

// TestRestoreDDMDeclarations restores a Mac with its DDM declarations and
// enforcement: without a word to the server it holds the same
// declarations with the same status, has nothing new to report, and
// still syncs, fetching only what changed, when the server's tokens do.
func TestRestoreDDMDeclarations(t *testing.T) {
	t.Parallel()
	srv := baseServer(t)
	d, clk := newDDMDevice(t, srv, macSequoia)
	srv.enqueueDM(false)
	connect(t, d)
	srv.take()
	st, err := d.State()
	if err != nil {
		t.Fatal(err)
	}
	if st.DDM == nil || !st.DDM.Synced || len(st.DDM.Declarations) != 4 || st.DDM.Enforcement == nil || st.DDM.Enforcement.CurID != "su" {
		t.Fatalf("saved DDM %+v: want synced, 4 declarations, enforcing su", st.DDM)
	}
	before := srv.reportCount()

	clk2 := clock.NewManual(clk.Now())
	d2 := simulator.New(st.Identity, simulator.WithClock(clk2))
	if err := d2.Restore(st); err != nil {
		t.Fatal(err)
	}
	if log := srv.take(); len(log) > 0 {
		t.Errorf("restoring sent %q", log)
	}
	if again, err := d2.State(); err != nil || !again.DDM.SyncAt.Equal(st.DDM.SyncAt) || !st.DDM.SyncAt.After(clk.Now()) {
		t.Errorf("safety sync due at %v after the resume, saved %v (now %v): %v", again.DDM.SyncAt, st.DDM.SyncAt, clk.Now(), err)
	}
	if have, want := d2.DDMDeclarations(), d.DDMDeclarations(); !reflect.DeepEqual(have, want) {
		t.Errorf("declarations after the resume:\nhave %+v\nwant %+v", have, want)
	}
	if have, want := d2.DDMSubscriptions(), d.DDMSubscriptions(); !slices.Equal(have, want) {
		t.Errorf("subscriptions %q, want %q", have, want)
	}
	if have, want := d2.UpdateState(), d.UpdateState(); have != want {
		t.Errorf("update after the resume %+v, want %+v", have, want)
	}
	// What it reports is what it last reported: nothing to send.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d2.DDMStatusChanged(ctx); err != nil {
		t.Fatal(err)
	}
	if n := srv.reportCount() - before; n != 0 {
		t.Errorf("the restored device sent %d reports, want none: %v", n, srv.lastReport())
	}
	clk2.Advance(10 * time.Minute)
	for _, e := range srv.take() {
		if e == "tokens" || e == "declaration-items" {
			t.Errorf("the restored device synced unasked: %q", e)
		}
	}

	// The server's tokens change: the device fetches the one declaration
	// that changed.
	srv.put(ddm.TypeServerCapabilities, "caps", "c2", map[string]any{"Version": "1.0.1", "SupportedFeatures": map[string]any{}})
	srv.enqueueDM(false)
	connect(t, d2)
	log := srv.take()
	for _, want := range []string{"tokens", "declaration-items", "declaration/management/caps"} {
		if !slices.Contains(log, want) {
			t.Errorf("after the tokens changed the device sent %q, lacking %q", log, want)
		}
	}
	if slices.Contains(log, "declaration/configuration/su") {
		t.Errorf("the device fetched a declaration it held: %q", log)
	}
	for _, ds := range d2.DDMDeclarations() {
		if ds.Identifier == "caps" && ds.ServerToken != "c2" {
			t.Errorf("caps has token %q after the sync, want c2", ds.ServerToken)
		}
	}
}

// TestRestoreEnforcementHistory restores a Mac whose enforced download
// has failed for hours (the disk is full): it reports the same failure count,
// reason and time as before, with nothing new to send, rather than a first
// failure at the resume.
func TestRestoreEnforcementHistory(t *testing.T) {
	t.Parallel()
	srv := newDDMServer(t)
	srv.put(ddm.TypeActivationSimple, "act", "a1", activation("subs", "su"))
	srv.put(ddm.TypeStatusSubscriptions, "subs", "s1", map[string]any{"StatusItems": []any{
		map[string]any{"Name": "softwareupdate.install-state"},
		map[string]any{"Name": "softwareupdate.failure-reason"},
		map[string]any{"Name": "softwareupdate.install-reason"},
	}})
	srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, "su", "e1", map[string]any{"TargetOSVersion": "26.0.1", "TargetLocalDateTime": "2026-01-12T18:00:00"})
	d, clk := newDDMDevice(t, srv, macSequoia)
	d.SetAvailableCapacity(0.2)
	srv.enqueueDM(false)
	connect(t, d)
	clk.Advance(3*time.Hour + time.Minute)
	srv.take()
	st, err := d.State()
	if err != nil {
		t.Fatal(err)
	}
	if e := st.DDM.Enforcement; e == nil || e.FailCount < 3 || e.FailReason == "" {
		t.Fatalf("saved enforcement %+v: want three failures or more", e)
	}
	before := srv.reportCount()

	d2 := simulator.New(st.Identity, simulator.WithClock(clock.NewManual(clk.Now())))
	d2.SetAvailableCapacity(0.2)
	if err := d2.Restore(st); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d2.DDMStatusChanged(ctx); err != nil {
		t.Fatal(err)
	}
	if n := srv.reportCount() - before; n != 0 {
		t.Errorf("the restored device sent %d reports, want none: %v", n, srv.lastReport())
	}
	again, err := d2.State()
	if err != nil {
		t.Fatal(err)
	}
	if have, want := again.DDM.Enforcement, st.DDM.Enforcement; !reflect.DeepEqual(have, want) {
		t.Errorf("enforcement after the resume:\nhave %+v\nwant %+v", have, want)
	}
}
