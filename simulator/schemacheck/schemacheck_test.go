package schemacheck_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/simulator/schemacheck"
)

func TestEmbeddedSchemasParse(t *testing.T) {
	t.Parallel()
	want := []string{"AvailableOSUpdates", "DeviceInformation", "GetBootstrapToken", "OSUpdateStatus",
		"ScheduleOSUpdate", "ScheduleOSUpdateScan", "SecurityInfo", "SetBootstrapToken", "TokenUpdate"}
	have := strings.Join(schemacheck.RequestTypes(), ",")
	for _, w := range want {
		if !strings.Contains(","+have+",", ","+w+",") {
			t.Errorf("no embedded schema for %s; have %s", w, have)
		}
		if _, err := schemacheck.For(w); err != nil {
			t.Errorf("For(%s): %v", w, err)
		}
	}
	if _, err := schemacheck.For("Frobnicate"); !errors.Is(err, schemacheck.ErrNoSchema) {
		t.Errorf("For(Frobnicate): have %v, want ErrNoSchema", err)
	}
}

// ipadItem is a real iPadOS AvailableOSUpdates entry (FileWave capture).
func ipadItem() map[string]any {
	return map[string]any{
		"AllowsInstallLater": false, "Build": "19D52", "DownloadSize": uint64(667505362),
		"HumanReadableName": "iPadOS 15.3.1", "InstallSize": uint64(673185792), "IsCritical": false,
		"ProductKey": "iOSUpdate19D52", "ProductName": "iOS", "RestartRequired": true, "Version": "15.3.1",
	}
}

func TestCheckResponse(t *testing.T) {
	t.Parallel()
	ios15 := schemacheck.Target{OS: "iOS", Version: "15.3"}
	mac := schemacheck.Target{OS: "macOS", Version: "14.6"}
	with := func(edit func(m map[string]any)) map[string]any {
		m := ipadItem()
		edit(m)
		return m
	}
	tests := []struct {
		name     string
		request  string
		target   schemacheck.Target
		resp     map[string]any
		opts     []schemacheck.Option
		wantPath string // "" means valid
		wantText string
	}{
		{"real iPad item", "AvailableOSUpdates", ios15, map[string]any{"AvailableOSUpdates": []any{ipadItem()}}, nil, "", ""},
		{"unknown key", "AvailableOSUpdates", ios15,
			map[string]any{"AvailableOSUpdates": []any{with(func(m map[string]any) { m["Colour"] = "blue" })}}, nil,
			"AvailableOSUpdates[0].Colour", "unknown key"},
		{"wrong type", "AvailableOSUpdates", ios15,
			map[string]any{"AvailableOSUpdates": []any{with(func(m map[string]any) { m["DownloadSize"] = "big" })}}, nil,
			"AvailableOSUpdates[0].DownloadSize", "want an integer"},
		{"missing required", "AvailableOSUpdates", ios15,
			map[string]any{"AvailableOSUpdates": []any{with(func(m map[string]any) { delete(m, "Build") })}}, nil,
			"AvailableOSUpdates[0].Build", "required key missing"},
		{"key of another OS", "AvailableOSUpdates", ios15,
			map[string]any{"AvailableOSUpdates": []any{with(func(m map[string]any) { m["IsMajorOSUpdate"] = true })}}, nil,
			"AvailableOSUpdates[0].IsMajorOSUpdate", "not available on iOS"},
		{"key newer than the OS", "AvailableOSUpdates", ios15,
			map[string]any{"AvailableOSUpdates": []any{with(func(m map[string]any) { m["IsSecurityResponse"] = false })}}, nil,
			"AvailableOSUpdates[0].IsSecurityResponse", "not available before iOS 16.2"},
		{"required once introduced", "AvailableOSUpdates", schemacheck.Target{OS: "iOS", Version: "17.0"},
			map[string]any{"AvailableOSUpdates": []any{ipadItem()}}, nil,
			"AvailableOSUpdates[0].IsSecurityResponse", "required key missing"},
		{"outside rangelist", "ScheduleOSUpdate", mac,
			map[string]any{"UpdateResults": []any{map[string]any{"ProductKey": "k", "InstallAction": "Default", "Status": "Idle"}}}, nil,
			"UpdateResults[0].InstallAction", "is not one of"},
		{"real instead of integer", "OSUpdateStatus", mac,
			map[string]any{"OSUpdateStatus": []any{map[string]any{"ProductKey": "k", "IsDownloaded": false, "DownloadPercentComplete": 1, "Status": "Idle"}}}, nil,
			"OSUpdateStatus[0].DownloadPercentComplete", "want a real"},
		{"dates", "OSUpdateStatus", mac,
			map[string]any{"OSUpdateStatus": []any{map[string]any{"ProductKey": "k", "IsDownloaded": true, "DownloadPercentComplete": 1.0,
				"Status": "Idle", "NextScheduledInstall": time.Now(), "PastNotifications": []any{time.Now()}}}}, nil, "", ""},
		{"error chain is open", "ScheduleOSUpdate", mac,
			map[string]any{"UpdateResults": []any{map[string]any{"ProductKey": "k", "InstallAction": "Error", "Status": "Idle",
				"ErrorChain": []any{map[string]any{"ErrorCode": 1, "ErrorDomain": "x", "Whatever": true}}}}}, nil, "", ""},
		{"missing top-level", "ScheduleOSUpdate", mac, map[string]any{}, nil, "UpdateResults", "required key missing"},
		{"allowed missing", "AvailableOSUpdates", mac,
			map[string]any{"AvailableOSUpdates": []any{map[string]any{"ProductKey": "MSU_UPDATE_24G84_patch_14.6.1_minor", "HumanReadableName": "macOS Sonoma 14.6.1",
				"HumanReadableNameLocale": "en", "Version": "14.6.1", "Build": "23G93", "DownloadSize": 1, "AppIdentifiersToClose": []string{},
				"IsSecurityResponse": false}}},
			[]schemacheck.Option{schemacheck.AllowMissing("AvailableOSUpdates[].MetadataURL")}, "", ""},
		{"scan on iOS", "ScheduleOSUpdateScan", ios15, map[string]any{"ScanInitiated": true}, nil, "", "not available on iOS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := schemacheck.For(tt.request)
			if err != nil {
				t.Fatal(err)
			}
			err = s.CheckResponse(tt.target, tt.resp, tt.opts...)
			if tt.wantText == "" {
				if err != nil {
					t.Fatalf("have %v, want valid", err)
				}
				return
			}
			var vs schemacheck.Violations
			if !errors.As(err, &vs) {
				t.Fatalf("have %v, want Violations", err)
			}
			for _, v := range vs {
				if v.Path == tt.wantPath && strings.Contains(v.Problem, tt.wantText) {
					return
				}
			}
			t.Fatalf("have %v, want %s: %s", vs, tt.wantPath, tt.wantText)
		})
	}
}

func TestCheckResultAndCommand(t *testing.T) {
	t.Parallel()
	s, _ := schemacheck.For("ScheduleOSUpdate")
	mac := schemacheck.Target{OS: "macOS", Version: "15.6"}
	body, _ := plist.Marshal(map[string]any{"UDID": "x", "CommandUUID": "c", "Status": "Acknowledged",
		"UpdateResults": []any{map[string]any{"ProductKey": "k", "InstallAction": "InstallLater", "Status": "Downloading"}}})
	if err := s.CheckResult(mac, body); err != nil {
		t.Errorf("result: %v", err)
	}
	cmd, _ := plist.Marshal(map[string]any{"CommandUUID": "c", "Command": map[string]any{"RequestType": "ScheduleOSUpdate",
		"Updates": []any{map[string]any{"ProductKey": "k", "InstallAction": "InstallLater", "MaxUserDeferrals": 3, "Priority": "High"}}}})
	if err := s.CheckCommand(mac, cmd); err != nil {
		t.Errorf("command: %v", err)
	}
	if err := s.CheckCommand(schemacheck.Target{OS: "macOS", Version: "11.5"}, cmd); err == nil || !strings.Contains(err.Error(), "MaxUserDeferrals") {
		t.Errorf("MaxUserDeferrals on macOS 11.5: have %v", err)
	}
	bad, _ := plist.Marshal(map[string]any{"CommandUUID": "c", "Command": map[string]any{"RequestType": "ScheduleOSUpdate",
		"Updates": []any{map[string]any{"InstallAction": "Now!"}}}})
	if err := s.CheckCommand(mac, bad); err == nil || !strings.Contains(err.Error(), "Now!") {
		t.Errorf("bad InstallAction: have %v", err)
	}
}
