package simulator

import "github.com/mdmsim/mdmsim/simulator/protocol"

// KeySource supplies the RSA key of a device's SCEP enrollment, given its
// UDID and the payload's Keysize (see protocol.SCEPKeySource).
type KeySource = protocol.SCEPKeySource

// WithKeySource makes devices take the key of their SCEP enrollment from
// src instead of generating one, as a real device does and as devices do
// by default: for tests and benchmarks of SCEP fleets that are not about
// key generation, which costs about 60 ms of CPU per RSA-2048 key. A
// keypool.Pool's SCEPKey is such a source. Identities given to
// EnrollWithIdentity are not affected.
func WithKeySource(src KeySource) Option { return func(e *Env) { e.scepKeys = src } }
