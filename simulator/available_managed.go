package simulator

import "github.com/mdmsim/mdmsim/catalog"

// withoutManagedLocked leaves out of an AvailableOSUpdates list the updates
// an active software-update enforcement declaration manages, and only
// those: "If a Software Update is actively managed via a Declarative Device
// Management Specific Enforcement configuration this command is ignored as
// it pertains to the actively managed update. This command may return
// information around unmanaged updates" (system.update.available.yaml).
// The managed update is each active declaration's target as the catalog
// resolves it, and the base release a supplemental target installs first.
func (d *Device) withoutManagedLocked(rels []catalog.Release) []catalog.Release {
	e := d.sw.enforce
	if e == nil || len(rels) == 0 {
		return rels
	}
	managed := map[string]bool{}
	for _, ed := range e.decls {
		if r, ok := d.resolveTargetLocked(ed.p); ok {
			managed[r.Build] = true
		}
	}
	if e.cur != nil && e.resolved {
		managed[e.rel.Build] = true
	}
	if len(managed) == 0 {
		return rels
	}
	out := make([]catalog.Release, 0, len(rels))
	for _, r := range rels {
		if !managed[r.Build] {
			out = append(out, r)
		}
	}
	return out
}
