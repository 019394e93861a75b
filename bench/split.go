package bench

import (
	"bytes"
	"runtime/pprof"
	"time"

	"github.com/google/pprof/profile"

	"github.com/mdmsim/mdmsim/internal/cpuside"
)

// Keys of Result.CPUBySide: the process's CPU time split by side
// (internal/cpuside), estimated from a CPU profile of the run (100 samples
// a second of each busy thread). "runtime" is what no side claims: the
// garbage collector's workers, the scheduler, timers.
const (
	CPUSimulator = cpuside.Simulator
	CPUServer    = cpuside.Server
	CPUWorld     = cpuside.World
	CPURuntime   = "runtime"
)

// cpuProfile is a CPU profile of a run, for splitting its CPU by side.
type cpuProfile struct{ buf bytes.Buffer }

// startSplit starts profiling the process; nil when it cannot (another
// profile is running, as with --cpuprofile).
func startSplit() *cpuProfile {
	p := &cpuProfile{}
	if err := pprof.StartCPUProfile(&p.buf); err != nil {
		return nil
	}
	return p
}

// stop ends the profile and returns the CPU time of each side, scaled so
// that the sides add up to process (the profile samples; the process's
// rusage counts). Nil when the profile cannot be read or holds no sample.
func (p *cpuProfile) stop(process time.Duration) map[string]Duration {
	pprof.StopCPUProfile()
	prof, err := profile.Parse(&p.buf)
	if err != nil || len(prof.SampleType) == 0 {
		return nil
	}
	// The last sample value is CPU time in nanoseconds ("cpu", "nanoseconds").
	vi := len(prof.SampleType) - 1
	by := map[string]int64{}
	var total int64
	for _, s := range prof.Sample {
		v := s.Value[vi]
		side := CPURuntime
		if l := s.Label[cpuside.Key]; len(l) > 0 {
			side = l[0]
		}
		by[side] += v
		total += v
	}
	if total == 0 {
		return nil
	}
	out := make(map[string]Duration, len(by))
	for side, v := range by {
		out[side] = Duration(time.Duration(float64(process) * float64(v) / float64(total)))
	}
	return out
}
