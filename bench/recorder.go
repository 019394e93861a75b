package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Histogram bounds: microsecond resolution, up to an hour, three
// significant digits for a whole run and two for a timeline interval
// (an interval's p99 is a chart's point, not a verdict).
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 3
	slotDigits  = 2
	// histHighestVirtual bounds latencies on a world's virtual clock: a
	// rollout's time to compliance runs to weeks.
	histHighestVirtual = int64(366 * 24 * time.Hour / time.Microsecond)
)

// DefaultInterval is the timeline's resolution.
const DefaultInterval = time.Second

// Recorder collects the latencies and errors of a run: one HDR histogram
// per operation for the whole run, and one per operation and interval for
// the timeline. It is safe for concurrent use; a workload's operations
// record extra samples through it (a push storm records each device's
// push-to-answer latency).
type Recorder struct {
	observer atomic.Pointer[Observer]
	clk      clock.Clock
	start    time.Time
	interval time.Duration

	mu     sync.Mutex
	ops    map[string]*opRecord
	slots  []*slot
	errors map[string]int64
}

type opRecord struct {
	h      *hdr.Histogram
	errors int64
	// virtual: the latencies are on a world's virtual clock.
	virtual bool
}

type slot struct {
	ops    map[string]*hdr.Histogram
	errors int64
}

// NewRecorder starts a recorder at clk's now; interval <= 0 means
// DefaultInterval.
func NewRecorder(clk clock.Clock, interval time.Duration) *Recorder {
	if clk == nil {
		clk = clock.Real()
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Recorder{clk: clk, start: clk.Now(), interval: interval, ops: map[string]*opRecord{}, errors: map[string]int64{}}
}

func (r *Recorder) slotLocked() *slot {
	i := int(r.clk.Since(r.start) / r.interval)
	if i < 0 {
		i = 0
	}
	for len(r.slots) <= i {
		r.slots = append(r.slots, nil)
	}
	if r.slots[i] == nil {
		r.slots[i] = &slot{ops: map[string]*hdr.Histogram{}}
	}
	return r.slots[i]
}

func (r *Recorder) opLocked(op string) *opRecord {
	o := r.ops[op]
	if o == nil {
		o = &opRecord{h: hdr.New(histLowest, histHighest, histDigits)}
		r.ops[op] = o
	}
	return o
}

func micros(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	return min(max(us, histLowest), histHighest)
}

// Observer sees every operation as it completes: live metrics for a long
// run (bench/report.Metrics is one).
type Observer interface {
	Observe(op string, d time.Duration, err error)
}

// GaugeObserver is an Observer that also follows two levels as they
// change: operations in flight (Run) and devices enrolled (RunWorkload).
type GaugeObserver interface {
	Observer
	SetInFlight(n int)
	SetEnrolled(n int)
}

// Observe sends every operation to o as well.
func (r *Recorder) Observe(o Observer) { r.observer.Store(&o) }

// Record adds one successful operation's latency.
func (r *Recorder) Record(op string, d time.Duration) {
	if o := r.observerOf(); o != nil {
		o.Observe(op, d, nil)
	}
	v := micros(d)
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.opLocked(op).h.RecordValue(v)
	s := r.slotLocked()
	h := s.ops[op]
	if h == nil {
		h = hdr.New(histLowest, histHighest, slotDigits)
		s.ops[op] = h
	}
	_ = h.RecordValue(v)
}

// RecordVirtual records one outcome of op timed on a world's virtual clock
// rather than the run's (a rollout's time to compliance, in virtual days):
// with err nil, d goes into op's histogram, which holds up to a year; else
// err is counted by kind. Neither goes into the timeline, whose intervals
// are the run's own time, nor to the observer, which follows the run's
// work as it happens. An op is recorded one way or the other, not both.
func (r *Recorder) RecordVirtual(op string, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.ops[op]
	if o == nil {
		o = &opRecord{h: hdr.New(histLowest, histHighestVirtual, histDigits), virtual: true}
		r.ops[op] = o
	}
	if err != nil {
		o.errors++
		r.errors[ErrorKind(err)]++
		return
	}
	us := int64(d / time.Microsecond)
	_ = o.h.RecordValue(min(max(us, histLowest), o.h.HighestTrackableValue()))
}

// observerOf reads the observer without the recorder's lock, which every
// operation of every worker takes once already.
func (r *Recorder) observerOf() Observer {
	if o := r.observer.Load(); o != nil {
		return *o
	}
	return nil
}

// Error counts a failed operation, by the kind ErrorKind gives err.
func (r *Recorder) Error(op string, err error) {
	if o := r.observerOf(); o != nil {
		o.Observe(op, 0, err)
	}
	kind := ErrorKind(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opLocked(op).errors++
	r.errors[kind]++
	r.slotLocked().errors++
}

// Count adds n to an error-like counter of the run without an operation
// ("dropped", "late").
func (r *Recorder) Count(kind string, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors[kind] += n
}

// fill writes the recorded figures into res; wall is the run's length.
func (r *Recorder) fill(res *Result, wall time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res.Ops = map[string]*OpStats{}
	for name, o := range r.ops {
		st := stats(o.h)
		st.Errors = o.errors
		// A rate of virtual latencies per second of the run means nothing.
		st.Virtual = o.virtual
		if wall > 0 && !o.virtual {
			st.Rate = float64(st.Count) / wall.Seconds()
		}
		res.Ops[name] = st
	}
	res.Errors = map[string]int64{}
	for k, n := range r.errors {
		if n > 0 {
			res.Errors[k] = n
		}
	}
	res.Timeline = make([]Interval, 0, len(r.slots))
	for i, s := range r.slots {
		iv := Interval{At: Duration(time.Duration(i) * r.interval), Ops: map[string]int64{}, P99: map[string]Duration{}}
		if s != nil {
			for name, h := range s.ops {
				iv.Ops[name] = h.TotalCount()
				iv.P99[name] = us(h.ValueAtQuantile(99))
			}
			iv.Errors = s.errors
		}
		res.Timeline = append(res.Timeline, iv)
	}
}

func us(v int64) Duration { return Duration(time.Duration(v) * time.Microsecond) }

func stats(h *hdr.Histogram) *OpStats {
	if h.TotalCount() == 0 {
		return &OpStats{}
	}
	return &OpStats{
		Histogram: exportHistogram(h),
		Count:     h.TotalCount(),
		Min:       us(h.Min()),
		Mean:      Duration(time.Duration(h.Mean() * float64(time.Microsecond))),
		P50:       us(h.ValueAtQuantile(50)),
		P90:       us(h.ValueAtQuantile(90)),
		P99:       us(h.ValueAtQuantile(99)),
		P999:      us(h.ValueAtQuantile(99.9)),
		Max:       us(h.Max()),
	}
}

// KindError gives an error the kind it is counted under.
type KindError struct {
	Kind string
	Err  error
}

func (e *KindError) Error() string { return e.Kind + ": " + e.Err.Error() }
func (e *KindError) Unwrap() error { return e.Err }

// Error kinds besides "http-NNN".
const (
	KindTimeout    = "timeout"
	KindCanceled   = "canceled"
	KindConnection = "connection"
	KindOther      = "other"
	// KindDropped counts open-model hits not run because MaxInFlight
	// operations were outstanding; KindLate those offered behind
	// schedule.
	KindDropped = "dropped"
	KindLate    = "late"
)

// ErrorKind names the kind of a failure for Result.Errors: a KindError's
// kind, "http-NNN" for a server's non-200 answer, "timeout", "canceled",
// "connection", else "other".
func ErrorKind(err error) string {
	var ke *KindError
	var he *protocol.HTTPError
	var ne net.Error
	switch {
	case errors.As(err, &ke):
		return ke.Kind
	case errors.As(err, &he):
		return fmt.Sprintf("http-%d", he.StatusCode)
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.As(err, &ne):
		return KindConnection
	}
	return KindOther
}

// OpNames returns the operations of a result, sorted.
func (r *Result) OpNames() []string {
	names := make([]string, 0, len(r.Ops))
	for n := range r.Ops {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
