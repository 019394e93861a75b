package store

import (
	"reflect"
	"testing"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// TestIdentityEveryField sets every field of identity.Identity, found by
// reflection, and round-trips it: a field added to Identity that the
// encoding loses fails here.
func TestIdentityEveryField(t *testing.T) {
	t.Parallel()
	var id identity.Identity
	v := reflect.ValueOf(&id).Elem()
	model, ok := catalog.ModelRef("Mac14,2")
	if !ok {
		t.Fatal("no Mac14,2 in the catalog")
	}
	for i := range v.NumField() {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() {
			continue
		}
		if f.Type() == modelType {
			f.Set(reflect.ValueOf(model))
			continue
		}
		if !setNonZero(f, i) {
			t.Fatalf("field %s of type %s: the test cannot set it, and the store may not persist it", v.Type().Field(i).Name, f.Type())
		}
	}
	enc, err := encodeIdentity(id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeIdentity(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, id) {
		t.Errorf("round trip:\nhave %+v\nwant %+v", got, id)
	}
	for i := range v.NumField() {
		if name := v.Type().Field(i).Name; v.Type().Field(i).IsExported() && reflect.ValueOf(got).Field(i).IsZero() {
			t.Errorf("field %s lost", name)
		}
	}
}

func setNonZero(f reflect.Value, i int) bool {
	switch f.Kind() {
	case reflect.String:
		f.SetString("value-" + string(rune('a'+i%26)))
	case reflect.Bool:
		f.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f.SetInt(int64(i + 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f.SetUint(uint64(i + 1))
	case reflect.Float32, reflect.Float64:
		f.SetFloat(float64(i) + 0.5)
	case reflect.Slice:
		s := reflect.MakeSlice(f.Type(), 1, 1)
		if !setNonZero(s.Index(0), i) {
			return false
		}
		f.Set(s)
	case reflect.Array:
		return f.Len() > 0 && setNonZero(f.Index(0), i)
	default:
		return false
	}
	return true
}

func TestIdentityRefusesUnknownField(t *testing.T) {
	t.Parallel()
	model, _ := catalog.ModelRef("Mac14,2")
	enc, err := encodeIdentity(identity.Identity{UDID: "U", Model: model})
	if err != nil {
		t.Fatal(err)
	}
	enc["NoSuchField"] = []byte(`1`)
	if _, err := decodeIdentity(enc); err == nil {
		t.Error("an unknown field decoded without error")
	}
	delete(enc, "NoSuchField")
	enc["Model"] = []byte(`"NoSuchModel1,1"`)
	if _, err := decodeIdentity(enc); err == nil {
		t.Error("an unknown model decoded without error")
	}
}
