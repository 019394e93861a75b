// Package cpuload starves a test's process of CPU, for the tests that show
// a verdict does not depend on how busy the machine is.
package cpuload

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// Burn keeps n goroutines spinning until the returned stop is called, and
// stop returns how many spins they made. Each spins for a burst of varied
// length and then yields: spinning without ever yielding would leave the
// code under test only the scheduler's 10 ms preemption slices, which
// makes a run of thousands of round trips take many minutes without making
// the test any sharper, while bursts of varied length interleave it with
// the spinners at ever different points.
func Burn(n int) (stop func() uint64) {
	var (
		done  atomic.Bool
		wg    sync.WaitGroup
		spins atomic.Uint64
	)
	for i := range n {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 0x5eed))
			var s uint64
			for !done.Load() {
				for range rng.IntN(1 << 16) {
					s++
				}
				runtime.Gosched()
			}
			spins.Add(s)
		})
	}
	return func() uint64 {
		done.Store(true)
		wg.Wait()
		return spins.Load()
	}
}

// Starve sets GOMAXPROCS to 1 and burns one goroutine per CPU beside the
// test until the returned stop is called, which restores GOMAXPROCS.
// GOMAXPROCS is the process's: a test that starves must not run in
// parallel with others.
func Starve() (stop func() uint64) {
	prev := runtime.GOMAXPROCS(1)
	burn := Burn(runtime.NumCPU())
	return func() uint64 {
		n := burn()
		runtime.GOMAXPROCS(prev)
		return n
	}
}
