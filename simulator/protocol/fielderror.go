package protocol

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/micromdm/plist"
)

// FieldError is a command key of the wrong type, said as a device would:
// which key, and what it must be. It wraps ErrMalformed.
type FieldError struct {
	// Key is the key's path in the command: "Queries", "Updates[1].InstallAction".
	Key string
	// Want is what the key must hold: "an array of strings".
	Want string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("The value of “%s” is invalid: it must be %s.", e.Key, e.Want)
}

func (e *FieldError) Unwrap() error { return ErrMalformed }

// fieldError finds the key of the Command dictionary of raw that does not
// fit T, after decoding into T failed on a type. It returns nil when none
// is found (the failure was elsewhere).
func fieldError[T any](raw []byte) *FieldError {
	var env struct {
		Command map[string]any `plist:"Command"`
	}
	if safeUnmarshal(raw, &env) != nil {
		return nil
	}
	return mismatch("", reflect.TypeFor[T](), env.Command)
}

// mismatch walks v, a decoded plist value, along t and returns the first
// place it does not fit, in key order.
func mismatch(path string, t reflect.Type, v any) *FieldError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bad := func() *FieldError { return &FieldError{Key: path, Want: describe(t)} }
	if t == reflect.TypeFor[time.Time]() {
		if _, ok := v.(time.Time); !ok {
			return bad()
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Interface:
		return nil
	case reflect.String:
		if _, ok := v.(string); !ok {
			return bad()
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		switch v.(type) {
		case int64, uint64:
		default:
			return bad()
		}
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case float64, int64, uint64:
		default:
			return bad()
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			if _, ok := v.([]byte); !ok {
				return bad()
			}
			return nil
		}
		items, ok := v.([]any)
		if !ok {
			return bad()
		}
		for i, item := range items {
			if e := mismatch(fmt.Sprintf("%s[%d]", path, i), t.Elem(), item); e != nil {
				return e
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if e := mismatch(join(path, k), t.Elem(), m[k]); e != nil {
				return e
			}
		}
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		fields := structKeys(t)
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if val, ok := m[k]; ok {
				if e := mismatch(join(path, k), fields[k], val); e != nil {
					return e
				}
			}
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// structKeys maps a struct's plist keys to their field types.
func structKeys(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("plist"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// describe says what a value of type t is, in plist words.
func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[time.Time]() {
		return "a date"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "data"
		}
		return "an array of " + plural(describe(t.Elem()))
	case reflect.Map, reflect.Struct:
		return "a dictionary"
	}
	return "a value of another type"
}

func plural(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "an "), "a ")
	switch {
	case s == "data":
		return s
	case strings.HasPrefix(s, "array of "):
		return "arrays of " + strings.TrimPrefix(s, "array of ")
	case strings.HasSuffix(s, "y"):
		return strings.TrimSuffix(s, "y") + "ies"
	}
	return s + "s"
}

// isTypeError reports whether err is the decoder's complaint about a
// value's type.
func isTypeError(err error) bool {
	var te plist.UnmarshalTypeError
	var tp *plist.UnmarshalTypeError
	return errors.As(err, &te) || errors.As(err, &tp)
}
