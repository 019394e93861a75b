package simulator

import (
	"strings"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// TestOlderMajorsInTheirOwnWords: the majors a population now draws answer
// as such devices do (every answer checked against Apple's schema): a Mac
// on macOS 13 is offered its minor update and the major upgrade as a full
// installer (_MACOS_), a Mac on 14 the major as an OTA update, an iPhone
// on iOS 17 the newest iOS it can run.
func TestOlderMajorsInTheirOwnWords(t *testing.T) {
	t.Parallel()
	scan := func(r *rig) string {
		r.send(RequestScheduleOSUpdateScan, map[string]any{"Force": true})
		r.clk.Advance(time.Minute)
		return availableKeys(r)
	}
	if have := scan(newRig(t, rigConfig{model: "Mac14,2", version: "13.7.8"})); !strings.Contains(have, "_MACOS_26.6.2") {
		t.Errorf("a Mac on 13.7.8 is offered %q, want the 26.6.2 full installer (_MACOS_26.6.2)", have)
	}
	if have := scan(newRig(t, rigConfig{model: "Mac14,2", version: "14.8.7"})); !strings.Contains(have, "MSU_UPDATE_23J631_patch_14.8.9_minor") || !strings.Contains(have, "_major") {
		t.Errorf("a Mac on 14.8.7 is offered %q, want 14.8.9 as a minor and 26 as a major OTA update", have)
	}
	r := newRig(t, rigConfig{model: "iPhone15,2", version: "17.7.2"})
	if have := availableKeys(r); !strings.HasPrefix(have, "iOSUpdate23G") {
		t.Errorf("an iPhone on 17.7.2 is offered %q, want iOS 26.6.x", have)
	}
}

// TestEnrollmentInDeviceInformation: how a device enrolled shows in
// DeviceInformation and SecurityInfo as Apple defines them (answers checked
// against Apple's schema: ManagementStatus's EnrolledViaDEP is macOS only):
// a Mac enrolled by ADE is supervised and EnrolledViaDEP, one enrolled by a
// profile neither; an iPhone supervised with Apple Configurator is
// supervised, one enrolled by a profile is not.
func TestEnrollmentInDeviceInformation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, model string
		enrollment  identity.Enrollment
		supervised  bool
		dep         any // nil: not reported
	}{
		{"mac ade", "Mac14,2", identity.EnrollmentADE, true, true},
		{"mac profile", "Mac14,2", identity.EnrollmentProfile, false, false},
		{"iphone configurator", "iPhone15,2", identity.EnrollmentConfigurator, true, nil},
		{"iphone profile", "iPhone15,2", identity.EnrollmentProfile, false, nil},
	} {
		version := "26.6.1"
		if tt.model == "iPhone15,2" {
			version = "26.6"
		}
		r := newRig(t, rigConfig{model: tt.model, version: version, enrollment: tt.enrollment, unsupervised: !tt.supervised})
		res := r.send("DeviceInformation", map[string]any{"Queries": []any{"IsSupervised"}})
		qr, _ := res.Fields["QueryResponses"].(map[string]any)
		sec := r.send("SecurityInfo", nil)
		info, _ := sec.Fields["SecurityInfo"].(map[string]any)
		mgmt, _ := info["ManagementStatus"].(map[string]any)
		if qr["IsSupervised"] != tt.supervised || mgmt["EnrolledViaDEP"] != tt.dep {
			t.Errorf("%s: IsSupervised %v, EnrolledViaDEP %v; want %v, %v", tt.name, qr["IsSupervised"], mgmt["EnrolledViaDEP"], tt.supervised, tt.dep)
		}
	}
}

// TestPickerDrawsCoherentIdentities: identities a Picker draws run a release
// that shipped for their model before the start, in the major's share.
func TestPickerDrawsCoherentIdentities(t *testing.T) {
	t.Parallel()
	cat := catalog.Default()
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	pk, err := identity.NewPicker(identity.PickerConfig{Catalog: cat, ShippedBy: start, Seed: 3,
		OSShares: map[catalog.Platform]map[int]float64{catalog.MacOS: {13: 0.5, 26: 0.5}}, ADE: 1})
	if err != nil {
		t.Fatal(err)
	}
	f := gofakeit.New(5)
	majors := map[int]int{}
	for range 40 {
		id, err := identity.New(f, identity.Options{Platform: catalog.MacOS, Catalog: cat, Picker: pk})
		if err != nil {
			t.Fatal(err)
		}
		majors[identity.Major(id.OSVersion)]++
		if !id.IsSupervised || !id.ViaADE() {
			t.Errorf("an ADE device: supervised %v, via ADE %v", id.IsSupervised, id.ViaADE())
		}
	}
	// Stratified: within a device or two of the shares.
	if majors[13] < 18 || majors[26] < 18 {
		t.Errorf("majors %v, want about 20 on 13 and 20 on 26", majors)
	}
}

// TestOlderGates: devices on the older releases a population may draw
// (macOS 12.2.1 and 13.0.1, iOS 16.1.1) answer without the keys their OS
// predates, schema-checked for their version: no IsSecurityResponse in
// AvailableOSUpdates before macOS 13.1 / iOS 16.2, no deferral counts in
// OSUpdateStatus before macOS 12.3.
func TestOlderGates(t *testing.T) {
	t.Parallel()
	hasKey := func(r *rig, key string) bool {
		res := r.send(RequestAvailableOSUpdates, nil)
		items, _ := res.Fields["AvailableOSUpdates"].([]any)
		if len(items) == 0 {
			t.Fatalf("%s: nothing offered", r.d.Identity().OSVersion)
		}
		_, ok := items[0].(map[string]any)[key]
		return ok
	}
	for _, tt := range []struct {
		model, version string
		want           bool
	}{
		{"MacBookAir10,1", "12.2.1", false},
		{"MacBookAir10,1", "13.0.1", false},
		{"MacBookAir10,1", "13.7.8", true},
		{"iPhone14,5", "16.1.1", false},
		{"iPhone14,5", "17.7.2", true},
	} {
		r := newRig(t, rigConfig{model: tt.model, version: tt.version})
		if tt.model != "iPhone14,5" {
			r.send(RequestScheduleOSUpdateScan, map[string]any{"Force": true})
			r.clk.Advance(time.Minute)
		}
		if have := hasKey(r, "IsSecurityResponse"); have != tt.want {
			t.Errorf("%s on %s: IsSecurityResponse present %v, want %v", tt.model, tt.version, have, tt.want)
		}
	}
	// macOS before 12.3 keeps no deferral count in OSUpdateStatus.
	for _, tt := range []struct {
		version string
		want    bool
	}{{"12.2.1", false}, {"13.0.1", true}} {
		r := newRig(t, rigConfig{model: "MacBookAir10,1", version: tt.version})
		r.send(RequestScheduleOSUpdateScan, map[string]any{"Force": true})
		r.clk.Advance(time.Minute)
		res := r.schedule(map[string]any{"ProductKey": r.minorKey(), "InstallAction": ActionInstallLater, "MaxUserDeferrals": 3})
		if have := results(res); strings.Contains(have, "Error") {
			t.Fatalf("%s: InstallLater: %s", tt.version, have)
		}
		st := r.send(RequestOSUpdateStatus, nil)
		items, _ := st.Fields["OSUpdateStatus"].([]any)
		if len(items) == 0 {
			t.Fatalf("%s: no update in progress", tt.version)
		}
		_, have := items[0].(map[string]any)["MaxDeferrals"]
		if have != tt.want {
			t.Errorf("macOS %s: MaxDeferrals present %v, want %v", tt.version, have, tt.want)
		}
	}
}

// minorKey is the ProductKey of the newest update within the installed
// major.
func (r *rig) minorKey() string {
	r.t.Helper()
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	installed := r.d.installedVersion()
	for _, rel := range r.d.installableLocked() {
		if rel.Version().Major == installed.Major && !rel.SecurityImprovement {
			return rel.ProductKey(installed, r.d.id.BuildVersion)
		}
	}
	r.t.Fatal("no minor update")
	return ""
}
