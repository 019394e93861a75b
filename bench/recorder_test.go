package bench

import (
	"errors"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/clock"
)

// TestRecordVirtual: latencies on a world's virtual clock keep their days
// (beyond the hour a wall latency is bounded to), count errors by kind,
// stay out of the timeline and the observer, and have no rate.
func TestRecordVirtual(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	obs := &countingObserver{ok: map[string]int{}, errs: map[string]int{}}
	rec := NewRecorder(clock.Real(), time.Second)
	rec.Observe(obs)
	for _, d := range []time.Duration{0, time.Hour, 2 * day, 5 * day, 500 * day} {
		rec.RecordVirtual("time-to-compliant", d, nil)
	}
	rec.RecordVirtual("time-to-compliant", 0, &KindError{Kind: "not-supervised", Err: errors.New("no")})
	rec.Record("rollout", 2*time.Hour)
	var res Result
	rec.fill(&res, time.Second)

	st := res.Ops["time-to-compliant"]
	if st == nil || st.Count != 5 || st.Errors != 1 || !st.Virtual || st.Rate != 0 {
		t.Fatalf("time-to-compliant: have %+v, want 5 samples, 1 error, virtual, no rate", st)
	}
	// Three significant digits: within 0.1%.
	near := func(have Duration, want time.Duration) bool {
		d := time.Duration(have) - want
		return d >= -want/1000 && d <= want/1000
	}
	if !near(st.P50, 2*day) || !near(st.P90, 366*day) || !near(st.Max, 366*day) || st.Min != Duration(time.Microsecond) {
		t.Errorf("time-to-compliant: min %v p50 %v p90 %v max %v; want 1µs, 2 days, then a year (the bound)", st.Min, st.P50, st.P90, st.Max)
	}
	if res.Errors["not-supervised"] != 1 {
		t.Errorf("errors: have %v, want not-supervised=1", res.Errors)
	}
	// A wall latency stays bounded to an hour and has a rate.
	if w := res.Ops["rollout"]; w == nil || w.Virtual || time.Duration(w.Max) > time.Hour+time.Hour/1000 || w.Rate != 1 {
		t.Errorf("rollout: have %+v, want a wall latency of at most an hour at 1/s", w)
	}
	for _, iv := range res.Timeline {
		if _, ok := iv.Ops["time-to-compliant"]; ok || iv.Errors != 0 {
			t.Errorf("timeline interval %+v holds a virtual outcome", iv)
		}
	}
	if obs.ok["time-to-compliant"]+obs.errs["time-to-compliant"] != 0 || obs.ok["rollout"] != 1 {
		t.Errorf("observer saw %v and errors %v; want the rollout only", obs.ok, obs.errs)
	}
}
