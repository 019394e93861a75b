// Package cpuside tells which side of a benchmark a goroutine works for,
// so that a CPU profile of one process running both the simulated devices
// and the MDM server can be split between them. A side is a goroutine
// label (runtime/pprof): goroutines inherit their creator's labels, so it
// is set where work enters a side: a server's accept loop, a device's
// session, a benchmark's worker. Setting it reuses one labelled context per
// side: a map look-up and a runtime call, no allocation.
package cpuside

import (
	"context"
	"runtime/pprof"
)

// Key is the label's key.
const Key = "mdmsim"

// Sides.
const (
	// Simulator is the devices and the benchmark driving them.
	Simulator = "simulator"
	// Server is an MDM server running in the process (embedded, null).
	Server = "server"
	// World is the mock Apple services (APNs, GDMF).
	World = "world"
)

var contexts = map[string]context.Context{
	Simulator: pprof.WithLabels(context.Background(), pprof.Labels(Key, Simulator)),
	Server:    pprof.WithLabels(context.Background(), pprof.Labels(Key, Server)),
	World:     pprof.WithLabels(context.Background(), pprof.Labels(Key, World)),
}

// Set labels the calling goroutine, and the goroutines it starts from now
// on, as side's.
func Set(side string) {
	if ctx, ok := contexts[side]; ok {
		pprof.SetGoroutineLabels(ctx)
	}
}

// Do runs f with the calling goroutine labelled as side's, then puts its
// labels back as they were (the side it came from).
func Do(from, side string, f func()) {
	Set(side)
	defer Set(from)
	f()
}
