package reference

// Mutants of the server itself, made by the embedded stack (refmdm's
// WithMutation, wired by the embedded target's WithMutant) rather than by
// an enforcer: what the protocol and security specs must catch.
const (
	// MutantAcceptsForeignCA: the server accepts device identities from
	// any CA, not only the one its enrollment profile names.
	MutantAcceptsForeignCA Mutant = "accepts-foreign-ca"
	// MutantKeepsCheckedOutQueue: the server keeps a device's command
	// queue across CheckOut and delivers it when the device enrolls again.
	MutantKeepsCheckedOutQueue Mutant = "keeps-checked-out-queue"
)

func init() {
	Mutants = append(Mutants,
		MutantInfo{Name: MutantAcceptsForeignCA,
			Mistake: "accepts a device identity issued by a CA other than its own, so anyone can enroll as any device"},
		MutantInfo{Name: MutantKeepsCheckedOutQueue,
			Mistake: "keeps the command queue of a device that checked out, and delivers the stale commands when it enrolls again"},
	)
}
