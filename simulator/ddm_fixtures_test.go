package simulator

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// verdict is what the device concludes about a declaration body before it
// looks at activations: ParseDeclaration, the predicate, and the type's own
// checks.
func verdict(t *testing.T, raw []byte, id identity.Identity) (ddm.Declaration, []ddm.StatusReason) {
	t.Helper()
	decl, err := ddm.ParseDeclaration(raw)
	var de *ddm.DeclarationError
	if errors.As(err, &de) {
		return decl, de.Reasons
	} else if err != nil {
		t.Fatalf("ParseDeclaration error %T %v", err, err)
	}
	if decl.Type == ddm.TypeActivationSimple {
		raw, _ := decl.Payload["Predicate"].(string)
		if _, err := ddm.ParsePredicate(raw); err != nil {
			return decl, []ddm.StatusReason{{Code: ddm.ReasonUnableToParsePredicate, Description: err.Error()}}
		}
	}
	dt, ok := DefaultDDMTypes().Declaration(decl.Type)
	if !ok {
		t.Fatalf("type %s not registered", decl.Type)
	}
	if dt.Validate != nil {
		return decl, dt.Validate(decl, id)
	}
	return decl, nil
}

func fixtureMacIdentity(t testing.TB, version, build string) identity.Identity {
	t.Helper()
	m, ok := catalog.LookupModel("Mac14,2")
	if !ok {
		t.Fatal("no Mac14,2")
	}
	return identity.Identity{UDID: "UDID-1", SerialNumber: "SERIAL1", Model: &m, OSVersion: version, BuildVersion: build, IsSupervised: true}
}

func TestDeclarationFixtures(t *testing.T) {
	t.Parallel()
	id := fixtureMacIdentity(t, "15.7.1", "24G231")
	valid, _ := filepath.Glob("ddm/testdata/ddm/valid/*.json")
	if len(valid) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range valid {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		decl, reasons := verdict(t, raw, id)
		if len(reasons) > 0 {
			t.Errorf("%s: have reasons %+v, want valid", f, reasons)
		}
		if decl.Identifier == "" || decl.ServerToken == "" || decl.Kind() == "" {
			t.Errorf("%s: parsed %+v", f, decl)
		}
	}
	wantCodes := map[string]string{
		"activation-bad-predicate.json":         ddm.ReasonUnableToParsePredicate,
		"activation-configurations-string.json": ddm.ReasonInvalidPayload,
		"array.json":                            ddm.ReasonInvalidPayload,
		"enforcement-bad-deadline.json":         ddm.ReasonConfigurationDeserialize,
		"enforcement-bad-version.json":          ddm.ReasonConfigurationDeserialize,
		"enforcement-missing-deadline.json":     ddm.ReasonConfigurationDeserialize,
		"enforcement-unknown-key.json":          ddm.ReasonUnknownPayloadKeys,
		"enforcement-version-number.json":       ddm.ReasonConfigurationDeserialize,
		"extra-top-level-key.json":              ddm.ReasonUnknownPayloadKeys,
		"identifier-too-long.json":              ddm.ReasonInvalidPayload,
		"missing-server-token.json":             ddm.ReasonConfigurationDeserialize,
		"not-json.json":                         ddm.ReasonInvalidPayload,
		"payload-not-dictionary.json":           ddm.ReasonInvalidPayload,
		"server-capabilities-null.json":         ddm.ReasonInvalidPayload,
		"settings-bad-enum.json":                ddm.ReasonConfigurationDeserialize,
		"settings-out-of-range.json":            ddm.ReasonConfigurationDeserialize,
		"settings-real-days.json":               ddm.ReasonConfigurationDeserialize,
		"settings-require-and-offer.json":       ddm.ReasonConfigurationIsInvalid,
		"subscriptions-missing-name.json":       ddm.ReasonConfigurationDeserialize,
		"trailing-data.json":                    ddm.ReasonInvalidPayload,
	}
	invalid, _ := filepath.Glob("ddm/testdata/ddm/invalid/*.json")
	if len(invalid) != len(wantCodes) {
		t.Errorf("have %d invalid fixtures, want codes for %d", len(invalid), len(wantCodes))
	}
	for _, f := range invalid {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, reasons := verdict(t, raw, id)
		want := wantCodes[filepath.Base(f)]
		if len(reasons) != 1 || reasons[0].Code != want {
			t.Errorf("%s: have reasons %+v, want one %s", filepath.Base(f), reasons, want)
			continue
		}
		if reasons[0].Description == "" {
			t.Errorf("%s: reason without a description", f)
		}
	}
}

// Every status item the device registers has Apple's schema, so every
// report can be validated.
func TestDefaultStatusItemsHaveSchema(t *testing.T) {
	t.Parallel()
	for _, si := range defaultStatusItems() {
		if !ddm.KnownStatusItem(si.Name) {
			t.Errorf("status item %s has no schema", si.Name)
		}
	}
}
