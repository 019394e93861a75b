package simulator_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// TestEnforceFailedStepReportsFailure: a download that fails
// (WithFailures) shows in the status reports (each checked against Apple's
// schema by the rig's server) as install-state "failed" with a
// failure-reason, retried every EnforcementRetryInterval; an apply that
// fails brings the device back on its OS and reports "failed" too.
func TestEnforceFailedStepReportsFailure(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		f      update.Failures
		states []string
	}{
		{"download", update.Failures{Download: 1}, []string{"waiting@18.6", "downloading", "failed"}},
		{"apply", update.Failures{Apply: 1}, []string{"waiting@18.6", "downloading", "installing", "failed"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newEnfRigOpts(t, enfIPhone, update.UserProfile{Response: update.UserActs, ResponseDelay: time.Minute}, nil,
				[]simulator.Option{simulator.WithFailures(tt.f)},
				enfDeclSpec{id: "su", target: "18.7", due: 72 * time.Hour})
			r.run(150 * time.Minute)
			have := r.states()
			if len(have) < len(tt.states) {
				t.Fatalf("install-state reports %q, want them to start %q", have, tt.states)
			}
			checkStates(t, have[:len(tt.states)], tt.states)
			fr, _ := r.item("failure-reason").(map[string]any)
			if fr["reason"] != simulator.FailureGeneric || fmt.Sprint(fr["count"]) == "0" || fr["timestamp"] == nil {
				t.Errorf("failure-reason %v, want %q with a count", fr, simulator.FailureGeneric)
			}
			if v := r.d.Identity().OSVersion; v != "18.6" {
				t.Errorf("the device runs %s after failed updates", v)
			}
		})
	}
}
