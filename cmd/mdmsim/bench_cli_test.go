package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdmsim/mdmsim/bench"
)

func TestBenchJSON(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "r.json")
	var stdout, stderr bytes.Buffer
	code := execute([]string{"bench", "--workload", "enroll", "--target", "null", "--devices", "5", "--seed", "3", "--json", "--out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var r bench.Result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatal(err)
	}
	if r.Workload != "enroll" || r.Target != "null" || r.Devices != 5 || r.Enrolled != 5 || r.Ops["enroll"] == nil || r.Ops["enroll"].Count != 5 {
		t.Errorf("result: %s", lines[len(lines)-1])
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.Contains(b, []byte(`"workload":"enroll"`)) {
		t.Errorf("--out: %v %s", err, b)
	}
}

func TestBenchText(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := execute([]string{"bench", "--workload", "checkin", "--target", "null", "--devices", "4", "--rate", "100", "--duration", "200ms"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"checkin against null", "p99.9", "max RSS"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestBenchBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--workload", "nope"}, {"--devices", "0"}, {"--model", "open"}} {
		var stdout, stderr bytes.Buffer
		if code := execute(append([]string{"bench"}, args...), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestBenchRollout: the rollout workload prints time-to-compliant and the
// compliance by virtual day, and writes the curve in the JSON and the HTML.
func TestBenchRollout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, page := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	var stdout, stderr bytes.Buffer
	code := execute([]string{"bench", "--workload", "rollout", "--scenario", "legacy-update", "--target", "embedded",
		"--devices", "30", "--seed", "3", "--deadline", "48h", "--out", out, "--html", page}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"rollout legacy-update against embedded: 30 devices (seed 3), 30 enrolled; one rollout",
		"time-to-compliant", "compliant by virtual day: day 0 ", ", day 2 ", "errors: "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r bench.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	st := r.Ops[bench.OpTimeToCompliant]
	if r.Workload != "rollout" || r.Scenario != "legacy-update" || st == nil || !st.Virtual || st.Count+st.Errors != 30 ||
		len(r.Compliance) != 49 || r.Compliance[48].Compliant != float64(st.Count)/30 {
		t.Errorf("result: %s", b)
	}
	if html, err := os.ReadFile(page); err != nil || !bytes.Contains(html, []byte(`id="chart-compliance"`)) {
		t.Errorf("--html: %v; no compliance chart", err)
	}
}

func TestBenchRolloutBadFlags(t *testing.T) {
	t.Parallel()
	target := filepath.Join(t.TempDir(), "t.yaml")
	for _, args := range [][]string{
		{"--scenario", "firmware-update"},
		{"--rate", "10"},
		{"--duration", "1m"},
		{"--deadline", "-1h"},
		{"--scenario", "ddm-deadline", "--off", "2"},
		{"--target", target}, // a server outside the process needs --speed
	} {
		var stdout, stderr bytes.Buffer
		if code := execute(append([]string{"bench", "--workload", "rollout"}, args...), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr.String())
		}
	}
}
