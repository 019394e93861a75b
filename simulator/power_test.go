package simulator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// Switching a device off and on (power.go) on the update rig's manual
// clock: a device that is off keeps its timers, runs none of them, and goes
// on with the time each had left when it is switched on. The wire side
// (pushes, sessions, ShutDownDevice from a server) and DDM enforcement are
// in power_wire_test.go.

// line renders s at the rig's elapsed time, as the rig's transcripts do.
func (r *rig) line(s string) string { return fmt.Sprintf("+%v %s", r.elapsed(), s) }

// frozen sums up what a device that is off must keep as it was: its update
// (prompts, deferrals, what it waits for), its counters, what it said to the
// server, its OS and its pending timers. Percent is left out: it is computed
// from the clock, see TestPowerOffKeepsDownloadProgress.
func (r *rig) frozen() string {
	r.t.Helper()
	st := r.d.UpdateState()
	st.Percent = 0
	r.mu.Lock()
	checkins, polls := strings.Join(r.checkins, ","), r.polls
	r.mu.Unlock()
	id := r.d.Identity()
	return fmt.Sprintf("update %+v\nstats %+v\ncheck-ins [%s] polls %d\nOS %s (%s) installs %d restarts %d\ntimers %d",
		st, r.d.Stats(), checkins, polls, id.OSVersion, id.BuildVersion, len(r.d.UpdateHistory()), r.d.Restarts(), r.d.timers.count())
}

// powerOn switches the rig's device on. It has no enrollment, so the poll
// that follows start-up fails with ErrNotEnrolled; a device still
// restarting into an update answers ErrOffline.
func (r *rig) powerOn() {
	r.t.Helper()
	if err := r.d.PowerOn(context.Background()); err != nil && !errors.Is(err, ErrNotEnrolled) && !errors.Is(err, ErrOffline) {
		r.t.Fatalf("PowerOn: %v", err)
	}
}

// offFor switches the device off, checks that no clock timer is left armed,
// moves the clock by d, and checks that nothing changed.
func (r *rig) offFor(d time.Duration) {
	r.t.Helper()
	before := r.frozen()
	timers := r.d.timers.count()
	r.d.PowerOff()
	if r.d.PoweredOn() {
		r.t.Fatal("PowerOff: still PoweredOn")
	}
	if n := r.clk.Pending(); n != 0 {
		r.t.Errorf("%d clock timers armed on a device that is off, want 0 (its %d timers stopped)", n, timers)
	}
	if at, ok := r.clk.Next(); ok {
		r.t.Errorf("a timer is due at +%v on a device that is off", at.Sub(r.start))
	}
	r.clk.Advance(d)
	if after := r.frozen(); after != before {
		r.t.Errorf("%v off changed the device:\nbefore\n%s\nafter\n%s", d, before, after)
	}
	if r.d.PoweredOn() {
		r.t.Error("the device switched itself on")
	}
}

// TestPowerOffMidDownload: a Mac switched off halfway through its download
// does nothing for a month, and once switched on finishes the download the
// remaining 50 s later, then installs as it would have.
func TestPowerOffMidDownload(t *testing.T) {
	t.Parallel()
	r := newRig(t, mac26) // the download takes 100 s, from +1m0s
	have := r.run(110*time.Second, []scripted{{atStart, item("InstallASAP")}})
	have = append(have, r.line(r.status()))
	due, ok := r.clk.Next()
	if !ok || due.Sub(r.start) != 160*time.Second {
		t.Fatalf("the download ends at +%v, want +2m40s", due.Sub(r.start))
	}
	const month = 30 * 24 * time.Hour
	r.d.PowerOff()
	have = append(have, r.line(r.status()))
	r.powerOn() // back on at once: the download does not move
	if next, _ := r.clk.Next(); !next.Equal(due) {
		t.Errorf("switched off and on at once, the download ends at +%v, want +2m40s", next.Sub(r.start))
	}
	r.offFor(month)
	have = append(have, r.line(r.status()))
	r.powerOn()
	on := r.clk.Now()
	if next, ok := r.clk.Next(); !ok || next.Sub(on) != 50*time.Second {
		t.Errorf("after PowerOn the download ends %v later, want the 50 s it had left", next.Sub(on))
	}
	r.clk.AdvanceToNext()
	if st := r.d.UpdateState(); st.Phase != PhasePreparing || r.clk.Now().Sub(on) != 50*time.Second {
		t.Errorf("%v after PowerOn: %s, want the download done 50 s after", r.clk.Now().Sub(on), st.Phase)
	}
	have = append(have, r.run(month+time.Hour, nil)...)
	compareTranscript(t, have, []string{
		"+0s schedule InstallASAP: InstallASAP Downloading",
		"+0s Idle 0.00",
		"+1m0s Downloading 0.00",
		"version 26.6.1 (25G76)",
		"+1m50s Downloading 0.50",
		"+1m50s offline",
		"+720h1m50s offline",
		"+720h2m40s Downloading 1.00",
		"+720h12m40s Installing 1.00 downloaded",
		"+720h15m40s offline",
		"+720h35m40s []",
		"version 26.6.2 (25G83)",
	})
	if h := r.d.UpdateHistory(); len(h) != 1 || h[0].InstalledAt.Sub(r.start) != month+35*time.Minute+40*time.Second {
		t.Errorf("history %+v, want one install at +720h35m40s", h)
	}
}

// TestPowerOffHoldsPrompts: InstallLater prompts and MaxUserDeferrals do not
// move while the Mac is off, however many days and nights go by.
func TestPowerOffHoldsPrompts(t *testing.T) {
	t.Parallel()
	t.Run("user defers", func(t *testing.T) {
		t.Parallel()
		// Without the off: a deferral at +12m40s, another at +24h12m40s,
		// the forced install at +48h12m40s (TestInstallActions).
		r := newRig(t, with(mac26, func(c *rigConfig) { c.user.Response = update.UserDismisses }))
		have := r.run(12*time.Hour+12*time.Minute+40*time.Second, []scripted{{atStart, item("InstallLater", "MaxUserDeferrals", 2)}})
		if st := r.d.UpdateState(); st.Prompts != 1 || st.Deferrals != 1 || st.Dismissals != 1 {
			t.Fatalf("before the off: %d prompts, %d dismissals, %d deferrals left; want 1, 1, 1", st.Prompts, st.Dismissals, st.Deferrals)
		}
		r.offFor(10 * 24 * time.Hour) // past the next prompt and the forced install
		have = append(have, r.line(r.status()))
		r.powerOn()
		// The next prompt had 12 h left.
		have = append(have, r.run(300*time.Hour, nil)...)
		compareTranscript(t, have, []string{
			"+0s schedule InstallLater: InstallLater Downloading",
			"+0s Idle 0.00 deferrals 2/2",
			"+1m0s Downloading 0.00 deferrals 2/2",
			"+1m50s Downloading 0.50 deferrals 2/2",
			"+2m40s Downloading 1.00 deferrals 2/2",
			"+12m40s Idle 1.00 downloaded deferrals 1/2",
			"version 26.6.1 (25G76)",
			"+252h12m40s offline",
			"+252h12m40s Idle 1.00 downloaded deferrals 1/2",
			"+264h12m40s Idle 1.00 downloaded deferrals 0/2",
			"+288h12m40s Installing 1.00 downloaded deferrals 0/2",
			"+288h14m40s offline",
			"+288h34m40s []",
			"version 26.6.2 (25G83)",
		})
	})
	t.Run("a deferral each night", func(t *testing.T) {
		t.Parallel()
		// Without the off the first night (02:00 in Paris, +16h) uses a
		// deferral and the second forces the install (TestInstallActions).
		r := newRig(t, with(mac26, func(c *rigConfig) {
			c.user.Response = update.UserIgnores
			c.timings = func(t *update.Timings) { t.Deferrals = update.DeferNightly }
		}))
		have := r.run(12*time.Hour, []scripted{{atStart, item("InstallLater", "MaxUserDeferrals", 2)}})
		r.offFor(5*24*time.Hour + 5*time.Hour) // five nights, back at 03:00
		have = append(have, r.line(r.status()))
		r.powerOn()
		have = append(have, r.line(r.status()))
		if st := r.d.UpdateState(); st.Prompts != 1 || st.Deferrals != 2 || len(r.d.UpdateHistory()) != 0 {
			t.Errorf("after five nights off: %d prompts, %d deferrals left, %d installs; want 1, 2, 0",
				st.Prompts, st.Deferrals, len(r.d.UpdateHistory()))
		}
		compareTranscript(t, have, []string{
			"+0s schedule InstallLater: InstallLater Downloading",
			"+0s Idle 0.00 deferrals 2/2",
			"+1m0s Downloading 0.00 deferrals 2/2",
			"+1m50s Downloading 0.50 deferrals 2/2",
			"+2m40s Downloading 1.00 deferrals 2/2",
			"+12m40s Idle 1.00 downloaded deferrals 2/2",
			"version 26.6.1 (25G76)",
			"+137h0m0s offline",
			"+137h0m0s Idle 1.00 downloaded deferrals 2/2",
		})
	})
}

// TestPowerOffDuringUpdateRestart: a Mac switched off while it restarts into
// an update is still off when the restart would have ended, and is back on
// the new OS only once switched on and the restart's last 10 minutes have
// passed.
func TestPowerOffDuringUpdateRestart(t *testing.T) {
	t.Parallel()
	r := newRig(t, mac26) // restarts from +15m40s to +35m40s
	have := r.run(25*time.Minute+40*time.Second, []scripted{{atStart, item("InstallASAP")}})
	if st := r.d.UpdateState(); st.Phase != PhaseRestarting || r.d.PoweredOn() {
		t.Fatalf("at +25m40s: %s, PoweredOn %v; want restarting", st.Phase, r.d.PoweredOn())
	}
	r.offFor(30 * 24 * time.Hour)
	if st := r.d.UpdateState(); st.Phase != PhaseRestarting {
		t.Errorf("switched off during the restart, a month later: %q, want still restarting", st.Phase)
	}
	have = append(have, r.line(r.status()))
	r.powerOn()
	on := r.clk.Now()
	if r.d.PoweredOn() {
		t.Error("PowerOn in the middle of the update's restart: reachable at once")
	}
	r.clk.Advance(10*time.Minute - time.Nanosecond)
	if id := r.d.Identity(); r.d.PoweredOn() || id.OSVersion != "26.6.1" {
		t.Errorf("a moment before the restart's 10 minutes: PoweredOn %v on %s", r.d.PoweredOn(), id.OSVersion)
	}
	r.clk.Advance(time.Nanosecond)
	have = append(have, r.line(r.status()), "version "+r.d.Identity().OSVersion)
	if _, ok := r.clk.Next(); ok {
		t.Error("a timer is left once the update is done")
	}
	compareTranscript(t, have, []string{
		"+0s schedule InstallASAP: InstallASAP Downloading",
		"+0s Idle 0.00",
		"+1m0s Downloading 0.00",
		"+1m50s Downloading 0.50",
		"+2m40s Downloading 1.00",
		"+12m40s Installing 1.00 downloaded",
		"+15m40s offline",
		"version 26.6.1 (25G76)",
		"+720h25m40s offline",
		"+720h35m40s []",
		"version 26.6.2",
	})
	if h := r.d.UpdateHistory(); len(h) != 1 || !h[0].InstalledAt.Equal(on.Add(10*time.Minute)) {
		t.Errorf("history %+v, want one install 10 minutes after PowerOn", h)
	}
	if have := strings.Join(r.checkins, ","); have != "GetBootstrapToken,TokenUpdate" || r.polls != 1 {
		t.Errorf("check-ins %s, %d polls; want GetBootstrapToken,TokenUpdate and one poll once back", have, r.polls)
	}
}

// TestShutDownDeviceStopsTimers: ShutDownDevice switches the device off
// with three timers pending (a prompt, a night, a background scan): it
// keeps all three, none fires while it is off, and they go on once it is
// switched on.
func TestShutDownDeviceStopsTimers(t *testing.T) {
	t.Parallel()
	r := newRig(t, with(mac26, func(c *rigConfig) {
		c.user.Response = update.UserIgnores
		c.timings = func(t *update.Timings) { t.Deferrals = update.DeferNightly }
	}))
	r.run(12*time.Hour, []scripted{{atStart, item("InstallLater", "MaxUserDeferrals", 2)}})
	if res := r.send(RequestScheduleOSUpdateScan, map[string]any{"Force": false}); res.Status != protocol.StatusAcknowledged {
		t.Fatalf("ScheduleOSUpdateScan: %s", res.Status)
	}
	scanning := func() bool {
		r.d.mu.Lock()
		defer r.d.mu.Unlock()
		return r.d.sw.more != nil && r.d.sw.more.scan != nil
	}
	// A device's timers share one clock timer, armed for the earliest.
	if n := r.d.timers.count(); n != 3 || r.clk.Pending() != 1 || !scanning() {
		t.Fatalf("%d device timers, %d clock timers, scanning %v; want the prompt, the night and the scan on one clock timer", n, r.clk.Pending(), scanning())
	}
	before := r.frozen()
	if res := r.send("ShutDownDevice", nil); res.Status != protocol.StatusAcknowledged {
		t.Fatalf("ShutDownDevice: %s %v", res.Status, res.ErrorChain)
	}
	if r.d.PoweredOn() || r.status() != "offline" {
		t.Fatal("ShutDownDevice did not switch the device off")
	}
	if n := r.d.timers.count(); n != 3 {
		t.Errorf("ShutDownDevice: %d device timers pending, want the same 3", n)
	}
	if n := r.clk.Pending(); n != 0 {
		t.Errorf("ShutDownDevice: %d clock timers armed, want none", n)
	}
	r.clk.Advance(10 * 24 * time.Hour)
	if after := r.frozen(); after != before {
		t.Errorf("ten days shut down changed the device:\nbefore\n%s\nafter\n%s", before, after)
	}
	if !scanning() {
		t.Error("the background scan ended while the device was off")
	}
	r.powerOn()
	on := r.clk.Now()
	if n := r.clk.Pending(); n != 1 || r.d.timers.count() != 3 {
		t.Errorf("after PowerOn: %d clock timers, %d device timers; want 1 and 3", n, r.d.timers.count())
	}
	if next, _ := r.clk.Next(); next.Sub(on) != 10*time.Minute {
		t.Errorf("the first timer after PowerOn is due %v later, want the scan's 10 minutes", next.Sub(on))
	}
	r.clk.Advance(10 * time.Minute)
	if scanning() || r.d.timers.count() != 2 {
		t.Errorf("10 minutes after PowerOn: scanning %v, %d timers; want the scan done and 2 timers", scanning(), r.d.timers.count())
	}
}

// TestPoweredOn: PoweredOn through PowerOff, PowerOn (each twice) and an
// update's own restart.
func TestPoweredOn(t *testing.T) {
	t.Parallel()
	r := newRig(t, mac26)
	check := func(step string, want bool) {
		t.Helper()
		if have := r.d.PoweredOn(); have != want {
			t.Errorf("%s: PoweredOn %v, want %v", step, have, want)
		}
	}
	check("new", true)
	r.schedule(item("InstallASAP"))
	r.clk.Advance(90 * time.Second) // downloading
	pending := r.clk.Pending()
	r.d.PowerOff()
	check("PowerOff", false)
	r.d.PowerOff()
	check("PowerOff twice", false)
	r.powerOn()
	check("PowerOn", true)
	r.powerOn()
	check("PowerOn twice", true)
	if n := r.clk.Pending(); n != pending {
		t.Errorf("%d clock timers after off, on, on; want the %d from before", n, pending)
	}
	for r.d.UpdateState().Phase != PhaseRestarting && r.clk.AdvanceToNext() {
	}
	check("restarting into the update", false)
	r.d.PowerOff()
	check("switched off while restarting", false)
	r.powerOn()
	check("switched on while still restarting", false)
	r.clk.Advance(20 * time.Minute)
	check("back on the new OS", true)
	if id := r.d.Identity(); id.OSVersion != "26.6.2" {
		t.Errorf("back on %s, want 26.6.2", id.OSVersion)
	}
}

// TestPowerOffKeepsDownloadProgress: a download switched off halfway is
// still halfway when the device is switched on, and reports so: PowerOn
// moves the job's download start by the time the device was off, and while
// off the share is measured at the time it was switched off.
func TestPowerOffKeepsDownloadProgress(t *testing.T) {
	t.Parallel()
	r := newRig(t, mac26)
	r.run(110*time.Second, []scripted{{atStart, item("InstallASAP")}})
	r.d.PowerOff()
	r.clk.Advance(24 * time.Hour)
	if p := r.d.UpdateState().Percent; p != 0.5 {
		t.Errorf("a day off halfway through the download: Percent %.2f, want 0.50", p)
	}
	r.powerOn()
	if have := r.status(); have != "Downloading 0.50" {
		t.Errorf("switched on halfway through the download: %s, want Downloading 0.50", have)
	}
	r.clk.Advance(25 * time.Second)
	if have := r.status(); have != "Downloading 0.75" {
		t.Errorf("25 s after PowerOn: %s, want Downloading 0.75", have)
	}
}

// TestPowerOffKeepsNextScheduledInstall: InstallLater reports when its next
// prompt comes; after a power cycle that is when the resumed prompt timer
// fires, not the time it had before the off (PowerOn moves j.nextInstall).
func TestPowerOffKeepsNextScheduledInstall(t *testing.T) {
	t.Parallel()
	r := newRig(t, with(mac26, func(c *rigConfig) { c.user.Response = update.UserDismisses }))
	r.run(12*time.Hour+12*time.Minute+40*time.Second, []scripted{{atStart, item("InstallLater", "MaxUserDeferrals", 2)}})
	r.d.PowerOff()
	r.clk.Advance(10 * 24 * time.Hour)
	r.powerOn()
	next, _ := r.clk.Next()
	if have := r.d.UpdateState().NextInstall; !have.Equal(next) {
		t.Errorf("NextInstall +%v, want +%v, when the next prompt comes", have.Sub(r.start), next.Sub(r.start))
	}
}
