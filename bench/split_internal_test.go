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

// The profile's samples are told apart by the side each goroutine is on,
// and the sides add up to the process's CPU time.
func TestSplitBySide(t *testing.T) {
	p := startSplit()
	if p == nil {
		t.Skip("another CPU profile is running")
	}
	var wg sync.WaitGroup
	for _, side := range []string{cpuside.Simulator, cpuside.Server} {
		wg.Go(func() {
			cpuside.Set(side)
			spin(1_000_000)
		})
	}
	wg.Wait()
	split := p.stop(2 * time.Second)
	if split == nil {
		t.Fatal("no sample")
	}
	var sum time.Duration
	for side, d := range split {
		switch side {
		case cpuside.Simulator, cpuside.Server, CPURuntime:
		default:
			t.Errorf("unknown side %q", side)
		}
		sum += time.Duration(d)
	}
	if sum < 2*time.Second-time.Millisecond || sum > 2*time.Second+time.Millisecond {
		t.Errorf("sides add up to %s, want the process's 2s", sum)
	}
	if split[cpuside.Simulator] == 0 || split[cpuside.Server] == 0 {
		t.Errorf("a labelled side has no time: %v", split)
	}
}
