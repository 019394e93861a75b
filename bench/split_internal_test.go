package bench

import (
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/internal/cpuside"
)

// spin burns CPU until it has hashed n blocks.
func spin(n int) {
	var b [64]byte
	for range n {
		b = [64]byte(append(sha256.New().Sum(b[:32])[:32], b[:32]...))
	}
}

// The profile's samples are told apart by the side each goroutine is on:
// two goroutines doing the same work on two sides get about the same share
// (CPU time, not wall time: load does not change it).
func TestSplitBySide(t *testing.T) {
	p := startSplit()
	if p == nil {
		t.Skip("another CPU profile is running")
	}
	var wg sync.WaitGroup
	for _, side := range []string{cpuside.Simulator, cpuside.Server} {
		wg.Go(func() {
			cpuside.Set(side)
			spin(3_000_000)
		})
	}
	wg.Wait()
	split := p.stop(2 * time.Second)
	if split == nil {
		t.Fatal("no sample")
	}
	for side := range split {
		switch side {
		case cpuside.Simulator, cpuside.Server, CPURuntime:
		default:
			t.Errorf("unknown side %q", side)
		}
	}
	sim, srv := split[cpuside.Simulator].Seconds(), split[cpuside.Server].Seconds()
	if sim == 0 || srv == 0 || sim/srv < 0.5 || sim/srv > 2 {
		t.Errorf("equal work on two sides split %v", split)
	}
}
