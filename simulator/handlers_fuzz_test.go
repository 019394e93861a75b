package simulator

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// fuzzPayloads are realistic payloads of every default command, as servers
// send them: the seeds the fuzzer mutates.
var fuzzPayloads = map[string][]map[string]any{
	"DeviceInformation": {
		{"Queries": []string{"UDID", "OSVersion", "BuildVersion", "SerialNumber", "OSUpdateSettings", "AvailableDeviceCapacity"}},
		{},
	},
	"SecurityInfo":             {nil},
	"ProfileList":              {{"ManagedOnly": true}},
	"InstalledApplicationList": {{"Identifiers": []string{"com.apple.Safari"}, "ManagedAppsOnly": false}},
	"CertificateList":          {{"ManagedOnly": false}},
	"RestartDevice":            {{"NotifyUser": true}, {"RebuildKernelCache": true, "KextPaths": []string{"/Library/Extensions/x.kext"}}},
	"ShutDownDevice":           {nil},
	"ScheduleOSUpdate": {
		{"Updates": []map[string]any{{"InstallAction": "InstallASAP", "ProductVersion": "26.1"}}},
		{"Updates": []map[string]any{{"InstallAction": "InstallLater", "ProductKey": "MSU_UPDATE_24G231_patch_15.7.2", "MaxUserDeferrals": 3}}},
		{"Updates": []map[string]any{{"InstallAction": "InstallForceRestart", "ProductVersion": "18.7", "Priority": "High"}}},
		{"Updates": []map[string]any{{"InstallAction": "DownloadOnly"}}},
	},
	"OSUpdateStatus":       {nil},
	"AvailableOSUpdates":   {nil},
	"ScheduleOSUpdateScan": {{"Force": true}, {"Force": false}},
	"DeclarativeManagement": {
		{"Data": base64.StdEncoding.EncodeToString([]byte(`{"SyncTokens":{"DeclarationsToken":"t1","Timestamp":"2026-01-05T10:00:00Z"}}`))},
		{},
	},
}

// FuzzCommandPayload: whatever payload a server sends with a command, each
// handler of DefaultHandlers answers with a result, never panics (a panic
// would come back as the Internal error result), never hangs, and leaves a
// device that still answers DeviceInformation about itself. The first
// input picks the handler and the platform.
func FuzzCommandPayload(f *testing.F) {
	types := DefaultHandlers().RequestTypes()
	for i, rt := range types {
		payloads, ok := fuzzPayloads[rt]
		if !ok {
			f.Fatalf("no seed payload for %s: add one to fuzzPayloads", rt)
		}
		for _, p := range payloads {
			b, err := plist.Marshal(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), b)
			f.Add(uint8(i+len(types)), b) // the other platform
		}
	}
	f.Add(uint8(0), []byte("not a plist"))
	f.Fuzz(func(t *testing.T, pick uint8, payload []byte) {
		rt := types[int(pick)%len(types)]
		cfg := rigConfig{model: "Mac14,2", version: "15.7.1"}
		if int(pick)/len(types)%2 == 1 {
			cfg = rigConfig{model: "iPhone15,2", version: "18.6"}
		}
		r := newRig(t, cfg)
		before := r.d.Identity()

		var fields map[string]any
		body := payload
		if err := plist.Unmarshal(payload, &fields); err == nil {
			if b, err := protocol.NewCommand("fuzz-1", rt, fields); err == nil {
				body = b
			}
		}
		res := fuzzHandle(t, r, body)
		if !res.Status.Valid() || res.Status == protocol.StatusIdle {
			t.Fatalf("%s: answered with status %q", rt, res.Status)
		}
		if _, err := res.Marshal(); err != nil {
			t.Fatalf("%s: result does not marshal: %v", rt, err)
		}

		// The device is still itself and still answers.
		query, err := protocol.NewCommand("fuzz-2", "DeviceInformation", map[string]any{"Queries": []string{"UDID", "SerialNumber"}})
		if err != nil {
			t.Fatal(err)
		}
		after := fuzzHandle(t, r, query)
		if after.Status != protocol.StatusAcknowledged {
			t.Fatalf("after %s: DeviceInformation answered %s %+v", rt, after.Status, after.ErrorChain)
		}
		id := r.d.Identity()
		if id.UDID != before.UDID || id.SerialNumber != before.SerialNumber || id.Model != before.Model {
			t.Fatalf("after %s: the device is %s/%s, was %s/%s", rt, id.UDID, id.SerialNumber, before.UDID, before.SerialNumber)
		}
	})
}

// fuzzHandle runs one command through the rig's device, moving its manual
// clock on while the handler waits on it (an iPhone's inline scan, a
// restart), and fails on a panic or a hang.
func fuzzHandle(t *testing.T, r *rig, body []byte) *protocol.Result {
	t.Helper()
	done := make(chan *protocol.Result, 1)
	go func() {
		res, _ := r.d.handle(context.Background(), r.enr, body)
		done <- res
	}()
	deadline := time.After(30 * time.Second) // a hang guard, not a timing
	for {
		select {
		case res := <-done:
			if res == nil {
				t.Fatal("no result")
			}
			for _, e := range res.ErrorChain {
				if e.ErrorCode == 12000 && strings.HasPrefix(e.LocalizedDescription, "Internal error") {
					t.Fatalf("the handler panicked: %+v", e)
				}
			}
			return res
		case <-deadline:
			t.Fatal("the handler did not answer")
		case <-time.After(time.Millisecond):
			r.clk.Advance(time.Minute)
		}
	}
}
