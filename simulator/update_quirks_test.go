package simulator

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/update"
)

func TestQuirkSwitchboard(t *testing.T) {
	t.Parallel()
	r := newRig(t, mac26)
	if err := r.d.SetQuirk("no-such-quirk", true); !errors.Is(err, update.ErrUnknownQuirk) {
		t.Fatalf("unknown quirk: have %v, want ErrUnknownQuirk", err)
	}
	if _, err := update.LookupQuirk("no-such-quirk"); !errors.Is(err, update.ErrUnknownQuirk) {
		t.Fatalf("LookupQuirk: have %v", err)
	}
	if have := r.d.ActiveQuirks(); !slices.Equal(have, []string{update.QuirkRebootGap, update.QuirkWrongProductKey}) {
		t.Fatalf("default quirks: have %v", have)
	}
	if err := r.d.SetQuirk(update.QuirkRebootGap, false); err != nil {
		t.Fatal(err)
	}
	if err := r.d.SetQuirk(update.QuirkPrepareStall, true); err != nil {
		t.Fatal(err)
	}
	if have := r.d.ActiveQuirks(); !slices.Equal(have, []string{update.QuirkPrepareStall, update.QuirkWrongProductKey}) {
		t.Fatalf("after switching: have %v", have)
	}
	seen := map[string]bool{}
	for _, q := range update.Quirks() {
		if seen[q.Name] || q.ID == "" || q.Doc == "" || q.Observed == "" {
			t.Errorf("quirk %+v: duplicate or undocumented", q)
		}
		seen[q.Name] = true
	}
	if len(update.Quirks()) > 32 {
		t.Fatalf("%d quirks do not fit the device's bit set", len(update.Quirks()))
	}
}

// TestQuirks switches each quirk on (or, for one on by default, off) and
// observes what it does.
func TestQuirks(t *testing.T) {
	t.Parallel()
	key := func(r *rig) string { return r.newestKey() }
	tests := []struct {
		quirk string
		on    bool
		c     rigConfig
		check func(t *testing.T, r *rig)
	}{
		{update.QuirkRebootGap, false, mac26, func(t *testing.T, r *rig) {
			k := key(r)
			r.schedule(item("InstallASAP", "ProductKey", k))
			r.clk.Advance(2 * time.Hour)
			if have := results(r.schedule(item("InstallASAP", "ProductKey", k))); have != "InstallASAP Idle" {
				t.Errorf("resend after the restart: have %s, want InstallASAP Idle", have)
			}
		}},
		{update.QuirkLaterReportsInstalling, true, with(ios26, func(c *rigConfig) { c.user.Passcode = true; c.user.Response = update.UserTonight }), func(t *testing.T, r *rig) {
			k := key(r)
			r.schedule(item("InstallASAP", "ProductKey", k))
			r.clk.Advance(time.Hour) // downloaded; the user chose tonight
			if have := r.status(); have != "Installing 1.00 downloaded" {
				t.Errorf("scheduled for tonight: status %s, want Installing", have)
			}
			r.schedule(item("Default", "ProductKey", k))
			r.clk.Advance(time.Hour)
			if v := r.d.Identity().OSVersion; v != "26.6.1" {
				t.Errorf("a resend installs now: version %s an hour later, want 26.6.1", v)
			}
		}},
		{update.QuirkScheduleNoResults, true, ios26, func(t *testing.T, r *rig) {
			res := r.send(RequestScheduleOSUpdate, map[string]any{"Updates": []any{item("Default", "ProductKey", key(r))}},
				schemacheckAllowMissingUpdateResults())
			if _, ok := res.Fields["UpdateResults"]; ok || res.Status != protocol.StatusAcknowledged {
				t.Errorf("have %s %v, want Acknowledged with nothing", res.Status, res.Fields)
			}
			if r.d.UpdateState().Phase != PhaseQueued {
				t.Error("the update was not scheduled")
			}
		}},
		{update.QuirkASAPFailsButPrompts, true, with(ios26, func(c *rigConfig) { c.user.Passcode = true }), func(t *testing.T, r *rig) {
			k := key(r)
			r.schedule(item("DownloadOnly", "ProductKey", k))
			r.clk.Advance(time.Hour)
			if have := results(r.schedule(item("InstallASAP", "ProductKey", k))); have != "Error InstallFailed +ErrorChain" {
				t.Errorf("InstallASAP: have %s", have)
			}
			r.clk.Advance(time.Hour)
			if v := r.d.Identity().OSVersion; v != "26.6.1" {
				t.Errorf("the prompt still showed and the user installed: version %s, want 26.6.1", v)
			}
		}},
		{update.QuirkAvailableErrorWhenNone, true, rigConfig{model: "iPhone15,2", version: "26.6.1"}, func(t *testing.T, r *rig) {
			res := r.send(RequestAvailableOSUpdates, nil)
			if res.Status != protocol.StatusError || len(res.ErrorChain) != 2 || res.ErrorChain[0].ErrorCode != 2213 {
				t.Errorf("have %s %v, want Error 2213", res.Status, res.ErrorChain)
			}
		}},
		{update.QuirkAvailableMinorOnly, true, mac15, func(t *testing.T, r *rig) {
			if have := availableKeys(r); have != "MSU_UPDATE_24G830_patch_15.7.9_minor" {
				t.Errorf("have %s", have)
			}
		}},
		{update.QuirkAvailableLatestMajor, true, rigConfig{model: "Mac14,2", version: "14.8.8", token: true}, func(t *testing.T, r *rig) {
			if have := availableKeys(r); have != "MSU_UPDATE_25G83_patch_26.6.2_major MSU_UPDATE_23J631_patch_14.8.9_minor" {
				t.Errorf("have %s", have)
			}
		}},
		{update.QuirkAvailableEmpty, true, mac26, func(t *testing.T, r *rig) {
			if have := availableKeys(r); have != "" {
				t.Errorf("have %q, want nothing", have)
			}
			if have := results(r.schedule(item("InstallASAP", "ProductVersion", "26.6.2"))); have != "InstallASAP Downloading" {
				t.Errorf("by version: have %s", have)
			}
		}},
		{update.QuirkSlowBackgroundDownload, true, with(mac26, func(c *rigConfig) {
			c.timings = func(t *update.Timings) { t.SlowDownloadFailure = 1 }
		}), func(t *testing.T, r *rig) {
			r.schedule(item("DownloadOnly", "ProductKey", key(r)))
			r.clk.Advance(time.Minute)
			empty, shown := 0, 0
			for range 40 {
				r.clk.Advance(10 * time.Second)
				if r.status() == "[]" {
					empty++
				} else {
					shown++
				}
			}
			if empty == 0 || shown == 0 {
				t.Errorf("OSUpdateStatus during the download: %d empty, %d shown; want both", empty, shown)
			}
			if st := r.d.UpdateState(); st.Phase != PhaseDownloading {
				t.Errorf("after 7m40s: %s, want still downloading (ten times slower)", st.Phase)
			}
			r.clk.Advance(time.Hour)
			if have := r.status(); have != "[]" {
				t.Errorf("the failed download left %s", have)
			}
		}},
		{update.QuirkAutoDownloadConflict, true, mac26, func(t *testing.T, r *rig) {
			if have := results(r.schedule(item("InstallASAP", "ProductKey", key(r)))); have != "InstallASAP Idle" {
				t.Errorf("have %s", have)
			}
			r.clk.Advance(72 * time.Hour)
			if have := r.status(); have != "Idle 1.00 downloaded" || r.d.Identity().OSVersion != "26.6.1" {
				t.Errorf("three days later: %s on %s; want the update idle and not installed", have, r.d.Identity().OSVersion)
			}
		}},
		{update.QuirkUpToDateShown, true, mac26, func(t *testing.T, r *rig) {
			r.schedule(item("InstallLater", "ProductKey", key(r), "MaxUserDeferrals", 2))
			r.clk.Advance(72 * time.Hour)
			if st := r.d.UpdateState(); st.Phase != PhasePrepared || st.Deferrals != 2 || st.Prompts != 3 {
				t.Errorf("a user who acts never found it: %+v", st)
			}
		}},
		{update.QuirkPrepareStall, true, mac26, func(t *testing.T, r *rig) {
			r.schedule(item("InstallASAP", "ProductKey", key(r)))
			r.clk.Advance(20 * time.Hour)
			if have := r.status(); have != "Downloading 1.00" {
				t.Errorf("20 h in: %s, want still preparing", have)
			}
			r.clk.Advance(5 * time.Hour)
			if v := r.d.Identity().OSVersion; v != "26.6.2" {
				t.Errorf("after the stall: %s", v)
			}
		}},
		{update.QuirkBootstrapTokenNag, true, with(mac26, func(c *rigConfig) { c.user.NoSecureToken = true }), func(t *testing.T, r *rig) {
			r.schedule(item("InstallASAP", "ProductKey", key(r)))
			r.clk.Advance(24 * time.Hour)
			if st := r.d.UpdateState(); st.WaitingFor != "volume-owner" {
				t.Errorf("with a token escrowed the Mac still asks the user: waiting for %q", st.WaitingFor)
			}
			r.d.SetUserProfile(update.UserProfile{})
			r.schedule(item("InstallASAP", "ProductKey", key(r)))
			r.clk.Advance(2 * time.Hour)
			r.d.mu.Lock()
			var nag int32
			if r.d.sw.more != nil {
				nag = r.d.sw.more.tokenNag
			}
			r.d.mu.Unlock()
			if r.d.Identity().OSVersion != "26.6.2" || nag != 3 {
				t.Errorf("after the update: %s, %d sessions will ask for the token; want 26.6.2 and 3", r.d.Identity().OSVersion, nag)
			}
		}},
		{update.QuirkWrongProductKey, false, rigConfig{model: "iPhone15,2", version: "26.3.1"}, func(t *testing.T, r *rig) {
			r.schedule(item("Default", "ProductKey", "iOSUpdate23G83"))
			if have := results(r.schedule(item("Default", "ProductKey", "iOSUpdate23D771330a"))); have != "DownloadOnly Downloading" {
				t.Errorf("off: have %s, want the new update to replace the old", have)
			}
		}},
		{update.QuirkWrongProductKey, true, rigConfig{model: "iPhone15,2", version: "26.3.1"}, func(t *testing.T, r *rig) {
			r.schedule(item("Default", "ProductKey", "iOSUpdate23G83"))
			res := r.schedule(item("Default", "ProductKey", "iOSUpdate23D771330a"))
			if have := results(res); have != "Error Idle +ErrorChain" || !strings.Contains(res.Fields["UpdateResults"].([]any)[0].(map[string]any)["ErrorChain"].([]any)[0].(map[string]any)["LocalizedDescription"].(string), "Wrong product key") {
				t.Errorf("have %s %v", have, res.Fields)
			}
		}},
	}
	for _, tt := range tests {
		name := tt.quirk + "/on"
		if !tt.on {
			name = tt.quirk + "/off"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tt.c)
			if err := r.d.SetQuirk(tt.quirk, tt.on); err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

// availableKeys lists the ProductKeys AvailableOSUpdates answers.
func availableKeys(r *rig) string {
	res := r.send(RequestAvailableOSUpdates, nil)
	items, _ := res.Fields["AvailableOSUpdates"].([]any)
	var keys []string
	for _, it := range items {
		keys = append(keys, it.(map[string]any)["ProductKey"].(string))
	}
	return strings.Join(keys, " ")
}
