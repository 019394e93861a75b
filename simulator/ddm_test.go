package simulator_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
)

var (
	subscriptions = map[string]any{"StatusItems": []any{
		map[string]any{"Name": "softwareupdate.install-state"},
		map[string]any{"Name": "device.operating-system.version"},
		map[string]any{"Name": "device.operating-system.build-version"},
	}}
	enforcement = map[string]any{"TargetOSVersion": "26.2", "TargetLocalDateTime": "2026-01-12T18:00:00"}
	settings    = map[string]any{"Notifications": false, "Deferrals": map[string]any{"MajorPeriodInDays": 30}}
)

func activation(configs ...string) map[string]any {
	list := make([]any, len(configs))
	for i, c := range configs {
		list[i] = c
	}
	return map[string]any{"StandardConfigurations": list}
}

// baseServer holds an activation of status subscriptions and an enforcement
// declaration, and the server's capabilities.
func baseServer(t *testing.T) *ddmServer {
	srv := newDDMServer(t)
	srv.put(ddm.TypeActivationSimple, "act", "a1", activation("subs", "su"))
	srv.put(ddm.TypeStatusSubscriptions, "subs", "s1", subscriptions)
	srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, "su", "e1", enforcement)
	srv.put(ddm.TypeServerCapabilities, "caps", "c1", map[string]any{"Version": "1.0.0", "SupportedFeatures": map[string]any{}})
	return srv
}

// TestDDMSequence walks one Mac through a server's life on the manual
// clock: first enable, nothing new, a declaration added, a ServerToken
// changed, a declaration removed, one answered 404, and the 24-hour safety
// sync, checking each exchange and each report.
func TestDDMSequence(t *testing.T) {
	t.Parallel()
	srv := baseServer(t)
	d, clk := newDDMDevice(t, srv, macSequoia)
	id := d.Identity()

	// First enable: tokens, items, every declaration, one report with the
	// implicit items and the subscribed ones.
	srv.enqueueDM(false)
	connect(t, d)
	checkLog(t, "first enable", srv.take(), []string{"tokens", "declaration-items",
		"declaration/activation/act", "declaration/configuration/subs", "declaration/configuration/su",
		"declaration/management/caps", "status", "result Acknowledged"})
	rep := srv.lastReport()
	wantItems := []string{"device.operating-system.build-version", "device.operating-system.version",
		"management.client-capabilities", "management.declarations", "softwareupdate.install-state"}
	if have := itemNames(rep); !slices.Equal(have, wantItems) {
		t.Errorf("first report items %q, want %q", have, wantItems)
	}
	if rep["FullReport"] != false {
		t.Errorf("first report FullReport = %v, want false", rep["FullReport"])
	}
	if v := path(rep, "StatusItems", "device", "operating-system", "version"); v != id.OSVersion {
		t.Errorf("reported version %v, want %s", v, id.OSVersion)
	}
	// The declaration for 26.2 (not in the catalog on that day) waits.
	if v := path(rep, "StatusItems", "softwareupdate", "install-state"); v != "waiting" {
		t.Errorf("install-state %v", v)
	}
	decls := declarations(t, rep)
	for kind, want := range map[string][]string{
		"activations":    {"act:true:valid"},
		"configurations": {"su:true:valid", "subs:true:valid"},
		"management":     {"caps:true:valid"},
		"assets":         nil,
	} {
		if have := summary(decls[kind]); !slices.Equal(have, want) {
			t.Errorf("first report %s %q, want %q", kind, have, want)
		}
	}
	caps := path(rep, "StatusItems", "management", "client-capabilities", "supported-payloads", "declarations", "configurations")
	if !slices.Contains(toStrings(caps), ddm.TypeSoftwareUpdateEnforcementSpecific) ||
		!slices.Contains(toStrings(caps), ddm.TypeSoftwareUpdateSettings) {
		t.Errorf("client-capabilities configurations %v", caps)
	}
	if !d.DDMEnabled() || len(d.DDMActiveConfigurations(ddm.TypeSoftwareUpdateEnforcementSpecific)) != 1 ||
		!simulator.DDMActiveLockedForTest(d, ddm.TypeSoftwareUpdateEnforcementSpecific) {
		t.Fatalf("enabled %v, active enforcement %v", d.DDMEnabled(), d.DDMActiveConfigurations(ddm.TypeSoftwareUpdateEnforcementSpecific))
	}

	// Nothing new: tokens only, no report.
	srv.enqueueDM(false)
	connect(t, d)
	checkLog(t, "unchanged", srv.take(), []string{"tokens", "result Acknowledged"})

	// A declaration added, with tokens in the command: no tokens request,
	// only the new declaration and the activation that now names it.
	srv.put(ddm.TypeSoftwareUpdateSettings, "set", "st1", settings)
	srv.put(ddm.TypeActivationSimple, "act", "a2", activation("subs", "su", "set"))
	srv.enqueueDM(true)
	connect(t, d)
	checkLog(t, "declaration added", srv.take(), []string{"declaration-items", "declaration/activation/act",
		"declaration/configuration/set", "status", "result Acknowledged"})
	rep = srv.lastReport()
	if have := itemNames(rep); !slices.Equal(have, []string{"management.declarations"}) {
		t.Errorf("added: report items %q, want only management.declarations", have)
	}
	if have := summary(declarations(t, rep)["configurations"]); !slices.Equal(have, []string{"set:true:valid", "su:true:valid", "subs:true:valid"}) {
		t.Errorf("added: configurations %q", have)
	}

	// A ServerToken changed: only that declaration is fetched again.
	srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, "su", "e2",
		map[string]any{"TargetOSVersion": "26.3", "TargetLocalDateTime": "2026-02-01T09:00:00"})
	srv.enqueueDM(false)
	connect(t, d)
	checkLog(t, "token changed", srv.take(), []string{"tokens", "declaration-items", "declaration/configuration/su",
		"status", "result Acknowledged"})
	for _, c := range declarations(t, srv.lastReport())["configurations"] {
		if c.Identifier == "su" && c.ServerToken != "e2" {
			t.Errorf("su reported at token %s, want e2", c.ServerToken)
		}
	}
	if p, _ := ddm.DecodePayload[ddm.SoftwareUpdateEnforcementSpecific](
		d.DDMActiveConfigurations(ddm.TypeSoftwareUpdateEnforcementSpecific)[0]); p.TargetOSVersion != "26.3" {
		t.Errorf("active enforcement target %q, want 26.3", p.TargetOSVersion)
	}

	// A declaration no longer listed is removed without a request.
	srv.remove("set")
	srv.put(ddm.TypeActivationSimple, "act", "a3", activation("subs", "su"))
	srv.enqueueDM(false)
	connect(t, d)
	checkLog(t, "removed", srv.take(), []string{"tokens", "declaration-items", "declaration/activation/act",
		"status", "result Acknowledged"})
	if have := summary(declarations(t, srv.lastReport())["configurations"]); !slices.Equal(have, []string{"su:true:valid", "subs:true:valid"}) {
		t.Errorf("removed: configurations %q", have)
	}

	// A listed declaration the server answers with 404 is removed too, and
	// the activation that names it reports the missing configuration.
	srv.listOnly("configuration", "su", "e3")
	srv.enqueueDM(false)
	connect(t, d)
	checkLog(t, "404", srv.take(), []string{"tokens", "declaration-items", "declaration/configuration/su",
		"status", "result Acknowledged"})
	decls = declarations(t, srv.lastReport())
	if have := summary(decls["configurations"]); !slices.Equal(have, []string{"subs:true:valid"}) {
		t.Errorf("404: configurations %q", have)
	}
	if have := summary(decls["activations"]); !slices.Equal(have, []string{"act:true:valid:Error.MissingConfigurations"}) {
		t.Errorf("404: activations %q", have)
	}
	if n := len(d.DDMActiveConfigurations(ddm.TypeSoftwareUpdateEnforcementSpecific)); n != 0 ||
		simulator.DDMActiveLockedForTest(d, ddm.TypeSoftwareUpdateEnforcementSpecific) {
		t.Errorf("%d enforcement declarations still active", n)
	}

	// 24 hours of device time: the safety sync and a full report with
	// every item the device reports.
	before := srv.reportCount()
	clk.Advance(simulator.DDMSafetySyncInterval - time.Second)
	checkLog(t, "before 24 h", srv.take(), nil)
	clk.Advance(time.Second)
	checkLog(t, "24 h", srv.take(), []string{"tokens", "status"})
	rep = srv.lastReport()
	if srv.reportCount() != before+1 || rep["FullReport"] != true {
		t.Errorf("safety sync: %d reports, FullReport %v", srv.reportCount()-before, rep["FullReport"])
	}
	if have := itemNames(rep); !slices.Equal(have, wantItems) {
		t.Errorf("full report items %q, want %q", have, wantItems)
	}
	clk.Advance(simulator.DDMSafetySyncInterval)
	checkLog(t, "48 h", srv.take(), []string{"tokens", "status"})
	if st := d.DDMStats(); st.FullReports != 2 || st.Removed != 2 || st.SyncErrors != 0 || st.Rejected != 0 {
		t.Errorf("stats %+v", st)
	}
}

func toStrings(v any) []string {
	arr, _ := v.([]any)
	var out []string
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestDDMPredicate: an activation whose predicate is false activates
// nothing, and reports why; once the server fixes the predicate the
// configurations activate and the subscribed items are reported.
func TestDDMPredicate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		predicate string
		active    bool
	}{
		{"family true", "@status(device.operating-system.family) == 'macOS'", true},
		{"family false", "@status(device.operating-system.family) == 'iOS'", false},
		{"model and property", "@status(device.model.family) == 'Mac' AND @property(ring) IN {'pilot', 'beta'}", true},
		{"property false", "@property(ring) == 'production'", false},
		{"version string order", "@status(device.operating-system.version) BEGINSWITH '15.'", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newDDMServer(t)
			srv.put(ddm.TypeProperties, "props", "p1", map[string]any{"ring": "pilot"})
			act := activation("subs")
			act["Predicate"] = tt.predicate
			srv.put(ddm.TypeActivationSimple, "act", "a1", act)
			srv.put(ddm.TypeStatusSubscriptions, "subs", "s1", subscriptions)
			d, _ := newDDMDevice(t, srv, macSequoia)
			srv.enqueueDM(false)
			connect(t, d)
			srv.take()
			rep := srv.lastReport()
			decls := declarations(t, rep)
			wantAct := "act:true:valid"
			wantSubs := "subs:true:valid"
			wantItems := []string{"device.operating-system.build-version", "device.operating-system.version",
				"management.client-capabilities", "management.declarations", "softwareupdate.install-state"}
			if !tt.active {
				wantAct, wantSubs = "act:false:valid:Info.Predicate", "subs:false:valid"
				wantItems = []string{"management.client-capabilities", "management.declarations"}
			}
			if have := summary(decls["activations"]); !slices.Equal(have, []string{wantAct}) {
				t.Errorf("activations %q, want %q", have, wantAct)
			}
			if have := summary(decls["configurations"]); !slices.Equal(have, []string{wantSubs}) {
				t.Errorf("configurations %q, want %q", have, wantSubs)
			}
			if have := summary(decls["management"]); !slices.Equal(have, []string{"props:true:valid"}) {
				t.Errorf("management %q", have)
			}
			if have := itemNames(rep); !slices.Equal(have, wantItems) {
				t.Errorf("items %q, want %q", have, wantItems)
			}
			if tt.active {
				return
			}
			// The server fixes the predicate.
			act["Predicate"] = "TRUEPREDICATE"
			srv.put(ddm.TypeActivationSimple, "act", "a2", act)
			srv.enqueueDM(false)
			connect(t, d)
			checkLog(t, "fixed", srv.take(), []string{"tokens", "declaration-items", "declaration/activation/act", "status", "result Acknowledged"})
			rep = srv.lastReport()
			if have := itemNames(rep); !slices.Equal(have, []string{"device.operating-system.build-version",
				"device.operating-system.version", "management.declarations", "softwareupdate.install-state"}) {
				t.Errorf("after activation: items %q", have)
			}
			if have := summary(declarations(t, rep)["configurations"]); !slices.Equal(have, []string{"subs:true:valid"}) {
				t.Errorf("after activation: configurations %q", have)
			}
		})
	}
}

// TestDDMInvalidDeclarations: each broken declaration is reported invalid
// with Apple's reason code, and the good ones beside it still work.
func TestDDMInvalidDeclarations(t *testing.T) {
	t.Parallel()
	srv := newDDMServer(t)
	srv.put(ddm.TypeActivationSimple, "act", "a1", activation("subs", "su-bad", "passcode", "notjson", "unknownkey", "tz"))
	srv.put(ddm.TypeStatusSubscriptions, "subs", "s1", subscriptions)
	srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, "su-bad", "e1", map[string]any{"TargetOSVersion": "26.2"})
	srv.put("com.apple.configuration.passcode.settings", "passcode", "p1", map[string]any{"MinimumLength": 6})
	srv.putRaw("configuration", "notjson", "n1", []byte(`{"Type":`))
	srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, "unknownkey", "u1",
		map[string]any{"TargetOSVersion": "26.2", "TargetLocalDateTime": "2026-01-12T18:00:00", "Force": true})
	srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, "tz", "t1",
		map[string]any{"TargetOSVersion": "26.2", "TargetLocalDateTime": "2026-01-12T18:00:00+01:00"})
	badPred := activation("subs")
	badPred["Predicate"] = "@status(device.model.family) === 'Mac'"
	srv.put(ddm.TypeActivationSimple, "act-bad", "b1", badPred)
	srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, "wrong-list", "w1", enforcement)
	srv.mu.Lock()
	srv.decls[len(srv.decls)-1].kind = "management" // listed with the wrong kind
	srv.mu.Unlock()
	srv.putRaw("configuration", "other-id", "o1", []byte(`{"Type":"com.apple.configuration.softwareupdate.settings","Identifier":"not-other-id","ServerToken":"o1","Payload":{}}`))

	d, _ := newDDMDevice(t, srv, macSequoia)
	srv.enqueueDM(false)
	connect(t, d)
	decls := declarations(t, srv.lastReport())
	want := map[string][]string{
		"activations": {"act:true:valid", "act-bad:false:invalid:Error.UnableToParsePredicate"},
		"configurations": {
			"notjson:false:invalid:Error.InvalidPayload",
			"other-id:false:invalid:Error.InvalidPayload",
			"passcode:false:invalid:Error.UnknownDeclarationType",
			"su-bad:false:invalid:Error.ConfigurationCannotBeDeserialized",
			"subs:true:valid",
			"tz:false:invalid:Error.ConfigurationCannotBeDeserialized",
			"unknownkey:false:invalid:Error.UnknownPayloadKeys",
		},
		"management": {"wrong-list:false:invalid:Error.InvalidPayload"},
	}
	for kind, w := range want {
		if have := summary(decls[kind]); !slices.Equal(have, w) {
			t.Errorf("%s\nhave %q\nwant %q", kind, have, w)
		}
	}
	for _, c := range decls["configurations"] {
		if c.Identifier == "passcode" && (len(c.Reasons) != 1 || c.Reasons[0].Details["UnknownDeclarationType"] != "com.apple.configuration.passcode.settings") {
			t.Errorf("passcode reasons %+v", c.Reasons)
		}
		if c.Identifier == "unknownkey" && c.Reasons[0].Details["UnknownPayloadKeys"] == nil {
			t.Errorf("unknownkey reasons %+v", c.Reasons)
		}
	}
	if st := d.DDMStats(); st.SyncErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestDDMSubscribedItemErrors: items the device cannot report come back
// in Errors, once, and again in full reports.
func TestDDMSubscribedItemErrors(t *testing.T) {
	t.Parallel()
	srv := newDDMServer(t)
	srv.put(ddm.TypeActivationSimple, "act", "a1", activation("subs"))
	srv.put(ddm.TypeStatusSubscriptions, "subs", "s1", map[string]any{"StatusItems": []any{
		map[string]any{"Name": "softwareupdate.device-id"}, // macOS 15 and later
		map[string]any{"Name": "device.colour"},
		map[string]any{"Name": "device.model.number"},
	}})
	d, clk := newDDMDevice(t, srv, macSonoma)
	srv.enqueueDM(false)
	connect(t, d)
	rep := srv.lastReport()
	errs, _ := rep["Errors"].([]any)
	var have []string
	for _, e := range errs {
		have = append(have, path(e, "StatusItem").(string)+":"+path(e, "Reasons").([]any)[0].(map[string]any)["Code"].(string))
	}
	want := []string{"device.colour:" + ddm.ReasonUnknownStatusItem, "softwareupdate.device-id:" + ddm.ReasonStatusItemNotSupported}
	if !slices.Equal(have, want) {
		t.Errorf("errors %q, want %q", have, want)
	}
	if v := path(rep, "StatusItems", "device", "model", "number"); v != d.Identity().Model.ModelNumber {
		t.Errorf("model number %v", v)
	}
	// An unrelated change: the errors are not repeated.
	srv.put(ddm.TypeServerCapabilities, "caps", "c1", map[string]any{"Version": "1.0.0", "SupportedFeatures": map[string]any{}})
	srv.enqueueDM(false)
	connect(t, d)
	if errs, _ := srv.lastReport()["Errors"].([]any); len(errs) != 0 {
		t.Errorf("errors repeated: %v", errs)
	}
	clk.Advance(simulator.DDMSafetySyncInterval)
	if errs, _ := srv.lastReport()["Errors"].([]any); len(errs) != 2 {
		t.Errorf("full report errors %v, want 2", errs)
	}
}

// TestDDMOSChange: the device's status items follow its OS; an update
// re-evaluates predicates and reports what changed, client capabilities
// included.
func TestDDMOSChange(t *testing.T) {
	t.Parallel()
	srv := newDDMServer(t)
	act := activation("subs")
	act["Predicate"] = "@status(device.operating-system.version) BEGINSWITH '15.'"
	srv.put(ddm.TypeActivationSimple, "act", "a1", act)
	srv.put(ddm.TypeStatusSubscriptions, "subs", "s1", map[string]any{"StatusItems": []any{
		map[string]any{"Name": "device.operating-system.version"},
		map[string]any{"Name": "device.operating-system.build-version"},
		map[string]any{"Name": "device.operating-system.supplemental.build-version"},
		map[string]any{"Name": "device.operating-system.supplemental.extra-version"},
		map[string]any{"Name": "device.operating-system.marketing-name"},
		map[string]any{"Name": "softwareupdate.device-id"},
	}})
	d, _ := newDDMDevice(t, srv, macSonoma)
	srv.enqueueDM(false)
	connect(t, d)
	rep := srv.lastReport()
	if have := summary(declarations(t, rep)["activations"]); !slices.Equal(have, []string{"act:false:valid:Info.Predicate"}) {
		t.Fatalf("on 14: activations %q", have)
	}
	srv.take()

	ctx := context.Background()
	simulator.SetOSForTest(d, "15.7.1", "24G231", "24G231a", "(a)")
	if err := d.DDMStatusChanged(ctx); err != nil {
		t.Fatal(err)
	}
	checkLog(t, "os change", srv.take(), []string{"status"})
	rep = srv.lastReport()
	for _, tt := range []struct {
		keys []string
		want any
	}{
		{[]string{"device", "operating-system", "version"}, "15.7.1"},
		{[]string{"device", "operating-system", "build-version"}, "24G231"},
		{[]string{"device", "operating-system", "supplemental", "build-version"}, "24G231a"},
		{[]string{"device", "operating-system", "supplemental", "extra-version"}, "a"},
		{[]string{"device", "operating-system", "marketing-name"}, "Sequoia"},
		{[]string{"softwareupdate", "device-id"}, d.Identity().Model.SoftwareUpdateDeviceID},
	} {
		if have := path(rep, append([]string{"StatusItems"}, tt.keys...)...); have != tt.want {
			t.Errorf("%v: have %v, want %v", tt.keys, have, tt.want)
		}
	}
	caps := toStrings(path(rep, "StatusItems", "management", "client-capabilities", "supported-payloads", "status-items"))
	if !slices.Contains(caps, "softwareupdate.device-id") {
		t.Errorf("client-capabilities after 15: %v", caps)
	}
	if errs, _ := rep["Errors"].([]any); len(errs) != 0 {
		t.Errorf("errors %v", errs)
	}
	// Nothing changed since: nothing sent.
	if err := d.DDMStatusChanged(ctx); err != nil {
		t.Fatal(err)
	}
	checkLog(t, "no change", srv.take(), nil)
}

// recordingHandler is what the enforcement engine will plug in: it records
// every Apply and refuses targets at or below the installed OS.
type recordingHandler struct {
	mu    sync.Mutex
	calls [][]string
	state string
}

func (h *recordingHandler) Apply(_ context.Context, d *simulator.Device, active []ddm.Declaration) map[string][]ddm.StatusReason {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []string
	out := map[string][]ddm.StatusReason{}
	h.state = "none"
	for _, decl := range active {
		ids = append(ids, decl.Identifier+"@"+decl.ServerToken)
		p, err := ddm.DecodePayload[ddm.SoftwareUpdateEnforcementSpecific](decl)
		if err != nil || p.TargetOSVersion <= d.Identity().OSVersion {
			out[decl.Identifier] = []ddm.StatusReason{{Code: ddm.ReasonConfigurationIsInvalid,
				Description: "The target is not newer than the installed OS."}}
			continue
		}
		h.state = "downloading"
	}
	h.calls = append(h.calls, ids)
	return out
}

func (h *recordingHandler) installState(*simulator.Device) any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}

// TestDDMConfigurationHandler: the hook the enforcement engine uses. Apply
// sees the active set when it changes (and only then), its refusals are
// reported invalid, its status items are reported, and removing the last
// declaration applies the empty set.
func TestDDMConfigurationHandler(t *testing.T) {
	t.Parallel()
	h := &recordingHandler{state: "none"}
	types := simulator.DefaultDDMTypes()
	types.HandleConfiguration(ddm.TypeSoftwareUpdateEnforcementSpecific, h)
	types.HandleStatusItem(simulator.StatusItem{Name: "softwareupdate.install-state", Value: h.installState})
	handlers := simulator.DefaultHandlers()
	handlers.Handle(simulator.RequestTypeDeclarativeManagement, simulator.DeclarativeManagementHandler(types))

	srv := baseServer(t)
	srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, "old", "o1", map[string]any{"TargetOSVersion": "15.0", "TargetLocalDateTime": "2026-01-12T18:00:00"})
	srv.put(ddm.TypeActivationSimple, "act", "a2", activation("subs", "su", "old"))
	d, _ := newDDMDevice(t, srv, macSequoia, simulator.WithHandlers(handlers))
	srv.enqueueDM(false)
	connect(t, d)
	rep := srv.lastReport()
	if have := summary(declarations(t, rep)["configurations"]); !slices.Equal(have, []string{
		"old:false:invalid:Error.ConfigurationIsInvalid", "su:true:valid", "subs:true:valid"}) {
		t.Errorf("configurations %q", have)
	}
	if v := path(rep, "StatusItems", "softwareupdate", "install-state"); v != "downloading" {
		t.Errorf("install-state %v, want the handler's", v)
	}

	// Unrelated change: no new Apply.
	srv.put(ddm.TypeOrganizationInfo, "org", "g1", map[string]any{"Name": "Example"})
	srv.enqueueDM(false)
	connect(t, d)
	// The handler's state changes on its own: reported alone.
	h.mu.Lock()
	h.state = "prepared"
	h.mu.Unlock()
	srv.take()
	if err := d.DDMStatusChanged(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkLog(t, "handler state", srv.take(), []string{"status"})
	if have := itemNames(srv.lastReport()); !slices.Equal(have, []string{"softwareupdate.install-state"}) {
		t.Errorf("handler change reported %q", have)
	}
	// The OS changes: Apply again, with the same declarations.
	simulator.SetOSForTest(d, "15.7.3", "24G419", "", "")
	if err := d.DDMStatusChanged(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Both enforcement declarations go.
	srv.remove("su")
	srv.remove("old")
	srv.put(ddm.TypeActivationSimple, "act", "a3", activation("subs"))
	srv.enqueueDM(false)
	connect(t, d)
	h.mu.Lock()
	defer h.mu.Unlock()
	want := [][]string{{"old@o1", "su@e1"}, {"old@o1", "su@e1"}, nil}
	if len(h.calls) != len(want) {
		t.Fatalf("Apply calls %q, want %q", h.calls, want)
	}
	for i := range want {
		if !slices.Equal(h.calls[i], want[i]) {
			t.Errorf("Apply %d: %q, want %q", i, h.calls[i], want[i])
		}
	}
}

func TestDDMPlatforms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		spec        deviceSpec
		wantFull    bool // the FullReport key exists
		wantFamily  string
		wantEnforce string // summary of the enforcement declaration
		wantSubs    string
	}{
		{"macOS 15", macSequoia, true, "macOS", "su:true:valid", "subs:true:valid"},
		{"macOS 14", macSonoma, true, "macOS", "su:true:valid", "subs:true:valid"},
		{"macOS 13", macVentura, false, "macOS", "su:false:invalid:Error.ConfigurationNotSupported", "subs:true:valid"},
		// Apple's schema lists only supervised and user enrollments for
		// macOS: an unsupervised Mac gets no configurations at all.
		{"macOS 15 unsupervised", deviceSpec{"Mac14,2", "15.7.1", "24G231", false}, true, "macOS",
			"su:false:invalid:Error.ConfigurationNotSupported", "subs:false:invalid:Error.ConfigurationNotSupported"},
		{"iOS 18 unsupervised", iPhone18, true, "iOS", "su:true:valid", "subs:true:valid"},
		{"iPadOS 17", deviceSpec{"iPad13,18", "17.7.2", "21H221", true}, true, "iPadOS", "su:true:valid", "subs:true:valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newDDMServer(t)
			srv.put(ddm.TypeActivationSimple, "act", "a1", activation("su", "subs"))
			srv.put(ddm.TypeStatusSubscriptions, "subs", "s1", map[string]any{"StatusItems": []any{
				map[string]any{"Name": "device.operating-system.family"}}})
			srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, "su", "e1", map[string]any{"TargetOSVersion": "26.2", "TargetLocalDateTime": "2026-01-12T18:00:00"})
			d, _ := newDDMDevice(t, srv, tt.spec)
			srv.enqueueDM(false)
			connect(t, d)
			rep := srv.lastReport()
			if _, ok := rep["FullReport"]; ok != tt.wantFull {
				t.Errorf("FullReport present %v, want %v", ok, tt.wantFull)
			}
			if have := summary(declarations(t, rep)["configurations"]); !slices.Equal(have, []string{tt.wantEnforce, tt.wantSubs}) {
				t.Errorf("enforcement %q, want %q", have, tt.wantEnforce)
			}
			caps := toStrings(path(rep, "StatusItems", "management", "client-capabilities", "supported-payloads", "declarations", "configurations"))
			if slices.Contains(caps, ddm.TypeSoftwareUpdateEnforcementSpecific) != (tt.wantEnforce == "su:true:valid") {
				t.Errorf("client-capabilities configurations %q", caps)
			}
			if have := path(rep, "StatusItems", "device", "operating-system", "family"); tt.wantSubs == "subs:true:valid" && have != tt.wantFamily {
				t.Errorf("family %v, want %s", have, tt.wantFamily)
			}
		})
	}

	// No DDM before macOS 13: the command is unknown.
	srv := newDDMServer(t)
	d, _ := newDDMDevice(t, srv, macMonterey)
	srv.enqueueDM(false)
	connect(t, d)
	checkLog(t, "macOS 12", srv.take(), []string{"result Error"})
	if d.DDMEnabled() {
		t.Error("DDM enabled on macOS 12")
	}
}

// TestDDMResubscribe: an item unsubscribed and subscribed again is reported
// again even though its value never changed.
func TestDDMResubscribe(t *testing.T) {
	t.Parallel()
	srv := newDDMServer(t)
	srv.put(ddm.TypeActivationSimple, "act", "a1", activation("subs"))
	srv.put(ddm.TypeStatusSubscriptions, "subs", "s1", subscriptions)
	d, _ := newDDMDevice(t, srv, macSequoia)
	srv.enqueueDM(false)
	connect(t, d)
	for i, tt := range []struct {
		items []any
		want  []string
	}{
		{[]any{map[string]any{"Name": "device.model.family"}}, []string{"device.model.family", "management.declarations"}},
		{subscriptions["StatusItems"].([]any), []string{"device.operating-system.build-version", "device.operating-system.version",
			"management.declarations", "softwareupdate.install-state"}},
	} {
		srv.put(ddm.TypeStatusSubscriptions, "subs", fmt.Sprintf("s%d", i+2), map[string]any{"StatusItems": tt.items})
		srv.enqueueDM(false)
		connect(t, d)
		if have := itemNames(srv.lastReport()); !slices.Equal(have, tt.want) {
			t.Errorf("step %d: items %q, want %q", i, have, tt.want)
		}
	}
	if have := d.DDMSubscriptions(); len(have) != 3 {
		t.Errorf("subscriptions %q", have)
	}
}
