package simulator

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/simulator/update"
)

// drive plays a rig for limit of virtual time from its start, noting each
// distinct OSUpdateStatus answer with when it first showed. At checkpoint
// (from the start) it stops the clock there, notes the status and, if
// stop says so, returns early with ok false: the caller saves the device.
func (r *rig) drive(limit, checkpoint time.Duration, stop func(*rig) bool) (out []string, done bool) {
	r.t.Helper()
	last := ""
	note := func() {
		if s := r.status(); s != last {
			last = s
			out = append(out, fmt.Sprintf("+%v %s", r.elapsed(), s))
		}
	}
	note()
	for r.elapsed() < limit {
		next, ok := r.clk.Next()
		if !ok {
			break
		}
		if at := r.start.Add(checkpoint); checkpoint > 0 && r.clk.Now().Before(at) && !next.Before(at) {
			r.clk.Set(at)
			note()
			if stop != nil && stop(r) {
				return out, false
			}
			continue
		}
		if next.Sub(r.start) > limit {
			r.clk.Set(r.start.Add(limit))
			break
		}
		r.clk.AdvanceToNext()
		note()
	}
	st, err := r.d.State()
	if err != nil {
		r.t.Fatal(err)
	}
	return append(out, fmt.Sprintf("version %s (%s), %d installs, in progress %v", st.Identity.OSVersion,
		st.Identity.BuildVersion, len(st.History), st.Update != nil)), true
}

// TestRestoreUpdateInProgress saves a device in the middle of an update,
// restores it on a new device drawn from the same seed, as a resumed run
// does, and plays it on: the device reports, in OSUpdateStatus, exactly
// what an uninterrupted device of the same seed reports, down to its
// restart onto the new OS. A device restored after the simulator was away
// past its next step runs that step at once and still installs.
func TestRestoreUpdateInProgress(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	mac := with(mac26, func(c *rigConfig) { c.downloadTime = 30 * time.Minute })
	iphone := with(ios26, func(c *rigConfig) { c.downloadTime = 30 * time.Minute })
	cases := []struct {
		name       string
		c          rigConfig
		item       map[string]any
		checkpoint time.Duration // when the device is saved
		phase      UpdatePhase   // its phase then
		waiting    string
		gap        time.Duration // how long the simulator is away
	}{
		{name: "macOS InstallASAP, mid-download", c: mac, item: item("InstallASAP"),
			checkpoint: 16 * time.Minute, phase: PhaseDownloading},
		{name: "iOS InstallASAP, mid-download", c: iphone, item: item("InstallASAP"),
			checkpoint: 16 * time.Minute, phase: PhaseDownloading},
		{name: "macOS InstallLater, prepared, the user chose tonight",
			c:    with(mac, func(c *rigConfig) { c.user.Response = update.UserTonight }),
			item: item("InstallLater"), checkpoint: 3 * time.Hour, phase: PhasePrepared, waiting: "night"},
		{name: "macOS InstallLater, MaxUserDeferrals 2, prepared, the user defers",
			c:    with(mac, func(c *rigConfig) { c.user.Response = update.UserDismisses }),
			item: item("InstallLater", "MaxUserDeferrals", 2), checkpoint: 3 * time.Hour, phase: PhasePrepared, waiting: "user"},
		{name: "iOS InstallASAP, passcode, the user chose tonight",
			c: with(iphone, func(c *rigConfig) {
				c.user.Passcode, c.user.Response = true, update.UserTonight
			}),
			item: item("InstallASAP"), checkpoint: 3 * time.Hour, phase: PhasePrepared, waiting: "night"},
		{name: "macOS InstallASAP, away past the download's end", c: mac, item: item("InstallASAP"),
			checkpoint: 16 * time.Minute, phase: PhaseDownloading, gap: time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const limit = 3 * day
			whole := newRig(t, tc.c)
			whole.schedule(cloneItem(tc.item))
			want, _ := whole.drive(limit, tc.checkpoint, nil)

			first := newRig(t, tc.c)
			first.schedule(cloneItem(tc.item))
			var saved DeviceState
			var savedStatus string
			head, done := first.drive(limit, tc.checkpoint, func(r *rig) bool {
				st, err := r.d.State()
				if err != nil {
					t.Fatal(err)
				}
				saved, savedStatus = st, r.status()
				return true
			})
			if done || saved.Update == nil {
				t.Fatalf("not saved at +%v with an update in progress: %+v", tc.checkpoint, saved.Update)
			}
			if u := saved.Update; u.Phase != tc.phase || u.Waiting != tc.waiting {
				t.Fatalf("saved in phase %q waiting for %q, want %q, %q", u.Phase, u.Waiting, tc.phase, tc.waiting)
			}
			// Through JSON, as the state file keeps it.
			b, err := json.Marshal(saved.Update)
			if err != nil {
				t.Fatal(err)
			}
			saved.Update = nil
			if err := json.Unmarshal(b, &saved.Update); err != nil {
				t.Fatal(err)
			}

			second := newRig(t, tc.c)
			second.clk.Set(first.clk.Now().Add(tc.gap))
			if err := second.d.Restore(saved); err != nil {
				t.Fatal(err)
			}
			if got := second.d.UpdateState(); got.Phase != tc.phase && tc.gap == 0 {
				t.Fatalf("restored in phase %q, want %q", got.Phase, tc.phase)
			}
			second.n = first.n
			tail, _ := second.drive(limit, 0, nil)
			if tc.gap > 0 {
				// The download fell due while the simulator was away: the
				// device goes on from there at once and installs.
				if got, w := tail[len(tail)-1], want[len(want)-1]; got != w {
					t.Errorf("after a gap of %v the device ends with %q, want %q\n%q", tc.gap, got, w, tail)
				}
				at := fmt.Sprintf("+%v Downloading 1.00", tc.checkpoint+tc.gap)
				if len(tail) < 2 || tail[1] != at {
					t.Errorf("restored after the download's end: %q, want %q at once", tail, at)
				}
				return
			}
			// The restored device's first status repeats the saved one.
			got := append(head, tail[1:]...)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("restored at +%v:\n%s\nuninterrupted:\n%s", tc.checkpoint, lines(got), lines(want))
			}
			if w := fmt.Sprintf("+%v %s", tc.checkpoint, savedStatus); tail[0] != w {
				t.Errorf("restored, the device first reports %q; saved, %q", tail[0], w)
			}
		})
	}
}

func cloneItem(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func lines(s []string) string {
	out := ""
	for _, l := range s {
		out += "  " + l + "\n"
	}
	return out
}

// TestRestoreUpdateRefusesDamage: a saved update the device cannot resume
// (an unknown phase, step or release, too many notifications) is an error
// of Restore, not a panic or a stuck device.
func TestRestoreUpdateRefusesDamage(t *testing.T) {
	t.Parallel()
	r := newRig(t, mac26)
	r.schedule(item("InstallASAP"))
	r.clk.AdvanceToNext()
	st, err := r.d.State()
	if err != nil || st.Update == nil {
		t.Fatalf("no update saved: %v", err)
	}
	good := *st.Update
	for name, damage := range map[string]func(u *UpdateJobState){
		"phase":         func(u *UpdateJobState) { u.Phase = "bogus" },
		"no phase":      func(u *UpdateJobState) { u.Phase = PhaseNone },
		"step":          func(u *UpdateJobState) { u.Steps[0] = 200 },
		"night step":    func(u *UpdateJobState) { u.Steps[1] = uint8(stepCount) },
		"action":        func(u *UpdateJobState) { u.Action = 99 },
		"mode":          func(u *UpdateJobState) { u.Mode = 99 },
		"release":       func(u *UpdateJobState) { u.Build = "99Z999" },
		"from":          func(u *UpdateJobState) { u.From = "x.y" },
		"notifications": func(u *UpdateJobState) { u.Notifications = make([]time.Time, maxNotifications+1) },
	} {
		u := good
		damage(&u)
		st.Update = &u
		fresh := newRig(t, mac26)
		if err := fresh.d.Restore(st); err == nil {
			t.Errorf("%s: restored %+v", name, u)
		}
	}
	st.Update = &good
	if err := newRig(t, mac26).d.Restore(st); err != nil {
		t.Errorf("the undamaged state: %v", err)
	}
}
