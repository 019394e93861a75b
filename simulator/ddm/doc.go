// Package ddm is the device side of declarative device management that
// needs no device: declarations and their payload types, strict validation
// against Apple's embedded schema (ddmschema/), which declaration types and
// status items an identity's OS supports, the activation predicate language,
// and the synchronisation protocol's answers (tokens, declaration-items).
// The simulator package wires it to a device: syncs, activation, status
// reports and the configurations' behaviour.
package ddm
