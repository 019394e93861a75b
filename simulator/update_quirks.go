package simulator

import (
	"fmt"

	"github.com/mdmsim/mdmsim/simulator/update"
)

// SetQuirk switches a quirk on or off for this device.
func (d *Device) SetQuirk(name string, on bool) error {
	i := update.QuirkIndex(name)
	if i < 0 {
		return fmt.Errorf("%w: %q", update.ErrUnknownQuirk, name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if on != update.QuirkAt(i).Default {
		d.sw.quirkFlip |= 1 << i
	} else {
		d.sw.quirkFlip &^= 1 << i
	}
	return nil
}

// QuirkOn reports whether a quirk is on for this device (false for an
// unknown name).
func (d *Device) QuirkOn(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.quirk(name)
}

// ActiveQuirks lists the quirks that are on for this device.
func (d *Device) ActiveQuirks() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, q := range update.Quirks() {
		if d.quirk(q.Name) {
			out = append(out, q.Name)
		}
	}
	return out
}

// quirk reports whether a quirk is on; d.mu must be held.
func (d *Device) quirk(name string) bool {
	i := update.QuirkIndex(name)
	if i < 0 {
		return false
	}
	return update.QuirkAt(i).Default != (d.sw.quirkFlip&(1<<i) != 0)
}
