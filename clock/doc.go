// Package clock is mdmsim's single notion of time.
//
// A software-update rollout is a story told over days: a device learns of a
// new release, defers it, is nagged "tonight", is forced at a deadline two
// weeks out. The simulator has to replay that story for a whole fleet in
// seconds of wall time, and a test has to be able to stop it between any two
// events. That only works if nothing reads the wall clock directly, so every
// package takes a [Clock] and every timer in the project is created through
// one. Nothing outside this package calls time.Now, time.AfterFunc,
// time.Sleep or their relatives.
//
// Four clocks implement the interface:
//
//   - [Real] is wall time, for production runs against real servers.
//   - [Scaled] runs virtual time a constant factor faster than wall time. At
//     a factor of a million, fourteen days pass in about 1.2 seconds. Its
//     timers are runtime timers with the duration divided by the factor, so
//     a fleet of a hundred thousand devices holding a few timers each costs
//     no goroutine per timer.
//   - [Manual] only moves when told to. Tests step it with [Manual.Advance]
//     and friends; due callbacks run synchronously, in deadline order, so a
//     test is deterministic.
//   - [Discrete] is discrete-event time for a world that lives in one
//     process: it jumps to the next deadline as soon as no work is in flight
//     ([Work], [Wakeup]), so a run goes as fast as the CPU allows and its
//     result depends on its seed alone, not on how busy the machine is.
//     [Scaled] is for a server outside the process that lives on real time.
//
// Each simulated device lives in its own time zone, and "tonight" or an
// enforcement deadline is local to it: [Local] gives a clock's current time
// in a location.
package clock
