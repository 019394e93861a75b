package bench

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
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

// Resident memory a run holds per device, by what it runs: measured peaks
// of `mdmsim run` on a 2-core machine with the collector's default target
// (GOGC=100), divided by the fleet and rounded up. The embedded stack's
// storage dominates its figures; an update scenario adds the enforcer's
// goroutine per device and the devices' update and DDM state.
var rssPerDevice = map[string]int64{
	"null":                        4 << 10,
	"embedded":                    36 << 10,
	"embedded/legacy-update":      116 << 10,
	"embedded/ddm-deadline":       156 << 10,
	"outside":                     4 << 10,
	"outside/legacy-update":       64 << 10,
	"outside/ddm-deadline":        64 << 10,
	"null/legacy-update":          64 << 10,
	"null/ddm-deadline":           64 << 10,
	"embedded/" + WorkloadRollout: 116 << 10,
}

// rssBase is what a run's process holds besides its devices.
const rssBase = 160 << 20

// EstimateRun is the resident memory a run of devices against target (a
// target name: "null", "embedded" or a target file) is expected to reach
// for a job: "" or "default" (enrollment and a command), a scenario name
// or a bench workload.
func EstimateRun(target, job string, devices int) int64 {
	side := "outside"
	if target == "null" || target == "embedded" || target == "" {
		side = target
		if side == "" {
			side = "embedded"
		}
	}
	per, ok := rssPerDevice[side+"/"+job]
	if !ok {
		per = rssPerDevice[side]
	}
	return rssBase + int64(devices)*per
}

// Available is the memory this process can count on: the smaller of what
// the kernel says is available (MemAvailable) and what is left under the
// process's cgroup limit, if any; 0 when neither can be read (not Linux).
func Available() int64 {
	var avail int64
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		avail = meminfoField(string(data), "MemAvailable:")
	}
	if limit := cgroupLimit(); limit > 0 && (avail == 0 || limit < avail) {
		avail = limit
	}
	return avail
}

// CheckFits refuses an estimate larger than the memory available, with the
// figures; nil when it fits or the memory available is not known.
func CheckFits(estimate int64) error {
	avail := Available()
	if avail <= 0 || estimate <= avail {
		return nil
	}
	return fmt.Errorf("the fleet needs about %s of memory and this machine has %s available: use fewer devices, or split the fleet over several processes",
		gib(estimate), gib(avail))
}

func gib(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

// meminfoField reads a "Name:   123 kB" line of /proc/meminfo, in bytes.
func meminfoField(meminfo, name string) int64 {
	for line := range strings.Lines(meminfo) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// cgroupLimit is the memory left under the cgroup v2 limit of this process
// (memory.max less memory.current), 0 when there is none.
func cgroupLimit() int64 {
	read := func(name string) int64 {
		data, err := os.ReadFile("/sys/fs/cgroup/" + name)
		if err != nil {
			return 0
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			return 0 // "max": no limit
		}
		return v
	}
	max := read("memory.max")
	if max <= 0 {
		return 0
	}
	return max - read("memory.current")
}
