package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

// benchDevices is the fleet of the scenario benchmarks: BENCH_DEVICES, or
// ten thousand.
func benchDevices(b *testing.B) string {
	n := os.Getenv("BENCH_DEVICES")
	if n == "" {
		return "10000"
	}
	if _, err := strconv.Atoi(n); err != nil {
		b.Fatalf("BENCH_DEVICES=%q: %v", n, err)
	}
	return n
}

// benchScenario runs a scenario through the CLI and reports its wall
// seconds and how many virtual seconds pass per wall second.
func benchScenario(b *testing.B, scenario string, extra ...string) {
	devices := benchDevices(b)
	for b.Loop() {
		var stdout, stderr bytes.Buffer
		args := append([]string{"run", "--scenario", scenario, "--devices", devices, "--seed", "7", "--json", "--timeout", "50m"}, extra...)
		code := execute(args, &stdout, &stderr)
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		var sum struct {
			Devices        int     `json:"devices"`
			Compliant      int     `json:"compliant"`
			VirtualSeconds float64 `json:"virtual_seconds"`
			WallSeconds    float64 `json:"wall_seconds"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.WallSeconds <= 0 {
			b.Fatalf("exit %d, no summary (%v): %s\n%s", code, err, stdout.String(), stderr.String())
		}
		b.ReportMetric(sum.WallSeconds, "wall-s")
		b.ReportMetric(sum.VirtualSeconds/sum.WallSeconds, "virtual/wall")
		b.ReportMetric(float64(sum.Compliant), "compliant")
		b.Logf("%s, %s devices: %.1f s wall for %.1f virtual days (%.0fx); %d of %d compliant; exit %d",
			scenario, devices, sum.WallSeconds, sum.VirtualSeconds/86400, sum.VirtualSeconds/sum.WallSeconds, sum.Compliant, sum.Devices, code)
		b.Logf("summary: %s", lines[len(lines)-1])
		if code != 0 {
			b.Logf("stderr: %s", stderr.String())
		}
	}
}

// BenchmarkScenarioDDMDeadline is the 14-day ddm-deadline rollout (a week's
// lead, then every time zone's deadline) on the discrete-event clock.
func BenchmarkScenarioDDMDeadline(b *testing.B) {
	benchScenario(b, scenarioDDMDeadline, "--lead", "168h")
}

// BenchmarkScenarioLegacyUpdate is the legacy-update week on the
// discrete-event clock.
func BenchmarkScenarioLegacyUpdate(b *testing.B) { benchScenario(b, scenarioLegacyUpdate) }
