// Package bench runs workloads against a target and measures them: pacers
// (open and closed models), per-operation latency histograms, throughput
// over time, errors by kind, and the reports a performance team reads
// (JSON with a stable schema, a self-contained HTML page, Prometheus
// metrics, a comparison of two runs).
package bench

import (
	"time"

	"github.com/mdmsim/mdmsim/fleet"
)

// SchemaVersion is the version of Result's JSON; it changes only when a
// field changes meaning or goes away.
const SchemaVersion = 1

// Result is one benchmark run, as `mdmsim bench --json` prints it and the
// HTML report and `mdmsim bench compare` read it.
type Result struct {
	Schema   int    `json:"schema"`
	Workload string `json:"workload"` // enroll, checkin, push, commands, rollout
	Target   string `json:"target"`   // null, embedded, or the target file's name
	Devices  int    `json:"devices"`
	Seed     int64  `json:"seed"`
	// Scenario is the rollout workload's rollout (legacy-update,
	// ddm-deadline).
	Scenario string `json:"scenario,omitempty"`
	// Pacing says how work was offered: open (a rate, with a ramp) or
	// closed (workers).
	Pacing Pacing `json:"pacing"`
	// Started is the wall-clock start; Wall the run's wall time.
	Started time.Time `json:"started"`
	Wall    Duration  `json:"wall"`
	// Ops are the operations measured, by name ("enroll", "checkin",
	// "command", "push"), each with its latency histogram.
	Ops map[string]*OpStats `json:"ops"`
	// Timeline is throughput and latency per interval, for the charts.
	Timeline []Interval `json:"timeline"`
	// Errors counts failures by kind ("timeout", "http-401", ...).
	Errors map[string]int64 `json:"errors"`
	// CPU is the CPU time spent, by process: "process" is the benchmark's
	// own (the simulator, and the server when it runs in the process).
	CPU map[string]Duration `json:"cpu,omitempty"`
	// CPUBySide splits CPU["process"] between the sides of a benchmark
	// run in one process (CPUSimulator, CPUServer, CPUWorld, CPURuntime),
	// estimated from a CPU profile of the run; the sides add up to it.
	CPUBySide map[string]Duration `json:"cpu_by_side,omitempty"`
	// Memory figures, in bytes: heap in use at the end, max RSS, and heap
	// per enrolled idle device when the workload measures it.
	HeapBytes      uint64  `json:"heap_bytes,omitempty"`
	MaxRSSBytes    uint64  `json:"max_rss_bytes,omitempty"`
	BytesPerDevice float64 `json:"bytes_per_device,omitempty"`
	// Compliance is the share of the whole fleet compliant from the start
	// of a rollout to its end, at every Rollout.Step of virtual time (an
	// hour by default; Day counts virtual days and is fractional between
	// them). It never falls, and ends at the share the rollout left
	// compliant.
	Compliance []CompliancePoint `json:"compliance,omitempty"`
	// Partial is set when the run was stopped before its end.
	Partial bool `json:"partial,omitempty"`
	// Offered counts the hits an open-model pacer offered, run or
	// dropped (Errors["dropped"]).
	Offered int64 `json:"offered,omitempty"`
	// Enrolled is how many devices were enrolled at the end.
	Enrolled int `json:"enrolled,omitempty"`
	// Shard is set when the run held one shard of the fleet
	// (Workload.Shard): Devices is still the whole fleet's size,
	// ShardDevices the shard's, and every count (Ops, Errors, Enrolled,
	// Compliance's devices) is the shard's. MergeResults adds the shards
	// up into one Result with Shards set instead.
	Shard        *fleet.Shard `json:"shard,omitempty"`
	ShardDevices int          `json:"shard_devices,omitempty"`
	// Shards is how many shard results a merged Result was made from.
	Shards int `json:"shards,omitempty"`
}

// Pacing is how a run offered its work.
type Pacing struct {
	Model    string   `json:"model"` // "open" or "closed"
	Rate     float64  `json:"rate,omitempty"`
	Ramp     Duration `json:"ramp,omitempty"`
	Duration Duration `json:"duration,omitempty"`
	Workers  int      `json:"workers,omitempty"`
	// MaxInFlight bounds outstanding work in the open model.
	MaxInFlight int `json:"max_in_flight,omitempty"`
}

// OpStats is one operation's count and latency distribution (from an HDR
// histogram; microsecond resolution).
type OpStats struct {
	Count  int64    `json:"count"`
	Errors int64    `json:"errors"`
	Rate   float64  `json:"rate"` // per second of wall time; 0 when Virtual
	Min    Duration `json:"min"`
	Mean   Duration `json:"mean"`
	P50    Duration `json:"p50"`
	P90    Duration `json:"p90"`
	P99    Duration `json:"p99"`
	P999   Duration `json:"p999"`
	Max    Duration `json:"max"`
	// Virtual is set when the latencies are on the world's virtual clock,
	// not the run's wall time (a rollout's "time-to-compliant").
	Virtual bool `json:"virtual,omitempty"`
	// Histogram is the HDR histogram the figures above come from, as
	// [microseconds, count] pairs, one per non-empty bucket (the bucket's
	// lowest value): what MergeResults adds up exactly.
	Histogram [][2]int64 `json:"histogram,omitempty"`
}

// Interval is one slice of the run's timeline.
type Interval struct {
	// At is the offset from the start.
	At Duration `json:"at"`
	// Ops counts completions and P99 is the 99th percentile latency in
	// the interval, by operation.
	Ops    map[string]int64    `json:"ops"`
	P99    map[string]Duration `json:"p99"`
	Errors int64               `json:"errors"`
}

// CompliancePoint is the share compliant at a virtual day.
type CompliancePoint struct {
	Day       float64 `json:"day"`
	Compliant float64 `json:"compliant"` // 0..1
	// Devices is how many devices were compliant then: what
	// MergeResults adds up (Compliant is over the run's own devices).
	Devices int `json:"devices,omitempty"`
}

// Duration is a time.Duration that reads and writes as seconds (float) in
// JSON, so a report is readable and language-neutral.
type Duration time.Duration
