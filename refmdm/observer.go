package refmdm

import (
	"context"
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

// observer watches NanoMDM's service chain: enrollments and command results.
// It runs inside the device's request, after NanoMDM's own service (see
// observed), so a result is recorded before the device has its answer: a
// discrete-event clock cannot move in between.
type observer struct {
	service.NopService
	mu       sync.Mutex
	changed  chan struct{}
	enrolled map[string]bool
	results  []CommandResult
	byUUID   map[string][]int
	sentType map[string]string // CommandUUID -> RequestType, as enqueued
}

func newObserver() *observer {
	return &observer{changed: make(chan struct{}), enrolled: map[string]bool{}, byUUID: map[string][]int{}, sentType: map[string]string{}}
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
	cr := CommandResult{UDID: res.UDID, CommandUUID: res.CommandUUID, Status: res.Status,
		ErrorChain: res.ErrorChain, Raw: res.Raw, RequestType: o.sentType[res.CommandUUID]}
	o.byUUID[res.CommandUUID] = append(o.byUUID[res.CommandUUID], len(o.results))
	o.results = append(o.results, cr)
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
	cmd, err := s.CheckinAndCommandService.CommandAndReportResults(r, res)
	s.obs.CommandAndReportResults(r, res)
	return cmd, err
}

func (o *observer) recordSent(commandUUID, requestType string) {
	o.mu.Lock()
	o.sentType[commandUUID] = requestType
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
