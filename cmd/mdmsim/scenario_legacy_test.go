package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestLegacyUpdateScenario(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	args := []string{"run", "--scenario", "legacy-update", "--devices", "12", "--seed", "5",
		"--deadline", "48h", "--quirks", "prepare-stall=0.5", "--json"}
	if code := execute(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var sum struct {
		Devices        *int           `json:"devices"`
		Compliant      *int           `json:"compliant"`
		Noncompliant   *int           `json:"noncompliant"`
		Reasons        map[string]int `json:"reasons"`
		VirtualSeconds *float64       `json:"virtual_seconds"`
		WallSeconds    *float64       `json:"wall_seconds"`
		Mix            map[string]int `json:"mix"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if sum.Devices == nil || sum.Compliant == nil || sum.Noncompliant == nil || sum.Reasons == nil || sum.VirtualSeconds == nil || sum.WallSeconds == nil {
		t.Fatalf("missing keys in %s", lines[len(lines)-1])
	}
	n := 0
	for _, c := range sum.Reasons {
		n += c
	}
	if *sum.Devices != 12 || *sum.Compliant+*sum.Noncompliant != 12 || n != *sum.Noncompliant {
		t.Errorf("summary %s", lines[len(lines)-1])
	}
	if *sum.VirtualSeconds < 24*3600 || *sum.WallSeconds <= 0 {
		t.Errorf("times: %v virtual, %v wall", *sum.VirtualSeconds, *sum.WallSeconds)
	}
}

func TestLegacyUpdateBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--scenario", "legacy-update", "--speed", "0.5"},
		{"--scenario", "legacy-update", "--speed", "Inf"},
		{"--scenario", "legacy-update", "--speed", "NaN"},
		{"--scenario", "legacy-update", "--speed", "1e20"},
		{"--scenario", "ddm-deadline", "--speed", "Inf"},
		{"--scenario", "legacy-update", "--deadline", "-1h"},
		{"--scenario", "legacy-update", "--quirks", "no-such-quirk=0.5"},
		{"--scenario", "legacy-update", "--quirks", "prepare-stall"},
		{"--scenario", "firmware-update"},
	} {
		var stdout, stderr bytes.Buffer
		if code := execute(append([]string{"run"}, args...), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
