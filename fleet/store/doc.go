// Package store keeps a fleet's state in a bbolt file, so a run killed
// mid-way resumes with the same devices, enrolled with the same identities,
// instead of enrolling them again (the server still holds the first
// enrollments).
//
// One file, state.db, in the directory given. Its meta bucket holds the
// format name, the schema version and what the fleet was drawn from (seed,
// size, target); Open refuses a version it cannot read, another fleet or a
// file that is not one of ours with a clear error, never a silent fresh
// start (a schema 1 file it reads, and marks schema 2). Each device is one
// record keyed by UDID: a CRC-32C of the payload, then the payload (JSON).
// Each distinct enrollment profile is stored once, in the profiles bucket,
// and each distinct DDM declaration once, in the declarations bucket;
// devices refer to them by their hash.
//
// Writes are batched: devices mark themselves changed (simulator.StateSink)
// and one writer goroutine per store writes every changed device in one
// transaction, again and again while changes come (group commit: no timer,
// no goroutine per device). An enrollment waits for the transaction that
// carries it, so a device the run counts enrolled is in the file even after
// kill -9. Other changes (counters, installs) can lose what happened since
// the last commit, which is at most the time of one commit.
//
// What a resume restores and what it does not is simulator.Device.Restore's
// to say: identities, enrollments, counters, random sources, install
// history, the update in progress with its timers (re-armed for the
// virtual time that remained) and the DDM client with its declarations,
// what it last reported and its enforcement's history come back. Other
// pending timers do not: for them the device behaves as one switched off
// and on.
//
// The enforcer of a resumed run (scenarios/reference) starts afresh, with
// the fleet as the file left it: it asks every device where its OS is and
// enforces the rollout again for those not on their target.
package store
