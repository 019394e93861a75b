package ddm

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mdmsim/mdmsim/simulator/appleschema"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// Apple's declarative schema (ddmschema/SOURCE.txt) is embedded and read
// once: the device validates every declaration, declaration-items and
// tokens answer against it, derives which declaration types and status items
// its OS supports from its supportedOS entries, and tests validate every
// status report the device sends with the same tables. Refreshing the YAML
// refreshes the simulator.
//
//go:embed ddmschema/declarative
var ddmSchemaFS embed.FS

type ddmSchemaSet struct {
	base         *appleschema.Doc
	declarations map[string]*appleschema.Doc // by declaration type
	status       map[string]*appleschema.Doc // by status item name
	protocol     map[string]*appleschema.Doc // by request type (TokensResponse, …)
}

// schemaQuirks widens Apple's rangelists where Apple's own prose and devices
// disagree with them: install-state's rangelist omits "waiting", which the
// description lists and devices send.
var schemaQuirks = map[string][]any{
	"softwareupdate.install-state": {"waiting"},
}

var loadDDMSchemas = sync.OnceValues(func() (*ddmSchemaSet, error) {
	set := &ddmSchemaSet{declarations: map[string]*appleschema.Doc{}, status: map[string]*appleschema.Doc{}, protocol: map[string]*appleschema.Doc{}}
	err := appleschema.Walk(ddmSchemaFS, "ddmschema/declarative", func(path string, doc *appleschema.Doc) error {
		switch p := doc.Payload; {
		case p.DeclarationType == "any":
			set.base = doc
		case p.StatusItemType != "":
			if len(doc.PayloadKeys) != 1 || doc.PayloadKeys[0].Name != p.StatusItemType {
				return fmt.Errorf("%s: status item schema without its value key", path)
			}
			if extra := schemaQuirks[p.StatusItemType]; extra != nil {
				doc.PayloadKeys[0].Rangelist = append(slices.Clone(doc.PayloadKeys[0].Rangelist), extra...)
			}
			set.status[p.StatusItemType] = doc
		case p.RequestType != "":
			set.protocol[p.RequestType] = doc
		case strings.HasPrefix(p.DeclarationType, "com.apple."):
			set.declarations[p.DeclarationType] = doc
		}
		return nil
	})
	if err == nil && set.base == nil {
		err = errors.New("no declarationbase.yaml")
	}
	if err != nil {
		return nil, fmt.Errorf("ddm: schema: %w", err)
	}
	return set, nil
})

// ddmSchemas returns the embedded schema. It is built into the binary, so a
// failure is a build defect, not an input error.
func ddmSchemas() *ddmSchemaSet {
	s, err := loadDDMSchemas()
	if err != nil {
		panic(err)
	}
	return s
}

// schemaIssues is what a value does wrong against a schema.
type schemaIssues struct {
	problems []string // wrong types, missing keys, values out of range
	unknown  []string // key paths the schema does not define
}

func (s *schemaIssues) ok() bool { return len(s.problems) == 0 && len(s.unknown) == 0 }

func (s *schemaIssues) add(path, format string, args ...any) {
	if len(s.problems) < maxSchemaProblems {
		s.problems = append(s.problems, joinPath(path, fmt.Sprintf(format, args...)))
	}
}

func (s *schemaIssues) String() string {
	parts := slices.Clone(s.problems)
	if len(s.unknown) > 0 {
		parts = append(parts, "unknown keys "+strings.Join(s.unknown, ", "))
	}
	return strings.Join(parts, "; ")
}

// maxSchemaProblems keeps a hostile document from producing an unbounded
// reason text.
const maxSchemaProblems = 20

func joinPath(path, msg string) string {
	if path == "" {
		return msg
	}
	return path + ": " + msg
}

func childPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decodeJSON decodes one JSON document keeping numbers as json.Number, so
// the validator can tell <integer> from <real>; trailing data is an error.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON document")
	}
	return v, nil
}

// validateKeys checks a dictionary against the keys that may appear in it.
// A key named ANY accepts any other key; with no keys at all any content is
// allowed, as Apple's format says for an unstructured <dictionary>.
func validateKeys(keys []appleschema.Key, m map[string]any, path string, is *schemaIssues) {
	if len(keys) == 0 {
		return
	}
	var anyKey *appleschema.Key
	known := make(map[string]*appleschema.Key, len(keys))
	for i := range keys {
		if keys[i].Name == "ANY" {
			anyKey = &keys[i]
			continue
		}
		known[keys[i].Name] = &keys[i]
	}
	for _, k := range keys {
		if k.Name != "ANY" && k.Presence == "required" {
			if _, ok := m[k.Name]; !ok {
				is.add(path, "missing required key %s", k.Name)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		k := known[name]
		if k == nil {
			k = anyKey
		}
		if k == nil {
			if len(is.unknown) < maxSchemaProblems {
				is.unknown = append(is.unknown, childPath(path, name))
			}
			continue
		}
		validateValue(k, m[name], childPath(path, name), is)
	}
}

// validateValue checks one value against its key's type, range list, range
// and sub-keys.
func validateValue(k *appleschema.Key, v any, path string, is *schemaIssues) {
	if !appleschema.TypeOK(k.Type, v, appleschema.JSON) {
		is.add(path, "%s is not of type %s", describeJSON(v), k.Type)
		return
	}
	switch x := v.(type) {
	case map[string]any:
		validateKeys(k.Subkeys, x, path, is)
	case []any:
		for i, el := range x {
			p := fmt.Sprintf("%s[%d]", path, i)
			if len(k.Rangelist) > 0 && !appleschema.InRangelist(k.Rangelist, el) {
				is.add(p, "%s is not one of %v", describeJSON(el), k.Rangelist)
			}
			if len(k.Subkeys) > 0 {
				validateValue(&k.Subkeys[0], el, p, is)
			}
		}
	default:
		if len(k.Rangelist) > 0 && !appleschema.InRangelist(k.Rangelist, v) {
			is.add(path, "%s is not one of %v", describeJSON(v), k.Rangelist)
		}
		if n, ok := v.(json.Number); ok && k.Range != nil {
			f, _ := n.Float64()
			if k.Range.Min != nil && f < *k.Range.Min {
				is.add(path, "%s is below the minimum %v", n, *k.Range.Min)
			}
			if k.Range.Max != nil && f > *k.Range.Max {
				is.add(path, "%s is above the maximum %v", n, *k.Range.Max)
			}
		}
	}
}

func describeJSON(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return strconv.Quote(x)
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		return "an array"
	case map[string]any:
		return "a dictionary"
	}
	return fmt.Sprintf("%T", v)
}

// supportedOn reports whether an OS entry of Apple's supportedOS covers the
// device: introduced at or before its OS version ("n/a" never) and, when the
// entry lists allowed enrollments, one the device's enrollment is.
func supportedOn(os map[string]appleschema.OS, id identity.Identity) bool {
	e, ok := os[schemaPlatform(id)]
	if !ok || e.Introduced == "" || e.Introduced == "n/a" {
		return false
	}
	if CompareVersions(id.OSVersion, e.Introduced) < 0 {
		return false
	}
	if len(e.AllowedEnrollments) == 0 {
		return true
	}
	for _, kind := range enrollmentKinds(id) {
		if slices.Contains(e.AllowedEnrollments, kind) {
			return true
		}
	}
	return false
}

// DeclarationTypeSupported reports whether Apple's schema lets id use a
// declaration type; a type the schema does not define is supported.
func DeclarationTypeSupported(declarationType string, id identity.Identity) bool {
	if doc := ddmSchemas().declarations[declarationType]; doc != nil {
		return supportedOn(doc.Payload.SupportedOS, id)
	}
	return true
}

// StatusItemSupported reports whether Apple's schema lets id report a
// status item; an item the schema does not define is supported.
func StatusItemSupported(name string, id identity.Identity) bool {
	if doc := ddmSchemas().status[name]; doc != nil {
		return supportedOn(doc.Payload.SupportedOS, id)
	}
	return true
}

// KnownStatusItem reports whether Apple's schema defines a status item.
func KnownStatusItem(name string) bool { return ddmSchemas().status[name] != nil }

// schemaPlatform is the supportedOS key of the device's OS: iPadOS is "iOS"
// in Apple's schema.
func schemaPlatform(id identity.Identity) string {
	if id.IsMac() {
		return "macOS"
	}
	return "iOS"
}

// enrollmentKinds are the allowed-enrollments values the device's MDM
// enrollment satisfies. Simulated devices use Device Enrollment (automated
// or not), never User Enrollment; supervision comes from the identity. On
// macOS, Apple's lists name "supervised" and "user" only, so an unsupervised
// Mac is a plain "device" enrollment that few declarative features accept.
func enrollmentKinds(id identity.Identity) []string {
	if id.IsMac() {
		if id.IsSupervised {
			return []string{"supervised"}
		}
		return []string{"device"}
	}
	if id.IsSupervised {
		return []string{"supervised", "device"}
	}
	return []string{"device"}
}

// CompareVersions compares dotted numeric versions ("14.4" < "14.10").
func CompareVersions(a, b string) int { return appleschema.CompareVersions(a, b) }

// ValidateStatusReport checks a status report (the JSON a device sends to
// the "status" endpoint) against Apple's schema: the report's own keys,
// then every status item found in the nested StatusItems tree against that
// item's schema. Servers' conformance tests and the simulator's own tests use
// it; it never panics on any input.
func ValidateStatusReport(raw []byte) error {
	v, err := decodeJSON(raw)
	if err != nil {
		return fmt.Errorf("ddm: status report: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return errors.New("ddm: status report: not a JSON object")
	}
	s := ddmSchemas()
	is := &schemaIssues{}
	validateKeys(s.protocol["StatusReport"].PayloadKeys, m, "", is)
	if items, ok := m["StatusItems"].(map[string]any); ok {
		validateStatusTree(s, items, "", is)
	}
	if !is.ok() {
		return fmt.Errorf("ddm: status report: %s", is)
	}
	return nil
}

// validateStatusTree walks the nested StatusItems dictionary: a dotted item
// name such as softwareupdate.install-state is {"softwareupdate":
// {"install-state": …}}.
func validateStatusTree(s *ddmSchemaSet, m map[string]any, prefix string, is *schemaIssues) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := childPath(prefix, k)
		path := "StatusItems." + name
		if strings.Contains(k, ".") {
			// Dotted names travel as nested dictionaries, never flat.
			if len(is.unknown) < maxSchemaProblems {
				is.unknown = append(is.unknown, path)
			}
			continue
		}
		if doc := s.status[name]; doc != nil {
			validateValue(&doc.PayloadKeys[0], m[k], path, is)
			continue
		}
		sub, ok := m[k].(map[string]any)
		if !ok || !s.hasStatusPrefix(name+".") {
			if len(is.unknown) < maxSchemaProblems {
				is.unknown = append(is.unknown, path)
			}
			continue
		}
		validateStatusTree(s, sub, name, is)
	}
}

func (s *ddmSchemaSet) hasStatusPrefix(prefix string) bool {
	for name := range s.status {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// validateProtocol checks a server answer (TokensResponse,
// DeclarationItemsResponse) against its schema.
func validateProtocol(requestType string, v any) *schemaIssues {
	is := &schemaIssues{}
	m, ok := v.(map[string]any)
	if !ok {
		is.add("", "%s is not a dictionary", describeJSON(v))
		return is
	}
	validateKeys(ddmSchemas().protocol[requestType].PayloadKeys, m, "", is)
	return is
}
