package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/bench"
)

func compareResult(p99 time.Duration, rate float64) *bench.Result {
	return &bench.Result{
		Schema: bench.SchemaVersion, Workload: "checkin", Target: "null", Devices: 100,
		Wall: bench.Duration(10 * time.Second),
		Ops: map[string]*bench.OpStats{
			"checkin": {Count: 1000, Rate: rate, P50: bench.Duration(time.Millisecond), P99: bench.Duration(p99), P999: bench.Duration(2 * p99), Max: bench.Duration(3 * p99)},
		},
		CPU:       map[string]bench.Duration{"process": bench.Duration(5 * time.Second)},
		HeapBytes: 64 << 20,
	}
}

func writeResult(t *testing.T, name string, r *bench.Result, prefix string) string {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, append([]byte(prefix), data...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBenchCompare(t *testing.T) {
	t.Parallel()
	base := writeResult(t, "old.json", compareResult(10*time.Millisecond, 100), "")
	same := writeResult(t, "same.json", compareResult(10*time.Millisecond, 100), "")
	// As `mdmsim bench --json` prints it: logs, then the Result last.
	slower := writeResult(t, "new.json", compareResult(12*time.Millisecond, 100), "enrolled 100 devices\n")
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o644)
	newer := writeResult(t, "newer.json", &bench.Result{Schema: bench.SchemaVersion + 1}, "")

	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderrHave string
	}{
		{"same", []string{base, same}, 0, []string{"no regression beyond 10%", "checkin", "p99.9"}, ""},
		{"slower", []string{base, slower}, 1, []string{"regression(s) beyond 10%", "checkin p99: 10ms → 12ms (+2ms (+20.0%))"}, ""},
		{"slower within a looser threshold", []string{"--threshold", "25%", base, slower}, 0, []string{"no regression beyond 25%"}, ""},
		{"flag after the files", []string{base, slower, "--threshold=30"}, 0, []string{"no regression beyond 30%"}, ""},
		{"json", []string{"--json", base, slower}, 1, []string{`"regressions":["checkin p99`, `"threshold":0.1`}, ""},
		{"one file", []string{base}, 2, nil, "want two result files"},
		{"three files", []string{base, base, base}, 2, nil, "want two result files"},
		{"bad threshold", []string{"--threshold", "ten", base, same}, 2, nil, "want a percentage"},
		{"missing file", []string{base, filepath.Join(t.TempDir(), "nope.json")}, 2, nil, "no such file"},
		{"not json", []string{base, bad}, 2, nil, "not a bench result"},
		{"newer schema", []string{base, newer}, 2, nil, "newer than this mdmsim reads"},
		{"unknown flag", []string{"--nope", base, same}, 2, nil, "unknown flag: --nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := execute(append([]string{"bench", "compare"}, tc.args...), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			if tc.stderrHave != "" && !strings.Contains(stderr.String(), tc.stderrHave) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderrHave, stderr.String())
			}
		})
	}
}
