package simulator

import (
	"slices"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/simulator/update"
)

// TestSeededJitter: with the default timings every device draws its own
// durations, the same seed replays them exactly, and each lies in its range.
func TestSeededJitter(t *testing.T) {
	t.Parallel()
	run := func(seed int64) ([]string, []UpdateRecord) {
		c := with(mac26, func(c *rigConfig) {
			c.seed = seed
			c.downloadTime = 0
			c.timings = func(t *update.Timings) { *t = update.DefaultTimings() }
		})
		r := newRig(t, c)
		return r.run(24*time.Hour, []scripted{{atStart, item("InstallASAP")}}), r.d.UpdateHistory()
	}
	a, ha := run(1)
	b, _ := run(1)
	c, _ := run(2)
	if !slices.Equal(a, b) {
		t.Errorf("the same seed gave two runs:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("two seeds gave the same run:\n%v", a)
	}
	// Accept 30–90 s, download at 10.7 MB/s ± 50%, prepare 8–11 min,
	// countdown 60 s, apply 2–3 min, restart 10–30 min.
	if len(ha) != 1 {
		t.Fatalf("history %v", ha)
	}
	took := ha[0].InstalledAt.Sub(rigStart)
	size := 1028028932.0
	lo := 30*time.Second + time.Duration(size/(1.5*update.DefaultMacBandwidth)*float64(time.Second)) + 8*time.Minute + time.Minute + 2*time.Minute + 10*time.Minute
	hi := 90*time.Second + time.Duration(size/(0.5*update.DefaultMacBandwidth)*float64(time.Second)) + 11*time.Minute + time.Minute + 3*time.Minute + 30*time.Minute
	if took < lo || took > hi {
		t.Errorf("the update took %v, want within [%v, %v]", took, lo, hi)
	}
}

func TestUpdateTimingsValidate(t *testing.T) {
	t.Parallel()
	if err := update.DefaultTimings().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, edit := range map[string]func(*update.Timings){
		"no bandwidth":     func(t *update.Timings) { t.MacBandwidth = 0 },
		"min above max":    func(t *update.Timings) { t.PrepareMac = update.Range{Min: time.Hour, Max: time.Minute} },
		"jitter of 1":      func(t *update.Timings) { t.BandwidthJitter = 1 },
		"night at 25:00":   func(t *update.Timings) { t.NightStart = 25 * time.Hour },
		"unknown policy":   func(t *update.Timings) { t.Deferrals = 7 },
		"battery above 1":  func(t *update.Timings) { t.MinInstallBattery = 2 },
		"no prompt period": func(t *update.Timings) { t.PromptInterval = 0 },
	} {
		tm := update.DefaultTimings()
		edit(&tm)
		if tm.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
