package simulator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// evalResult is the evaluation of one declaration.
type evalResult struct {
	valid   string
	active  bool
	reasons []ddm.StatusReason
}

// ddmEvaluate works out which declarations are valid and active, applies
// configurations through their handlers and records the results. The
// caller holds st.op; d.mu is taken only to read and write state, so
// status values and handlers run without it.
func (d *Device) ddmEvaluate(ctx context.Context, st *ddmState) {
	id := d.Identity()
	d.mu.Lock()
	decls := st.sortedDecls()
	applied := maps.Clone(st.applied)
	rejected := maps.Clone(st.rejected)
	d.mu.Unlock()

	res := make(map[*ddmDecl]*evalResult, len(decls))
	kinds := make(map[string]string, len(decls))
	for _, dd := range decls {
		kinds[dd.decl.Identifier] = dd.kind
	}
	configs := map[string]*ddmDecl{}
	props := map[string]any{}
	for _, dd := range decls {
		r := &evalResult{valid: "valid"}
		res[dd] = r
		dt, known := st.types.Declaration(dd.decl.Type)
		switch {
		case len(dd.static) > 0:
			r.valid, r.reasons = "invalid", dd.static
		case !known:
			r.valid, r.reasons = "invalid", []ddm.StatusReason{{Code: ddm.ReasonUnknownDeclarationType, Description: "Unknown Declaration Type",
				Details: map[string]any{"UnknownDeclarationType": dd.decl.Type}}}
		case !dt.supported(id):
			r.valid, r.reasons = "invalid", []ddm.StatusReason{{Code: ddm.ReasonConfigurationNotSupported,
				Description: fmt.Sprintf("%s is not supported on %s %s with this enrollment.", dd.decl.Type, osFamily(id), id.OSVersion),
				Details:     ddm.IDDetails(dd.decl)}}
		case dt.Validate != nil:
			if rs := dt.Validate(dd.decl, id); len(rs) > 0 {
				r.valid, r.reasons = "invalid", rs
			}
		}
		if r.valid != "valid" {
			continue
		}
		switch dd.kind {
		case ddm.KindManagement:
			r.active = true
			if dd.decl.Type == ddm.TypeProperties {
				maps.Copy(props, dd.decl.Payload)
			}
		case ddm.KindConfiguration:
			configs[dd.decl.Identifier] = dd
		case ddm.KindAsset:
			// Assets only take effect through a configuration that
			// references them; none of the simulator's does.
		}
	}

	env := &ddmPredicateEnv{d: d, types: st.types, id: id, props: props, cache: map[string]any{}}
	activated := map[string]bool{}
	referenced := map[string]bool{}
	for _, dd := range decls {
		r := res[dd]
		if dd.kind != ddm.KindActivation || r.valid != "valid" {
			continue
		}
		refs := ddm.PayloadStrings(dd.decl.Payload, "StandardConfigurations")
		for _, ref := range refs {
			referenced[ref] = true
		}
		if dd.pred != nil && !evalPredicate(d, dd.pred, env) {
			raw, _ := dd.decl.Payload["Predicate"].(string)
			r.reasons = []ddm.StatusReason{{Code: ddm.ReasonPredicateFalse, Description: "The predicate evaluated to false.",
				Details: map[string]any{"Identifier": dd.decl.Identifier, "ServerToken": dd.decl.ServerToken, "Predicate": raw}}}
			continue
		}
		r.active = true
		var missing []any
		for _, ref := range refs {
			if kinds[ref] != ddm.KindConfiguration {
				missing = append(missing, ref)
			}
			activated[ref] = true
		}
		if len(missing) > 0 {
			r.reasons = []ddm.StatusReason{{Code: ddm.ReasonMissingConfigurations, Description: "The activation references configurations the device does not have.",
				Details: map[string]any{"Identifier": dd.decl.Identifier, "ServerToken": dd.decl.ServerToken, "ConfigurationIdentifiers": missing}}}
		}
	}

	byType := map[string][]*ddmDecl{}
	for _, dd := range decls {
		r := res[dd]
		if dd.kind != ddm.KindConfiguration || r.valid != "valid" {
			continue
		}
		if activated[dd.decl.Identifier] {
			byType[dd.decl.Type] = append(byType[dd.decl.Type], dd)
		} else if !referenced[dd.decl.Identifier] {
			r.reasons = []ddm.StatusReason{{Code: ddm.ReasonNotReferencedByActivation, Description: "The configuration is not referenced by any activation.",
				Details: ddm.IDDetails(dd.decl)}}
		}
	}

	// Apply each handled type whose active set, or the OS under it,
	// changed; a type whose last configuration went gets an empty set.
	osKey := id.OSVersion + "/" + id.BuildVersion + "/" + id.SupplementalBuildVersion
	for _, t := range slices.Sorted(maps.Keys(mergeKeys(byType, applied))) {
		dt, _ := st.types.Declaration(t)
		if dt.Handler == nil {
			continue
		}
		active := byType[t]
		prev, had := applied[t]
		if len(active) == 0 && !had {
			continue // never applied: nothing to take back
		}
		var fp strings.Builder
		if len(active) > 0 {
			fp.WriteString(osKey)
			for _, dd := range active {
				fp.WriteString("\x00" + dd.decl.Identifier + "\x00" + dd.decl.ServerToken)
			}
		}
		if had && prev == fp.String() {
			continue
		}
		list := make([]ddm.Declaration, len(active))
		for i, dd := range active {
			list[i] = dd.decl.Clone()
		}
		out := d.applyConfigurations(ctx, dt, list)
		for rid := range rejected {
			if dd := configs[rid]; dd == nil || dd.decl.Type == t {
				delete(rejected, rid)
			}
		}
		for _, dd := range active {
			if rs := out[dd.decl.Identifier]; len(rs) > 0 {
				rejected[dd.decl.Identifier] = rs
			}
		}
		if len(active) == 0 {
			delete(applied, t)
		} else {
			applied[t] = fp.String()
		}
	}
	for _, list := range byType {
		for _, dd := range list {
			r := res[dd]
			if rs := rejected[dd.decl.Identifier]; len(rs) > 0 {
				r.valid, r.reasons = "invalid", rs
				continue
			}
			r.active = true
		}
	}

	d.mu.Lock()
	for dd, r := range res {
		dd.valid, dd.active, dd.reasons = r.valid, r.active, r.reasons
	}
	st.applied, st.rejected = applied, rejected
	d.mu.Unlock()
}

func mergeKeys[V1, V2 any](a map[string]V1, b map[string]V2) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// applyConfigurations runs a handler; a handler that panics is a bug of the
// simulator, reported as every configuration failing to apply rather than
// a crashed fleet.
func (d *Device) applyConfigurations(ctx context.Context, dt DeclarationType, list []ddm.Declaration) (out map[string][]ddm.StatusReason) {
	defer func() {
		if r := recover(); r != nil {
			d.env.logger.Error("DDM: configuration handler panicked", "udid", d.UDID(), "type", dt.Type, "panic", r)
			out = map[string][]ddm.StatusReason{}
			for _, decl := range list {
				out[decl.Identifier] = []ddm.StatusReason{{Code: ddm.ReasonConfigurationCannotBeApplied,
					Description: "Internal error applying the configuration.", Details: map[string]any{"Error": fmt.Sprint(r)}}}
			}
		}
	}()
	return dt.Handler.Apply(ctx, d, list)
}

// evalPredicate evaluates without letting a panic escape: a predicate the
// device cannot evaluate is false.
func evalPredicate(d *Device, p ddm.Predicate, env ddm.PredicateEnv) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			d.env.logger.Error("DDM: predicate evaluation panicked", "udid", d.UDID(), "panic", r)
			ok = false
		}
	}()
	return p.Eval(env)
}

// ddmPredicateEnv answers @status from the device's status items and
// @property from its properties declarations.
type ddmPredicateEnv struct {
	d     *Device
	types *DDMTypes
	id    identity.Identity
	props map[string]any
	cache map[string]any
}

func (e *ddmPredicateEnv) StatusValue(item string) any {
	if v, ok := e.cache[item]; ok {
		return v
	}
	var v any
	if si, ok := e.types.StatusItem(item); ok && si.supported(e.id) {
		v = si.Value(e.d)
	}
	e.cache[item] = v
	return v
}

func (e *ddmPredicateEnv) PropertyValue(name string) any { return e.props[name] }

// applyStatusSubscriptions is the handler of status subscriptions: the
// device reports the union of the items all active subscriptions name.
func applyStatusSubscriptions(_ context.Context, d *Device, active []ddm.Declaration) map[string][]ddm.StatusReason {
	set := map[string]bool{}
	for _, decl := range active {
		items, _ := decl.Payload["StatusItems"].([]any)
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				if name, ok := m["Name"].(string); ok && name != "" {
					set[name] = true
				}
			}
		}
	}
	d.mu.Lock()
	if d.ddm != nil {
		d.ddm.subscribed = slices.Sorted(maps.Keys(set))
	}
	d.mu.Unlock()
	return nil
}
