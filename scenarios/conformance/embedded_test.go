package conformance_test

import (
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
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
	junit := filepath.Join(t.TempDir(), "junit.xml")
	opts := scenarios.SuiteOptions{InProcess: true, LabelFilter: os.Getenv("MDMSIM_LABEL_FILTER"), JUnitReport: junit}
	if mutant == reference.MutantNone {
		if !scenarios.Run(t, open, opts) {
			t.Errorf("the reference fails the suite: %+v", scenarios.Summarize(scenarios.LastReport()))
		}
		checkJUnit(t, junit, scenarios.Summarize(scenarios.LastReport()))
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

// checkJUnit reads the JUnit report as a CI system does: one test case
// per spec, failures where the summary has them.
func checkJUnit(t *testing.T, file string, sum scenarios.Summary) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &suites); err != nil {
		t.Fatalf("the JUnit report does not parse: %v", err)
	}
	if len(suites.Suites) != 1 {
		t.Fatalf("the JUnit report has %d test suites, want 1", len(suites.Suites))
	}
	passed, failed := 0, 0
	for _, c := range suites.Suites[0].Cases {
		if !strings.HasPrefix(c.Name, "[It]") {
			continue // the suite's own setup and report nodes
		}
		switch {
		case c.Failure != nil:
			failed++
		case c.Skipped == nil:
			passed++
		}
	}
	if passed != sum.Passed || failed != sum.Failed {
		t.Errorf("the JUnit report has %d passed and %d failed specs; the run had %d and %d", passed, failed, sum.Passed, sum.Failed)
	}
}

// failRecorder takes the suite's failure instead of failing the test.
type failRecorder struct{ failed bool }

func (f *failRecorder) Fail() { f.failed = true }
