package simulator

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
)

// TestUpdatesHoldNoGoroutine: a thousand devices in the middle of an update
// hold runtime timers, not goroutines.
func TestUpdatesHoldNoGoroutine(t *testing.T) {
	m, _ := catalog.LookupModel("Mac14,2")
	env := NewEnv(WithClock(clock.NewScaled(rigStart, 1)))
	devices := make([]*Device, 1000)
	for i := range devices {
		devices[i] = env.NewDevice(Identity{UDID: fmt.Sprint(i), Model: &m, OSVersion: "26.6.1", BuildVersion: "25G76",
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
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Errorf("%d goroutines before, %d with 1000 updates queued", before, after)
	}
	for _, d := range devices {
		d.withLock(d.cancelJobLocked)
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
		d := env.NewDevice(Identity{UDID: fmt.Sprint(i), Model: &m, OSVersion: "26.6", BuildVersion: "23G71",
			TimeZone: "UTC", AvailableDeviceCapacity: 100, BatteryLevel: 1, IsSupervised: true, Seed: int64(i)})
		d.handle(b.Context(), enr, sched)
		d.handle(b.Context(), enr, status)
		d.withLock(d.cancelJobLocked)
	}
}
