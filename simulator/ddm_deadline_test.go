package simulator_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// Apple-silicon Macs under DDM (update-behaviour.md B3): the enforced
// install needs a volume owner's authorisation, which the escrowed
// bootstrap token gives.
var enfSiliconMac = deviceSpec{"Mac14,2", "15.6", "24G84", true}

// With the token escrowed at the first session, the Mac fetches it before
// the forced install and installs at the deadline.
func TestEnforceAppleSiliconWithBootstrapToken(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfSiliconMac, update.UserProfile{Response: update.UserIgnores},
		enfDeclSpec{id: "su", target: "15.7.1", due: 24 * time.Hour})
	dl := r.deadline(24 * time.Hour)
	r.clk.Set(dl.Add(2 * time.Hour))
	checkStates(t, r.states(), []string{"waiting@15.6", "downloading", "prepared", "installing", "none@15.7.1"})
	at := r.installedAt("15.7.1")
	if at.Before(dl) || at.After(dl.Add(time.Hour)) {
		t.Errorf("installed at %v, want within the hour after the deadline %v", at, dl)
	}
	r.srv.mu.Lock()
	checkins := slices.Clone(r.srv.checkins)
	r.srv.mu.Unlock()
	if !slices.Equal(checkins[:2], []string{"SetBootstrapToken", "GetBootstrapToken"}) {
		t.Errorf("check-ins %q, want the token escrowed then fetched for the install", checkins)
	}
	if fr, _ := r.item("failure-reason").(map[string]any); fmt.Sprint(fr["count"]) != "0" {
		t.Errorf("failure-reason %v", fr)
	}
}

// Without a bootstrap token or a volume owner the Mac cannot install: it
// reports the failure (SUMacControllerError 7507, B3.2) and tries again
// every EnforcementRetryInterval, counting each attempt, instead of sitting
// at prepared with no failure.
func TestEnforceAppleSiliconWithoutBootstrapToken(t *testing.T) {
	t.Parallel()
	srv := newDDMServer(t)
	cat := catalog.Default()
	d, clk := newDDMDevice(t, srv, enfSiliconMac, simulator.WithCatalog(cat))
	// No secure-token user ever logged in: nothing is escrowed, and the
	// user cannot authorise the update.
	d.SetEnvironment(update.Environment{NoBootstrapToken: true})
	d.SetUserProfile(update.UserProfile{Response: update.UserIgnores, NoSecureToken: true})
	r := &enfRig{t: t, srv: srv, d: d, clk: clk, cat: cat, t0: clk.Now()}
	r.declare(enfDeclSpec{id: "su", target: "15.7.1", due: 24 * time.Hour})
	dl := r.deadline(24 * time.Hour)
	r.clk.Set(dl.Add(-time.Minute))
	checkStates(t, r.states(), []string{"waiting@15.6", "downloading", "prepared"})
	r.clk.Set(dl.Add(3*time.Hour + time.Minute))
	checkStates(t, r.states(), []string{"waiting@15.6", "downloading", "prepared",
		"failed", "prepared", "failed", "prepared", "failed", "prepared", "failed"})
	if len(r.d.UpdateHistory()) != 0 {
		t.Fatalf("installed without authorisation: %+v", r.d.UpdateHistory())
	}
	fr, _ := r.item("failure-reason").(map[string]any)
	if fr["reason"] != simulator.FailureNoBootstrapToken || fmt.Sprint(fr["count"]) != "4" {
		t.Errorf("failure-reason %v, want a count of 4 (the deadline and three hourly retries) and %q", fr, simulator.FailureNoBootstrapToken)
	}
	if ts, _ := fr["timestamp"].(string); ts != dl.Add(3*time.Hour).UTC().Format(time.RFC3339) {
		t.Errorf("failure timestamp %v, want the last retry at %v", fr["timestamp"], dl.Add(3*time.Hour).UTC())
	}
	r.srv.mu.Lock()
	gets := 0
	for _, c := range r.srv.checkins {
		if c == "GetBootstrapToken" {
			gets++
		}
	}
	r.srv.mu.Unlock()
	if gets != 4 {
		t.Errorf("%d GetBootstrapToken check-ins, want one per attempt (4)", gets)
	}
	// A volume owner logs in and authenticates: the next retry installs.
	r.d.SetUserProfile(update.UserProfile{Response: update.UserActs, ResponseDelay: 5 * time.Minute})
	r.run(2 * time.Hour)
	if at := r.installedAt("15.7.1"); at.Before(dl.Add(4 * time.Hour)) {
		t.Errorf("installed at %v, before the retry", at)
	}
}

// At the deadline a Mac shows the restart countdown (60 s) that nobody can
// dismiss, then restarts; under quirk Q12 it restarts with no warning at
// all, no notification and no countdown.
func TestEnforceDeadlineCountdown(t *testing.T) {
	t.Parallel()
	for _, q12 := range []bool{false, true} {
		t.Run(fmt.Sprint("q12=", q12), func(t *testing.T) {
			t.Parallel()
			r := newEnfRig(t, enfMac, update.UserProfile{Response: update.UserDismisses, BlockingApps: true})
			if err := r.d.SetQuirk(update.QuirkDDMNoWarning, q12); err != nil {
				t.Fatal(err)
			}
			r.declare(enfDeclSpec{id: "su", target: "15.7.1", due: 48 * time.Hour})
			dl := r.deadline(48 * time.Hour)
			r.clk.Set(dl.Add(30 * time.Second))
			st := r.d.EnforcementState()
			us := r.d.UpdateState()
			if q12 {
				if len(st.Notifications) != 0 || !st.Countdown.IsZero() || us.Phase != simulator.PhaseInstalling {
					t.Errorf("quirk Q12: notifications %v, countdown %v, phase %s; want none, none, installing", st.Notifications, st.Countdown, us.Phase)
				}
			} else {
				if len(st.Notifications) == 0 || !st.Countdown.Equal(dl) || us.Phase != simulator.PhaseCountdown {
					t.Errorf("notifications %d, countdown %v, phase %s; want some, at the deadline %v, countdown", len(st.Notifications), st.Countdown, us.Phase, dl)
				}
			}
			r.run(2 * time.Hour)
			checkStates(t, r.states(), []string{"none@15.6", "waiting", "downloading", "prepared", "installing", "none@15.7.1"})
			h := r.d.UpdateHistory()
			if len(h) != 1 || !h[0].DataLoss {
				t.Fatalf("history %+v, want one forced install over unsaved work", h)
			}
			start := dl.Add(update.DefaultTimings().Countdown)
			if q12 {
				start = dl
			}
			if min := start.Add(update.DefaultTimings().ApplyMac.Min); h[0].InstalledAt.Before(min) {
				t.Errorf("installed at %v, before %v", h[0].InstalledAt, min)
			}
		})
	}
}

// Past the deadline an iPhone without a passcode restarts into the update
// at once: no countdown, no prompt (update-behaviour.md B4.5); the reports
// go from prepared to installing at the deadline.
func TestEnforceIOSNoPasscodeRestartsAtDeadline(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfIPhone, update.UserProfile{Response: update.UserIgnores},
		enfDeclSpec{id: "su", target: "18.7", due: 30 * time.Hour})
	dl := r.deadline(30 * time.Hour)
	r.clk.Set(dl.Add(-time.Second))
	checkStates(t, r.states(), []string{"waiting@18.6", "downloading", "prepared"})
	r.clk.Set(dl)
	st := r.d.EnforcementState()
	if !st.Unusable || !st.Countdown.IsZero() || r.d.UpdateState().Phase != simulator.PhaseInstalling {
		t.Errorf("at the deadline: %+v, phase %s; want unusable, no countdown, installing", st, r.d.UpdateState().Phase)
	}
	checkStates(t, r.states(), []string{"waiting@18.6", "downloading", "prepared", "installing"})
	r.run(time.Hour)
	if at := r.installedAt("18.7.1"); at.After(dl.Add(30 * time.Minute)) {
		t.Errorf("installed at %v", at)
	}
}

// Quirk Q15 under DDM: the token is escrowed, yet the Mac asks its user,
// who does not answer; the attempt fails as any stopped attempt does, not
// for want of a token.
func TestEnforceAppleSiliconTokenNag(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfSiliconMac, update.UserProfile{Response: update.UserIgnores})
	if err := r.d.SetQuirk(update.QuirkBootstrapTokenNag, true); err != nil {
		t.Fatal(err)
	}
	r.declare(enfDeclSpec{id: "su", target: "15.7.1", due: 24 * time.Hour})
	dl := r.deadline(24 * time.Hour)
	r.clk.Set(dl.Add(time.Minute))
	if !r.d.BootstrapTokenEscrowed() {
		t.Fatal("no token escrowed")
	}
	fr, _ := r.item("failure-reason").(map[string]any)
	if fr["reason"] != simulator.FailureGeneric || fmt.Sprint(fr["count"]) != "1" {
		t.Errorf("failure-reason %v, want one %q", fr, simulator.FailureGeneric)
	}
	if len(r.d.UpdateHistory()) != 0 {
		t.Errorf("installed %+v", r.d.UpdateHistory())
	}
}

// An iPhone with a passcode under DDM (Iru's iOS Managed OS user
// experience, [S38]): before the deadline only the Settings badge; past it
// the Lock Screen and Home Screen prompt, which the user may put off
// ("Remind Me Later") three times before the update installs; "Later"
// installs overnight.
func TestEnforceIOSPasscodePrompt(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	t.Run("remind-me-later", func(t *testing.T) {
		t.Parallel()
		r := newEnfRig(t, enfIPhone, update.UserProfile{Response: update.UserDismisses, Passcode: true, ResponseDelay: 5 * time.Minute},
			enfDeclSpec{id: "su", target: "18.7", due: 2 * day})
		dl := r.deadline(2 * day)
		r.clk.Set(dl.Add(-time.Second))
		if n := r.d.EnforcementState().Notifications; len(n) != 1 || !n[0].Equal(r.t0) {
			t.Errorf("before the deadline: notifications %v, want the badge at %v only", n, r.t0)
		}
		r.clk.Set(dl.Add(3*day + time.Hour))
		want := []time.Time{r.t0, dl, dl.Add(day), dl.Add(2 * day), dl.Add(3 * day)}
		if have := r.d.EnforcementState().Notifications; !slices.EqualFunc(have, want, time.Time.Equal) {
			t.Errorf("notifications\nhave %v\nwant %v", have, want)
		}
		if at := r.installedAt("18.7.1"); at.Before(dl.Add(3*day+5*time.Minute)) || at.After(dl.Add(3*day+time.Hour)) {
			t.Errorf("installed at %v, want after the fourth prompt at %v", at, dl.Add(3*day))
		}
		checkStates(t, r.states(), []string{"waiting@18.6", "downloading", "prepared", "installing", "none@18.7.1"})
	})
	t.Run("later", func(t *testing.T) {
		t.Parallel()
		// The user leaves the badge alone, then answers the prompt with
		// "Later".
		r := newEnfRig(t, enfIPhone, update.UserProfile{Response: update.UserIgnores, Passcode: true},
			enfDeclSpec{id: "su", target: "18.7", due: 2 * day})
		dl := r.deadline(2 * day)
		r.clk.Set(dl.Add(-time.Minute))
		r.d.SetUserProfile(update.UserProfile{Response: update.UserTonight, Passcode: true})
		r.clk.Set(dl.Add(day))
		at := r.installedAt("18.7.1")
		local := at.In(r.d.Identity().Location())
		if at.Before(dl) || local.Hour() >= 6 && local.Hour() < 22 {
			t.Errorf("installed at %v (%v local), want the night after the deadline", at, local)
		}
		reason, _ := r.item("install-reason").(map[string]any)
		if fmt.Sprint(reason["reason"]) != "[install-tonight]" {
			t.Errorf("install-reason %v", reason)
		}
	})
}
