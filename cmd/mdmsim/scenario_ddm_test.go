package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestDDMDeadlineScenario(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	args := []string{"run", "--scenario", "ddm-deadline", "--devices", "24", "--seed", "3", "--lead", "24h",
		"--off", "0.1", "--json"}
	if code := execute(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	var sum struct {
		Devices        *int           `json:"devices"`
		Compliant      *int           `json:"compliant"`
		Noncompliant   *int           `json:"noncompliant"`
		Late           *int           `json:"late"`
		Reasons        map[string]int `json:"reasons"`
		VirtualSeconds *float64       `json:"virtual_seconds"`
		WallSeconds    *float64       `json:"wall_seconds"`
		TimeZones      int            `json:"time_zones"`
		Local          string         `json:"target_local_date_time"`
	}
	if err := json.Unmarshal([]byte(last), &sum); err != nil {
		t.Fatalf("last line %q: %v", last, err)
	}
	if sum.Devices == nil || sum.Compliant == nil || sum.Noncompliant == nil || sum.Late == nil || sum.Reasons == nil ||
		sum.VirtualSeconds == nil || sum.WallSeconds == nil {
		t.Fatalf("missing keys in %s", last)
	}
	n := 0
	for _, c := range sum.Reasons {
		n += c
	}
	if *sum.Devices != 24 || *sum.Compliant+*sum.Noncompliant != 24 || n != *sum.Noncompliant || *sum.Late != 0 {
		t.Errorf("summary %s", last)
	}
	if *sum.VirtualSeconds < 24*3600 || sum.TimeZones < 2 || sum.Local == "" {
		t.Errorf("summary %s", last)
	}
}

func TestDDMDeadlineBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--scenario", "ddm-deadline", "--off", "2"},
		{"--scenario", "ddm-deadline", "--lead", "1m"},
	} {
		var stdout, stderr bytes.Buffer
		if code := execute(append([]string{"run"}, args...), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
