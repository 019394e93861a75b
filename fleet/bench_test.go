package fleet_test

import (
	"runtime"
	"testing"

	"github.com/mdmsim/mdmsim/fleet"
)

// BenchmarkIdleFleet draws a fleet of 10 000 devices and reports what one
// idle device costs to draw (ns/device) and to keep (heap B/device,
// goroutines): the figures behind a million-device run.
func BenchmarkIdleFleet(b *testing.B) {
	const n = 10000
	var heap float64
	var goroutines int
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		f, err := fleet.New(fleet.Config{Devices: n, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = float64(after.HeapAlloc-before.HeapAlloc) / n
		goroutines = runtime.NumGoroutine() - g0
		runtime.KeepAlive(f)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/device")
	b.ReportMetric(heap, "heap-B/device")
	b.ReportMetric(float64(goroutines), "goroutines")
}
