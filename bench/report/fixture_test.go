package report

import (
	"time"

	"github.com/mdmsim/mdmsim/bench"
)

func ms(f float64) bench.Duration { return bench.Duration(f * float64(time.Millisecond)) }

// sampleResult is a small rollout run with two operations over twelve
// five-second intervals, errors and a compliance curve.
func sampleResult() *bench.Result {
	r := &bench.Result{
		Schema:   bench.SchemaVersion,
		Workload: "rollout",
		Target:   "embedded",
		Devices:  1000,
		Seed:     7,
		Pacing:   bench.Pacing{Model: "open", Rate: 200, Ramp: bench.Duration(10 * time.Second), Duration: bench.Duration(time.Minute), MaxInFlight: 64},
		Started:  time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC),
		Wall:     bench.Duration(60 * time.Second),
		Ops: map[string]*bench.OpStats{
			"checkin": {Count: 9000, Errors: 12, Rate: 150, Min: ms(0.4), Mean: ms(3), P50: ms(2.5), P90: ms(6), P99: ms(14), P999: ms(30), Max: ms(45)},
			"command": {Count: 3000, Errors: 0, Rate: 50, Min: ms(1), Mean: ms(8), P50: ms(7), P90: ms(12), P99: ms(25), P999: ms(60), Max: ms(80)},
		},
		Errors:         map[string]int64{"timeout": 9, "http-401": 3},
		CPU:            map[string]bench.Duration{"simulator": bench.Duration(20 * time.Second), "server": bench.Duration(10 * time.Second)},
		HeapBytes:      256 << 20,
		MaxRSSBytes:    400 << 20,
		BytesPerDevice: 48 * 1024,
	}
	for i := range 12 {
		r.Timeline = append(r.Timeline, bench.Interval{
			At:     bench.Duration(time.Duration(i*5) * time.Second),
			Ops:    map[string]int64{"checkin": int64(700 + 10*i), "command": int64(200 + 5*i)},
			P99:    map[string]bench.Duration{"checkin": ms(10 + float64(i)), "command": ms(20 + float64(i%4))},
			Errors: int64(i % 3),
		})
	}
	for d := range 15 {
		r.Compliance = append(r.Compliance, bench.CompliancePoint{Day: float64(d), Compliant: min(1, float64(d*d)/100)})
	}
	return r
}
