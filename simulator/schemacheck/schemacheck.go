package schemacheck

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/simulator/appleschema"
)

//go:embed schemas/mdm/commands/*.yaml schemas/mdm/checkin/*.yaml schemas/other/*.yaml
var embedded embed.FS

// Schema is one of Apple's YAML schemas: an MDM command or a check-in
// message, with its request (payload) keys and response keys.
type Schema struct {
	appleschema.Doc `yaml:",inline"`
}

// Key is one key of a schema, with its nested keys.
type Key = appleschema.Key

// Bounds is a key's numeric range.
type Bounds = appleschema.Range

// OSSupport is a schema's supportedOS entry for one OS.
type OSSupport = appleschema.OS

// Target is the device a message is checked for: "iOS", "macOS", "tvOS",
// "visionOS" or "watchOS", and its OS version.
type Target struct {
	OS      string
	Version string
}

// Violation is one way a message departs from its schema.
type Violation struct {
	Path    string // "UpdateResults[0].Status"; "" for the message itself
	Problem string
}

func (v Violation) String() string {
	if v.Path == "" {
		return v.Problem
	}
	return v.Path + ": " + v.Problem
}

// Violations is the error the Check methods return.
type Violations []Violation

func (vs Violations) Error() string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return "schemacheck: " + strings.Join(parts, "; ")
}

// ErrNoSchema is returned for a request type with no embedded schema.
var ErrNoSchema = errors.New("schemacheck: no schema")

// Parse reads one YAML schema.
func Parse(data []byte) (*Schema, error) {
	d, err := appleschema.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("schemacheck: %w", err)
	}
	return &Schema{Doc: *d}, nil
}

// Load reads every *.yaml file under dir of fsys, keyed by request type.
func Load(fsys fs.FS, dir string) (map[string]*Schema, error) {
	out := map[string]*Schema{}
	err := appleschema.Walk(fsys, dir, func(_ string, d *appleschema.Doc) error {
		switch {
		case d.Payload.RequestType != "":
			out[d.Payload.RequestType] = &Schema{Doc: *d}
		case d.Payload.PayloadType != "":
			out[d.Payload.PayloadType] = &Schema{Doc: *d} // MachineInfo
		}
		return nil
	})
	return out, err
}

var builtin = sync.OnceValues(func() (map[string]*Schema, error) { return Load(embedded, "schemas") })

// For returns the embedded schema of an MDM command or check-in message
// ("ScheduleOSUpdate", "GetBootstrapToken"), or of the MachineInfo a
// device sends in Setup Assistant ("MachineInfo").
func For(requestType string) (*Schema, error) {
	all, err := builtin()
	if err != nil {
		return nil, err
	}
	s, ok := all[requestType]
	if !ok {
		return nil, fmt.Errorf("%w for %q", ErrNoSchema, requestType)
	}
	return s, nil
}

// RequestTypes lists the embedded schemas.
func RequestTypes() []string {
	all, _ := builtin()
	out := make([]string, 0, len(all))
	for k := range all {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Option relaxes a check.
type Option func(*checker)

// AllowMissing accepts the absence of required keys at these paths, written
// with [] for any array index: "AvailableOSUpdates[].MetadataURL". Apple's
// schema marks keys required that real devices leave out.
func AllowMissing(paths ...string) Option {
	return func(c *checker) { c.allowMissing = append(c.allowMissing, paths...) }
}

// AllowKeys accepts these extra top-level keys.
func AllowKeys(keys ...string) Option {
	return func(c *checker) { c.allowKeys = append(c.allowKeys, keys...) }
}

// envelopeKeys are the keys every command result carries besides its
// response keys.
var envelopeKeys = []string{"UDID", "EnrollmentID", "EnrollmentUserID", "UserID", "CommandUUID", "Status", "ErrorChain", "UserShortName", "UserLongName"}

// CheckResponse validates the response keys of a message for t: every key
// is known, supported on t's OS version, of its type and in its rangelist;
// every required key supported on t is present.
func (s *Schema) CheckResponse(t Target, resp map[string]any, opts ...Option) error {
	return s.check(t, s.ResponseKeys, resp, opts)
}

// CheckRequest validates the request (payload) keys of a message.
func (s *Schema) CheckRequest(t Target, req map[string]any, opts ...Option) error {
	return s.check(t, s.PayloadKeys, req, opts)
}

// CheckResult decodes a command result plist as a server receives it and
// validates its response keys; the envelope (UDID, CommandUUID, Status,
// ErrorChain, …) is allowed.
func (s *Schema) CheckResult(t Target, body []byte, opts ...Option) error {
	var m map[string]any
	if err := plist.Unmarshal(body, &m); err != nil {
		return Violations{{Problem: "not a plist dictionary: " + err.Error()}}
	}
	return s.CheckResponse(t, m, append([]Option{AllowKeys(envelopeKeys...)}, opts...)...)
}

// CheckCommand decodes a command plist ({CommandUUID, Command{RequestType,
// …}}) and validates its request keys.
func (s *Schema) CheckCommand(t Target, body []byte, opts ...Option) error {
	var env struct {
		Command map[string]any `plist:"Command"`
	}
	if err := plist.Unmarshal(body, &env); err != nil || env.Command == nil {
		return Violations{{Problem: fmt.Sprintf("not a command: %v", err)}}
	}
	if rt, _ := env.Command["RequestType"].(string); rt != s.Payload.RequestType {
		return Violations{{Path: "RequestType", Problem: fmt.Sprintf("%q, schema is for %q", rt, s.Payload.RequestType)}}
	}
	return s.CheckRequest(t, env.Command, append([]Option{AllowKeys("RequestType")}, opts...)...)
}

// Require fails the test with every violation of a command result body.
func Require(tb testing.TB, requestType string, t Target, body []byte, opts ...Option) {
	tb.Helper()
	s, err := For(requestType)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.CheckResult(t, body, opts...); err != nil {
		tb.Errorf("%s response for %s %s: %v", requestType, t.OS, t.Version, err)
	}
}

type checker struct {
	t            Target
	allowMissing []string
	allowKeys    []string
	out          Violations
}

func (s *Schema) check(t Target, keys []Key, m map[string]any, opts []Option) error {
	c := &checker{t: t}
	for _, o := range opts {
		o(c)
	}
	top := s.Payload.SupportedOS
	if ok, why := c.supported(top); !ok {
		c.add("", fmt.Sprintf("%s is %s", s.Payload.RequestType, why))
	}
	c.dict("", "", keys, m, top, true)
	if len(c.out) == 0 {
		return nil
	}
	return c.out
}

func (c *checker) add(p, problem string) { c.out = append(c.out, Violation{Path: p, Problem: problem}) }

// supported says whether a (merged) supportedOS allows the target.
func (c *checker) supported(sup map[string]OSSupport) (bool, string) {
	o, ok := sup[c.t.OS]
	if !ok || o.Introduced == "" {
		return false, "not defined for " + c.t.OS
	}
	if o.Introduced == "n/a" {
		return false, "not available on " + c.t.OS
	}
	if appleschema.CompareVersions(c.t.Version, o.Introduced) < 0 {
		return false, fmt.Sprintf("not available before %s %s", c.t.OS, o.Introduced)
	}
	if o.Removed != "" && o.Removed != "n/a" && appleschema.CompareVersions(c.t.Version, o.Removed) >= 0 {
		return false, fmt.Sprintf("removed in %s %s", c.t.OS, o.Removed)
	}
	return true, ""
}

// merge overlays a key's own supportedOS on its parent's.
func merge(parent, own map[string]OSSupport) map[string]OSSupport {
	if len(own) == 0 {
		return parent
	}
	out := make(map[string]OSSupport, len(parent)+len(own))
	for k, v := range parent {
		out[k] = v
	}
	for k, v := range own {
		p := out[k]
		if v.Introduced != "" {
			p.Introduced = v.Introduced
		}
		if v.Deprecated != "" {
			p.Deprecated = v.Deprecated
		}
		if v.Removed != "" {
			p.Removed = v.Removed
		}
		out[k] = p
	}
	return out
}

// dict checks a dictionary against its keys; generic is the path with []
// for indexes, which AllowMissing matches.
func (c *checker) dict(p, generic string, keys []Key, m map[string]any, sup map[string]OSSupport, top bool) {
	known := map[string]Key{}
	var anyKey *Key
	for i := range keys {
		if keys[i].Name == "ANY" {
			anyKey = &keys[i]
			continue
		}
		known[keys[i].Name] = keys[i]
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		kp, kg := join(p, name), join(generic, name)
		k, ok := known[name]
		if !ok {
			if anyKey != nil {
				c.value(kp, kg, *anyKey, m[name], sup)
				continue
			}
			if top && slices.Contains(c.allowKeys, name) {
				continue
			}
			c.add(kp, "unknown key")
			continue
		}
		ks := merge(sup, k.SupportedOS)
		if ok, why := c.supported(ks); !ok {
			c.add(kp, "present but "+why)
			continue
		}
		c.value(kp, kg, k, m[name], ks)
	}
	for _, k := range keys {
		if k.Name == "ANY" || k.Presence != "required" {
			continue
		}
		if _, ok := m[k.Name]; ok {
			continue
		}
		ks := merge(sup, k.SupportedOS)
		if ok, _ := c.supported(ks); !ok {
			continue
		}
		if slices.Contains(c.allowMissing, join(generic, k.Name)) {
			continue
		}
		c.add(join(p, k.Name), "required key missing")
	}
}

func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

// value checks one value against its key.
func (c *checker) value(p, generic string, k Key, v any, sup map[string]OSSupport) {
	if v == nil {
		c.add(p, "nil value")
		return
	}
	if k.Type != "" && !appleschema.KnownType(k.Type) {
		c.add(p, "schema type "+k.Type+" not understood")
		return
	}
	if !appleschema.TypeOK(k.Type, v, appleschema.Plist) {
		c.add(p, fmt.Sprintf("want %s, have %T", typeNames[k.Type], v))
		return
	}
	switch k.Type {
	case "<array>":
		if len(k.Subkeys) == 0 {
			return
		}
		rv := reflect.ValueOf(v)
		for i := 0; i < rv.Len(); i++ {
			c.value(fmt.Sprintf("%s[%d]", p, i), generic+"[]", k.Subkeys[0], rv.Index(i).Interface(), merge(sup, k.Subkeys[0].SupportedOS))
		}
		return
	case "<dictionary>":
		if len(k.Subkeys) > 0 {
			c.dict(p, generic, k.Subkeys, asMap(reflect.ValueOf(v)), sup, false)
		}
		return
	case "<any>", "":
		return
	}
	if len(k.Rangelist) > 0 && !appleschema.InRangelist(k.Rangelist, v) {
		c.add(p, fmt.Sprintf("%v is not one of %v", v, k.Rangelist))
	}
	if k.Range != nil {
		f, ok := appleschema.Number(v)
		if ok && ((k.Range.Min != nil && f < *k.Range.Min) || (k.Range.Max != nil && f > *k.Range.Max)) {
			c.add(p, fmt.Sprintf("%v is outside the range", v))
		}
	}
}

// typeNames name the schema's value types in violations.
var typeNames = map[string]string{
	"<string>": "a string", "<integer>": "an integer", "<real>": "a real", "<boolean>": "a boolean",
	"<date>": "a date", "<data>": "data", "<array>": "an array", "<dictionary>": "a dictionary",
}

// asMap reads a string-keyed map of any type as a dictionary.
func asMap(rv reflect.Value) map[string]any {
	if m, ok := rv.Interface().(map[string]any); ok {
		return m
	}
	m := make(map[string]any, rv.Len())
	it := rv.MapRange()
	for it.Next() {
		m[it.Key().String()] = it.Value().Interface()
	}
	return m
}
