package jobs

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/scenarios/reference"
)

// TestRolloutCurve: the end of a rollout keeps every compliant device's
// time to compliance (0 for one that had nothing to install), and the
// curve counts a device from that instant, the fleet's devices that never
// enrolled included in the whole.
func TestRolloutCurve(t *testing.T) {
	t.Parallel()
	h := time.Hour
	outcomes := []reference.Outcome{
		{UDID: "a", Compliant: true, Target: "26.2 (25C56)", Elapsed: 25 * h},
		{UDID: "b", Compliant: true, Elapsed: 49 * h}, // nothing newer: DDM's Elapsed is the whole story
		{UDID: "c", Reason: reference.ReasonNotSupervised, Elapsed: 10 * time.Minute},
		{UDID: "d", Compliant: true, Target: "26.2 (25C56)", Elapsed: 24 * h},
		{UDID: "e", Reason: reference.ReasonAwaitingUser, Elapsed: 49 * h},
	}
	r := &Run{Config: Config{Devices: 8}}
	var s Rollout
	if err := s.end(context.Background(), r, outcomes, nil); err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{0, 24 * h, 25 * h}; !slices.Equal(s.ToCompliance, want) {
		t.Errorf("ToCompliance: have %v, want %v", s.ToCompliance, want)
	}
	if s.Devices != 8 || s.Compliant != 3 || s.Story != 49*h {
		t.Errorf("report: have %+v, story %v; want 8 devices, 3 compliant, story 49h", s.Report, s.Story)
	}
	have := s.Curve(24 * h)
	want := []Progress{{0, 1, 1.0 / 8}, {24 * h, 2, 2.0 / 8}, {48 * h, 3, 3.0 / 8}, {49 * h, 3, 3.0 / 8}}
	if !slices.Equal(have, want) {
		t.Errorf("Curve(24h): have %v, want %v", have, want)
	}
	// A story that ends on a step has no point twice.
	s.Story = 48 * h
	if have := s.Curve(24 * h); len(have) != 3 || have[2].At != 48*h {
		t.Errorf("Curve(24h) of a 48h story: have %v, want points at 0, 24h and 48h", have)
	}
	// An empty story is one point.
	var empty Rollout
	if have := empty.Curve(h); !slices.Equal(have, []Progress{{}}) {
		t.Errorf("Curve of an empty rollout: have %v, want one zero point", have)
	}
}
