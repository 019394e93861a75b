package simulator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// TestHostileScheduleOSUpdate: whatever a server sends, the device answers
// CommandFormatError or a per-update error, never panics, and keeps the
// update it has in progress.
func TestHostileScheduleOSUpdate(t *testing.T) {
	t.Parallel()
	raw := func(updates string) []byte {
		return []byte(`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>CommandUUID</key><string>x</string>` +
			`<key>Command</key><dict><key>RequestType</key><string>ScheduleOSUpdate</string>` + updates + `</dict></dict></plist>`)
	}
	many := func(n int) string {
		var b strings.Builder
		b.WriteString("<key>Updates</key><array>")
		for i := range n {
			fmt.Fprintf(&b, "<dict><key>ProductKey</key><string>k%d</string><key>InstallAction</key><string>Default</string></dict>", i)
		}
		return b.String() + "</array>"
	}
	tests := []struct {
		name, updates string
		want          string // results(...)
	}{
		{"Updates is a string", `<key>Updates</key><string>all</string>`, "CommandFormatError"},
		{"an update is a string", `<key>Updates</key><array><string>x</string></array>`, "CommandFormatError"},
		{"InstallAction is an integer", `<key>Updates</key><array><dict><key>InstallAction</key><integer>1</integer></dict></array>`, "CommandFormatError"},
		{"MaxUserDeferrals is a string", `<key>Updates</key><array><dict><key>InstallAction</key><string>InstallLater</string><key>MaxUserDeferrals</key><string>3</string></dict></array>`, "CommandFormatError"},
		{"MaxUserDeferrals is a real", `<key>Updates</key><array><dict><key>InstallAction</key><string>InstallLater</string><key>MaxUserDeferrals</key><real>2.5</real></dict></array>`, "CommandFormatError"},
		{"ProductKey is a boolean", `<key>Updates</key><array><dict><key>ProductKey</key><true/></dict></array>`, "CommandFormatError"},
		{"too many updates", many(MaxScheduleItems + 1), "CommandFormatError"},
		{"the most updates", many(MaxScheduleItems), strings.TrimSuffix(strings.Repeat("Error Idle +ErrorChain, ", MaxScheduleItems), ", ")},
		{"no key, no version", `<key>Updates</key><array><dict><key>InstallAction</key><string>Default</string></dict></array>`, "Error Idle +ErrorChain"},
		{"unknown key", `<key>Updates</key><array><dict><key>ProductKey</key><string>MSU_UPDATE_nope</string><key>InstallAction</key><string>Default</string></dict></array>`, "Error Idle +ErrorChain"},
		{"version not a version", `<key>Updates</key><array><dict><key>ProductVersion</key><string>banana</string><key>InstallAction</key><string>Default</string></dict></array>`, "Error Idle +ErrorChain"},
		{"negative MaxUserDeferrals", `<key>Updates</key><array><dict><key>ProductKey</key><string>MSU_UPDATE_25G83_patch_26.6.2_minor</string><key>InstallAction</key><string>InstallLater</string><key>MaxUserDeferrals</key><integer>-3</integer></dict></array>`, "Error Idle +ErrorChain"},
		{"empty Updates", `<key>Updates</key><array/>`, ""},
		{"unknown Priority is Low", `<key>Updates</key><array><dict><key>ProductKey</key><string>MSU_UPDATE_25G83_patch_26.6.2_minor</string><key>InstallAction</key><string>InstallASAP</string><key>Priority</key><string>Urgent!</string></dict></array>`, "InstallASAP Downloading"},
		{"missing Updates: the default behaviour", ``, "InstallASAP Downloading"},
		{"not a plist", "<key>Updates</", "CommandFormatError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, mac26)
			res := r.sendRaw(RequestScheduleOSUpdate, raw(tt.updates))
			if have := results(res); have != tt.want && !(tt.want == "CommandFormatError" && strings.HasPrefix(have, "CommandFormatError")) {
				t.Errorf("have %s, want %s", have, tt.want)
			}
		})
	}

	t.Run("state survives garbage", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, mac26)
		r.schedule(item("DownloadOnly"))
		r.clk.Advance(90 * time.Second)
		before := r.d.UpdateState()
		for _, tt := range tests[:7] {
			r.sendRaw(RequestScheduleOSUpdate, raw(tt.updates))
		}
		if after := r.d.UpdateState(); after != before {
			t.Errorf("garbage changed the update: before %+v, after %+v", before, after)
		}
	})
}

func FuzzScheduleOSUpdate(f *testing.F) {
	for _, s := range []string{
		`<key>Updates</key><array><dict><key>ProductKey</key><string>MSU_UPDATE_25G83_patch_26.6.2_minor</string><key>InstallAction</key><string>InstallLater</string><key>MaxUserDeferrals</key><integer>3</integer></dict></array>`,
		`<key>Updates</key><array><dict><key>ProductVersion</key><string>26.6.2</string><key>InstallAction</key><string>Default</string><key>Priority</key><string>High</string></dict></array>`,
		`<key>Updates</key><array/>`,
		``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, updates string) {
		body := []byte(`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>CommandUUID</key><string>x</string>` +
			`<key>Command</key><dict><key>RequestType</key><string>ScheduleOSUpdate</string>` + updates + `</dict></dict></plist>`)
		r := newRig(t, mac26)
		for _, b := range [][]byte{body, body} {
			res, _ := r.d.handle(context.Background(), r.enr, b)
			if res.Status == protocol.StatusError && len(res.ErrorChain) > 0 && res.ErrorChain[0].ErrorCode == 12000 {
				t.Fatalf("the handler panicked on %q", updates)
			}
			if _, err := res.Marshal(); err != nil {
				t.Fatalf("unmarshalable answer to %q: %v", updates, err)
			}
			r.clk.Advance(time.Hour)
		}
		r.status()
	})
}

// TestCommandGates: the four commands by OS version, platform, supervision
// and access rights.
func TestCommandGates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		c       rigConfig
		rights  int
		request string
		want    string // status and error code
	}{
		{"macOS 26 still answers (deprecated)", mac26, AccessAll, RequestOSUpdateStatus, "Acknowledged"},
		{"macOS 27 removed ScheduleOSUpdate", rigConfig{model: "Mac14,2", version: "27.0", build: "26A100"}, AccessAll, RequestScheduleOSUpdate, "Error 12021"},
		{"macOS 27 removed OSUpdateStatus", rigConfig{model: "Mac14,2", version: "27.0", build: "26A100"}, AccessAll, RequestOSUpdateStatus, "Error 12021"},
		{"macOS 27 removed AvailableOSUpdates", rigConfig{model: "Mac14,2", version: "27.0", build: "26A100"}, AccessAll, RequestAvailableOSUpdates, "Error 12021"},
		{"macOS 27 removed ScheduleOSUpdateScan", rigConfig{model: "Mac14,2", version: "27.0", build: "26A100"}, AccessAll, RequestScheduleOSUpdateScan, "Error 12021"},
		{"iOS 27 removed AvailableOSUpdates", rigConfig{model: "iPhone15,2", version: "27.0", build: "24A100"}, AccessAll, RequestAvailableOSUpdates, "Error 12021"},
		{"no scan on iOS", ios26, AccessAll, RequestScheduleOSUpdateScan, "Error 12021"},
		{"unsupervised Mac cannot schedule", with(mac26, func(c *rigConfig) { c.unsupervised = true }), AccessAll, RequestScheduleOSUpdate, "Error 12070"},
		{"unsupervised Mac lists updates", with(mac26, func(c *rigConfig) { c.unsupervised = true }), AccessAll, RequestAvailableOSUpdates, "Acknowledged"},
		{"unsupervised iPhone cannot list updates", with(ios26, func(c *rigConfig) { c.unsupervised = true }), AccessAll, RequestAvailableOSUpdates, "Error 12070"},
		{"iOS needs AllowAppInstallation", ios26, AccessAll &^ AccessAppManagement, RequestOSUpdateStatus, "Error 12025"},
		{"macOS needs no access right", mac26, AccessQueryDeviceInfo, RequestOSUpdateStatus, "Acknowledged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tt.c)
			r.d.enr = &enrollment{profileSettings: &profileSettings{accessRights: tt.rights}}
			payload := map[string]any{}
			if tt.request == RequestScheduleOSUpdate {
				payload["Updates"] = []any{item("Default", "ProductVersion", "99.0")}
			}
			res := r.send(tt.request, payload)
			have := string(res.Status)
			if len(res.ErrorChain) > 0 {
				have += fmt.Sprintf(" %d", res.ErrorChain[0].ErrorCode)
			}
			if have != tt.want {
				t.Errorf("have %s, want %s", have, tt.want)
			}
		})
	}
}

// The decoder must reject what it cannot type: keep the plist library
// honest about it.
func TestPlistRejectsWrongTypes(t *testing.T) {
	t.Parallel()
	var v struct {
		Updates []scheduleItem `plist:"Updates"`
	}
	err := plist.Unmarshal([]byte(`<plist><dict><key>Updates</key><array><dict><key>InstallAction</key><integer>3</integer></dict></array></dict></plist>`), &v)
	if err == nil {
		t.Fatal("an integer InstallAction decoded")
	}
}
