package simulator

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// TestUpdatesHoldNoGoroutine: a thousand devices in the middle of an update
// hold one clock timer each, not a goroutine. The manual clock runs every
// callback in the goroutine that moves it, so no timer can fire, or start a
// goroutine, behind the test's back however busy the machine is.
func TestUpdatesHoldNoGoroutine(t *testing.T) {
	m, _ := catalog.LookupModel("Mac14,2")
	clk := clock.NewManual(rigStart)
	env := NewEnv(WithClock(clk))
	devices := make([]*Device, 1000)
	for i := range devices {
		devices[i] = env.NewDevice(identity.Identity{UDID: fmt.Sprint(i), Model: &m, OSVersion: "26.6.1", BuildVersion: "25G76",
			TimeZone: "UTC", AvailableDeviceCapacity: 100, BatteryLevel: 1, IsSupervised: true, Seed: int64(i)})
	}
	runtime.GC()
	before := runtime.NumGoroutine()
	for _, d := range devices {
		d.withLock(func() {
			rel := d.installableLocked()[0]
			d.startJobLocked(rel, rel.ProductKey(d.installedVersion(), d.id.BuildVersion), installPlan{action: actInstallASAP, maxDeferrals: -1})
		})
	}
	// Past the longest accept latency: every download has started.
	clk.Advance(env.timings.AcceptLatencyMac.Max)
	for _, d := range devices {
		if st := d.UpdateState(); st.Phase != PhaseDownloading {
			t.Fatalf("device %s: %s, want downloading", d.UDID(), st.Phase)
		}
	}
	if n := clk.Pending(); n != len(devices) {
		t.Errorf("%d clock timers pending, want one per device (%d)", n, len(devices))
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Errorf("%d goroutines before, %d with 1000 updates downloading", before, after)
	}
	for _, d := range devices {
		d.withLock(d.cancelJobLocked)
	}
	if n := clk.Pending(); n != 0 {
		t.Errorf("%d clock timers pending once every update is cancelled", n)
	}
}

func BenchmarkScheduleAndStatus(b *testing.B) {
	m, _ := catalog.LookupModel("iPhone15,2")
	clk := clock.NewManual(rigStart)
	env := NewEnv(WithClock(clk))
	enr := &enrollment{profileSettings: &profileSettings{accessRights: AccessAll}}
	sched, _ := newCommandBody("ScheduleOSUpdate", map[string]any{"Updates": []any{map[string]any{"ProductKey": "iOSUpdate23G83", "InstallAction": "InstallASAP"}}})
	status, _ := newCommandBody("OSUpdateStatus", nil)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d := env.NewDevice(identity.Identity{UDID: fmt.Sprint(i), Model: &m, OSVersion: "26.6", BuildVersion: "23G71",
			TimeZone: "UTC", AvailableDeviceCapacity: 100, BatteryLevel: 1, IsSupervised: true, Seed: int64(i)})
		d.handle(b.Context(), enr, sched)
		d.handle(b.Context(), enr, status)
		d.withLock(d.cancelJobLocked)
	}
}
