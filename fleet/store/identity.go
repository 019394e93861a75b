package store

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// The identity is encoded field by field, by name, found by reflection: a
// field added to identity.Identity is written without a change here, and a
// field of a kind this encoding does not know fails loudly (the test sets
// every field and round-trips it).

var modelType = reflect.TypeFor[*catalog.Model]()

func encodeIdentity(id identity.Identity) (map[string]json.RawMessage, error) {
	v := reflect.ValueOf(id)
	t := v.Type()
	out := make(map[string]json.RawMessage, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		var x any = v.Field(i).Interface()
		if f.Type == modelType {
			m := v.Field(i).Interface().(*catalog.Model)
			if m == nil {
				return nil, fmt.Errorf("identity %s: no model", id.UDID)
			}
			x = m.Identifier
		} else if !plainKind(f.Type) {
			return nil, fmt.Errorf("identity field %s: type %s is not persisted", f.Name, f.Type)
		}
		b, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("identity field %s: %w", f.Name, err)
		}
		out[f.Name] = b
	}
	return out, nil
}

func plainKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	case reflect.Slice, reflect.Array:
		return plainKind(t.Elem())
	}
	return false
}

func decodeIdentity(m map[string]json.RawMessage) (identity.Identity, error) {
	var id identity.Identity
	v := reflect.ValueOf(&id).Elem()
	t := v.Type()
	for name, raw := range m {
		f, ok := t.FieldByName(name)
		if !ok || !f.IsExported() || len(f.Index) != 1 {
			return id, fmt.Errorf("identity: unknown field %q", name)
		}
		if f.Type == modelType {
			var ident string
			if err := json.Unmarshal(raw, &ident); err != nil {
				return id, fmt.Errorf("identity field %s: %w", name, err)
			}
			model, ok := catalog.ModelRef(ident)
			if !ok {
				return id, fmt.Errorf("identity: model %q is not in the catalog", ident)
			}
			v.FieldByIndex(f.Index).Set(reflect.ValueOf(model))
			continue
		}
		if err := json.Unmarshal(raw, v.FieldByIndex(f.Index).Addr().Interface()); err != nil {
			return id, fmt.Errorf("identity field %s: %w", name, err)
		}
	}
	if id.UDID == "" || id.Model == nil {
		return id, fmt.Errorf("identity: no UDID or model")
	}
	return id, nil
}
