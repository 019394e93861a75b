package specs_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mdmsim/mdmsim/scenarios"
	_ "github.com/mdmsim/mdmsim/scenarios/specs"
)

var update = flag.Bool("update", false, "rewrite testdata/conformance.txt from the suite")

const golden = "testdata/conformance.txt"

// TestConformanceList: the golden list of the conformance specs (name and
// labels) is the suite's, so a spec added, removed, renamed or relabelled
// shows in review (go test ./scenarios/specs -update after a deliberate
// change).
func TestConformanceList(t *testing.T) {
	noTarget := func(context.Context, *scenarios.World) (scenarios.Target, error) {
		return nil, errors.New("a dry run opens no target")
	}
	if !scenarios.Run(t, noTarget, scenarios.SuiteOptions{DryRun: true}) {
		t.Fatal("the dry run failed")
	}
	have := List(scenarios.ListSpecs(scenarios.LastReport()))
	if *update {
		if err := os.WriteFile(golden, []byte(have), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if have != string(want) {
		t.Errorf("%s is not the suite's list; after a deliberate change run go test ./scenarios/specs -update.\nhave:\n%s\nwant:\n%s", golden, have, want)
	}
	names := map[string]bool{}
	for _, s := range scenarios.ListSpecs(scenarios.LastReport()) {
		if names[s.Name] {
			t.Errorf("two specs are named %q", s.Name)
		}
		names[s.Name] = true
		if !strings.Contains(s.Name, "[") {
			t.Errorf("%q names no behaviour ([B…], [Q…] or [protocol: …])", s.Name)
		}
	}
}

// List renders specs one a line: the name, then its labels sorted.
func List(specs []scenarios.SpecInfo) string {
	var b strings.Builder
	for _, s := range specs {
		l := slices.Clone(s.Labels)
		slices.Sort(l)
		b.WriteString(s.Name + " {" + strings.Join(l, ", ") + "}\n")
	}
	return b.String()
}
