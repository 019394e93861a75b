package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/mdmsim/mdmsim/internal/cpuload"
)

// lastLine runs mdmsim and returns its JSON summary without wall_seconds,
// the one field that may change between two runs of the same seed.
func lastLine(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := execute(args, &stdout, &stderr); code != 0 && code != 1 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	if !json.Valid([]byte(last)) {
		t.Fatalf("%v: last line is not JSON: %q\n%s", args, last, stderr.String())
	}
	return regexp.MustCompile(`,?"wall_seconds":[0-9.e+-]+`).ReplaceAllString(last, "")
}

// TestScenariosDeterministic: the same seed prints the same summary,
// whether the machine is idle or starved (GOMAXPROCS=1 and a CPU-burning
// goroutine per core beside the run). Not parallel: GOMAXPROCS is the
// process's.
func TestScenariosDeterministic(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--scenario", "legacy-update", "--devices", "40", "--seed", "7", "--json"},
		{"run", "--scenario", "ddm-deadline", "--devices", "40", "--seed", "7", "--lead", "48h", "--off", "0.1", "--json"},
	} {
		t.Run(args[2], func(t *testing.T) {
			calm := lastLine(t, args...)
			stop := cpuload.Starve()
			loaded := lastLine(t, args...)
			stop()
			if calm != loaded {
				t.Errorf("same seed, different summaries:\n idle   %s\n loaded %s", calm, loaded)
			}
			if !strings.Contains(calm, `"clock":"discrete"`) {
				t.Errorf("not on the discrete-event clock: %s", calm)
			}
		})
	}
}

// TestScaledRunSaysWhenBehind: at a speed no machine can keep up with, a
// scaled run warns and reports how far behind it fell. With --off 1 the
// ShutDownDevice timer two virtual hours in (7.2 µs of wall time at 1e9)
// is armed in every run; no runtime fires a timer within 60 ns.
func TestScaledRunSaysWhenBehind(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	args := []string{"run", "--scenario", "ddm-deadline", "--devices", "3", "--seed", "2", "--speed", "1e9",
		"--lead", "1h", "--off", "1", "--json"}
	execute(args, &stdout, &stderr)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var sum struct {
		Clock         string  `json:"clock"`
		BehindSeconds float64 `json:"behind_seconds"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if sum.Clock != "scaled" || sum.BehindSeconds <= behindWarn.Seconds() {
		t.Errorf("clock %q, behind %v s: want scaled and more than %v behind", sum.Clock, sum.BehindSeconds, behindWarn)
	}
	if !strings.Contains(stderr.String(), "could not keep up with --speed") {
		t.Errorf("no warning on stderr:\n%s", stderr.String())
	}
}
