package simulator_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
)

// TestRestoreState saves a Mac enrolled with DDM enabled and restores it
// on a new device of the same identity, as a resumed run does: it comes
// back enrolled with the same push token, counters and random source, and
// its DDM client syncs every declaration again, with a full report,
// within ten minutes of device time.
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
