package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestRunJSON(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--devices", "8", "--seed", "3", "--json"},
		{"--devices", "60", "--json", "--enroll", "fast"},
		{"--devices", "6", "--json", "--mtls"},
	} {
		var stdout, stderr bytes.Buffer
		code := execute(append([]string{"run"}, args...), &stdout, &stderr)
		if code != 0 {
			t.Fatalf("%v: exit %d, stderr %s", args, code, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		var sum runSummary
		dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&sum); err != nil {
			t.Fatalf("%v: last line %q: %v", args, lines[len(lines)-1], err)
		}
		n := sum.Devices
		if n == 0 || sum.Enrolled != n || sum.CommandsSent != n || sum.Acknowledged != n || sum.Errors != 0 || sum.WallSeconds <= 0 {
			t.Fatalf("%v: summary %+v", args, sum)
		}
	}
}

func TestRunHumanSummary(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := execute([]string{"run", "--devices", "4"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"enrolled 4/4 devices", "4 acknowledged"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestRunBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--devices", "0"}, {"--enroll", "carrier-pigeon"}, {"--nope"}} {
		var stdout, stderr bytes.Buffer
		if code := execute(append([]string{"run"}, args...), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := execute([]string{"frobnicate"}, &stdout, &stderr); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}
