// Package conformance runs the conformance suite (scenarios/specs) against
// the embedded target, on the discrete-event clock, as part of go test. It
// has tests only; `mdmsim conformance` runs the same suite against any
// target.
package conformance
