package report_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/bench/report"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
)

func write(t *testing.T, dir, name string, v any, prefix string) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, append([]byte(prefix), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMergeFiles: bench results and job summaries are told apart and
// merged; mixing them, or a file of neither, is refused.
func TestMergeFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var benchFiles, jobFiles []string
	for i := range 2 {
		s := fleet.Shard{Index: i, Count: 2}
		r := &bench.Result{Schema: bench.SchemaVersion, Workload: "enroll", Target: "null", Devices: 6, Seed: 1, Shard: &s, ShardDevices: 3,
			Enrolled: 3, Ops: map[string]*bench.OpStats{"enroll": {Count: 3, Histogram: [][2]int64{{100, 2}, {900, 1}}}}}
		benchFiles = append(benchFiles, write(t, dir, "bench"+string(rune('0'+i)), r, "enrolling 3 devices\n"))
		j := jobs.DeviceInfoSummary{ShardOf: jobs.ShardOf{Job: jobs.JobDeviceInformation, Seed: 1, FleetDevices: 6, Shard: &s},
			Devices: 3, Enrolled: 3, CommandsSent: 3, Acknowledged: 3}
		jobFiles = append(jobFiles, write(t, dir, "job"+string(rune('0'+i)), j, ""))
	}
	m, err := report.MergeFiles(benchFiles)
	if err != nil || m.Bench == nil || m.Bench.Enrolled != 6 || m.Bench.Ops["enroll"].Count != 6 {
		t.Fatalf("bench: %+v, %v", m, err)
	}
	var page strings.Builder
	if err := m.WriteHTML(&page); err != nil || !strings.Contains(page.String(), "2 processes, merged") {
		t.Errorf("bench HTML: %v", err)
	}
	if b, err := m.JSON(); err != nil || !strings.Contains(string(b), `"shards":2`) {
		t.Errorf("bench JSON: %s, %v", b, err)
	}
	m, err = report.MergeFiles(jobFiles)
	if s, ok := m.Job.(jobs.DeviceInfoSummary); err != nil || !ok || s.Acknowledged != 6 || s.Shards != 2 {
		t.Fatalf("jobs: %+v, %v", m, err)
	}
	if err := m.WriteHTML(&page); err == nil {
		t.Error("a job summary wrote an HTML page")
	}
	if _, err := report.MergeFiles([]string{benchFiles[0], jobFiles[1]}); !errors.Is(err, report.ErrMixed) {
		t.Errorf("mixed: have %v, want ErrMixed", err)
	}
	other := write(t, dir, "other", map[string]int{"x": 1}, "")
	if _, err := report.MergeFiles([]string{other}); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("neither kind: have %v", err)
	}
	if _, err := report.MergeFiles([]string{filepath.Join(dir, "absent")}); err == nil {
		t.Error("a missing file merged")
	}
}
