package ddm

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mdmsim/mdmsim/simulator/identity"
)

// Declaration kinds: the third word of a declaration type and the word the
// device puts in a declaration/<kind>/<Identifier> endpoint.
const (
	KindActivation    = "activation"
	KindAsset         = "asset"
	KindConfiguration = "configuration"
	KindManagement    = "management"
)

// Declaration types the simulator knows.
const (
	TypeActivationSimple                  = "com.apple.activation.simple"
	TypeStatusSubscriptions               = "com.apple.configuration.management.status-subscriptions"
	TypeSoftwareUpdateEnforcementSpecific = "com.apple.configuration.softwareupdate.enforcement.specific"
	TypeSoftwareUpdateSettings            = "com.apple.configuration.softwareupdate.settings"
	TypeServerCapabilities                = "com.apple.management.server-capabilities"
	TypeOrganizationInfo                  = "com.apple.management.organization-info"
	TypeProperties                        = "com.apple.management.properties"
)

// Status reason codes the device uses (declarationbase.yaml lists Apple's;
// Error.UnknownDeclarationType is what devices send for a type they do not
// know, and the status-item codes are the simulator's own: Apple documents
// none).
const (
	ReasonActivationFailed             = "Error.ActivationFailed"
	ReasonConfigurationCannotBeApplied = "Error.ConfigurationCannotBeApplied"
	ReasonConfigurationDeserialize     = "Error.ConfigurationCannotBeDeserialized"
	ReasonConfigurationIsInvalid       = "Error.ConfigurationIsInvalid"
	ReasonConfigurationNotSupported    = "Error.ConfigurationNotSupported"
	ReasonInvalidPayload               = "Error.InvalidPayload"
	ReasonMissingConfigurations        = "Error.MissingConfigurations"
	ReasonUnableToParsePredicate       = "Error.UnableToParsePredicate"
	ReasonUnknownPayloadKeys           = "Error.UnknownPayloadKeys"
	ReasonUnknownDeclarationType       = "Error.UnknownDeclarationType"
	ReasonNotReferencedByActivation    = "Info.NotReferencedByActivation"
	ReasonPredicateFalse               = "Info.Predicate"
	ReasonStatusItemNotSupported       = "Error.StatusItemNotSupported"
	ReasonUnknownStatusItem            = "Error.UnknownStatusItem"
)

// MaxDeclarationIDLength is the limit Apple gives for Identifier and
// ServerToken ("should not exceed 64 octets"); the device rejects longer.
const MaxDeclarationIDLength = 64

// StatusReason explains why a declaration is invalid or inactive, or why a
// status item is missing from a report.
type StatusReason struct {
	Code        string
	Description string
	Details     map[string]any
}

// DeclarationJSON is the lower-case form reasons take inside
// management.declarations.
func (r StatusReason) DeclarationJSON() map[string]any {
	m := map[string]any{"code": r.Code}
	if r.Description != "" {
		m["description"] = r.Description
	}
	if len(r.Details) > 0 {
		m["details"] = r.Details
	}
	return m
}

// ErrorJSON is the capitalised form of a report's Errors array.
func (r StatusReason) ErrorJSON() map[string]any {
	m := map[string]any{"Code": r.Code}
	if r.Description != "" {
		m["Description"] = r.Description
	}
	if len(r.Details) > 0 {
		m["Details"] = r.Details
	}
	return m
}

// Declaration is one declaration as the device received it. Payload holds
// JSON values (string, json.Number, bool, []any, map[string]any); handlers
// usually decode it into a typed struct with DecodePayload.
type Declaration struct {
	Type        string
	Identifier  string
	ServerToken string
	Payload     map[string]any
	// Raw is the body the server sent.
	Raw []byte

	payload json.RawMessage
}

// Kind returns the declaration kind from its type: "configuration" for
// com.apple.configuration.*, and so on; "" when the type is not Apple's.
func (d Declaration) Kind() string { return DeclarationKind(d.Type) }

// DeclarationKind is Kind for a declaration type.
func DeclarationKind(t string) string {
	rest, ok := strings.CutPrefix(t, "com.apple.")
	if !ok {
		return ""
	}
	kind, _, _ := strings.Cut(rest, ".")
	switch kind {
	case KindActivation, KindAsset, KindConfiguration, KindManagement:
		return kind
	}
	return ""
}

// Clone returns a copy that shares no maps with d, so a handler may keep it.
func (d Declaration) Clone() Declaration {
	c := d
	c.Payload = cloneJSON(d.Payload).(map[string]any)
	return c
}

func cloneJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneJSON(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = cloneJSON(e)
		}
		return s
	}
	return v
}

// DecodePayload decodes a declaration's Payload into T, a struct
// whose fields are named as Apple's payload keys.
func DecodePayload[T any](d Declaration) (T, error) {
	var v T
	raw := d.payload
	if raw == nil {
		b, err := json.Marshal(d.Payload)
		if err != nil {
			return v, fmt.Errorf("ddm: declaration %s payload: %w", d.Identifier, err)
		}
		raw = b
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("ddm: declaration %s payload: %w", d.Identifier, err)
	}
	return v, nil
}

// DeclarationError is why ParseDeclaration rejected a declaration: the
// reasons the device reports for it.
type DeclarationError struct {
	Reasons []StatusReason
}

func (e *DeclarationError) Error() string {
	var parts []string
	for _, r := range e.Reasons {
		parts = append(parts, r.Code+": "+r.Description)
	}
	return "ddm: invalid declaration: " + strings.Join(parts, "; ")
}

// ParseDeclaration reads a declaration as a server sends it and checks it
// strictly against Apple's schema: the base keys (Type, Identifier,
// ServerToken, Payload; no others) and, for a type Apple's schema defines,
// every payload key's presence, type, range list and range, with unknown
// keys refused. It never panics. On error it still returns what it could
// read (Type, Identifier and ServerToken when they are strings) so the
// device can report the declaration as invalid.
func ParseDeclaration(raw []byte) (Declaration, error) {
	d := Declaration{Raw: raw}
	v, err := decodeJSON(raw)
	if err != nil {
		return d, &DeclarationError{Reasons: []StatusReason{{Code: ReasonInvalidPayload,
			Description: "The declaration is not valid JSON: " + err.Error()}}}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return d, &DeclarationError{Reasons: []StatusReason{{Code: ReasonInvalidPayload,
			Description: "The declaration is not a JSON object."}}}
	}
	d.Type, _ = m["Type"].(string)
	d.Identifier, _ = m["Identifier"].(string)
	d.ServerToken, _ = m["ServerToken"].(string)
	d.Payload, _ = m["Payload"].(map[string]any)

	s := ddmSchemas()
	is := &schemaIssues{}
	validateKeys(s.base.PayloadKeys, m, "", is)
	for _, f := range []struct{ name, v string }{{"Identifier", d.Identifier}, {"ServerToken", d.ServerToken}} {
		if len(f.v) > MaxDeclarationIDLength {
			is.add(f.name, "longer than %d octets", MaxDeclarationIDLength)
		}
		if !utf8.ValidString(f.v) {
			is.add(f.name, "not valid UTF-8")
		}
	}
	for _, f := range []struct{ name, v string }{{"Type", d.Type}, {"Identifier", d.Identifier}, {"ServerToken", d.ServerToken}} {
		if _, isString := m[f.name].(string); isString && f.v == "" {
			is.add(f.name, "empty")
		}
	}
	if doc := s.declarations[d.Type]; doc != nil && d.Payload != nil {
		validateKeys(doc.PayloadKeys, d.Payload, "Payload", is)
	}
	if !is.ok() {
		return d, &DeclarationError{Reasons: []StatusReason{schemaReason(d, is)}}
	}
	// Keep the payload's bytes for typed decoding. Re-encoding the decoded
	// map is exact: json.Number keeps every number's text.
	d.payload, _ = json.Marshal(d.Payload)
	return d, nil
}

// schemaReason turns schema issues into the reason a device reports: unknown
// keys alone are Error.UnknownPayloadKeys; anything else makes a
// configuration undeserialisable and any other declaration an invalid
// payload.
func schemaReason(d Declaration, is *schemaIssues) StatusReason {
	if len(is.problems) == 0 {
		keys := make([]any, len(is.unknown))
		for i, k := range is.unknown {
			keys[i] = k
		}
		return StatusReason{Code: ReasonUnknownPayloadKeys, Description: "Unknown payload keys: " + strings.Join(is.unknown, ", "),
			Details: map[string]any{"UnknownPayloadKeys": keys}}
	}
	if d.Kind() == KindConfiguration {
		return StatusReason{Code: ReasonConfigurationDeserialize, Description: "The configuration is not valid: " + is.String(),
			Details: map[string]any{"Error": is.String()}}
	}
	return StatusReason{Code: ReasonInvalidPayload, Description: "The declaration is not valid: " + is.String(),
		Details: IDDetails(d)}
}

// IDDetails is the Details of a reason about one declaration.
func IDDetails(d Declaration) map[string]any {
	return map[string]any{"Identifier": d.Identifier, "ServerToken": d.ServerToken}
}

// SoftwareUpdateEnforcementSpecific is the payload of
// com.apple.configuration.softwareupdate.enforcement.specific.
type SoftwareUpdateEnforcementSpecific struct {
	TargetOSVersion     string
	TargetBuildVersion  string `json:",omitempty"`
	TargetLocalDateTime string
	DetailsURL          string `json:",omitempty"`
}

// LocalDateTimeLayout is the format of TargetLocalDateTime: RFC 3339
// without a time-offset or fraction, read in the device's own time zone.
const LocalDateTimeLayout = "2006-01-02T15:04:05"

// Deadline is TargetLocalDateTime in loc, the device's time zone.
func (p SoftwareUpdateEnforcementSpecific) Deadline(loc *time.Location) (time.Time, error) {
	return time.ParseInLocation(LocalDateTimeLayout, p.TargetLocalDateTime, loc)
}

// SoftwareUpdateSettings is the payload of
// com.apple.configuration.softwareupdate.settings. Pointers tell an absent
// key from its zero value, which matters when declarations are combined.
type SoftwareUpdateSettings struct {
	Notifications              *bool                                `json:",omitempty"`
	Deferrals                  *SoftwareUpdateDeferrals             `json:",omitempty"`
	RecommendedCadence         string                               `json:",omitempty"`
	AutomaticActions           *SoftwareUpdateAutomaticActions      `json:",omitempty"`
	RapidSecurityResponse      *SoftwareUpdateRapidSecurityResponse `json:",omitempty"`
	AllowStandardUserOSUpdates *bool                                `json:",omitempty"`
	Beta                       *SoftwareUpdateBeta                  `json:",omitempty"`
}

// SoftwareUpdateDeferrals is the Deferrals dictionary of the settings.
type SoftwareUpdateDeferrals struct {
	CombinedPeriodInDays *int `json:",omitempty"`
	MajorPeriodInDays    *int `json:",omitempty"`
	MinorPeriodInDays    *int `json:",omitempty"`
	SystemPeriodInDays   *int `json:",omitempty"`
}

// SoftwareUpdateAutomaticActions is the AutomaticActions dictionary.
type SoftwareUpdateAutomaticActions struct {
	Download              string `json:",omitempty"`
	InstallOSUpdates      string `json:",omitempty"`
	InstallSecurityUpdate string `json:",omitempty"`
}

// SoftwareUpdateRapidSecurityResponse is the RapidSecurityResponse dictionary.
type SoftwareUpdateRapidSecurityResponse struct {
	Enable         *bool `json:",omitempty"`
	EnableRollback *bool `json:",omitempty"`
}

// SoftwareUpdateBeta is the Beta dictionary.
type SoftwareUpdateBeta struct {
	ProgramEnrollment string        `json:",omitempty"`
	OfferPrograms     []BetaProgram `json:",omitempty"`
	RequireProgram    *BetaProgram  `json:",omitempty"`
}

// BetaProgram names a beta program and its seeding token.
type BetaProgram struct {
	Description string
	Token       string
}

// ValidateEnforcementSpecific checks what Apple's schema cannot say: the
// versions and the deadline must be readable. Whether the target is above
// the installed OS is for the configuration's handler to judge.
func ValidateEnforcementSpecific(d Declaration, _ identity.Identity) []StatusReason {
	p, err := DecodePayload[SoftwareUpdateEnforcementSpecific](d)
	var problems []string
	switch {
	case err != nil:
		problems = append(problems, err.Error())
	default:
		if !isDottedVersion(p.TargetOSVersion) {
			problems = append(problems, fmt.Sprintf("TargetOSVersion %q is not a version such as 26.1", p.TargetOSVersion))
		}
		if p.TargetBuildVersion != "" && !isBuildVersion(p.TargetBuildVersion) {
			problems = append(problems, fmt.Sprintf("TargetBuildVersion %q is not a build such as 25B78 or 23A309a", p.TargetBuildVersion))
		}
		if _, err := p.Deadline(time.UTC); err != nil {
			problems = append(problems, fmt.Sprintf("TargetLocalDateTime %q is not yyyy-mm-ddThh:mm:ss", p.TargetLocalDateTime))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	msg := strings.Join(problems, "; ")
	return []StatusReason{{Code: ReasonConfigurationDeserialize, Description: "The configuration is not valid: " + msg,
		Details: map[string]any{"Error": msg}}}
}

// ValidateSoftwareUpdateSettings checks the rules the schema states in
// prose: RequireProgram only with ProgramEnrollment AlwaysOn, and never
// together with OfferPrograms.
func ValidateSoftwareUpdateSettings(d Declaration, _ identity.Identity) []StatusReason {
	p, err := DecodePayload[SoftwareUpdateSettings](d)
	var problem string
	switch {
	case err != nil:
		problem = err.Error()
	case p.Beta != nil && p.Beta.RequireProgram != nil && len(p.Beta.OfferPrograms) > 0:
		problem = "Beta.RequireProgram and Beta.OfferPrograms are both present"
	case p.Beta != nil && p.Beta.RequireProgram != nil && p.Beta.ProgramEnrollment != "AlwaysOn":
		problem = "Beta.RequireProgram needs Beta.ProgramEnrollment AlwaysOn"
	case p.Beta != nil && len(p.Beta.OfferPrograms) > 0 && p.Beta.ProgramEnrollment == "AlwaysOff":
		problem = "Beta.OfferPrograms cannot be used with Beta.ProgramEnrollment AlwaysOff"
	default:
		return nil
	}
	return []StatusReason{{Code: ReasonConfigurationIsInvalid, Description: "The configuration is not valid for this device: " + problem,
		Details: map[string]any{"Error": problem}}}
}

func isDottedVersion(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 4 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// isBuildVersion accepts Apple build numbers: major digits, a train letter,
// a number, and optional letters (beta or security-response suffix).
func isBuildVersion(s string) bool {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 3 || i == len(s) || s[i] < 'A' || s[i] > 'Z' {
		return false
	}
	i++
	j := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == j || i-j > 5 {
		return false
	}
	return len(s)-i <= 2 && strings.Trim(s[i:], "abcdefghijklmnopqrstuvwxyz") == ""
}

// PayloadStrings reads an array of strings from a payload key (already
// schema-checked).
func PayloadStrings(p map[string]any, key string) []string {
	arr, _ := p[key].([]any)
	out := make([]string, 0, len(arr))
	for _, v := range arr {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
