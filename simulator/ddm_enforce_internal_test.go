package simulator

import (
	"fmt"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/simulator/ddm"
)

// declareForTest makes an enforcement declaration active on the device, as
// a sync would, without a server.
func declareForTest(d *Device) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ddm = &ddmState{enr: d.enr, decls: map[string]*ddmDecl{"su": {
		parsedDecl: &parsedDecl{decl: ddm.Declaration{Type: ddm.TypeSoftwareUpdateEnforcementSpecific, Identifier: "su"}, kind: ddm.KindConfiguration},
		valid:      "valid", active: true,
	}}}
}

// TestEnforceLegacyCommands: while an enforcement declaration is active,
// ScheduleOSUpdate is ignored with an informational error, and
// OSUpdateStatus leaves the OS update out, and AvailableOSUpdates the
// managed one (update-behaviour.md B4.9).
func TestEnforceLegacyCommands(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigConfig{model: "MacBookPro16,1", version: "15.6"})
	r.send(RequestScheduleOSUpdateScan, map[string]any{"Force": true})
	r.clk.Advance(time.Minute)
	before := len(r.send(RequestAvailableOSUpdates, nil).Fields["AvailableOSUpdates"].([]any))
	if before == 0 {
		t.Fatal("no update available before the declaration")
	}
	if have := results(r.schedule(map[string]any{"ProductVersion": "15.7.9", "InstallAction": ActionDownloadOnly})); have != "DownloadOnly Downloading" {
		t.Fatalf("before the declaration: %s", have)
	}
	declareForTest(r.d)
	// This declaration targets nothing the catalog has: no update is the
	// managed one, and the list stays (TestAvailableHidesOnlyTheManaged).
	if n := len(r.send(RequestAvailableOSUpdates, nil).Fields["AvailableOSUpdates"].([]any)); n != before {
		t.Errorf("AvailableOSUpdates lists %d updates under a declaration that manages none, %d before", n, before)
	}
	if have := r.status(); have != "[]" {
		t.Errorf("OSUpdateStatus under a declaration: %s", have)
	}
	res := r.schedule(map[string]any{"ProductVersion": "15.7.9", "InstallAction": ActionInstallASAP})
	if have := results(res); have != "Error Idle +ErrorChain" {
		t.Errorf("ScheduleOSUpdate under a declaration: %s", have)
	}
	chain := res.Fields["UpdateResults"].([]any)[0].(map[string]any)["ErrorChain"].([]any)
	if code := chain[0].(map[string]any)["ErrorCode"]; fmt.Sprint(code) != fmt.Sprint(codeDeclarationActive) {
		t.Errorf("error code %v, want %d", code, codeDeclarationActive)
	}
}
