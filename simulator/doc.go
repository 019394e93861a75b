// Package simulator is one simulated Apple device: a coherent identity, the
// enrollment (SCEP from a real enrollment profile, or a fast path with an
// identity minted by the caller), the MDM check-ins, and the command loop
// with a handler per RequestType.
//
// Scale is part of the design: a Device is a small value behind a mutex; an
// idle device holds no goroutine and no connection. Work happens on events: a
// push (Wake), a timer, or an explicit call (Connect). Everything a fleet
// shares (transport and connection pool, handlers, push service, logger) lives
// in an Env that many devices point to.
//
// What needs no device lives in subpackages that never import this one:
// identity (who a device is), ddm (declarations, schema, predicates),
// update (the update model's timings, users, environment and quirks) and
// protocol (the wire format, the transport and the SCEP client).
//
// The package states the small interfaces it needs, such as PushService, and
// does not import any mock: the mock APNs and the embedded stack satisfy them
// structurally.
package simulator
