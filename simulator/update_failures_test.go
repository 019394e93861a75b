package simulator

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/simulator/update"
)

// errorChainOf renders the first UpdateResults entry's status and error:
// "DownloadFailed SUMacControllerError 7201".
func errorChainOf(t *testing.T, r *rig, item map[string]any) string {
	t.Helper()
	res := r.schedule(item)
	items, _ := res.Fields["UpdateResults"].([]any)
	if len(items) == 0 {
		return "no UpdateResults"
	}
	m := items[0].(map[string]any)
	s := fmt.Sprint(m["Status"])
	if chain, ok := m["ErrorChain"].([]any); ok && len(chain) > 0 {
		c := chain[0].(map[string]any)
		s += fmt.Sprintf(" %v %v", c["ErrorDomain"], c["ErrorCode"])
	}
	return s
}

// TestUpdateFailures: with WithFailures, a step that fails stops the
// update; OSUpdateStatus shows nothing in progress, the next
// ScheduleOSUpdate of that update answers with the failure's status and an
// ErrorChain in the platform's domain (every answer checked against
// Apple's schema by the rig), and the one after starts it again.
func TestUpdateFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      rigConfig
		failures update.Failures
		action   string
		after    time.Duration // long enough for the failing step
		want     string
	}{
		{"mac download", mac26, update.Failures{Download: 1}, ActionDownloadOnly, time.Hour, "DownloadFailed SUMacControllerError 7201"},
		{"mac prepare", mac26, update.Failures{Prepare: 1}, ActionDownloadOnly, time.Hour, "InstallFailed SUMacControllerError 7209"},
		{"mac apply", mac26, update.Failures{Apply: 1}, ActionInstallForceRestart, 2 * time.Hour, "InstallFailed SUMacControllerError 7209"},
		{"iphone download", ios26, update.Failures{Download: 1}, ActionDownloadOnly, time.Hour, "DownloadFailed com.apple.softwareupdateservices.errors 101"},
		{"iphone apply", ios26, update.Failures{Apply: 1}, ActionInstallASAP, 2 * time.Hour, "InstallFailed com.apple.softwareupdateservices.errors 109"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, with(tt.cfg, func(c *rigConfig) { c.failures = tt.failures }))
			before := r.d.Identity().OSVersion
			key := r.newestKey()
			if tt.action == ActionInstallASAP {
				// iOS downloads first, then installs on request.
				if have := results(r.schedule(item(ActionDownloadOnly, "ProductKey", key))); have != "DownloadOnly Downloading" {
					t.Fatalf("first schedule: %s", have)
				}
				r.clk.Advance(time.Hour)
			}
			if have := results(r.schedule(item(tt.action, "ProductKey", key))); strings.Contains(have, "ErrorChain") {
				t.Fatalf("schedule: %s", have)
			}
			r.clk.Advance(tt.after)
			if have := r.status(); have != "[]" {
				t.Errorf("OSUpdateStatus after the failure: %s, want nothing in progress", have)
			}
			if v := r.d.Identity().OSVersion; v != before {
				t.Errorf("the device runs %s after a failed update from %s", v, before)
			}
			if have := errorChainOf(t, r, item(tt.action, "ProductKey", key)); have != tt.want {
				t.Errorf("next ScheduleOSUpdate: %s, want %s", have, tt.want)
			}
			if have := results(r.schedule(item(tt.action, "ProductKey", key))); strings.Contains(have, "ErrorChain") || strings.Contains(have, "Failed") {
				t.Errorf("the schedule after the report: %s, want the update started again", have)
			}
		})
	}
}

// TestUpdateFailuresSeeded: the same seed fails the same attempts; a zero
// chance never draws from the device's generator.
func TestUpdateFailuresSeeded(t *testing.T) {
	t.Parallel()
	outcome := func(seed int64, f update.Failures) string {
		var out []string
		for i := range 6 {
			r := newRig(t, with(mac26, func(c *rigConfig) { c.failures, c.seed = f, seed+int64(i) }))
			key := r.newestKey()
			r.schedule(item(ActionDownloadOnly, "ProductKey", key))
			r.clk.Advance(time.Hour)
			out = append(out, r.status())
		}
		return strings.Join(out, "|")
	}
	a, b := outcome(1, update.Failures{Download: 0.5}), outcome(1, update.Failures{Download: 0.5})
	if a != b {
		t.Errorf("same seed, different failures:\n%s\n%s", a, b)
	}
	if !strings.Contains(a, "[]") || strings.Count(a, "[]") == 6 {
		t.Errorf("a chance of one half failed none or all of six downloads: %s", a)
	}
	if z := outcome(1, update.Failures{}); strings.Contains(z, "[]") {
		t.Errorf("a zero chance failed a download: %s", z)
	}
}
