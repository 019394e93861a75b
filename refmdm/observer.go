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
// NanoMDM runs secondary services asynchronously, so waiters block on a
// condition rather than assuming a result is recorded when a device's
// request returns.
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
