// Package appleschema is the model of Apple's YAML device-management schemas
// (docs/schema.md of github.com/apple/device-management) shared by the
// simulator's declarative validator and the schemacheck test helper: the
// payloadkeys tree, its parsing, OS-version comparison, and the check of a
// decoded value against a key's type and range list.
//
// It depends on nothing of the simulator, so both the simulator and
// schemacheck (which must not import the simulator) can use it.
package appleschema

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Doc is one schema file.
type Doc struct {
	Title        string  `yaml:"title"`
	Payload      Payload `yaml:"payload"`
	PayloadKeys  []Key   `yaml:"payloadkeys"`
	ResponseKeys []Key   `yaml:"responsekeys"`
}

// Payload is a schema's payload section: what the schema describes and
// where it is supported.
type Payload struct {
	DeclarationType string        `yaml:"declarationtype"`
	StatusItemType  string        `yaml:"statusitemtype"`
	RequestType     string        `yaml:"requesttype"`
	PayloadType     string        `yaml:"payloadtype"` // other/: MachineInfo
	SupportedOS     map[string]OS `yaml:"supportedOS"`
	Apply           string        `yaml:"apply"`
}

// Key is one key of a schema, with its nested keys.
type Key struct {
	Name        string        `yaml:"key"`
	Type        string        `yaml:"type"`
	Presence    string        `yaml:"presence"`
	Rangelist   []any         `yaml:"rangelist"`
	Range       *Range        `yaml:"range"`
	SupportedOS map[string]OS `yaml:"supportedOS"`
	Subkeys     []Key         `yaml:"subkeys"`
	CombineType string        `yaml:"combinetype"`
}

// Range is a key's numeric range.
type Range struct {
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
}

// OS is a supportedOS entry for one OS.
type OS struct {
	Introduced         string   `yaml:"introduced"`
	Deprecated         string   `yaml:"deprecated"`
	Removed            string   `yaml:"removed"`
	AllowedEnrollments []string `yaml:"allowed-enrollments"`
}

// Parse reads one YAML schema.
func Parse(data []byte) (*Doc, error) {
	d := new(Doc)
	if err := yaml.Unmarshal(data, d); err != nil {
		return nil, err
	}
	return d, nil
}

// Walk parses every *.yaml file under dir of fsys and hands each to fn with
// its path. A parse error names the file.
func Walk(fsys fs.FS, dir string, fn func(path string, d *Doc) error) error {
	return fs.WalkDir(fsys, dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || path.Ext(p) != ".yaml" {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		d, err := Parse(data)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return fn(p, d)
	})
}

// CompareVersions orders dotted numeric versions ("14.4" < "14.10",
// "10.11.5" < "11.0"); missing components count as zero and non-numeric
// ones ("n/a") as zero.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Encoding is where a value was decoded from; it decides how dates and data
// travel.
type Encoding int

const (
	// Plist values carry dates as time.Time and data as []byte; numbers are
	// Go integers and floats.
	Plist Encoding = iota
	// JSON values come from encoding/json with UseNumber: numbers are
	// json.Number, and dates and data travel as strings.
	JSON
)

// KnownType reports whether t is one of the schema format's value types.
func KnownType(t string) bool {
	switch t {
	case "<string>", "<integer>", "<real>", "<boolean>", "<date>", "<data>", "<array>", "<dictionary>", "<any>":
		return true
	}
	return false
}

// TypeOK reports whether v, decoded from enc, is of schema type t. Null is
// of no type; <any> and types the format does not define accept any other
// value.
func TypeOK(t string, v any, enc Encoding) bool {
	if v == nil {
		return false
	}
	n, isNumber := v.(json.Number)
	rv := reflect.ValueOf(v)
	switch t {
	case "<string>":
		return rv.Kind() == reflect.String && !isNumber
	case "<date>", "<data>":
		if enc == JSON {
			_, ok := v.(string)
			return ok
		}
		if t == "<date>" {
			_, ok := v.(time.Time)
			return ok
		}
		_, ok := v.([]byte)
		return ok
	case "<integer>":
		if isNumber {
			_, err := strconv.ParseInt(string(n), 10, 64)
			return err == nil
		}
		return rv.CanInt() || rv.CanUint()
	case "<real>":
		return isNumber || rv.CanFloat()
	case "<boolean>":
		return rv.Kind() == reflect.Bool
	case "<dictionary>":
		return rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String
	case "<array>":
		return (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array) && rv.Type().Elem().Kind() != reflect.Uint8
	}
	return true
}

// Number returns a numeric value (a Go integer or float, or a json.Number)
// as a float64.
func Number(v any) (float64, bool) {
	if n, ok := v.(json.Number); ok {
		f, err := n.Float64()
		return f, err == nil
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return float64(rv.Int()), true
	case rv.CanUint():
		return float64(rv.Uint()), true
	case rv.CanFloat():
		return rv.Float(), true
	}
	return 0, false
}

// InRangelist reports whether v is one of a rangelist's values as YAML
// parsed them (strings, booleans, ints and floats). A json.Number matches an
// int by its text and a float by its value.
func InRangelist(list []any, v any) bool {
	if v == nil {
		return false
	}
	n, isNumber := v.(json.Number)
	rv := reflect.ValueOf(v)
	for _, item := range list {
		switch {
		case isNumber:
			switch w := item.(type) {
			case int:
				if string(n) == strconv.Itoa(w) {
					return true
				}
			case float64:
				if f, err := n.Float64(); err == nil && f == w {
					return true
				}
			}
		case rv.Kind() == reflect.String:
			if s, ok := item.(string); ok && s == rv.String() {
				return true
			}
		case rv.Kind() == reflect.Bool:
			if b, ok := item.(bool); ok && b == rv.Bool() {
				return true
			}
		default:
			if f, ok := Number(v); ok {
				if g, ok := Number(item); ok && f == g {
					return true
				}
				continue
			}
			if fmt.Sprint(item) == fmt.Sprint(v) {
				return true
			}
		}
	}
	return false
}
