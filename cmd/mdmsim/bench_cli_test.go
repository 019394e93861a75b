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
	code := dispatch([]string{"bench", "--workload", "enroll", "--target", "null", "--devices", "5", "--seed", "3", "--json", "--out", out}, &stdout, &stderr)
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
	code := dispatch([]string{"bench", "--workload", "checkin", "--target", "null", "--devices", "4", "--rate", "100", "--duration", "200ms"}, &stdout, &stderr)
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
		if code := dispatch(append([]string{"bench"}, args...), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
