package ddm

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/appleschema"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

func TestDDMSchemaLoads(t *testing.T) {
	t.Parallel()
	s, err := loadDDMSchemas()
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{TypeActivationSimple, TypeStatusSubscriptions, TypeSoftwareUpdateEnforcementSpecific,
		TypeSoftwareUpdateSettings, TypeServerCapabilities, TypeOrganizationInfo, TypeProperties} {
		if s.declarations[typ] == nil {
			t.Errorf("no schema for declaration type %s", typ)
		}
	}
	for _, p := range []string{"TokensResponse", "DeclarationItemsResponse", "StatusReport"} {
		if s.protocol[p] == nil {
			t.Errorf("no schema for %s", p)
		}
	}
	if !appleschema.InRangelist(s.status["softwareupdate.install-state"].PayloadKeys[0].Rangelist, "waiting") {
		t.Error("install-state does not accept waiting")
	}
}

func testMacIdentity(t testing.TB, version, build string) identity.Identity {
	t.Helper()
	m, ok := catalog.LookupModel("Mac14,2")
	if !ok {
		t.Fatal("no Mac14,2")
	}
	return identity.Identity{UDID: "UDID-1", SerialNumber: "SERIAL1", Model: &m, OSVersion: version, BuildVersion: build, IsSupervised: true}
}

func TestParseDeclarationTyped(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/ddm/valid/enforcement-specific-details.json")
	if err != nil {
		t.Fatal(err)
	}
	decl, err := ParseDeclaration(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodePayload[SoftwareUpdateEnforcementSpecific](decl)
	if err != nil {
		t.Fatal(err)
	}
	want := SoftwareUpdateEnforcementSpecific{TargetOSVersion: "26.3.1", TargetBuildVersion: "25D2128a",
		TargetLocalDateTime: "2026-03-20T18:30:00", DetailsURL: "https://example.com/updates"}
	if p != want {
		t.Errorf("have %+v, want %+v", p, want)
	}
	loc := testMacIdentity(t, "15.0", "24A335").Location()
	if dl, err := p.Deadline(loc); err != nil || dl.Hour() != 18 || dl.Minute() != 30 {
		t.Errorf("deadline %v %v", dl, err)
	}

	raw, _ = os.ReadFile("testdata/ddm/valid/settings.json")
	decl, err = ParseDeclaration(raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := DecodePayload[SoftwareUpdateSettings](decl)
	if err != nil {
		t.Fatal(err)
	}
	if s.Notifications == nil || *s.Notifications || s.Deferrals == nil || *s.Deferrals.MajorPeriodInDays != 30 ||
		s.AutomaticActions.InstallSecurityUpdate != "AlwaysOn" || s.Beta.ProgramEnrollment != "AlwaysOn" {
		t.Errorf("settings decoded as %+v", s)
	}
}

func TestValidateStatusReport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, report string
		wantErr      string
	}{
		{"minimal", `{"StatusItems":{},"Errors":[]}`, ""},
		{"apple example", `{"StatusItems":{"softwareupdate":{"install-state":"downloading","pending-version":{"os-version":"26.6.2","build-version":"25G83","target-local-date-time":"2026-09-01T18:00:00"}},
			"device":{"operating-system":{"version":"26.6.1","build-version":"25G76"}},
			"management":{"declarations":{"activations":[],"configurations":[{"identifier":"com.example.su","server-token":"x","active":true,"valid":"valid"}],"assets":[],"management":[]}}},
			"Errors":[{"StatusItem":"softwareupdate.device-id","Reasons":[{"Code":"X","Description":"d","Details":{}}]}],"FullReport":false}`, ""},
		{"waiting", `{"StatusItems":{"softwareupdate":{"install-state":"waiting"}},"Errors":[]}`, ""},
		{"supplemental", `{"StatusItems":{"device":{"operating-system":{"supplemental":{"build-version":"20A123a","extra-version":"a"}}}},"Errors":[]}`, ""},
		{"not json", `{"StatusItems":`, "unexpected EOF"},
		{"missing errors", `{"StatusItems":{}}`, "missing required key Errors"},
		{"flat name", `{"StatusItems":{"softwareupdate.install-state":"none"},"Errors":[]}`, "unknown keys StatusItems.softwareupdate.install-state"},
		{"unknown item", `{"StatusItems":{"device":{"colour":"red"}},"Errors":[]}`, "unknown keys StatusItems.device.colour"},
		{"bad install state", `{"StatusItems":{"softwareupdate":{"install-state":"done"}},"Errors":[]}`, `"done" is not one of`},
		{"count as string", `{"StatusItems":{"softwareupdate":{"failure-reason":{"count":"0"}}},"Errors":[]}`, "is not of type <integer>"},
		{"declaration without valid", `{"StatusItems":{"management":{"declarations":{"activations":[{"identifier":"a","server-token":"b","active":true}],"configurations":[],"assets":[],"management":[]}}},"Errors":[]}`, "missing required key valid"},
		{"bad reason", `{"StatusItems":{},"Errors":[{"StatusItem":"x","Reasons":[{"Description":"no code"}]}]}`, "missing required key Code"},
		{"full report not bool", `{"StatusItems":{},"Errors":[],"FullReport":"yes"}`, "is not of type <boolean>"},
	}
	for _, tt := range tests {
		err := ValidateStatusReport([]byte(tt.report))
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: have error %v, want one containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestSupportedOn(t *testing.T) {
	t.Parallel()
	mac := func(v string, supervised bool) identity.Identity {
		id := testMacIdentity(t, v, "")
		id.IsSupervised = supervised
		return id
	}
	phone, _ := catalog.LookupModel("iPhone15,2")
	ios := func(v string, supervised bool) identity.Identity {
		return identity.Identity{Model: &phone, OSVersion: v, IsSupervised: supervised}
	}
	s := ddmSchemas()
	tests := []struct {
		name string
		os   map[string]appleschema.OS
		id   identity.Identity
		want bool
	}{
		{"enforcement macOS 14 supervised", s.declarations[TypeSoftwareUpdateEnforcementSpecific].Payload.SupportedOS, mac("14.0", true), true},
		{"enforcement macOS 14 unsupervised", s.declarations[TypeSoftwareUpdateEnforcementSpecific].Payload.SupportedOS, mac("14.8.1", false), false},
		{"enforcement macOS 13", s.declarations[TypeSoftwareUpdateEnforcementSpecific].Payload.SupportedOS, mac("13.7.8", true), false},
		{"enforcement iOS 17 unsupervised", s.declarations[TypeSoftwareUpdateEnforcementSpecific].Payload.SupportedOS, ios("17.7.2", false), true},
		{"enforcement iOS 16", s.declarations[TypeSoftwareUpdateEnforcementSpecific].Payload.SupportedOS, ios("16.7", true), false},
		{"settings macOS 14", s.declarations[TypeSoftwareUpdateSettings].Payload.SupportedOS, mac("14.8.1", true), false},
		{"settings macOS 15", s.declarations[TypeSoftwareUpdateSettings].Payload.SupportedOS, mac("15.0", true), true},
		{"settings iOS 18", s.declarations[TypeSoftwareUpdateSettings].Payload.SupportedOS, ios("18.6", false), true},
		{"device-id macOS 14", s.status["softwareupdate.device-id"].Payload.SupportedOS, mac("14.8.1", true), false},
		{"device-id macOS 26", s.status["softwareupdate.device-id"].Payload.SupportedOS, mac("26.1", true), true},
		{"supplemental iOS 16.0", s.status["device.operating-system.supplemental.build-version"].Payload.SupportedOS, ios("16.0", true), false},
		{"supplemental iOS 16.1", s.status["device.operating-system.supplemental.build-version"].Payload.SupportedOS, ios("16.1", true), true},
		{"model number iOS 17", s.status["device.model.number"].Payload.SupportedOS, ios("17.0", false), true},
	}
	for _, tt := range tests {
		if have := supportedOn(tt.os, tt.id); have != tt.want {
			t.Errorf("%s: have %v, want %v", tt.name, have, tt.want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{{"14.4", "14.10", -1}, {"15", "15.0", 0}, {"26.0.1", "26", 1}, {"13.0", "n/a", 1}}
	for _, tt := range tests {
		if have := CompareVersions(tt.a, tt.b); have != tt.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tt.a, tt.b, have, tt.want)
		}
	}
	if !slices.Equal(enrollmentKinds(identity.Identity{Model: &catalog.Model{Family: "iPad"}, IsSupervised: true}), []string{"supervised", "device"}) {
		t.Error("supervised iPad kinds")
	}
}
