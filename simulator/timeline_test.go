package simulator

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/mockgdmf"
)

// TestReleasePostedMidRun: the catalog's timeline posts a release on day 3.
// The mock GDMF, serving the same catalog on the device's clock, lists it
// from day 3 and not before; the Mac offers it after its first scan from day
// 3, and not after a scan on day 1.
func TestReleasePostedMidRun(t *testing.T) {
	t.Parallel()
	r := newRig(t, mac26)
	id := r.d.Identity()
	day3 := r.start.Add(72 * time.Hour)
	r.d.env.catalog.Post(catalog.Release{Platform: catalog.MacOS, ProductVersion: "26.6.3", Build: "25G90", Public: true,
		SupportedDevices: []string{id.Model.SoftwareUpdateDeviceID}}, day3)
	gdmf := mockgdmf.NewServer(mockgdmf.WithCatalog(r.d.env.catalog), mockgdmf.WithNow(r.clk.Now))
	defer gdmf.Close()
	served := func() bool {
		t.Helper()
		resp, err := gdmf.Client().Get(gdmf.URL + "/v2/pmv")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc struct {
			AssetSets map[string][]struct{ Build string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		for _, a := range doc.AssetSets["macOS"] {
			if a.Build == "25G90" {
				return true
			}
		}
		return false
	}
	scan := func() string {
		r.send(RequestScheduleOSUpdateScan, map[string]any{"Force": true})
		r.clk.Advance(time.Minute)
		return availableKeys(r)
	}

	r.clk.Advance(24 * time.Hour)
	if served() {
		t.Error("GDMF lists the release on day 1")
	}
	if have := scan(); strings.Contains(have, "25G90") {
		t.Errorf("day 1 scan offers the release posted on day 3: %s", have)
	}
	r.clk.Set(day3.Add(time.Hour))
	if !served() {
		t.Error("GDMF does not list the release on day 3")
	}
	if have := availableKeys(r); strings.Contains(have, "25G90") {
		t.Errorf("offered before the next scan: %s", have)
	}
	if have := scan(); have != "MSU_UPDATE_25G90_patch_26.6.3_minor" {
		t.Errorf("day 3 scan: have %s, want the new release", have)
	}
}

// TestFutureMajorPostedAndExpired: a scenario posts iOS 27.0, a release
// the catalog has never held, on day 3. The iPhone offers it in
// AvailableOSUpdates (answers schema-checked by the rig) from then on, not
// before, and ScheduleOSUpdate of it is refused before and accepted after.
// A release past its ExpirationDate cannot be scheduled any more.
func TestFutureMajorPostedAndExpired(t *testing.T) {
	t.Parallel()
	r := newRig(t, ios26)
	id := r.d.Identity()
	day3 := r.start.Add(72 * time.Hour)
	r.d.env.catalog.Post(catalog.Release{Platform: catalog.IOS, ProductVersion: "27.0", Build: "24A330", Public: true,
		SupportedDevices: []string{id.Model.SoftwareUpdateDeviceID}}, day3)

	if have := availableKeys(r); have != "iOSUpdate23G83" {
		t.Errorf("day 0 offers %q, want 26.6.1 only", have)
	}
	if have := results(r.schedule(map[string]any{"ProductVersion": "27.0", "InstallAction": ActionDownloadOnly})); have != "Error Idle +ErrorChain" {
		t.Errorf("scheduling 27.0 before it is posted: %s", have)
	}
	r.clk.Set(day3.Add(time.Hour))
	if have := availableKeys(r); have != "iOSUpdate24A330" {
		t.Errorf("day 3 offers %q, want 27.0 (iOS lists one update, the newest)", have)
	}
	if have := results(r.schedule(map[string]any{"ProductVersion": "27.0", "InstallAction": ActionDownloadOnly})); have != "DownloadOnly Downloading" {
		t.Errorf("scheduling 27.0 once posted: %s", have)
	}

	// An iPhone on 26.5 around the day 26.5.2 (23F84) expires, 2026-11-04:
	// it can be scheduled the day before, not the day of. 26.6.1, the
	// newest 26 of Apple's newest answer, is renewed and still offered.
	sched := func(r *rig) string {
		return results(r.schedule(map[string]any{"ProductVersion": "26.5.2", "InstallAction": ActionDownloadOnly}))
	}
	r2 := newRig(t, rigConfig{model: "iPhone15,2", version: "26.5"})
	r2.clk.Set(time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC))
	if have := sched(r2); have != "DownloadOnly Downloading" {
		t.Errorf("scheduling 26.5.2 the day before it expires: %s", have)
	}
	r3 := newRig(t, rigConfig{model: "iPhone15,2", version: "26.5"})
	r3.clk.Set(time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC))
	if have := sched(r3); have != "Error Idle +ErrorChain" {
		t.Errorf("scheduling the expired 26.5.2: %s", have)
	}
	if have := availableKeys(r3); have != "iOSUpdate23G83" {
		t.Errorf("offered after 26.5.2 expired: %q, want the renewed 26.6.1", have)
	}
}
