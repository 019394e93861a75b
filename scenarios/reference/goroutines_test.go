package reference_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// TestFleetGoroutinesMidRollout: two thousand devices in the middle of a
// DDM rollout on the discrete-event clock, most with timers armed, hold a
// small number of goroutines that does not grow with the fleet: timers
// wait in the clock's heap and run on its workers, not on a goroutine
// each.
//
// It runs the DDM enforcer, not the legacy one: the legacy enforcer keeps
// one goroutine per device for as long as it waits on that device, by
// design, where the DDM enforcer's per-device goroutines end once the
// device has its declaration, leaving one poll loop.
//
// It is not parallel: runtime.NumGoroutine counts the whole process, and
// the Go test runner runs no other test of the package beside a sequential
// one. Under the race detector (make test) the fleet is 600 devices, which
// takes about 15 s there; 2 000 without it. Either is more than three
// times maxOther, so a goroutine per device cannot pass.
func TestFleetGoroutinesMidRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("enrolls a fleet and runs two virtual days; skipped with -short")
	}
	devices := 2000
	if raceDetector {
		devices = 600
	}
	// The bounds, none of which grows with the fleet.
	//
	// HTTP connections: every connection open to the stack costs three
	// goroutines (the client's read and write loops, the server's serve
	// loop). Once the world is quiescent none is in use, and the open ones
	// are what the two keep-alive pools keep: the devices' shared MDM
	// transport (protocol.DefaultMaxIdleConnsPerHost) and the stack's own
	// clients, which the enforcer's API calls and the devices' SCEP and
	// profile fetches use (refmdm.APIIdleConns). A little more for
	// connections a pool has just let go whose goroutines have not exited.
	const maxConns = protocol.DefaultMaxIdleConnsPerHost + refmdm.APIIdleConns + 64
	// Everything else: the clock's clock.DefaultWorkers workers and its
	// driver (65), the stack's listener, the mock APNs, KMFDDM and
	// NanoMDM's few, the enforcer's poll loop, the test's: a few dozen
	// more. 200 is a third of the smaller fleet: a goroutine per device,
	// or per armed timer, cannot pass.
	const maxOther = 200

	// A bound for a hang only: virtual time does not depend on it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	g0 := settledGoroutines()
	cat := catalog.Default()
	clk := newDiscrete(t.Name(), scenarioStart(cat))
	defer clk.Close()
	pop := fleet.DefaultPopulation()
	t0 := time.Now()
	r, f := enrolledFleet(ctx, t, clk, fleet.Config{Devices: devices, Seed: 3, MacFraction: fleet.DefaultMacFraction, Catalog: cat, Population: &pop})
	t.Logf("%d devices enrolled in %v of wall time", devices, time.Since(t0).Round(time.Millisecond))

	// Two virtual days in, when every able device has its declaration and
	// waits for its user or its deadline: count, then end the run there.
	// The count is taken in a phase of its own (clock.InPhase), which runs
	// only once everything else due at that instant has finished: what it
	// sees is what the fleet holds between events, not the sessions of
	// devices that happen to act at the same instant.
	const at = 48 * time.Hour
	var (
		count   goroutineCount
		stats   clock.DiscreteStats
		mid     int // devices with a declaration that have not installed
		virtual time.Time
	)
	run, stopRun := context.WithCancel(ctx)
	defer stopRun()
	clock.InPhase(clk, 2).AfterFunc(at, func() {
		count = countGoroutines()
		stats = clk.Stats()
		virtual = clk.Now()
		for _, d := range f.Devices() {
			if d.EnforcementState().Declaration != "" && len(d.UpdateHistory()) == 0 {
				mid++
			}
		}
		stopRun()
	})
	e := r.ddm(reference.DDMEnforcerConfig{})
	start := clk.Now()
	wall := time.Now()
	e.Run(run, f.UDIDs())
	if err := ctx.Err(); err != nil {
		t.Fatalf("the run did not get to %v: %v", at, err)
	}
	if virtual.IsZero() {
		t.Fatalf("the run ended at %v without getting to %v", clk.Since(start), at)
	}
	t.Logf("at %v (%v of wall time): %d devices mid-rollout, %d goroutines (%d before the stack started): %d HTTP connections (%d goroutines), %d others; clock %+v",
		virtual.Sub(start), time.Since(wall).Round(time.Millisecond), mid, count.total, g0, count.conns, count.connGoroutines, count.total-count.connGoroutines, stats)

	// The timers are really armed: for a quarter of the fleet and more, at least
	// one for every device that waits for its deadline.
	if stats.Pending < devices/4 || stats.Pending < mid {
		t.Errorf("%d timers pending with %d devices mid-rollout: want at least %d, and one per such device", stats.Pending, mid, devices/4)
	}
	if mid < devices/10 {
		t.Errorf("only %d of %d devices mid-rollout at %v", mid, devices, at)
	}
	if count.conns > maxConns {
		t.Errorf("%d HTTP connections open: want at most %d (the keep-alive pools)", count.conns, maxConns)
	}
	if other := count.total - count.connGoroutines - g0; other >= maxOther {
		t.Errorf("%d goroutines besides HTTP connections and the %d before the stack started, with %d devices and %d timers pending: want fewer than %d",
			other, g0, devices, stats.Pending, maxOther)
	}
}

// settledGoroutines returns runtime.NumGoroutine once it has stopped
// falling, or after five seconds: the connections of the stacks earlier
// tests closed wind down on their own goroutines.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 100 {
		time.Sleep(50 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

// goroutineCount is the process's goroutines, those of HTTP connections
// apart.
type goroutineCount struct {
	total          int
	conns          int // client connections: one read loop each
	connGoroutines int // their read and write loops, and the server's serve loops
}

func countGoroutines() goroutineCount {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var c goroutineCount
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if len(bytes.TrimSpace(g)) == 0 {
			continue
		}
		c.total++
		switch {
		case bytes.Contains(g, []byte("net/http.(*persistConn).readLoop(")):
			c.conns++
			c.connGoroutines++
		case bytes.Contains(g, []byte("net/http.(*persistConn).writeLoop(")),
			bytes.Contains(g, []byte("net/http.(*conn).serve(")):
			c.connGoroutines++
		}
	}
	return c
}
