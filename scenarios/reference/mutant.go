package reference

// Mutant names a deliberate mistake of the kind real servers make. The
// conformance suite's self-test runs it against every mutant and must
// catch each one: a suite that passes a broken server proves nothing.
// The zero value is the reference itself.
type Mutant string

// MutantInfo says what a mutant gets wrong.
type MutantInfo struct {
	Name Mutant
	// Mistake is the mistake, as a reviewer would put it.
	Mistake string
}

// The mutants. Each is implemented where the mistake would be made: in
// the legacy enforcer (legacy.go), the DDM enforcer (ddm.go), or the
// embedded stack (refmdm, through the embedded target).
const (
	MutantNone Mutant = ""
)

// Mutants lists every mutant, in the order the self-test reports them.
var Mutants = []MutantInfo{}

// LookupMutant returns the mutant named name, and whether there is one.
func LookupMutant(name string) (Mutant, bool) {
	if name == "" {
		return MutantNone, true
	}
	for _, m := range Mutants {
		if string(m.Name) == name {
			return m.Name, true
		}
	}
	return MutantNone, false
}
