package simulator

import (
	"context"
	"crypto/sha256"
	"maps"
	"slices"
	"sync"

	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// ConfigurationHandler gives a configuration type its behaviour on the
// device. The software-update enforcement engine registers one for
// com.apple.configuration.softwareupdate.enforcement.specific and .settings;
// com.apple.configuration.management.status-subscriptions has the built-in
// one.
type ConfigurationHandler interface {
	// Apply receives every configuration of the handler's type that is now
	// active on the device, sorted by Identifier (apply "multiple" types
	// act on each, apply "combined" types merge them), and an empty slice
	// when the last one goes. It is called after a sync or status change
	// whenever that set, a member's ServerToken or the device's OS version
	// and build changed, never twice at once for a device, and without
	// the device's lock: it may read the device but must not call its
	// DDM methods (it runs inside one). Status it changes is reported by
	// the report that follows; later changes (a download finishing) are
	// reported by calling Device.DDMStatusChanged from outside Apply.
	//
	// It returns, by Identifier, the configurations it refuses (a target
	// at or below the installed OS, say): those are reported active=false,
	// valid=invalid with the reasons. Nil means all were applied.
	Apply(ctx context.Context, d *Device, active []ddm.Declaration) map[string][]ddm.StatusReason
}

// ConfigurationHandlerFunc adapts a function to ConfigurationHandler.
type ConfigurationHandlerFunc func(ctx context.Context, d *Device, active []ddm.Declaration) map[string][]ddm.StatusReason

// Apply calls f.
func (f ConfigurationHandlerFunc) Apply(ctx context.Context, d *Device, active []ddm.Declaration) map[string][]ddm.StatusReason {
	return f(ctx, d, active)
}

// DeclarationType is a declaration type the device accepts.
type DeclarationType struct {
	// Type is Apple's declaration type, e.g.
	// com.apple.configuration.softwareupdate.enforcement.specific. Its
	// payload is checked against Apple's schema when the embedded schema
	// defines it.
	Type string
	// Supported reports whether the device's OS and enrollment support the
	// type; unsupported configurations are invalid with
	// Error.ConfigurationNotSupported. Nil means what Apple's schema says
	// (supportedOS: introduced version, allowed enrollments).
	Supported func(id identity.Identity) bool
	// Validate checks what the schema cannot; nil means nothing more.
	Validate func(d ddm.Declaration, id identity.Identity) []ddm.StatusReason
	// Handler gives configurations their behaviour; nil means they are
	// stored and reported active with no effect.
	Handler ConfigurationHandler
}

// StatusItem is a status item the device reports.
type StatusItem struct {
	// Name is Apple's dotted name, e.g. softwareupdate.install-state.
	Name string
	// Supported reports whether the device can report the item; nil
	// means what Apple's schema says.
	Supported func(id identity.Identity) bool
	// Value returns the item's current value, made of strings, bools,
	// ints, float64s, []string, []any and map[string]any. It is called
	// without the device's lock.
	Value func(d *Device) any
}

// DDMTypes is what a device's declarative management client knows: the
// declaration types it accepts and the status items it reports. It is safe
// for concurrent use; a fleet's devices share one, and devices read it when
// they sync, so later registrations reach enabled devices too.
type DDMTypes struct {
	mu    sync.RWMutex
	decls map[string]DeclarationType
	items map[string]StatusItem

	cache parsedCache
}

// NewDDMTypes returns an empty registry: such a device rejects every
// declaration type and reports only the status items registered later.
func NewDDMTypes() *DDMTypes {
	return &DDMTypes{decls: map[string]DeclarationType{}, items: map[string]StatusItem{}}
}

// HandleDeclaration registers (or replaces) a declaration type.
func (t *DDMTypes) HandleDeclaration(dt DeclarationType) {
	if dt.Type == "" {
		panic("simulator: declaration type without a Type")
	}
	t.mu.Lock()
	t.decls[dt.Type] = dt
	t.mu.Unlock()
}

// HandleConfiguration sets the handler of a registered configuration
// type, keeping its schema and gates: what the enforcement engine calls.
func (t *DDMTypes) HandleConfiguration(declarationType string, h ConfigurationHandler) {
	t.mu.Lock()
	dt, ok := t.decls[declarationType]
	if !ok {
		dt = DeclarationType{Type: declarationType}
	}
	dt.Handler = h
	t.decls[declarationType] = dt
	t.mu.Unlock()
}

// HandleStatusItem registers (or replaces) a status item.
func (t *DDMTypes) HandleStatusItem(si StatusItem) {
	if si.Name == "" || si.Value == nil {
		panic("simulator: status item without a Name or Value")
	}
	t.mu.Lock()
	t.items[si.Name] = si
	t.mu.Unlock()
}

// Declaration returns a registered declaration type.
func (t *DDMTypes) Declaration(declarationType string) (DeclarationType, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	dt, ok := t.decls[declarationType]
	return dt, ok
}

// StatusItem returns a registered status item.
func (t *DDMTypes) StatusItem(name string) (StatusItem, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	si, ok := t.items[name]
	return si, ok
}

// Clone copies the registry.
func (t *DDMTypes) Clone() *DDMTypes {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return &DDMTypes{decls: maps.Clone(t.decls), items: maps.Clone(t.items)}
}

// supported reports whether id supports a registered type.
func (dt DeclarationType) supported(id identity.Identity) bool {
	if dt.Supported != nil {
		return dt.Supported(id)
	}
	return ddm.DeclarationTypeSupported(dt.Type, id)
}

func (si StatusItem) supported(id identity.Identity) bool {
	if si.Supported != nil {
		return si.Supported(id)
	}
	return ddm.StatusItemSupported(si.Name, id)
}

// supportedTypes lists the registered declaration types id supports, by
// kind: the supported-payloads of management.client-capabilities.
func (t *DDMTypes) supportedTypes(id identity.Identity) map[string][]string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(t.decls)) {
		if dt := t.decls[name]; dt.supported(id) {
			k := ddm.DeclarationKind(name)
			out[k] = append(out[k], name)
		}
	}
	return out
}

// supportedItems lists the registered status items id supports.
func (t *DDMTypes) supportedItems(id identity.Identity) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	for _, name := range slices.Sorted(maps.Keys(t.items)) {
		if t.items[name].supported(id) {
			out = append(out, name)
		}
	}
	return out
}

// DefaultDDMTypes is what every simulated DDM client knows: simple
// activations, status subscriptions, the two software-update
// configurations (validated and stored; their behaviour comes from the
// handlers the enforcement engine registers), the server-capabilities,
// organization-info and properties management declarations, and the
// device, management and software-update status items.
func DefaultDDMTypes() *DDMTypes {
	t := NewDDMTypes()
	t.HandleDeclaration(DeclarationType{Type: ddm.TypeActivationSimple})
	t.HandleDeclaration(DeclarationType{Type: ddm.TypeStatusSubscriptions, Handler: ConfigurationHandlerFunc(applyStatusSubscriptions)})
	t.HandleDeclaration(DeclarationType{Type: ddm.TypeSoftwareUpdateEnforcementSpecific, Validate: ddm.ValidateEnforcementSpecific})
	t.HandleDeclaration(DeclarationType{Type: ddm.TypeSoftwareUpdateSettings, Validate: ddm.ValidateSoftwareUpdateSettings})
	// Management declarations are part of the protocol: every DDM client
	// takes them, whatever the enrollment.
	always := func(identity.Identity) bool { return true }
	t.HandleDeclaration(DeclarationType{Type: ddm.TypeServerCapabilities, Supported: always})
	t.HandleDeclaration(DeclarationType{Type: ddm.TypeOrganizationInfo, Supported: always})
	t.HandleDeclaration(DeclarationType{Type: ddm.TypeProperties, Supported: always})
	for _, si := range defaultStatusItems() {
		t.HandleStatusItem(si)
	}
	RegisterEnforcement(t, EnforcementOptions{})
	return t
}

// parsedCache shares parsed declarations among the devices of a registry:
// a fleet receives the same bytes for the same declaration item, and one
// parsed copy serves them all. Entries are weak, so a declaration no
// device holds any more is collected.
type parsedCache = weakCache[parsedDecl]

// parsed returns the shared parse of a declaration item's body, parsing it
// with parse the first time.
func (t *DDMTypes) parsed(it ddm.DeclarationItem, body []byte, parse func(ddm.DeclarationItem, []byte) *parsedDecl) *parsedDecl {
	h := sha256.New()
	for _, s := range []string{it.Kind, it.ID, it.Token} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(body)
	var key [32]byte
	h.Sum(key[:0])

	p, _ := t.cache.get(key, func() (*parsedDecl, error) { return parse(it, body), nil })
	return p
}
