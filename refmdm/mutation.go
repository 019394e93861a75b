package refmdm

import (
	"context"
	"crypto/x509"

	"github.com/micromdm/nanomdm/mdm"
	nanokv "github.com/micromdm/nanomdm/storage/kv"
)

// Mutation names a deliberate mistake the stack can be told to make. The
// mutations exist only for the conformance suite's self-test
// (scenarios/reference, MDMSIM_MUTANT): a suite that passes a broken
// server proves nothing, so each mutation must make some spec fail. A
// stack started without WithMutation makes none of them.
type Mutation string

// The mutations the stack knows.
const (
	// MutationAcceptsForeignCA: the stack accepts device identities issued
	// by any CA, not only its own (the certificate verifier passes all).
	MutationAcceptsForeignCA Mutation = "accepts-foreign-ca"
	// MutationKeepsCheckedOutQueue: the stack never clears an enrollment's
	// command queue, so commands queued for a device that checked out are
	// delivered when it enrolls again (NanoMDM clears it at Authenticate).
	MutationKeepsCheckedOutQueue Mutation = "keeps-checked-out-queue"
)

// Mutations lists the mutations WithMutation accepts.
var Mutations = []Mutation{MutationAcceptsForeignCA, MutationKeepsCheckedOutQueue}

// WithMutation makes the stack make mistake m, for the conformance suite's
// self-test only; an unknown name is ignored. Never use it to run a
// server anyone relies on.
func WithMutation(m Mutation) Option { return func(c *config) { c.mutation = m } }

// acceptAll is the certificate verifier of MutationAcceptsForeignCA: it
// takes any certificate, whoever issued it.
type acceptAll struct{}

func (acceptAll) Verify(context.Context, *x509.Certificate) error { return nil }

// keepQueue is NanoMDM's in-memory store whose ClearQueue does nothing:
// MutationKeepsCheckedOutQueue.
type keepQueue struct{ *nanokv.KV }

func (keepQueue) ClearQueue(*mdm.Request) error { return nil }
