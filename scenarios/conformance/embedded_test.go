package conformance_test

import (
	"context"
	"os"
	"testing"

	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	_ "github.com/mdmsim/mdmsim/scenarios/specs"
	"github.com/mdmsim/mdmsim/scenarios/targets/embedded"
)

// TestEmbeddedConformance: the reference (the embedded stack and its
// reference enforcers) passes every conformance spec. MDMSIM_LABEL_FILTER
// selects specs, e.g. '!slow'. With MDMSIM_MUTANT=name the target is that
// mutant of the reference instead, and the test passes only if the suite
// catches it (some spec fails).
func TestEmbeddedConformance(t *testing.T) {
	mutant, ok := reference.LookupMutant(os.Getenv("MDMSIM_MUTANT"))
	if !ok {
		t.Fatalf("no mutant %q", os.Getenv("MDMSIM_MUTANT"))
	}
	open := func(ctx context.Context, w *scenarios.World) (scenarios.Target, error) {
		return embedded.New(ctx, w, embedded.WithMintedIdentities(), embedded.WithMutant(mutant))
	}
	opts := scenarios.SuiteOptions{InProcess: true, LabelFilter: os.Getenv("MDMSIM_LABEL_FILTER")}
	if mutant == reference.MutantNone {
		if !scenarios.Run(t, open, opts) {
			t.Errorf("the reference fails the suite: %+v", scenarios.Summarize(scenarios.LastReport()))
		}
		return
	}
	// A mutant must fail: the suite's failures are what the test expects.
	var caught failRecorder
	scenarios.Run(&caught, open, opts)
	sum := scenarios.Summarize(scenarios.LastReport())
	if sum.Failed == 0 {
		t.Errorf("mutant %s passes every spec (%d passed, %d skipped): the suite does not catch it", mutant, sum.Passed, sum.Skipped)
	}
	for _, f := range sum.Failures {
		t.Logf("caught by: %s", f)
	}
}

// failRecorder takes the suite's failure instead of failing the test.
type failRecorder struct{ failed bool }

func (f *failRecorder) Fail() { f.failed = true }
