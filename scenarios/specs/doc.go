// Package specs is the conformance suite: Ginkgo specs that check, in the
// devices' words, what Apple devices and Apple's documentation require of
// an MDM server. Importing it registers the specs; scenarios.Run runs them
// against a target.
//
// One file per area (protocol, security, push, legacy-update, ddm,
// fleet). Every spec names the behaviour it checks — a B/Q identifier of
// the project's update-behaviour reference, or a section of Apple's
// protocol — at the start of its text, and carries its area's label, the
// capabilities it needs (scenarios.CapLabel) and "slow" when it is.
//
// testdata/conformance.txt is the golden list of specs; `go test
// ./scenarios/specs -update` rewrites it after a deliberate change.
package specs
