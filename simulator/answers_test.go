package simulator

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/schemacheck"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// Answers that follow the device's platform, OS and state, as transcripts
// in the devices' words (testdata/answers/*.golden, -update-answers to
// rewrite). Every Acknowledged answer goes through the rig's check against
// Apple's schema before it is written down.

var updateAnswers = flag.Bool("update-answers", false, "rewrite testdata/answers/*.golden")

// transcript collects exchanges for one golden file.
type transcript struct {
	t *testing.T
	b strings.Builder
}

func (tr *transcript) note(format string, args ...any) {
	fmt.Fprintf(&tr.b, format+"\n", args...)
}

// exchange sends one command through r and writes the command and the
// device's answer down.
func (tr *transcript) exchange(r *rig, requestType string, payload map[string]any) *protocol.Result {
	tr.t.Helper()
	res := r.send(requestType, payload)
	tr.write(r, requestType, payloadText(payload), res)
	return res
}

func payloadText(payload map[string]any) string {
	keys := make([]string, 0, len(payload))
	for k := range payload {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var args []string
	for _, k := range keys {
		args = append(args, fmt.Sprintf("%s=%v", k, payload[k]))
	}
	return strings.Join(args, " ")
}

func (tr *transcript) write(r *rig, requestType, payload string, res *protocol.Result) {
	tr.note("+%v → %s %s", r.elapsed(), requestType, payload)
	tr.note("  ← %s", res.Status)
	for _, e := range res.ErrorChain {
		tr.note("    ErrorChain: %s %d %q", e.ErrorDomain, e.ErrorCode, e.LocalizedDescription)
	}
	var lines []string
	flatten("", res.Fields, &lines)
	slices.Sort(lines)
	for _, l := range lines {
		tr.note("    %s", l)
	}
}

// flatten renders a decoded plist value as path = value lines.
func flatten(path string, v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 && path != "" {
			*out = append(*out, path+" = {}")
		}
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			flatten(p, e, out)
		}
	case []any:
		if len(x) == 0 {
			*out = append(*out, path+" = []")
		}
		for i, e := range x {
			flatten(fmt.Sprintf("%s[%d]", path, i), e, out)
		}
	case []byte:
		*out = append(*out, fmt.Sprintf("%s = <%d bytes>", path, len(x)))
	default:
		*out = append(*out, fmt.Sprintf("%s = %v", path, x))
	}
}

// check compares the transcript with its golden file.
func (tr *transcript) check(name string) {
	tr.t.Helper()
	path := filepath.Join("testdata", "answers", name+".golden")
	have := []byte(tr.b.String())
	if *updateAnswers {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tr.t.Fatal(err)
		}
		if err := os.WriteFile(path, have, 0o644); err != nil {
			tr.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tr.t.Fatalf("%v (run with -update-answers)", err)
	}
	if !bytes.Equal(have, want) {
		tr.t.Errorf("%s: the transcript changed (-update-answers rewrites it)\nhave:\n%s\nwant:\n%s", path, have, want)
	}
}

// newAnswerRig is a rig whose device has the network addresses the rig's
// hand-made identity leaves out.
func newAnswerRig(t *testing.T, c rigConfig) *rig {
	r := newRig(t, c)
	r.d.mu.Lock()
	r.d.id.WiFiMAC, r.d.id.BluetoothMAC = "f0:18:98:12:34:56", "f0:18:98:12:34:57"
	if r.d.id.IsMac() {
		r.d.id.EthernetMAC = "3c:07:54:65:43:21"
	}
	r.d.mu.Unlock()
	return r
}

// allQueries is every query of Apple's DeviceInformation schema.
func allQueries(t *testing.T) []any {
	t.Helper()
	s, err := schemacheck.For("DeviceInformation")
	if err != nil {
		t.Fatal(err)
	}
	var qs []any
	for _, k := range s.PayloadKeys[0].Subkeys[0].Subkeys {
		qs = append(qs, k.Name)
	}
	return qs
}

// TestDeviceInformationFollowsThePlatform: asked every query Apple's schema
// has, each device answers those its platform, OS version and model have,
// and nothing else.
func TestDeviceInformationFollowsThePlatform(t *testing.T) {
	t.Parallel()
	queries := allQueries(t)
	tr := &transcript{t: t}
	for _, tt := range []struct {
		c             rigConfig
		has, hasNot   []string
		batteryReport bool
	}{
		{c: rigConfig{model: "iPhone15,2", version: "26.6.1"},
			has:    []string{"TimeZone", "IsCloudBackupEnabled", "ModelNumber", "BatteryLevel", "IsMultiUser"},
			hasNot: []string{"HasBattery", "ProvisioningUDID", "IsAppleSilicon", "EthernetMAC", "OSUpdateSettings", "HostName"}},
		{c: rigConfig{model: "iPad12,1", version: "17.7.2"},
			has:    []string{"TimeZone", "ModelNumber", "BatteryLevel"},
			hasNot: []string{"HasBattery", "IMEI", "ModemFirmwareVersion", "EthernetMAC"}},
		{c: rigConfig{model: "MacBookPro16,1", version: "15.7.9"}, // Intel
			has:    []string{"HasBattery", "BatteryLevel", "ProvisioningUDID", "EthernetMAC", "OSUpdateSettings", "IsActivationLockSupported"},
			hasNot: []string{"ModelNumber", "TimeZone", "IsCloudBackupEnabled", "IsDeviceLocatorServiceEnabled", "IsMultiUser", "IMEI", "iTunesStoreAccountIsActive"}},
		{c: rigConfig{model: "Mac14,7", version: "12.7.6"}, // before macOS 13.3
			has:    []string{"IsAppleSilicon", "SoftwareUpdateDeviceID"},
			hasNot: []string{"HasBattery", "BatteryLevel", "ModelNumber", "SupplementalBuildVersion", "TimeZone"}},
		{c: rigConfig{model: "Mac14,12", version: "26.6.2"}, // a desktop
			has:    []string{"HasBattery", "BatteryLevel", "ModelNumber", "SupplementalBuildVersion"},
			hasNot: []string{"TimeZone", "IsCloudBackupEnabled"}},
	} {
		r := newAnswerRig(t, tt.c)
		tr.note("# %s %s", tt.c.model, tt.c.version)
		res := r.send("DeviceInformation", map[string]any{"Queries": queries})
		tr.write(r, "DeviceInformation", "Queries=(every query of Apple's schema)", res)
		qr, _ := res.Fields["QueryResponses"].(map[string]any)
		id := r.d.Identity()
		for q := range qr {
			if !queryAnswered(q, &id, AccessAll) {
				t.Errorf("%s %s answers %s, which Apple's schema does not give it", tt.c.model, tt.c.version, q)
			}
		}
		for _, q := range tt.has {
			if _, ok := qr[q]; !ok {
				t.Errorf("%s %s does not answer %s", tt.c.model, tt.c.version, q)
			}
		}
		for _, q := range tt.hasNot {
			if v, ok := qr[q]; ok {
				t.Errorf("%s %s answers %s = %v", tt.c.model, tt.c.version, q, v)
			}
		}
	}
	tr.check("deviceinformation")
}

// TestDeviceInformationRights: each query needs the right Apple's schema
// names; UDID needs none.
func TestDeviceInformationRights(t *testing.T) {
	t.Parallel()
	queries := []any{"UDID", "AwaitingConfiguration", "DeviceName", "WiFiMAC", "iTunesStoreAccountIsActive"}
	for _, tt := range []struct {
		rights int
		want   string
	}{
		{0, "AwaitingConfiguration UDID"},
		{AccessQueryDeviceInfo, "AwaitingConfiguration DeviceName UDID"},
		{AccessQueryDeviceInfo | AccessQueryNetworkInfo, "AwaitingConfiguration DeviceName UDID WiFiMAC"},
		{AccessAll, "AwaitingConfiguration DeviceName UDID WiFiMAC iTunesStoreAccountIsActive"},
	} {
		r := newAnswerRig(t, rigConfig{model: "iPhone15,2", version: "26.6.1"})
		r.enr.accessRights = tt.rights
		r.d.mu.Lock()
		r.d.enr = r.enr
		r.d.mu.Unlock()
		res := r.send("DeviceInformation", map[string]any{"Queries": queries})
		qr, _ := res.Fields["QueryResponses"].(map[string]any)
		var have []string
		for k := range qr {
			have = append(have, k)
		}
		slices.Sort(have)
		if res.Status != protocol.StatusAcknowledged || strings.Join(have, " ") != tt.want {
			t.Errorf("rights %d: %s [%s], want [%s]", tt.rights, res.Status, strings.Join(have, " "), tt.want)
		}
	}
}

// TestSecurityInfoFollowsThePlatform: an iPhone reports the passcode its
// user has and only the ManagementStatus key iOS has; a Mac its own keys.
func TestSecurityInfoFollowsThePlatform(t *testing.T) {
	t.Parallel()
	tr := &transcript{t: t}
	for _, tt := range []struct {
		c        rigConfig
		passcode any
	}{
		{rigConfig{model: "iPhone15,2", version: "26.6.1", user: update.UserProfile{Passcode: true}}, true},
		{rigConfig{model: "iPad12,1", version: "17.7.2"}, false},
		{rigConfig{model: "Mac14,12", version: "26.6.2"}, nil},
		{rigConfig{model: "MacBookPro16,1", version: "15.7.9", unsupervised: true}, nil},
	} {
		r := newRig(t, tt.c)
		tr.note("# %s %s passcode %v supervised %v", tt.c.model, tt.c.version, tt.c.user.Passcode, !tt.c.unsupervised)
		res := tr.exchange(r, "SecurityInfo", nil)
		info, _ := res.Fields["SecurityInfo"].(map[string]any)
		if info["PasscodePresent"] != tt.passcode {
			t.Errorf("%s: PasscodePresent %v, want %v", tt.c.model, info["PasscodePresent"], tt.passcode)
		}
		mgmt, _ := info["ManagementStatus"].(map[string]any)
		if _, ok := mgmt["EnrolledViaDEP"]; ok != r.d.Identity().IsMac() {
			t.Errorf("%s: ManagementStatus %v", tt.c.model, mgmt)
		}
	}
	tr.check("securityinfo")
}

var _ = time.Second

// TestFormatErrorsInTheDevicesWords: a command with a key of the wrong type
// gets CommandFormatError naming the key and what it must hold, never the
// decoder's Go types.
func TestFormatErrorsInTheDevicesWords(t *testing.T) {
	t.Parallel()
	tr := &transcript{t: t}
	r := newAnswerRig(t, rigConfig{model: "Mac14,12", version: "26.6.2"})
	cases := []struct {
		requestType, body, want string
	}{
		{"DeviceInformation", `<key>Queries</key><integer>42</integer>`, "“Queries”"},
		{"DeviceInformation", `<key>Queries</key><array><string>UDID</string><true/></array>`, "“Queries[1]”"},
		{"RestartDevice", `<key>NotifyUser</key><string>yes</string>`, "“NotifyUser”"},
		{"RestartDevice", `<key>KextPaths</key><dict/>`, "“KextPaths”"},
		{"ScheduleOSUpdate", `<key>Updates</key><array><dict><key>InstallAction</key><string>Default</string></dict><dict><key>InstallAction</key><integer>1</integer></dict></array>`, "“Updates[1].InstallAction”"},
		{"ScheduleOSUpdate", `<key>Updates</key><array><dict><key>MaxUserDeferrals</key><real>2.5</real></dict></array>`, "“Updates[0].MaxUserDeferrals”"},
		{"InstalledApplicationList", `<key>Identifiers</key><string>com.apple.Safari</string>`, "“Identifiers”"},
		{"DeclarativeManagement", `<key>Data</key><string>e30=</string>`, "“Data”"},
		{"DeviceInformation", `<key>Queries</key><array><string>UDID</string>`, "could not be read"},
	}
	for i, c := range cases {
		body := []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict>`+
			`<key>CommandUUID</key><string>bad-%d</string><key>Command</key><dict><key>RequestType</key><string>%s</string>%s</dict></dict></plist>`,
			i, c.requestType, c.body))
		res := r.sendRaw(c.requestType, body)
		tr.write(r, c.requestType, c.body, res)
		if res.Status != protocol.StatusCommandFormatError || len(res.ErrorChain) != 1 {
			t.Errorf("%s %s: %s %v", c.requestType, c.body, res.Status, res.ErrorChain)
			continue
		}
		msg := res.ErrorChain[0].LocalizedDescription
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s %s: %q does not say %s", c.requestType, c.body, msg, c.want)
		}
		for _, leak := range []string{"Go value", "unmarshal", "[]", "int64", "float64", "struct", "plist:", "protocol:"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s %s: %q leaks %q", c.requestType, c.body, msg, leak)
			}
		}
	}
	tr.check("formaterror")
}

// upAgain moves the rig's clock timer by timer until the device is
// reachable again, and says when and how it came back.
func (tr *transcript) upAgain(r *rig) {
	tr.t.Helper()
	if r.d.PoweredOn() {
		tr.note("+%v still running, polls %d", r.elapsed(), r.pollCount())
		return
	}
	tr.note("+%v unreachable", r.elapsed())
	for !r.d.PoweredOn() && r.clk.AdvanceToNext() {
	}
	tr.note("+%v back, polls %d", r.elapsed(), r.pollCount())
}

func (r *rig) pollCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.polls
}

// TestRestartDeviceRestarts: the device acknowledges, is unreachable for
// its boot time on the virtual clock, and polls when it is back; an iPhone
// with a passcode only once its user unlocks it; NotifyUser on a Mac only
// asks, and the user decides; an unsupervised iPhone refuses.
func TestRestartDeviceRestarts(t *testing.T) {
	t.Parallel()
	tr := &transcript{t: t}
	for _, tt := range []struct {
		c        rigConfig
		payload  map[string]any
		restarts int
	}{
		{rigConfig{model: "Mac14,12", version: "26.6.2"}, nil, 1},
		{rigConfig{model: "iPhone15,2", version: "26.6.1"}, nil, 1},
		{rigConfig{model: "iPhone15,2", version: "26.6.1", user: update.UserProfile{Passcode: true, ResponseDelay: 20 * time.Minute}}, nil, 1},
		{rigConfig{model: "iPhone15,2", version: "26.6.1", unsupervised: true}, nil, 0},
		{rigConfig{model: "Mac14,12", version: "26.6.2"}, map[string]any{"NotifyUser": true}, 1},
		{rigConfig{model: "Mac14,12", version: "26.6.2", user: update.UserProfile{Response: update.UserDismisses}}, map[string]any{"NotifyUser": true}, 0},
		{rigConfig{model: "Mac14,12", version: "26.6.2", user: update.UserProfile{DoNotDisturb: true}}, map[string]any{"NotifyUser": true}, 0},
		{rigConfig{model: "Mac14,12", version: "26.6.2", token: true}, map[string]any{"RebuildKernelCache": true}, 1},
	} {
		r := newAnswerRig(t, tt.c)
		tr.note("# %s %s user %+v", tt.c.model, tt.c.version, tt.c.user)
		tr.exchange(r, "RestartDevice", tt.payload)
		tr.upAgain(r)
		if tt.payload["NotifyUser"] == true {
			// The user's answer comes later on the clock.
			for r.d.PoweredOn() && r.clk.AdvanceToNext() {
			}
			tr.upAgain(r)
		}
		r.mu.Lock()
		checkins := strings.Join(r.checkins, " ")
		r.mu.Unlock()
		if checkins != "" {
			tr.note("  check-ins: %s", checkins)
		}
		if have := r.d.Restarts(); have != tt.restarts {
			t.Errorf("%s %v: %d restarts, want %d", tt.c.model, tt.payload, have, tt.restarts)
		}
		if tt.restarts > 0 && r.pollCount() != 1 {
			t.Errorf("%s %v: %d polls after the restart, want 1", tt.c.model, tt.payload, r.pollCount())
		}
	}
	tr.check("restart")
}

// availableList renders an AvailableOSUpdates answer: "15.7.1 26.0.1".
func availableList(res *protocol.Result) string {
	items, _ := res.Fields["AvailableOSUpdates"].([]any)
	var vs []string
	for _, it := range items {
		vs = append(vs, fmt.Sprint(it.(map[string]any)["Version"]))
	}
	return strings.Join(vs, " ")
}

// TestAvailableHidesOnlyTheManaged: under an enforcement declaration, a
// Mac's AvailableOSUpdates leaves out the update the declaration manages
// and still lists the others (system.update.available.yaml).
func TestAvailableHidesOnlyTheManaged(t *testing.T) {
	t.Parallel()
	tr := &transcript{t: t}
	r := newAnswerRig(t, rigConfig{model: "MacBookPro16,1", version: "15.6"})
	before := tr.exchange(r, RequestAvailableOSUpdates, nil)
	declareForTest(r.d)
	deadline := r.clk.Now().Add(7 * 24 * time.Hour).In(r.d.Identity().Location()).Format(ddm.LocalDateTimeLayout)
	tr.note("# enforcement declaration: TargetOSVersion 15.7, TargetLocalDateTime %s", deadline)
	r.d.applyEnforcement([]ddm.Declaration{{Type: ddm.TypeSoftwareUpdateEnforcementSpecific, Identifier: "su", ServerToken: "t1",
		Payload: map[string]any{"TargetOSVersion": "15.7", "TargetLocalDateTime": deadline}}}, EnforcementOptions{})
	after := tr.exchange(r, RequestAvailableOSUpdates, nil)
	tr.check("available-managed")
	if have, want := availableList(before), "26.6.2 15.7.9"; have != want {
		t.Fatalf("before the declaration: %q, want %q", have, want)
	}
	if have, want := availableList(after), "26.6.2"; have != want {
		t.Errorf("under the declaration: %q, want %q (only the managed 15.7.9 left out)", have, want)
	}
}

// TestAnswersFollowTheSchemaEverywhere: for every model of the catalog on
// one release of every major it shipped, DeviceInformation (every query)
// and SecurityInfo pass Apple's schema for that OS version, and no query
// is answered that queryAnswered refuses.
func TestAnswersFollowTheSchemaEverywhere(t *testing.T) {
	t.Parallel()
	queries := allQueries(t)
	cat := catalog.Default()
	n := 0
	for _, m := range catalog.Models() {
		seen := map[int]bool{}
		for _, rel := range cat.ShippedBuilds(m) {
			major := rel.Version().Major
			if seen[major] {
				continue
			}
			seen[major] = true
			n++
			r := newAnswerRig(t, rigConfig{model: m.Identifier, version: rel.ProductVersion, build: rel.Build})
			qr, _ := r.send("DeviceInformation", map[string]any{"Queries": queries}).Fields["QueryResponses"].(map[string]any)
			id := r.d.Identity()
			for q := range qr {
				if !queryAnswered(q, &id, AccessAll) {
					t.Errorf("%s %s answers %s", m.Identifier, rel.ProductVersion, q)
				}
			}
			if len(qr) < 15 {
				t.Errorf("%s %s answers only %d queries", m.Identifier, rel.ProductVersion, len(qr))
			}
			r.send("SecurityInfo", nil)
		}
	}
	if n < 20 {
		t.Errorf("only %d model/major pairs checked", n)
	}
}

// TestNoTokenAskedWithoutTheCapability: a Mac enrolled with a server that
// does not escrow bootstrap tokens does not ask for one before rebuilding
// its kernel cache; with the capability it does.
func TestNoTokenAskedWithoutTheCapability(t *testing.T) {
	t.Parallel()
	for _, capable := range []bool{false, true} {
		r := newAnswerRig(t, rigConfig{model: "Mac14,12", version: "26.6.2", token: true})
		r.enr.bootstrapToken = capable
		r.d.mu.Lock()
		r.d.enr = r.enr
		r.d.mu.Unlock()
		r.send("RestartDevice", map[string]any{"RebuildKernelCache": true})
		r.mu.Lock()
		have := strings.Join(r.checkins, " ")
		r.mu.Unlock()
		want := ""
		if capable {
			want = "GetBootstrapToken"
		}
		if have != want {
			t.Errorf("capability %v: check-ins %q, want %q", capable, have, want)
		}
	}
}
