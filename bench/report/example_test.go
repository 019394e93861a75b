package report_test

import (
	"fmt"
	"os"
	"time"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/bench/report"
)

func ExampleCompare() {
	run := func(p99 time.Duration) *bench.Result {
		return &bench.Result{Workload: "checkin", Devices: 100, Ops: map[string]*bench.OpStats{
			"checkin": {Count: 1000, Rate: 100, P50: bench.Duration(time.Millisecond), P99: bench.Duration(p99)},
		}}
	}
	c := report.Compare(run(10*time.Millisecond), run(13*time.Millisecond))
	c.Threshold = 0.2
	for _, r := range c.Regressions() {
		fmt.Println(r)
	}
	// Output:
	// checkin p99: 10ms → 13ms (+3ms (+30.0%))
}

func ExampleWriteHTML() {
	r := &bench.Result{Schema: bench.SchemaVersion, Workload: "enroll", Devices: 10}
	f, err := os.CreateTemp("", "report-*.html")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fmt.Println(report.WriteHTML(f, r))
	// Output:
	// <nil>
}

func ExampleMetrics() {
	m := report.NewMetrics()
	stop, err := m.ServeMetrics("127.0.0.1:0") // --metrics-listen
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	m.SetEnrolled(1)
	m.SetInFlight(1)
	m.Observe("checkin", 4*time.Millisecond, nil)
	m.SetInFlight(0)
}
