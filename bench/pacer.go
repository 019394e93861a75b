package bench

import (
	"math"
	"time"
)

// A Pacer says when the next operation of an open-model run is due: given
// the time elapsed since the start and the hits offered so far, how long
// to wait before offering the next one, or stop. It is a pure function of
// its arguments, so a schedule can be checked on any clock (vegeta's
// design).
type Pacer interface {
	Pace(elapsed time.Duration, hits uint64) (wait time.Duration, stop bool)
}

// PacerFunc adapts a function to Pacer.
type PacerFunc func(elapsed time.Duration, hits uint64) (time.Duration, bool)

// Pace implements Pacer.
func (f PacerFunc) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return f(elapsed, hits)
}

// RatePacer offers Rate operations per second, reached by a linear ramp
// from 0 over Ramp, for Duration (0: until the runner's other limits).
type RatePacer struct {
	Rate     float64
	Ramp     time.Duration
	Duration time.Duration
}

// Hits is how many operations are due by elapsed.
func (p RatePacer) Hits(elapsed time.Duration) float64 {
	if p.Rate <= 0 || elapsed <= 0 {
		return 0
	}
	t, ramp := elapsed.Seconds(), p.Ramp.Seconds()
	if t < ramp {
		return p.Rate * t * t / (2 * ramp)
	}
	return p.Rate*ramp/2 + p.Rate*(t-ramp)
}

// due is when hit n (counting from 0) is due: the inverse of Hits.
func (p RatePacer) due(n uint64) time.Duration {
	ramp := p.Ramp.Seconds()
	x := float64(n)
	var t float64
	if rampHits := p.Rate * ramp / 2; ramp > 0 && x <= rampHits {
		t = math.Sqrt(2 * x * ramp / p.Rate)
	} else {
		t = ramp + (x-rampHits)/p.Rate
	}
	return time.Duration(t * float64(time.Second))
}

// Pace implements Pacer.
func (p RatePacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.Rate <= 0 {
		return 0, true
	}
	due := p.due(hits)
	if p.Duration > 0 && due >= p.Duration {
		return 0, true
	}
	if due <= elapsed {
		return 0, false
	}
	return due - elapsed, false
}
