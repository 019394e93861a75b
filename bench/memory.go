package bench

import (
	"fmt"
	"os"
	"runtime/debug"
)

// Live heap a benchmark's process holds per enrolled idle device: the
// simulator's side (BenchmarkEnrolledIdleFleet: about 1.5 KiB) with the mock
// APNs' registry, and, for a server in the process, its own storage. They
// are measured figures (the enroll workload prints its own), rounded up.
var bytesPerDevice = map[string]int64{
	"null":     2 << 10,
	"embedded": 7 << 10,
}

// outsideBytesPerDevice is bytesPerDevice for a server in another process.
const outsideBytesPerDevice = 2 << 10

// memoryBase is what a benchmark's process holds besides its devices.
const memoryBase = 256 << 20

// MemoryPlan is the heap a benchmark of devices against target is expected
// to hold, the collector's target, and the soft memory limit the Go runtime
// is given for it: a third above the estimate. Without one, the collector lets the heap grow to twice
// the live heap, and a fleet of a million devices doubles its resident
// memory for nothing; with one too tight, it collects without end. So a
// limit is set only for the workloads whose devices stay idle between
// exchanges (not a rollout, whose devices keep update and DDM state), for
// fleets whose devices are expected to hold at least 1 GiB, and never when
// GOMEMLIMIT or GOGC is set in the environment: the caller's choice stands.
type MemoryPlan struct {
	Estimate int64
	Limit    int64
	// GCPercent is the collector's target (GOGC): 200, as a load
	// generator wants it, trading memory it has for the CPU it measures
	// with, or -1 (off) under a limit, which then alone starts a
	// collection; 0 leaves it alone (GOGC or GOMEMLIMIT is set).
	GCPercent int
}

// loadGCPercent is the GOGC a benchmark runs with unless told otherwise.
const loadGCPercent = 200

// PlanMemory returns the MemoryPlan of a workload's fleet against target
// (a target name: "null", "embedded" or a target file).
func PlanMemory(workload, target string, devices int) MemoryPlan {
	per, ok := bytesPerDevice[target]
	if !ok {
		per = outsideBytesPerDevice
	}
	fleet := int64(devices) * per
	p := MemoryPlan{Estimate: memoryBase + fleet}
	if os.Getenv("GOMEMLIMIT") != "" || os.Getenv("GOGC") != "" {
		return p
	}
	p.GCPercent = loadGCPercent
	if workload != WorkloadRollout && fleet >= 1<<30 {
		// Under a limit the collector runs only when the heap reaches it
		// (GOGC=off): the fewest collections of a heap that is large by
		// then. (Single runs of make bench-million were faster this way
		// than with GOGC=100 or 200 under the same limit, by less than
		// the run-to-run spread: a choice, not a measured law.)
		p.Limit = p.Estimate + p.Estimate/3
		p.GCPercent = -1
	}
	return p
}

// Apply sets the collector's target and the runtime's soft memory limit,
// as far as the plan sets them.
func (p MemoryPlan) Apply() {
	if p.GCPercent != 0 {
		debug.SetGCPercent(p.GCPercent)
	}
	if p.Limit > 0 {
		debug.SetMemoryLimit(p.Limit)
	}
}

// String says what the plan is.
func (p MemoryPlan) String() string {
	switch {
	case p.GCPercent == 0:
		return fmt.Sprintf("memory: about %s expected; GOGC/GOMEMLIMIT from the environment", mib(p.Estimate))
	case p.Limit == 0:
		return fmt.Sprintf("memory: about %s expected; GOGC=%d (set GOGC or GOMEMLIMIT to change it)", mib(p.Estimate), p.GCPercent)
	}
	return fmt.Sprintf("memory: about %s expected; Go memory limit %s, collected at the limit (set GOGC or GOMEMLIMIT to change it)",
		mib(p.Estimate), mib(p.Limit))
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
