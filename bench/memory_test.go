package bench_test

import (
	"testing"

	"github.com/mdmsim/mdmsim/bench"
)

func TestPlanMemory(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	big := bench.PlanMemory(bench.WorkloadEnroll, "null", 1_000_000)
	if big.Limit <= big.Estimate || big.Limit > 3<<30 {
		t.Errorf("a million idle devices against null: estimate %d, limit %d; want a limit above the estimate and within 3 GiB", big.Estimate, big.Limit)
	}
	if big.GCPercent != -1 {
		t.Errorf("GOGC %d under a limit, want off (-1)", big.GCPercent)
	}
	if p := bench.PlanMemory(bench.WorkloadEnroll, "null", 10_000); p.Limit != 0 || p.GCPercent != 200 {
		t.Errorf("10 000 devices get a limit of %d (the collector's target is enough) and GOGC %d", p.Limit, p.GCPercent)
	}
	if p := bench.PlanMemory(bench.WorkloadRollout, "null", 1_000_000); p.Limit != 0 {
		t.Errorf("a rollout gets a limit of %d: its devices keep state the estimate does not count", p.Limit)
	}
	if e, n := bench.PlanMemory(bench.WorkloadEnroll, "embedded", 100_000).Estimate, bench.PlanMemory(bench.WorkloadEnroll, "null", 100_000).Estimate; e <= n {
		t.Errorf("the embedded server's storage is not counted: embedded %d, null %d", e, n)
	}
	t.Setenv("GOGC", "200")
	if p := bench.PlanMemory(bench.WorkloadEnroll, "null", 1_000_000); p.Limit != 0 || p.GCPercent != 0 {
		t.Errorf("GOGC is set, yet a limit of %d and GOGC %d", p.Limit, p.GCPercent)
	}
}
