package simulator

import (
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/simulator/update"
)

// TestEnvironment: each condition of the device answers with its real
// UpdateResults status and an ErrorChain, and the update goes on once the
// condition is gone.
func TestEnvironment(t *testing.T) {
	t.Parallel()
	tests := []transcriptCase{
		{name: "low battery stops the download",
			c:      with(mac26, func(c *rigConfig) { c.env.OnBattery = true; c.battery = 0.1 }),
			script: []scripted{{atStart, item("InstallASAP")}},
			want: []string{
				"+0s schedule InstallASAP: InstallASAP DownloadInsufficientPower +ErrorChain",
				"+0s []",
				"version 26.6.1 (25G76)",
			}},
		{name: "desktop Mac is always on power",
			c:      with(rigConfig{model: "Mac14,3", version: "26.6.1", token: true, downloadTime: 100 * time.Second}, func(c *rigConfig) { c.env.OnBattery = true; c.battery = -1 }),
			script: []scripted{{atStart, item("InstallASAP")}}, limit: 2 * time.Hour,
			want: []string{
				"+0s schedule InstallASAP: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Installing 1.00 downloaded",
				"+15m40s offline",
				"+35m40s []",
				"version 26.6.2 (25G83)",
			}},
		{name: "not enough power to install",
			c:      with(mac26, func(c *rigConfig) { c.env.OnBattery = true; c.battery = 0.3 }),
			script: []scripted{{atStart, item("InstallASAP")}, {onPrepared, item("InstallASAP")}}, limit: 2 * time.Hour,
			want: []string{
				"+0s schedule InstallASAP: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Idle 1.00 downloaded",
				"+12m40s schedule InstallASAP: InstallASAP InstallInsufficientPower +ErrorChain",
				"+12m40s Idle 1.00 downloaded",
				"version 26.6.1 (25G76)",
			},
			check: func(t *testing.T, r *rig) {
				// Plugged in, a resend installs.
				r.d.SetEnvironment(update.Environment{})
				if have := results(r.schedule(item("InstallASAP", "ProductKey", "MSU_UPDATE_25G83_patch_26.6.2_minor"))); have != "InstallASAP Installing" {
					t.Errorf("resend on power: have %s", have)
				}
				r.clk.Advance(time.Hour)
				if v := r.d.Identity().OSVersion; v != "26.6.2" {
					t.Errorf("on power: version %s, want 26.6.2", v)
				}
			}},
		{name: "disk full",
			c:      with(ios26, func(c *rigConfig) { c.freeGB = 0.4 }),
			script: []scripted{{atStart, item("Default")}},
			want: []string{
				"+0s schedule Default: DownloadOnly DownloadInsufficientSpace +ErrorChain",
				"+0s []",
				"version 26.6 (23G71)",
			}},
		{name: "room to download but not to install",
			c:      with(mac26, func(c *rigConfig) { c.freeGB = 2.5 }),
			script: []scripted{{atStart, item("InstallASAP")}, {onPrepared, item("InstallASAP")}}, limit: 2 * time.Hour,
			want: []string{
				"+0s schedule InstallASAP: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Idle 1.00 downloaded",
				"+12m40s schedule InstallASAP: InstallASAP InstallInsufficientSpace +ErrorChain",
				"+12m40s Idle 1.00 downloaded",
				"version 26.6.1 (25G76)",
			}},
		{name: "no route to Apple",
			c:      with(mac26, func(c *rigConfig) { c.env.NoNetwork = true }),
			script: []scripted{{atStart, item("InstallASAP")}},
			want: []string{
				"+0s schedule InstallASAP: InstallASAP DownloadInsufficientNetwork +ErrorChain",
				"+0s []",
				"version 26.6.1 (25G76)",
			}},
		{name: "iOS update needs a computer",
			c:      with(ios26, func(c *rigConfig) { c.env.RequiresComputer = true }),
			script: []scripted{{atStart, item("Default")}},
			want: []string{
				"+0s schedule Default: DownloadOnly DownloadRequiresComputer +ErrorChain",
				"+0s []",
				"version 26.6 (23G71)",
			}},
		{name: "phone call in progress",
			c:      with(ios26, func(c *rigConfig) { c.env.PhoneCall = true }),
			script: []scripted{{atStart, item("Default")}, {onPrepared, item("Default")}}, limit: 2 * time.Hour,
			want: []string{
				"+0s schedule Default: DownloadOnly Downloading",
				"+0s Idle 0.00",
				"+10s Downloading 0.00",
				"+1m0s Downloading 0.50",
				"+1m50s Downloading 1.00",
				"+6m50s Idle 1.00 downloaded",
				"+6m50s schedule Default: InstallASAP InstallPhoneCallInProgress",
				"+6m50s Idle 1.00 downloaded",
				"version 26.6 (23G71)",
			}},
		{name: "Do Not Disturb hides InstallLater prompts",
			c:      with(mac26, func(c *rigConfig) { c.user.DoNotDisturb = true }),
			script: []scripted{{atStart, item("InstallLater", "MaxUserDeferrals", 2)}},
			want: []string{
				"+0s schedule InstallLater: InstallLater Downloading",
				"+0s Idle 0.00 deferrals 2/2",
				"+1m0s Downloading 0.00 deferrals 2/2",
				"+1m50s Downloading 0.50 deferrals 2/2",
				"+2m40s Downloading 1.00 deferrals 2/2",
				"+12m40s Idle 1.00 downloaded deferrals 2/2",
				"version 26.6.1 (25G76)",
			}},
		{name: "locked iPhone answers NotNow and keeps nothing",
			c:      with(ios26, func(c *rigConfig) { c.user.Passcode = true; c.env.Locked = true; c.env.UnlockAfter = time.Hour }),
			script: []scripted{{atStart, item("Default")}}, limit: 2 * time.Hour,
			want: []string{
				"+0s schedule Default: NotNow []",
				"+0s []",
				"version 26.6 (23G71)",
			},
			check: func(t *testing.T, r *rig) {
				// The session ended on NotNow: the unlock (an hour in) made
				// the device poll, and the command is the server's to send.
				if r.polls != 1 {
					t.Errorf("polls after the unlock: have %d, want 1", r.polls)
				}
				if have := results(r.schedule(item("Default"))); have != "DownloadOnly Downloading" {
					t.Errorf("after the unlock: have %s", have)
				}
			}},
	}
	runTranscripts(t, tests, 24*time.Hour, func(r *rig, tt transcriptCase) {
		if tt.c.env.Locked {
			r.d.lastNotNow = true // the rig has no session: as if it ended on NotNow
		}
	})
}
