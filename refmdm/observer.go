package refmdm

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/micromdm/nanomdm/mdm"
	"github.com/micromdm/nanomdm/service"
)

// CommandResult is one answer a device gave to a command, as the server saw it.
type CommandResult struct {
	UDID        string
	CommandUUID string
	RequestType string
	Status      string
	ErrorChain  []mdm.ErrorChain
	Raw         []byte
}

// DefaultResultWindow bounds the command results the stack keeps (see
// WithResultWindow).
const DefaultResultWindow = 1 << 18

// WithResultWindow bounds the command results the stack keeps, so its
// memory does not grow with the length of a run: it keeps the latest
// result of each (UDID, command UUID), for the most recent commands, and
// forgets whole commands, oldest first (by when they were enqueued or first
// answered), while it holds more than n results or remembers more than n
// commands. The newest command is never forgotten, however many devices
// answer it. n <= 0 means DefaultResultWindow (262 144), room for every
// command of the tests and scenarios; at ~1 KB of raw plist a result that
// is a few hundred MB at most.
func WithResultWindow(n int) Option { return func(c *config) { c.resultWindow = n } }

// observer watches NanoMDM's service chain: enrollments and command results.
// It runs inside the device's request, after NanoMDM's own service (see
// observed), so a result is recorded before the device has its answer: a
// discrete-event clock cannot move in between.
type observer struct {
	service.NopService
	mu       sync.Mutex
	changed  chan struct{}
	enrolled map[string]bool

	window int                    // bound on results and on commands kept
	cmds   map[string]*cmdResults // by command UUID
	order  []string               // command UUIDs, oldest first
	kept   int                    // results held in cmds
	seq    uint64                 // arrival order of results
	seen   int                    // results ever recorded
}

// cmdResults is what the observer keeps of one command.
type cmdResults struct {
	requestType string      // as enqueued
	results     []seqResult // latest per UDID, in order of first answer
	byUDID      map[string]int
}

type seqResult struct {
	seq uint64
	CommandResult
}

func newObserver(window int) *observer {
	if window <= 0 {
		window = DefaultResultWindow
	}
	return &observer{changed: make(chan struct{}), enrolled: map[string]bool{}, window: window, cmds: map[string]*cmdResults{}}
}

// command returns the entry of uuid, making it (and making room) if new;
// callers hold o.mu.
func (o *observer) command(uuid string) *cmdResults {
	if c, ok := o.cmds[uuid]; ok {
		return c
	}
	c := &cmdResults{byUDID: map[string]int{}}
	o.cmds[uuid] = c
	o.order = append(o.order, uuid)
	o.trim()
	return c
}

// trim forgets the oldest commands while over the window, never the
// newest; callers hold o.mu.
func (o *observer) trim() {
	i := 0
	for len(o.order)-i > 1 && (o.kept > o.window || len(o.order)-i > o.window) {
		old := o.order[i]
		o.kept -= len(o.cmds[old].results)
		delete(o.cmds, old)
		i++
	}
	if i > 0 {
		// Shift rather than reslice, so the array does not grow for good.
		o.order = append(o.order[:0], o.order[i:]...)
	}
}

// record keeps r as the latest result of (r.UDID, r.CommandUUID); callers
// hold o.mu.
func (o *observer) record(r CommandResult) {
	c := o.command(r.CommandUUID)
	r.RequestType = c.requestType
	o.seq++
	o.seen++
	if i, ok := c.byUDID[r.UDID]; ok {
		c.results[i] = seqResult{o.seq, r}
		return
	}
	c.byUDID[r.UDID] = len(c.results)
	c.results = append(c.results, seqResult{o.seq, r})
	o.kept++
	o.trim()
}

// all returns the results kept, in the order of their arrival; callers
// hold o.mu.
func (o *observer) all() []CommandResult {
	rs := make([]seqResult, 0, o.kept)
	for _, c := range o.cmds {
		rs = append(rs, c.results...)
	}
	slices.SortFunc(rs, func(a, b seqResult) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]CommandResult, len(rs))
	for i, r := range rs {
		out[i] = r.CommandResult
	}
	return out
}

// resultsFor returns the results kept for uuid; callers hold o.mu.
func (o *observer) resultsFor(uuid string) []CommandResult {
	c := o.cmds[uuid]
	if c == nil {
		return nil
	}
	out := make([]CommandResult, len(c.results))
	for i, r := range c.results {
		out[i] = r.CommandResult
	}
	return out
}

// answered is how many devices have answered uuid; callers hold o.mu.
func (o *observer) answered(uuid string) int {
	if c := o.cmds[uuid]; c != nil {
		return len(c.results)
	}
	return 0
}

// notify wakes every waiter; callers hold o.mu.
func (o *observer) notify() {
	close(o.changed)
	o.changed = make(chan struct{})
}

func (o *observer) TokenUpdate(r *mdm.Request, m *mdm.TokenUpdate) error {
	o.mu.Lock()
	o.enrolled[m.UDID] = true
	o.notify()
	o.mu.Unlock()
	return nil
}

func (o *observer) CheckOut(r *mdm.Request, m *mdm.CheckOut) error {
	o.mu.Lock()
	delete(o.enrolled, m.UDID)
	o.notify()
	o.mu.Unlock()
	return nil
}

func (o *observer) CommandAndReportResults(r *mdm.Request, res *mdm.CommandResults) (*mdm.Command, error) {
	if res.Status == "Idle" {
		return nil, nil
	}
	o.mu.Lock()
	o.record(CommandResult{UDID: res.UDID, CommandUUID: res.CommandUUID, Status: res.Status,
		ErrorChain: res.ErrorChain, Raw: res.Raw})
	o.notify()
	o.mu.Unlock()
	return nil, nil
}

// observed runs NanoMDM's service and then the observer, in the device's
// request. NanoMDM's multi would run the observer on a goroutine of its
// own, after the device may already have its answer.
type observed struct {
	service.CheckinAndCommandService
	obs *observer
}

func (s observed) TokenUpdate(r *mdm.Request, m *mdm.TokenUpdate) error {
	if err := s.CheckinAndCommandService.TokenUpdate(r, m); err != nil {
		return err
	}
	return s.obs.TokenUpdate(r, m)
}

func (s observed) CheckOut(r *mdm.Request, m *mdm.CheckOut) error {
	err := s.CheckinAndCommandService.CheckOut(r, m)
	s.obs.CheckOut(r, m)
	return err
}

func (s observed) CommandAndReportResults(r *mdm.Request, res *mdm.CommandResults) (*mdm.Command, error) {
	if res.Status != "Idle" {
		// The body as read has up to twice its length in capacity, and
		// both NanoMDM's storage and the observer keep the slice: one copy
		// of its length serves both (neither writes to it).
		res.Raw = bytes.Clone(res.Raw)
	}
	cmd, err := s.CheckinAndCommandService.CommandAndReportResults(r, res)
	s.obs.CommandAndReportResults(r, res)
	return cmd, err
}

func (o *observer) recordSent(commandUUID, requestType string) {
	o.mu.Lock()
	o.command(commandUUID).requestType = requestType
	o.mu.Unlock()
}

// wait blocks until cond (called with o.mu held) is true or ctx ends.
func (o *observer) wait(ctx context.Context, cond func() bool) error {
	for {
		o.mu.Lock()
		ok := cond()
		ch := o.changed
		o.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
