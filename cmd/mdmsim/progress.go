package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/bench/report"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
)

// progressEvery is how often the status line reads a phase's counters.
const progressEvery = 200 * time.Millisecond

// reporter is what a run tells people and machines as it goes:
//   - human lines on stdout (none with --json);
//   - a status line on stderr, redrawn in place, when stderr is a terminal
//     and --quiet is not given: the phase, n/N, rate, ETA and the phase's
//     detail (virtual day, compliance so far);
//   - with --json --json-events, one JSON event per phase change on
//     stdout, before the summary.
type reporter struct {
	stdout   io.Writer
	json     bool
	events   bool
	progress *report.Progress
	began    time.Time

	mu       sync.Mutex
	cur      *jobs.Phase
	curStart time.Time
	stopPoll chan struct{}
	pollDone chan struct{}
}

// phaseEvent is a --json-events line.
type phaseEvent struct {
	Event string `json:"event"` // "phase" as one starts, "end" after the last
	Phase string `json:"phase,omitempty"`
	Total int    `json:"total,omitempty"`
	// Seconds is the wall time since the run began.
	Seconds float64 `json:"seconds"`
	// Ended is the phase that just ended.
	Ended *phaseEnd `json:"ended,omitempty"`
}

type phaseEnd struct {
	Phase   string  `json:"phase"`
	Done    *int    `json:"done,omitempty"`
	Detail  string  `json:"detail,omitempty"`
	Seconds float64 `json:"seconds"`
}

func newReporter(o outputFlags, stdout, stderr io.Writer) *reporter {
	r := &reporter{stdout: stdout, json: o.json, events: o.json && o.jsonEvents, began: wall.Now()}
	if !o.quiet {
		r.progress = report.NewProgress(stderr)
	} else {
		r.progress = report.NewProgress(stderr, report.WithTerminal(false))
	}
	return r
}

// newReporterOn is newReporter whose status line is drawn (or not) as
// terminal says, whatever stderr is: for tests.
func newReporterOn(o outputFlags, stdout, stderr io.Writer, terminal bool) *reporter {
	r := newReporter(o, stdout, stderr)
	r.progress = report.NewProgress(stderr, report.WithTerminal(terminal && !o.quiet), report.WithProgressInterval(0))
	return r
}

// say prints a human line on stdout, above the status line; nothing with
// --json.
func (r *reporter) say(format string, a ...any) {
	if r.json {
		return
	}
	r.progress.Above(func() { fmt.Fprintf(r.stdout, format+"\n", a...) })
}

// onPhase ends the current phase and starts p.
func (r *reporter) onPhase(p jobs.Phase) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ended := r.endLocked()
	now := wall.Now()
	r.cur, r.curStart = &p, now
	if r.events {
		r.emit(phaseEvent{Event: "phase", Phase: p.Name, Total: p.Total, Seconds: seconds(now.Sub(r.began)), Ended: ended})
	}
	if !r.progress.Enabled() {
		return
	}
	r.progress.Phase(p.Name, p.Total)
	if p.Detail != nil {
		r.progress.SetDetail(p.Detail)
	}
	if p.Done == nil && p.Detail == nil {
		return
	}
	r.stopPoll, r.pollDone = make(chan struct{}), make(chan struct{})
	go r.poll(p, r.stopPoll, r.pollDone)
}

// poll moves the status line on from the phase's counters until stop.
func (r *reporter) poll(p jobs.Phase, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if p.Done != nil {
				r.progress.Set(p.Done())
			} else {
				r.progress.Flush()
			}
		}
	}
}

// endLocked ends the current phase: its final count on the status line,
// and what the event stream says of it.
func (r *reporter) endLocked() *phaseEnd {
	if r.cur == nil {
		return nil
	}
	p := r.cur
	r.cur = nil
	if r.stopPoll != nil {
		close(r.stopPoll)
		<-r.pollDone
		r.stopPoll = nil
	}
	e := &phaseEnd{Phase: p.Name, Seconds: seconds(wall.Since(r.curStart))}
	if p.Done != nil {
		n := p.Done()
		e.Done = &n
		r.progress.Set(n)
	}
	if p.Detail != nil {
		e.Detail = p.Detail()
	}
	r.progress.Done()
	return e
}

// end ends the last phase; the summary comes after it.
func (r *reporter) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	ended := r.endLocked()
	if r.events && ended != nil {
		r.emit(phaseEvent{Event: "end", Seconds: seconds(wall.Since(r.began)), Ended: ended})
	}
}

func (r *reporter) emit(e phaseEvent) {
	b, _ := json.Marshal(e)
	fmt.Fprintln(r.stdout, string(b))
}

func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }
