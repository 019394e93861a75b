package simulator

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// TestAvailableOSUpdates: the list per platform and OS family, with Apple's
// product-key formats; every answer is checked against the schema for the
// device's OS version (rig.send).
func TestAvailableOSUpdates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    rigConfig
		want string
	}{
		{"macOS 13: full-installer majors", rigConfig{model: "Mac14,2", version: "13.7.8", token: true},
			"_MACOS_26.6.2 _MACOS_15.7.9 _MACOS_14.8.9"},
		{"macOS 14: OTA majors and a minor", rigConfig{model: "Mac14,2", version: "14.8.8", token: true},
			"MSU_UPDATE_25G83_patch_26.6.2_major MSU_UPDATE_24G830_patch_15.7.9_major MSU_UPDATE_23J631_patch_14.8.9_minor"},
		{"macOS 15 Intel", mac15, "MSU_UPDATE_25G83_patch_26.6.2_major MSU_UPDATE_24G830_patch_15.7.9_minor"},
		{"macOS 15 Intel, too old for 26", rigConfig{model: "MacBookPro15,2", version: "15.7.8"}, "MSU_UPDATE_24G830_patch_15.7.9_minor"},
		{"macOS 26 with a security response", rigConfig{model: "Mac14,2", version: "26.3.1", token: true},
			"MSU_UPDATE_25G83_patch_26.6.2_minor MSU_UPDATE_25D771280a_patch_26.3.1_rsr"},
		{"macOS 26 up to date", rigConfig{model: "Mac14,2", version: "26.6.2", token: true}, ""},
		{"iOS lists only the newest", rigConfig{model: "iPhone15,2", version: "26.3.1"}, "iOSUpdate23G83"},
		{"iOS 17 before security responses", rigConfig{model: "iPhone15,2", version: "17.7.2"}, "iOSUpdate23G83"},
		{"iPadOS 18", ipad18, "iOSUpdate23G83"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tt.c)
			if have := availableKeys(r); have != tt.want {
				t.Errorf("have %q, want %q", have, tt.want)
			}
			res := r.send(RequestAvailableOSUpdates, nil)
			for _, it := range res.Fields["AvailableOSUpdates"].([]any) {
				m := it.(map[string]any)
				_, bt := m["RequiresBootstrapToken"]
				if want := r.d.Identity().Model.AppleSilicon; bt != want {
					t.Errorf("%s: RequiresBootstrapToken present %v, want %v", m["ProductKey"], bt, want)
				}
				if strings.HasSuffix(m["ProductKey"].(string), "_rsr") && m["SupplementalOSVersionExtra"] != "(a)" {
					t.Errorf("security response without its extra: %v", m)
				}
			}
		})
	}
}

// TestAvailableCache: macOS answers from its last scan until a
// ScheduleOSUpdateScan finishes (or a restart); iOS scans every time.
func TestAvailableCache(t *testing.T) {
	t.Parallel()
	post := func(r *rig, version, build string) {
		id := r.d.Identity()
		r.d.env.catalog.Post(catalog.Release{Platform: id.Model.Platform, ProductVersion: version, Build: build,
			SupportedDevices: []string{id.Model.SoftwareUpdateDeviceID}}, r.clk.Now())
	}
	t.Run("macOS", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, mac26)
		if have := availableKeys(r); have != "MSU_UPDATE_25G83_patch_26.6.2_minor" {
			t.Fatalf("first list: %s", have)
		}
		post(r, "26.6.3", "25G90")
		r.clk.Advance(time.Hour)
		if have := availableKeys(r); have != "MSU_UPDATE_25G83_patch_26.6.2_minor" {
			t.Errorf("a new release shows before a scan: %s", have)
		}
		res := r.send(RequestScheduleOSUpdateScan, map[string]any{"Force": false})
		if res.Fields["ScanInitiated"] != true {
			t.Fatalf("scan: %v", res.Fields)
		}
		r.clk.Advance(5 * time.Minute)
		if have := availableKeys(r); have != "MSU_UPDATE_25G83_patch_26.6.2_minor" {
			t.Errorf("the background scan finished early: %s", have)
		}
		r.clk.Advance(5 * time.Minute)
		if have := availableKeys(r); have != "MSU_UPDATE_25G90_patch_26.6.3_minor" {
			t.Errorf("after the scan: %s", have)
		}
		post(r, "26.6.4", "25G95")
		r.send(RequestScheduleOSUpdateScan, map[string]any{"Force": true})
		r.clk.Advance(30 * time.Second)
		if have := availableKeys(r); have != "MSU_UPDATE_25G95_patch_26.6.4_minor" {
			t.Errorf("after a forced scan: %s", have)
		}
		// After the update's restart the Mac detects updates again.
		r.schedule(item("InstallASAP", "ProductKey", "MSU_UPDATE_25G95_patch_26.6.4_minor"))
		post(r, "26.6.5", "25G97")
		r.clk.Advance(2 * time.Hour)
		if have := availableKeys(r); have != "MSU_UPDATE_25G97_patch_26.6.5_minor" {
			t.Errorf("after the restart: %s", have)
		}
	})
	t.Run("iOS", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, ios26)
		availableKeys(r)
		post(r, "26.6.2", "23G90")
		if have := availableKeys(r); have != "iOSUpdate23G90" {
			t.Errorf("iOS scans inline: %s", have)
		}
	})
}

// TestInformationTellsTheTruth: DeviceInformation and SecurityInfo follow
// the updates.
func TestInformationTellsTheTruth(t *testing.T) {
	t.Parallel()
	queries := []any{"OSVersion", "BuildVersion", "SupplementalBuildVersion", "SupplementalOSVersionExtra", "SoftwareUpdateDeviceID"}
	info := func(r *rig) map[string]any {
		res := r.send("DeviceInformation", map[string]any{"Queries": queries})
		return res.Fields["QueryResponses"].(map[string]any)
	}
	r := newRig(t, rigConfig{model: "iPhone15,2", version: "26.3.1"})
	before := info(r)
	if before["OSVersion"] != "26.3.1" || before["SupplementalBuildVersion"] != "23D8133" || before["SoftwareUpdateDeviceID"] != "iPhone15,2" {
		t.Errorf("before: %v", before)
	}
	r.schedule(item("InstallASAP", "ProductKey", "iOSUpdate23D771330a"))
	r.clk.Advance(time.Hour)
	after := info(r)
	if after["OSVersion"] != "26.3.1" || after["BuildVersion"] != "23D8133" || after["SupplementalBuildVersion"] != "23D771330a" ||
		after["SupplementalOSVersionExtra"] != "(a)" {
		t.Errorf("after the security response: %v", after)
	}
	if have := availableKeys(r); have != "iOSUpdate23G83" {
		t.Errorf("the applied response is offered again: %s", have)
	}
	r.schedule(item("InstallASAP", "ProductKey", "iOSUpdate23G83"))
	r.clk.Advance(time.Hour)
	last := info(r)
	if last["OSVersion"] != "26.6.1" || last["BuildVersion"] != "23G83" || last["SupplementalBuildVersion"] != "23G83" {
		t.Errorf("after the update: %v", last)
	}
	if _, ok := last["SupplementalOSVersionExtra"]; ok {
		t.Errorf("the response's extra survived a new base version: %v", last)
	}

	for _, tt := range []struct {
		c    rigConfig
		want string
	}{
		{mac26, "allowed"},
		{with(mac26, func(c *rigConfig) { c.unsupervised = true }), "disallowed"},
		{mac15, "not supported"},
	} {
		r := newRig(t, tt.c)
		sec := r.send("SecurityInfo", nil).Fields["SecurityInfo"].(map[string]any)
		if sec["BootstrapTokenAllowedForAuthentication"] != tt.want || sec["BootstrapTokenRequiredForSoftwareUpdate"] != (tt.want != "not supported") {
			t.Errorf("%s supervised=%v: %v", tt.c.model, !tt.c.unsupervised, sec)
		}
	}
}

// TestIOSScanTimeout: an iPhone that cannot reach Apple answers after dmd's
// 120 s scan timeout, with an error.
func TestIOSScanTimeout(t *testing.T) {
	t.Parallel()
	r := newRig(t, with(ios26, func(c *rigConfig) { c.env.NoNetwork = true }))
	done := make(chan string)
	go func() {
		res := r.send(RequestAvailableOSUpdates, nil)
		done <- fmt.Sprint(res.Status, " ", res.ErrorChain)
	}()
	if err := r.clk.BlockUntil(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(119 * time.Second)
	select {
	case have := <-done:
		t.Fatalf("answered before the timeout: %q", have)
	default:
	}
	r.clk.Advance(time.Second)
	if have := <-done; !strings.HasPrefix(have, "Error [{-1001 NSURLErrorDomain") {
		t.Errorf("have %q, want a timeout", have)
	}
}

// TestDetectionInterval: with a periodic check configured, a Mac's list
// refreshes without a scan.
func TestDetectionInterval(t *testing.T) {
	t.Parallel()
	r := newRig(t, with(mac26, func(c *rigConfig) { c.timings = func(t *update.Timings) { t.DetectionInterval = 24 * time.Hour } }))
	availableKeys(r)
	id := r.d.Identity()
	r.d.env.catalog.Post(catalog.Release{Platform: catalog.MacOS, ProductVersion: "26.6.3", Build: "25G90",
		SupportedDevices: []string{id.Model.SoftwareUpdateDeviceID}}, r.clk.Now())
	if have := availableKeys(r); have != "MSU_UPDATE_25G83_patch_26.6.2_minor" {
		t.Errorf("refreshed early: %s", have)
	}
	r.clk.Advance(24 * time.Hour)
	if have := availableKeys(r); have != "MSU_UPDATE_25G90_patch_26.6.3_minor" {
		t.Errorf("after a day: %s", have)
	}
}
