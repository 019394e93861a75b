// Package scenarios is the harness: what it needs of an MDM server (a
// Target), Apple's side of a run (a World: the mock APNs and GDMF on one
// clock), and how it watches the devices (an Observer).
//
// A Target is small on purpose: how a device enrolls (the profile and the
// roots its endpoints chain to), and the channels a server may offer — a
// command channel (enqueue, push), a declaration channel (put declarations,
// assign them to devices) and its own update policy. A channel a server
// does not offer is nil; Require turns that into a reason to skip a job or
// spec rather than fail it. Results are observed on the devices' side, so
// any server can be judged the same way; a target may also say what the
// server saw (ServerView).
//
// The conformance suite runs through Run: the specs registered by
// importing scenarios/specs, each in a world of its own (Spec) with the
// target opened in it and the devices it builds.
//
// Adapters live in scenarios/targets (embedded, nanomdm, hooks), the
// reference enforcers that drive any target's channels in
// scenarios/reference, and the jobs of `mdmsim run` in scenarios/jobs.
//
// The smallest target, in a user's own test:
//
//	type myServer struct{ profile []byte }
//
//	func (s myServer) Name() string { return "my-server" }
//	func (s myServer) Enrollment(context.Context) (scenarios.Enrollment, error) {
//		return scenarios.Enrollment{Profile: s.profile}, nil
//	}
//	func (s myServer) Commands() scenarios.Commands         { return s }
//	func (s myServer) Declarations() scenarios.Declarations { return nil }
//	func (s myServer) UpdatePolicy() scenarios.UpdatePolicy { return nil }
//	func (s myServer) Close() error                         { return nil }
//	func (s myServer) Enqueue(ctx context.Context, udids []string, cmd scenarios.Command) error { … }
//	func (s myServer) Push(ctx context.Context, udids []string) error                           { … }
//
// examples/owntarget has it complete, with a test that runs a job on it.
package scenarios
