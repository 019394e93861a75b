// Package cpusplit measures what an idle check-in costs the simulator and
// what it costs the stock NanoMDM, each in its own process, so that the
// two CPU figures are read apart rather than inferred from one.
//
// For each identity kind (RSA-2048 identities over SCEP, ECDSA P-256
// identities minted by a CA NanoMDM is told to trust with -ca) a run starts
// scepserver and NanoMDM v0.9.0 as processes of their own (internal/stock),
// enrolls a fleet through the nanomdm target, runs warm-up check-ins, then
// a fixed number of measured ones. Right before and right after the
// measured phase it reads this process's CPU time (getrusage: the
// simulator, the devices' HTTP client included) and NanoMDM's
// (utime + stime from /proc/<pid>/stat), and divides each by the answered
// check-ins. Nothing else runs in either process meanwhile: the servers'
// APIs and the mock APNs are idle during an idle check-in.
//
// The figures are CPU time, not wall time: both processes share the
// machine, and a busy machine slows both without changing what each
// spends per check-in (much). The goal the project set (Kind.Goal) is the
// simulator at most a third of NanoMDM's CPU per check-in with ECDSA
// identities and at most as much with RSA-2048 ones, whose signature alone
// costs about a millisecond. It runs on Linux only (/proc).
//
// `make bench-cpusplit` runs it through cmd/cpusplit.
package cpusplit
