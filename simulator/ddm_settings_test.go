package simulator

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/micromdm/plist"
	"github.com/smallstep/pkcs7"

	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// settingsDecl builds a softwareupdate.settings declaration as the device
// parses it.
func settingsDecl(t *testing.T, id string, payload map[string]any) ddm.Declaration {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"Type": ddm.TypeSoftwareUpdateSettings, "Identifier": id, "ServerToken": "t-" + id, "Payload": payload})
	if err != nil {
		t.Fatal(err)
	}
	d, err := ddm.ParseDeclaration(raw)
	if err != nil {
		t.Fatal(err)
	}
	if reasons := ddm.ValidateSoftwareUpdateSettings(d, fixtureMacIdentity(t, "15.7.1", "24G231")); len(reasons) > 0 {
		t.Fatalf("%s: %+v", id, reasons)
	}
	return d
}

// TestSettingsCombine: several settings declarations merge key by key with
// the combinetype of softwareupdate.settings.yaml.
func TestSettingsCombine(t *testing.T) {
	t.Parallel()
	a := settingsDecl(t, "a", map[string]any{"Notifications": true,
		"Deferrals":             map[string]any{"MinorPeriodInDays": 10, "MajorPeriodInDays": 5},
		"AutomaticActions":      map[string]any{"Download": "AlwaysOn", "InstallOSUpdates": "AlwaysOn"},
		"RapidSecurityResponse": map[string]any{"Enable": true},
		"Beta":                  map[string]any{"ProgramEnrollment": "AlwaysOn", "RequireProgram": map[string]any{"Description": "First", "Token": "t1"}}})
	b := settingsDecl(t, "b", map[string]any{"Notifications": false,
		"Deferrals":             map[string]any{"MinorPeriodInDays": 30},
		"AutomaticActions":      map[string]any{"Download": "AlwaysOff"},
		"RapidSecurityResponse": map[string]any{"Enable": false},
		"Beta":                  map[string]any{"ProgramEnrollment": "AlwaysOn", "RequireProgram": map[string]any{"Description": "Second", "Token": "t2"}}})
	s, deferrals := combineSettings([]ddm.Declaration{a, b})
	want := UpdateSettings{NotificationsOff: true, MinorDays: 30, MajorDays: 5, Download: SettingAlwaysOff,
		InstallOSUpdates: SettingAlwaysOn, RSROff: true, BetaEnrollment: SettingAlwaysOn, BetaProgram: "First"}
	if s != want || !deferrals {
		t.Errorf("combined\nhave %+v (deferrals %v)\nwant %+v", s, deferrals, want)
	}
	// Nothing set: Apple's defaults, and AlwaysOff leaves no beta program.
	off := settingsDecl(t, "c", map[string]any{"Beta": map[string]any{"ProgramEnrollment": "AlwaysOff"}})
	if s, deferrals := combineSettings([]ddm.Declaration{a, off}); s.BetaProgram != "" || s.NotificationsOff || !deferrals {
		t.Errorf("AlwaysOff last: %+v", s)
	}
}

// restrictionsProfile is a configuration profile with one restrictions
// payload.
func restrictionsProfile(t testing.TB, id string, keys map[string]any) []byte {
	t.Helper()
	pl := map[string]any{"PayloadType": PayloadTypeRestrictions, "PayloadIdentifier": id + ".restrictions",
		"PayloadUUID": "UUID-R-" + id, "PayloadVersion": 1}
	for k, v := range keys {
		pl[k] = v
	}
	b, err := plist.Marshal(map[string]any{"PayloadType": "Configuration", "PayloadIdentifier": id, "PayloadUUID": "UUID-" + id,
		"PayloadVersion": 1, "PayloadDisplayName": "Updates " + id, "PayloadContent": []any{pl}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deferredUntil renders AvailableOSUpdates: "26.6.2 until 2026-09-12",
// "15.7.9" for one that is not deferred.
func deferredList(r *rig) string {
	res := r.send(RequestAvailableOSUpdates, nil)
	var out []string
	for _, it := range res.Fields["AvailableOSUpdates"].([]any) {
		m := it.(map[string]any)
		s := fmt.Sprint(m["Version"])
		if u, ok := m["DeferredUntil"].(time.Time); ok {
			s += " until " + u.UTC().Format(time.DateOnly)
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// expectDeferred is deferredList as it should read with minor and major
// periods (days, 0: none) on r's device now.
func expectDeferred(r *rig, minor, major int) (string, int) {
	var out []string
	n := 0
	r.d.mu.Lock()
	rels := r.d.availableLocked()
	installed := r.d.installedVersion()
	r.d.mu.Unlock()
	for _, rel := range rels {
		days := minor
		if rel.IsMajorFrom(installed) {
			days = major
		}
		s := rel.ProductVersion
		if until := rel.PostingDate.AddDate(0, 0, days); days > 0 && r.clk.Now().Before(until) {
			s += " until " + until.Format(time.DateOnly)
			n++
		}
		out = append(out, s)
	}
	return strings.Join(out, ", "), n
}

// TestProfileDeferralMac: a restrictions profile defers updates from their
// release date; AvailableOSUpdates lists them with DeferredUntil; a
// settings declaration's Deferrals override the profile's (B4.8); MDM can
// still schedule a deferred update.
func TestProfileDeferralMac(t *testing.T) {
	t.Parallel()
	r := newRig(t, mac15)
	plain, _ := expectDeferred(r, 0, 0)
	if have := deferredList(r); have != plain {
		t.Fatalf("before any deferral: %s, want %s", have, plain)
	}
	res := r.send(RequestTypeInstallProfile, map[string]any{"Payload": restrictionsProfile(t, "com.example.defer",
		map[string]any{"forceDelayedSoftwareUpdates": true, "forceDelayedMajorSoftwareUpdates": true,
			"enforcedSoftwareUpdateDelay": 60, "enforcedSoftwareUpdateMajorOSDeferredInstallDelay": 90})})
	if res.Status != protocol.StatusAcknowledged {
		t.Fatalf("InstallProfile: %s %+v", res.Status, res.ErrorChain)
	}
	want, n := expectDeferred(r, 60, 90)
	if n == 0 {
		t.Fatalf("the test needs an update released less than 60 days ago: %s", want)
	}
	if have := deferredList(r); have != want {
		t.Errorf("profile deferral\nhave %s\nwant %s", have, want)
	}
	if s := r.d.UpdateSettings(); !s.DeferralsFromProfile || s.MinorDays != 60 || s.MajorDays != 90 {
		t.Errorf("settings %+v", s)
	}
	list := r.send("ProfileList", nil).Fields["ProfileList"].([]any)
	if last := list[len(list)-1].(map[string]any); last["PayloadIdentifier"] != "com.example.defer" {
		t.Errorf("ProfileList %v", list)
	}

	// A declaration's deferrals replace the profile's.
	r.d.applyUpdateSettings([]ddm.Declaration{settingsDecl(t, "s", map[string]any{"Deferrals": map[string]any{"MinorPeriodInDays": 1}})})
	want, _ = expectDeferred(r, 1, 0)
	if have := deferredList(r); have != want {
		t.Errorf("declaration over profile\nhave %s\nwant %s", have, want)
	}
	r.d.applyUpdateSettings(nil)
	want, _ = expectDeferred(r, 60, 90)
	if have := deferredList(r); have != want {
		t.Errorf("declaration removed\nhave %s\nwant %s", have, want)
	}

	// Deferred from the user, not from MDM.
	if got := results(r.schedule(item("InstallASAP", "ProductKey", r.newestKey()))); !strings.Contains(got, "Downloading") {
		t.Errorf("ScheduleOSUpdate of a deferred update: %s", got)
	}
	if res := r.send(RequestTypeRemoveProfile, map[string]any{"Identifier": "com.example.defer"}); res.Status != protocol.StatusAcknowledged {
		t.Fatalf("RemoveProfile: %s %+v", res.Status, res.ErrorChain)
	}
	if have := deferredList(r); have != plain {
		t.Errorf("profile removed: %s, want %s", have, plain)
	}
}

// TestProfileDeferralIOS: iOS has no DeferredUntil; a deferred update is
// left out of AvailableOSUpdates.
func TestProfileDeferralIOS(t *testing.T) {
	t.Parallel()
	r := newRig(t, ios26)
	if have := deferredList(r); have == "" {
		t.Fatal("the test needs an available update")
	}
	r.send(RequestTypeInstallProfile, map[string]any{"Payload": restrictionsProfile(t, "com.example.defer",
		map[string]any{"forceDelayedSoftwareUpdates": true, "enforcedSoftwareUpdateDelay": 90})})
	if have := deferredList(r); have != "" {
		t.Errorf("deferred on iOS: %q, want nothing listed", have)
	}
	if s := r.d.UpdateSettings(); s.CombinedDays != 90 {
		t.Errorf("settings %+v", s)
	}
}

// TestProfileCommandsHostile: what a hostile or careless server sends gets
// the error a device gives, never a panic or a stored half profile.
func TestProfileCommandsHostile(t *testing.T) {
	t.Parallel()
	r := newRig(t, mac15)
	good := restrictionsProfile(t, "com.example.ok", map[string]any{"forceDelayedSoftwareUpdates": true})
	bad := func(doc map[string]any) []byte {
		b, err := plist.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	base := func() map[string]any {
		return map[string]any{"PayloadType": "Configuration", "PayloadIdentifier": "x", "PayloadUUID": "u", "PayloadVersion": 1}
	}
	withContent := func(c any) []byte { m := base(); m["PayloadContent"] = c; return bad(m) }
	restr := func(k string, v any) []byte {
		return withContent([]any{map[string]any{"PayloadType": PayloadTypeRestrictions, "PayloadIdentifier": "x.r", "PayloadUUID": "r", "PayloadVersion": 1, k: v}})
	}
	for _, tt := range []struct {
		name    string
		payload any
		code    int
	}{
		{"not a plist", []byte("{not a plist"), 4000},
		{"empty", []byte{}, 4000},
		{"garbage DER", []byte{0x30, 0x82, 0xff, 0xff, 1, 2, 3}, 4000},
		{"too big", append([]byte("<?xml "), make([]byte, MaxProfileSize)...), 4000},
		{"not Configuration", bad(map[string]any{"PayloadType": "com.apple.wifi", "PayloadIdentifier": "x", "PayloadUUID": "u", "PayloadVersion": 1}), 4000},
		{"no identifier", bad(map[string]any{"PayloadType": "Configuration", "PayloadUUID": "u", "PayloadVersion": 1}), 4000},
		{"content not an array", withContent("nope"), 4000},
		{"content item without type", withContent([]any{map[string]any{"PayloadIdentifier": "a"}}), 4000},
		{"delay as a string", restr("enforcedSoftwareUpdateDelay", "30"), 4000},
		{"delay out of range", restr("enforcedSoftwareUpdateDelay", 500), 4000},
		{"flag as an integer", restr("forceDelayedSoftwareUpdates", 1), 4000},
		{"encrypted", func() []byte { m := base(); m["EncryptedPayloadContent"] = []byte{1, 2}; return bad(m) }(), 4001},
	} {
		res := r.send(RequestTypeInstallProfile, map[string]any{"Payload": tt.payload})
		if res.Status != protocol.StatusError || len(res.ErrorChain) == 0 || res.ErrorChain[0].ErrorCode != tt.code {
			t.Errorf("%s: %s %+v, want error %d", tt.name, res.Status, res.ErrorChain, tt.code)
		}
	}
	if res := r.send(RequestTypeInstallProfile, map[string]any{"Payload": "a string, not data"}); res.Status != protocol.StatusCommandFormatError {
		t.Errorf("Payload of the wrong type: %s", res.Status)
	}
	if n := len(r.d.Profiles()); n != 0 {
		t.Fatalf("%d profiles stored from refused commands", n)
	}
	if s := r.d.UpdateSettings(); s != (UpdateSettings{}) {
		t.Errorf("settings from refused profiles: %+v", s)
	}

	// The store is bounded; the same identifier replaces.
	for i := range MaxProfiles {
		res := r.send(RequestTypeInstallProfile, map[string]any{"Payload": restrictionsProfile(t, fmt.Sprintf("com.example.p%d", i), nil)})
		if res.Status != protocol.StatusAcknowledged {
			t.Fatalf("profile %d: %s %+v", i, res.Status, res.ErrorChain)
		}
	}
	res := r.send(RequestTypeInstallProfile, map[string]any{"Payload": good})
	if res.Status != protocol.StatusError || res.ErrorChain[0].ErrorCode != 4001 || res.ErrorChain[0].ErrorDomain != "MCInstallationErrorDomain" {
		t.Errorf("profile %d: %s %+v, want MCInstallationErrorDomain 4001", MaxProfiles+1, res.Status, res.ErrorChain)
	}
	if res := r.send(RequestTypeInstallProfile, map[string]any{"Payload": restrictionsProfile(t, "com.example.p0",
		map[string]any{"forceDelayedSoftwareUpdates": true})}); res.Status != protocol.StatusAcknowledged {
		t.Errorf("replacing a profile at the limit: %s %+v", res.Status, res.ErrorChain)
	}
	if n := len(r.d.Profiles()); n != MaxProfiles {
		t.Errorf("%d profiles, want %d", n, MaxProfiles)
	}
	if s := r.d.UpdateSettings(); s.MinorDays != DefaultProfileDeferralDays {
		t.Errorf("the replaced profile's deferral: %+v", s)
	}

	res = r.send(RequestTypeRemoveProfile, map[string]any{"Identifier": "com.example.absent"})
	if res.Status != protocol.StatusError || res.ErrorChain[0].ErrorCode != 89 || res.ErrorChain[0].ErrorDomain != "MDMClientError" {
		t.Errorf("RemoveProfile of an absent profile: %s %+v", res.Status, res.ErrorChain)
	}
	if res := r.send(RequestTypeRemoveProfile, map[string]any{}); res.Status != protocol.StatusCommandFormatError {
		t.Errorf("RemoveProfile without Identifier: %s", res.Status)
	}
}

// FuzzParseProfile: whatever InstallProfile carries, the parser returns a
// profile or an error, never panics.
func FuzzParseProfile(f *testing.F) {
	f.Add(restrictionsProfile(f, "com.example.f", map[string]any{"forceDelayedSoftwareUpdates": true, "enforcedSoftwareUpdateDelay": 12}))
	f.Add([]byte("<plist><dict><key>PayloadContent</key><string>x</string></dict></plist>"))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := readProfile(append([]byte{}, data...))
		if err == nil && (p == nil || p.identifier == "") {
			t.Fatalf("accepted without an identifier: %+v", p)
		}
	})
}

// TestAutomaticDownloadAndQ9: with AutomaticActions.Download AlwaysOn a
// Mac downloads the newest minor update on its own. Quirk Q9 then skips
// the install action of a ScheduleOSUpdate for it; without the quirk the
// command takes the download over. With Download AlwaysOff there is no
// automatic download, so Q9 cannot happen.
func TestAutomaticDownloadAndQ9(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		download string
		q9       bool
		want     string
	}{
		{"AlwaysOn", true, "auto-update prepared/server; schedule Idle; not installed"},
		{"AlwaysOn", false, "auto-update prepared/server; schedule Installing; installed by mdm"},
		{"AlwaysOff", true, "none; schedule Downloading; installed by mdm"},
	} {
		t.Run(fmt.Sprint(tt.download, "/q9=", tt.q9), func(t *testing.T) {
			t.Parallel()
			c := mac15
			if tt.q9 {
				c.quirks = []string{update.QuirkAutoDownloadConflict}
			}
			r := newRig(t, c)
			r.d.applyUpdateSettings([]ddm.Declaration{settingsDecl(t, "s", map[string]any{"AutomaticActions": map[string]any{"Download": tt.download}})})
			r.clk.Advance(time.Hour)
			st := r.d.UpdateState()
			var parts []string
			if st.Phase == PhaseNone {
				parts = append(parts, "none")
			} else {
				parts = append(parts, fmt.Sprintf("%s %s/%s", st.Reason, st.Phase, st.WaitingFor))
			}
			r.d.mu.Lock()
			rel, _ := r.d.recommendedLocked() // the newest minor: what automatic download takes
			key := rel.ProductKey(r.d.installedVersion(), r.d.id.BuildVersion)
			r.d.mu.Unlock()
			res := r.schedule(item("InstallASAP", "ProductKey", key))
			us, _ := res.Fields["UpdateResults"].([]any)
			status := "?"
			if len(us) == 1 {
				status = fmt.Sprint(us[0].(map[string]any)["Status"])
			}
			parts = append(parts, "schedule "+status)
			r.clk.Advance(3 * time.Hour)
			if h := r.d.UpdateHistory(); len(h) == 1 {
				parts = append(parts, "installed by "+h[0].Reason)
			} else {
				parts = append(parts, "not installed")
			}
			if have := strings.Join(parts, "; "); have != tt.want {
				t.Errorf("have %s\nwant %s", have, tt.want)
			}
		})
	}
}

// TestAutomaticInstall: InstallOSUpdates AlwaysOn installs the newest minor
// update the night after it is prepared (install-reason auto-update), but
// not while a deferral hides it.
func TestAutomaticInstall(t *testing.T) {
	t.Parallel()
	for _, deferred := range []bool{false, true} {
		t.Run(fmt.Sprint("deferred=", deferred), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, ios26)
			p := map[string]any{"AutomaticActions": map[string]any{"InstallOSUpdates": "AlwaysOn"}}
			if deferred {
				p["Deferrals"] = map[string]any{"CombinedPeriodInDays": 90}
			}
			r.d.applyUpdateSettings([]ddm.Declaration{settingsDecl(t, "s", p)})
			r.clk.Advance(48 * time.Hour)
			h := r.d.UpdateHistory()
			if deferred {
				if len(h) != 0 || r.d.UpdateState().Phase != PhaseNone {
					t.Errorf("a deferred update installed automatically: %+v %+v", h, r.d.UpdateState())
				}
				return
			}
			if len(h) != 1 || h[0].Reason != InstallReasonAutoUpdate {
				t.Fatalf("history %+v, want one auto-update", h)
			}
			local := h[0].InstalledAt.In(r.d.Identity().Location())
			if local.Hour() >= 6 && local.Hour() < 22 {
				t.Errorf("installed at %v local, want at night", local)
			}
		})
	}
}

// The profile commands' seeds for FuzzCommandPayload, kept here so the
// profile code's tests stay together.
func init() {
	b, err := plist.Marshal(map[string]any{"PayloadType": "Configuration", "PayloadIdentifier": "com.example.fuzz", "PayloadUUID": "U",
		"PayloadVersion": 1, "PayloadContent": []any{map[string]any{"PayloadType": PayloadTypeRestrictions,
			"PayloadIdentifier": "com.example.fuzz.r", "PayloadUUID": "R", "PayloadVersion": 1,
			"forceDelayedSoftwareUpdates": true, "enforcedSoftwareUpdateDelay": 14}}})
	if err != nil {
		panic(err)
	}
	fuzzPayloads[RequestTypeInstallProfile] = []map[string]any{{"Payload": b}}
	fuzzPayloads[RequestTypeRemoveProfile] = []map[string]any{{"Identifier": "com.example.fuzz"}}
}

// TestSignedProfile: a signed profile installs; one whose content was
// changed after signing does not.
func TestSignedProfile(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Profile signer"},
		NotBefore: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	content := restrictionsProfile(t, "com.example.signed", map[string]any{"forceDelayedSoftwareUpdates": true, "enforcedSoftwareUpdateDelay": 7})
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	signed, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, mac15)
	if res := r.send(RequestTypeInstallProfile, map[string]any{"Payload": signed}); res.Status != protocol.StatusAcknowledged {
		t.Fatalf("signed profile: %s %+v", res.Status, res.ErrorChain)
	}
	if s := r.d.UpdateSettings(); s.MinorDays != 7 {
		t.Errorf("settings %+v", s)
	}
	tampered := bytes.Replace(signed, []byte("<integer>7</integer>"), []byte("<integer>9</integer>"), 1)
	if bytes.Equal(tampered, signed) {
		t.Fatal("the test could not tamper with the content")
	}
	if res := r.send(RequestTypeInstallProfile, map[string]any{"Payload": tampered}); res.Status != protocol.StatusError || res.ErrorChain[0].ErrorCode != 4000 {
		t.Errorf("tampered profile: %s %+v, want error 4000", res.Status, res.ErrorChain)
	}
}

// TestRemovingADeferralStartsAutomaticDownload: with automatic download on,
// an update a profile defers is not downloaded; removing the profile lets
// the device take it at once, as installing one re-evaluates at once, not
// at the next daily sync.
func TestRemovingADeferralStartsAutomaticDownload(t *testing.T) {
	t.Parallel()
	r := newRig(t, mac15)
	res := r.send(RequestTypeInstallProfile, map[string]any{"Payload": restrictionsProfile(t, "com.example.defer",
		map[string]any{"forceDelayedSoftwareUpdates": true, "enforcedSoftwareUpdateDelay": 90})})
	if res.Status != protocol.StatusAcknowledged {
		t.Fatalf("InstallProfile: %s %+v", res.Status, res.ErrorChain)
	}
	r.d.mu.Lock()
	rel, _ := r.d.recommendedLocked()
	r.d.mu.Unlock()
	if !r.clk.Now().Before(rel.PostingDate.AddDate(0, 0, 90)) {
		t.Fatalf("the test needs the newest minor update (%s) released less than 90 days ago", rel.ProductVersion)
	}
	r.d.applyUpdateSettings([]ddm.Declaration{settingsDecl(t, "s", map[string]any{"AutomaticActions": map[string]any{"Download": "AlwaysOn"}})})
	r.clk.Advance(time.Minute)
	if st := r.d.UpdateState(); st.Phase != PhaseNone {
		t.Fatalf("a deferred update was downloaded: %+v", st)
	}
	if res := r.send(RequestTypeRemoveProfile, map[string]any{"Identifier": "com.example.defer"}); res.Status != protocol.StatusAcknowledged {
		t.Fatalf("RemoveProfile: %s %+v", res.Status, res.ErrorChain)
	}
	r.clk.Advance(time.Minute)
	if st := r.d.UpdateState(); st.Phase == PhaseNone || st.Reason != "auto-update" {
		t.Errorf("after the deferral was removed: %+v, want the automatic download under way", st)
	}
}
