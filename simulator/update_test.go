package simulator

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/simulator/update"
)

// item is one ScheduleOSUpdate entry: an InstallAction and more keys.
func item(action string, kv ...any) map[string]any {
	m := map[string]any{"InstallAction": action}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func with(c rigConfig, edit func(*rigConfig)) rigConfig {
	edit(&c)
	return c
}

// The platforms and OS families of the matrix. Downloads of the newest
// update take 100 s; rigTimings has every other duration fixed.
var (
	// An Apple-silicon Mac on macOS 26 with its bootstrap token escrowed;
	// the newest update is the minor 26.6.2.
	mac26 = rigConfig{model: "Mac14,2", version: "26.6.1", token: true, downloadTime: 100 * time.Second}
	// An Intel (T2) Mac on macOS 15: 15.7.9 is a minor update, 26.6.2 a
	// major upgrade, and the newest.
	mac15 = rigConfig{model: "MacBookPro16,1", version: "15.7.8", downloadTime: 100 * time.Second}
	// An iPhone on iOS 26 (26.6.1 is newest) and an iPad on iPadOS 18, which
	// is offered only the newest, the major 26.6.1.
	ios26  = rigConfig{model: "iPhone15,2", version: "26.6", downloadTime: 100 * time.Second}
	ipad18 = rigConfig{model: "iPad13,18", version: "18.7.7", downloadTime: 100 * time.Second}
)

// TestInstallActions plays each install action on each platform and OS
// family on the manual clock, and asserts the exact transcript: every
// UpdateResults, every distinct OSUpdateStatus answer with the time it first
// showed, and the final version. Every answer is also checked against
// Apple's schema (rig.send).
func TestInstallActions(t *testing.T) {
	t.Parallel()
	tests := []transcriptCase{
		{name: "macOS 26/Default is InstallASAP", c: mac26, script: []scripted{{atStart, item("Default")}},
			want: []string{
				"+0s schedule Default: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Installing 1.00 downloaded",
				"+15m40s offline",
				"+35m40s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 26/InstallASAP, resent after the restart", c: mac26,
			script: []scripted{{atStart, item("InstallASAP")}, {onBack, item("InstallASAP")}},
			check: func(t *testing.T, r *rig) {
				if have := strings.Join(r.checkins, ","); have != "GetBootstrapToken,TokenUpdate" {
					t.Errorf("check-ins: have %s, want GetBootstrapToken then TokenUpdate", have)
				}
				if r.polls != 1 {
					t.Errorf("polls after the restart: have %d, want 1", r.polls)
				}
			},
			want: []string{
				"+0s schedule InstallASAP: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Installing 1.00 downloaded",
				"+15m40s offline",
				"+35m40s []",
				"+35m40s schedule InstallASAP: no UpdateResults",
				"+35m40s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 26/DownloadOnly, then InstallForceRestart", c: mac26,
			script: []scripted{{atStart, item("DownloadOnly")}, {onPrepared, item("InstallForceRestart")}},
			want: []string{
				"+0s schedule DownloadOnly: DownloadOnly Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Idle 1.00 downloaded",
				"+12m40s schedule InstallForceRestart: InstallForceRestart Installing",
				"+12m40s Installing 1.00 downloaded",
				"+14m40s offline",
				"+34m40s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 26/InstallForceRestart over unsaved work", c: with(mac26, func(c *rigConfig) { c.user.BlockingApps = true }),
			script: []scripted{{atStart, item("InstallForceRestart")}},
			check: func(t *testing.T, r *rig) {
				if h := r.d.UpdateHistory(); len(h) != 1 || !h[0].DataLoss {
					t.Errorf("history: have %+v, want one install with DataLoss", h)
				}
			},
			want: []string{
				"+0s schedule InstallForceRestart: InstallForceRestart Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Installing 1.00 downloaded",
				"+14m40s offline",
				"+34m40s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 26/InstallASAP countdown dismissed", c: with(mac26, func(c *rigConfig) { c.user.Response = update.UserDismisses }),
			script: []scripted{{atStart, item("InstallASAP")}},
			want: []string{
				"+0s schedule InstallASAP: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Installing 1.00 downloaded",
				"+13m40s Idle 1.00 downloaded",
				"version 26.6.1 (25G76)",
			},
		},
		{name: "macOS 26/InstallASAP, user quits blocking apps", c: with(mac26, func(c *rigConfig) { c.user.BlockingApps = true }),
			script: []scripted{{atStart, item("InstallASAP")}},
			want: []string{
				"+0s schedule InstallASAP: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Installing 1.00 downloaded",
				"+20m40s offline",
				"+40m40s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 26/InstallLater, MaxUserDeferrals 3, user ignores every prompt", c: with(mac26, func(c *rigConfig) { c.user.Response = update.UserIgnores }),
			script: []scripted{{atStart, item("InstallLater", "MaxUserDeferrals", 3)}},
			check: func(t *testing.T, r *rig) {
				if st := r.d.UpdateState(); st.Prompts != 5 || st.Deferrals != 3 {
					t.Errorf("after 5 days: have %d prompts and %d deferrals left, want 5 and 3", st.Prompts, st.Deferrals)
				}
			},
			want: []string{
				"+0s schedule InstallLater: InstallLater Downloading",
				"+0s Idle 0.00 deferrals 3/3",
				"+1m0s Downloading 0.00 deferrals 3/3",
				"+1m50s Downloading 0.50 deferrals 3/3",
				"+2m40s Downloading 1.00 deferrals 3/3",
				"+12m40s Idle 1.00 downloaded deferrals 3/3",
				"version 26.6.1 (25G76)",
			},
		},
		{name: "macOS 26/InstallLater, MaxUserDeferrals 2, user defers", c: with(mac26, func(c *rigConfig) { c.user.Response = update.UserDismisses }),
			script: []scripted{{atStart, item("InstallLater", "MaxUserDeferrals", 2)}},
			want: []string{
				"+0s schedule InstallLater: InstallLater Downloading",
				"+0s Idle 0.00 deferrals 2/2",
				"+1m0s Downloading 0.00 deferrals 2/2",
				"+1m50s Downloading 0.50 deferrals 2/2",
				"+2m40s Downloading 1.00 deferrals 2/2",
				"+12m40s Idle 1.00 downloaded deferrals 1/2",
				"+24h12m40s Idle 1.00 downloaded deferrals 0/2",
				"+48h12m40s Installing 1.00 downloaded deferrals 0/2",
				"+48h14m40s offline",
				"+48h34m40s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 26/InstallLater, decrement nightly", c: with(mac26, func(c *rigConfig) {
			c.user.Response = update.UserIgnores
			c.timings = func(t *update.Timings) { t.Deferrals = update.DeferNightly }
		}), script: []scripted{{atStart, item("InstallLater", "MaxUserDeferrals", 2)}},
			want: []string{
				"+0s schedule InstallLater: InstallLater Downloading",
				"+0s Idle 0.00 deferrals 2/2",
				"+1m0s Downloading 0.00 deferrals 2/2",
				"+1m50s Downloading 0.50 deferrals 2/2",
				"+2m40s Downloading 1.00 deferrals 2/2",
				"+12m40s Idle 1.00 downloaded deferrals 2/2",
				"+16h0m0s Idle 1.00 downloaded deferrals 1/2",
				"+40h0m0s Installing 1.00 downloaded deferrals 0/2",
				"+40h2m0s offline",
				"+40h22m0s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 26/InstallLater, user picks tonight", c: with(mac26, func(c *rigConfig) { c.user.Response = update.UserTonight }),
			script: []scripted{{atStart, item("InstallLater")}},
			want: []string{
				"+0s schedule InstallLater: InstallLater Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Idle 1.00 downloaded",
				"+16h0m0s Installing 1.00 downloaded",
				"+16h2m0s offline",
				"+16h22m0s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 26/NotifyOnly, user acts", c: mac26, script: []scripted{{atStart, item("NotifyOnly")}},
			want: []string{
				"+0s schedule NotifyOnly: NotifyOnly Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Idle 1.00 downloaded",
				"+17m40s Installing 1.00 downloaded",
				"+20m40s offline",
				"+40m40s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 26/unknown action proceeds as Default", c: mac26, script: []scripted{{atStart, item("InstallWhenever")}},
			want: []string{
				"+0s schedule InstallWhenever: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Installing 1.00 downloaded",
				"+15m40s offline",
				"+35m40s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 26/Priority High", c: mac26, script: []scripted{{atStart, item("InstallASAP", "Priority", "High")}},
			want: []string{
				"+0s schedule InstallASAP: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m25s Downloading 0.50",
				"+1m50s Downloading 1.00",
				"+6m50s Installing 1.00 downloaded",
				"+9m50s offline",
				"+29m50s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 26/no bootstrap token, a volume owner authorises", c: with(mac26, func(c *rigConfig) { c.token = false }),
			script: []scripted{{atStart, item("InstallASAP")}},
			want: []string{
				"+0s schedule InstallASAP: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Idle 1.00 downloaded",
				"+17m40s Installing 1.00 downloaded",
				"+20m40s offline",
				"+40m40s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 26/no bootstrap token, no volume owner", c: with(mac26, func(c *rigConfig) { c.token = false; c.user.NoSecureToken = true }),
			script: []scripted{{atStart, item("InstallASAP")}},
			check: func(t *testing.T, r *rig) {
				if w := r.d.UpdateState().WaitingFor; w != "volume-owner" {
					t.Errorf("waiting for %q, want volume-owner", w)
				}
			},
			want: []string{
				"+0s schedule InstallASAP: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Idle 1.00 downloaded",
				"version 26.6.1 (25G76)",
			},
		},
		{name: "macOS 26/security response", c: rigConfig{model: "Mac14,2", version: "26.3.1", token: true, downloadTime: 20 * time.Second, downloadVersion: "26.3.1"},
			script: []scripted{{atStart, item("InstallASAP", "ProductKey", "MSU_UPDATE_25D771280a_patch_26.3.1_rsr")}},
			want: []string{
				"+0s schedule InstallASAP: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m10s Downloading 0.50",
				"+1m20s Downloading 1.00",
				"+3m20s Installing 1.00 downloaded",
				"+6m20s offline",
				"+26m20s []",
				"version 26.3.1 (25D2128) + (a) 25D771280a",
			},
		},
		{name: "macOS 15/InstallLater by ProductVersion, user acts", c: with(mac15, func(c *rigConfig) { c.downloadVersion = "15.7.9" }),
			script: []scripted{{atStart, item("InstallLater", "ProductVersion", "15.7.9", "MaxUserDeferrals", 1)}},
			want: []string{
				"+0s schedule InstallLater: InstallLater Downloading",
				"+0s Idle 0.00 deferrals 1/1",
				"+1m0s Downloading 0.00 deferrals 1/1",
				"+1m50s Downloading 0.50 deferrals 1/1",
				"+2m40s Downloading 1.00 deferrals 1/1",
				"+12m40s Idle 1.00 downloaded deferrals 1/1",
				"+17m40s Installing 1.00 downloaded deferrals 1/1",
				"+19m40s offline",
				"+39m40s []",
				"version 15.7.9 (24G830)",
			},
		},
		{name: "macOS 15/major upgrade ignores DownloadOnly", c: mac15, script: []scripted{{atStart, item("DownloadOnly")}},
			want: []string{
				"+0s schedule DownloadOnly: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Installing 1.00 downloaded",
				"+15m40s offline",
				"+35m40s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 15/major upgrade ignores InstallLater and MaxUserDeferrals", c: mac15,
			script: []scripted{{atStart, item("InstallLater", "MaxUserDeferrals", 3)}},
			want: []string{
				"+0s schedule InstallLater: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Installing 1.00 downloaded",
				"+15m40s offline",
				"+35m40s []",
				"version 26.6.2 (25G83)",
			},
		},
		{name: "macOS 15/major upgrade does not force the restart", c: with(mac15, func(c *rigConfig) {
			c.user.BlockingApps = true
			c.user.Response = update.UserIgnores
		}), script: []scripted{{atStart, item("InstallForceRestart")}},
			want: []string{
				"+0s schedule InstallForceRestart: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+1m0s Downloading 0.00",
				"+1m50s Downloading 0.50",
				"+2m40s Downloading 1.00",
				"+12m40s Installing 1.00 downloaded",
				"+13m40s Idle 1.00 downloaded",
				"version 15.7.8 (24G824)",
			},
		},
		{name: "macOS 15/downgrade refused", c: mac15, script: []scripted{{atStart, item("Default", "ProductVersion", "15.7.7")}},
			want: []string{
				"+0s schedule Default: Error Idle +ErrorChain",
				"+0s []",
				"version 15.7.8 (24G824)",
			},
		},
		{name: "iOS 26/Default twice", c: ios26, script: []scripted{{atStart, item("Default")}, {onPrepared, item("Default")}},
			want: []string{
				"+0s schedule Default: DownloadOnly Downloading",
				"+0s Idle 0.00",
				"+10s Downloading 0.00",
				"+1m0s Downloading 0.50",
				"+1m50s Downloading 1.00",
				"+6m50s Idle 1.00 downloaded",
				"+6m50s schedule Default: InstallASAP Installing",
				"+6m50s Installing 1.00 downloaded",
				"+9m50s offline",
				"+19m50s []",
				"version 26.6.1 (23G83)",
			},
		},
		{name: "iOS 26/DownloadOnly", c: ios26, script: []scripted{{atStart, item("DownloadOnly")}},
			want: []string{
				"+0s schedule DownloadOnly: DownloadOnly Downloading",
				"+0s Idle 0.00",
				"+10s Downloading 0.00",
				"+1m0s Downloading 0.50",
				"+1m50s Downloading 1.00",
				"+6m50s Idle 1.00 downloaded",
				"version 26.6 (23G71)",
			},
		},
		{name: "iOS 26/InstallASAP", c: ios26, script: []scripted{{atStart, item("InstallASAP")}},
			want: []string{
				"+0s schedule InstallASAP: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+10s Downloading 0.00",
				"+1m0s Downloading 0.50",
				"+1m50s Downloading 1.00",
				"+6m50s Installing 1.00 downloaded",
				"+9m50s offline",
				"+19m50s []",
				"version 26.6.1 (23G83)",
			},
		},
		{name: "iOS 26/passcode, user authorises", c: with(ios26, func(c *rigConfig) { c.user.Passcode = true }),
			script: []scripted{{atStart, item("Default")}, {onPrepared, item("Default")}},
			want: []string{
				"+0s schedule Default: DownloadOnly Downloading",
				"+0s Idle 0.00",
				"+10s Downloading 0.00",
				"+1m0s Downloading 0.50",
				"+1m50s Downloading 1.00",
				"+6m50s Idle 1.00 downloaded",
				"+6m50s schedule Default: InstallASAP Idle",
				"+6m50s Idle 1.00 downloaded",
				"+11m50s Installing 1.00 downloaded",
				"+14m50s offline",
				"+24m50s []",
				"version 26.6.1 (23G83)",
			},
		},
		{name: "iOS 26/passcode, user ignores", c: with(ios26, func(c *rigConfig) { c.user.Passcode = true; c.user.Response = update.UserIgnores }),
			script: []scripted{{atStart, item("Default")}, {onPrepared, item("Default")}},
			want: []string{
				"+0s schedule Default: DownloadOnly Downloading",
				"+0s Idle 0.00",
				"+10s Downloading 0.00",
				"+1m0s Downloading 0.50",
				"+1m50s Downloading 1.00",
				"+6m50s Idle 1.00 downloaded",
				"+6m50s schedule Default: InstallASAP Idle",
				"+6m50s Idle 1.00 downloaded",
				"version 26.6 (23G71)",
			},
		},
		{name: "iOS 26/passcode, install tonight", c: with(ios26, func(c *rigConfig) { c.user.Passcode = true; c.user.Response = update.UserTonight }),
			script: []scripted{{atStart, item("Default")}, {onPrepared, item("InstallASAP")}},
			want: []string{
				"+0s schedule Default: DownloadOnly Downloading",
				"+0s Idle 0.00",
				"+10s Downloading 0.00",
				"+1m0s Downloading 0.50",
				"+1m50s Downloading 1.00",
				"+6m50s Idle 1.00 downloaded",
				"+6m50s schedule InstallASAP: InstallASAP Idle",
				"+6m50s Idle 1.00 downloaded",
				"+16h0m0s Installing 1.00 downloaded",
				"+16h3m0s offline",
				"+16h13m0s []",
				"version 26.6.1 (23G83)",
			},
		},
		{name: "iOS 26/passcode, three deferrals then gives in", c: with(ios26, func(c *rigConfig) { c.user.Passcode = true; c.user.Response = update.UserDismisses }),
			script: []scripted{{atStart, item("InstallASAP")}},
			want: []string{
				"+0s schedule InstallASAP: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+10s Downloading 0.00",
				"+1m0s Downloading 0.50",
				"+1m50s Downloading 1.00",
				"+6m50s Idle 1.00 downloaded",
				"+72h11m50s Installing 1.00 downloaded",
				"+72h14m50s offline",
				"+72h24m50s []",
				"version 26.6.1 (23G83)",
			},
		},
		{name: "iOS 26/InstallLater is macOS only", c: ios26, script: []scripted{{atStart, item("InstallLater")}},
			want: []string{
				"+0s schedule InstallLater: Error Idle +ErrorChain",
				"+0s []",
				"version 26.6 (23G71)",
			},
		},
		{name: "iOS 26/security response", c: rigConfig{model: "iPhone15,2", version: "26.3.1", downloadTime: 20 * time.Second, downloadVersion: "26.3.1"},
			script: []scripted{{atStart, item("InstallASAP", "ProductKey", "iOSUpdate23D771330a")}},
			want: []string{
				"+0s schedule InstallASAP: InstallASAP Downloading",
				"+0s Idle 0.00",
				"+10s Downloading 0.00",
				"+20s Downloading 0.50",
				"+30s Downloading 1.00",
				"+2m30s Installing 1.00 downloaded",
				"+5m30s offline",
				"+15m30s []",
				"version 26.3.1 (23D8133) + (a) 23D771330a",
			},
		},
		{name: "iPadOS 18/Default twice, major upgrade", c: ipad18, script: []scripted{{atStart, item("Default")}, {onPrepared, item("Default")}},
			want: []string{
				"+0s schedule Default: DownloadOnly Downloading",
				"+0s Idle 0.00",
				"+10s Downloading 0.00",
				"+1m0s Downloading 0.50",
				"+1m50s Downloading 1.00",
				"+6m50s Idle 1.00 downloaded",
				"+6m50s schedule Default: InstallASAP Installing",
				"+6m50s Installing 1.00 downloaded",
				"+9m50s offline",
				"+19m50s []",
				"version 26.6.1 (23G83)",
			},
		},
	}
	runTranscripts(t, tests, 5*24*time.Hour, nil)
}

// transcriptCase is one scripted run of a rig and the transcript it must
// produce; check, if set, looks at the rig afterwards.
type transcriptCase struct {
	name   string
	c      rigConfig
	script []scripted
	limit  time.Duration // 0: the table's default
	want   []string
	check  func(t *testing.T, r *rig)
}

// runTranscripts runs each case on its own rig, in parallel; prepare, if
// set, adjusts a rig before its script runs.
func runTranscripts(t *testing.T, tests []transcriptCase, defaultLimit time.Duration, prepare func(r *rig, tt transcriptCase)) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tt.c)
			if prepare != nil {
				prepare(r, tt)
			}
			limit := tt.limit
			if limit == 0 {
				limit = defaultLimit
			}
			compareTranscript(t, r.run(limit, tt.script), tt.want)
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

// compareTranscript fails with the transcript as Go source, ready to paste
// after a deliberate change.
func compareTranscript(t *testing.T, have, want []string) {
	t.Helper()
	if strings.Join(have, "\n") == strings.Join(want, "\n") {
		return
	}
	var b strings.Builder
	for _, l := range have {
		fmt.Fprintf(&b, "\t\t\t\t%q,\n", l)
	}
	t.Errorf("transcript:\nhave\n%s\nwant\n%s", b.String(), strings.Join(want, "\n"))
}
