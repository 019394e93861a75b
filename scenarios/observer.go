package scenarios

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Answer is one device's answer to a command, as the device sent it and
// the server received it.
type Answer struct {
	UDID        string
	CommandUUID string
	RequestType string
	Status      protocol.Status
	ErrorChain  []protocol.ErrorChainItem
	// Raw is the answer's plist.
	Raw []byte
}

// DDMStatus is the last a device reported of the items the reference
// enforcers read. Reports carry only what changed; these values are the
// latest of each.
type DDMStatus struct {
	OSVersion      string
	BuildVersion   string
	InstallState   string
	PendingVersion string
	FailureReason  string
	FailureCount   int
	// Declarations holds, by declaration Identifier, "valid", "invalid" or
	// "unknown" as the device last reported it.
	Declarations map[string]string
	Reports      int
}

// Observer watches devices from their side: every answer to a command and
// every DDM status report, whatever the server. Answers are kept only for
// the commands someone Expects, and DDM values only the latest per device,
// so memory does not grow with the length of a run.
type Observer struct {
	// mu guards expect and ddm. Every answer of the whole fleet looks its
	// command up in expect, almost always in vain: a read lock, so the
	// devices do not queue behind one another for it.
	mu      sync.RWMutex
	expect  map[string]*expectation // CommandUUID ->
	ddm     map[string]*DDMStatus   // UDID ->
	answers atomic.Int64
	reports atomic.Int64
}

type expectation struct {
	answers []Answer
	waiters []answerWaiter
}

// answerWaiter is someone waiting for the nth answer to a command.
type answerWaiter struct {
	n int
	u *clock.Wakeup
}

// NewObserver returns an empty observer; plug its OnEvent into the devices
// with simulator.WithEvents.
func NewObserver() *Observer {
	return &Observer{expect: map[string]*expectation{}, ddm: map[string]*DDMStatus{}}
}

// OnEvent records a device's event. It runs on the device's goroutine,
// after the server has the answer or report.
func (o *Observer) OnEvent(e simulator.Event) {
	switch e.Kind {
	case simulator.EventCommand:
		if e.Err != nil || e.Result == nil {
			return
		}
		o.answers.Add(1)
		o.mu.RLock()
		x := o.expect[e.CommandUUID]
		o.mu.RUnlock()
		if x == nil {
			return
		}
		raw, _ := e.Result.Marshal()
		a := Answer{UDID: e.UDID, CommandUUID: e.CommandUUID, RequestType: e.RequestType, Status: e.Status,
			ErrorChain: e.Result.ErrorChain, Raw: raw}
		o.mu.Lock()
		if x := o.expect[e.CommandUUID]; x != nil {
			x.answers = append(x.answers, a)
			x.wakeLocked()
		}
		o.mu.Unlock()
	case simulator.EventStatusReport:
		o.report(e.UDID, e.Data)
	}
}

// Expect starts keeping the answers to a command; call it before the
// command is queued.
func (o *Observer) Expect(commandUUID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.expect[commandUUID] == nil {
		o.expect[commandUUID] = &expectation{}
	}
}

// Forget stops keeping the answers to a command and drops them.
func (o *Observer) Forget(commandUUID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.expect, commandUUID)
}

// Answers returns the answers to an expected command so far, in the order
// they came.
func (o *Observer) Answers(commandUUID string) []Answer {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if x := o.expect[commandUUID]; x != nil {
		return append([]Answer(nil), x.answers...)
	}
	return nil
}

// Counts returns how many answers and DDM status reports the observer saw.
func (o *Observer) Counts() (answers, reports int) {
	return int(o.answers.Load()), int(o.reports.Load())
}

func (x *expectation) wakeLocked() {
	kept := x.waiters[:0]
	for _, w := range x.waiters {
		if len(x.answers) >= w.n {
			w.u.Wake()
			continue
		}
		kept = append(kept, w)
	}
	x.waiters = kept
}

// Await waits until the nth answer to an expected command has come (true),
// timeout passes on clk (false) or ctx ends (its error). A goroutine that
// holds a unit of work hands it back while it waits and gets one back when
// the answer wakes it, so a discrete-event clock does not move in between
// (work may be nil on other clocks).
func (o *Observer) Await(ctx context.Context, commandUUID string, n int, work *clock.Work, clk clock.Clock, timeout time.Duration) (bool, error) {
	o.mu.Lock()
	x := o.expect[commandUUID]
	if x == nil {
		// Awaiting a command nobody Expected keeps its answers only while
		// someone waits: answers that came before are not known.
		x = &expectation{}
		o.expect[commandUUID] = x
		defer func() {
			o.mu.Lock()
			if o.expect[commandUUID] == x && len(x.waiters) == 0 {
				delete(o.expect, commandUUID)
			}
			o.mu.Unlock()
		}()
	}
	if len(x.answers) >= n {
		o.mu.Unlock()
		return true, nil
	}
	u := work.Wakeup()
	x.waiters = append(x.waiters, answerWaiter{n: n, u: u})
	o.mu.Unlock()
	woken, err := u.Wait(ctx, clk, timeout)
	if !woken {
		o.mu.Lock()
		for i, w := range x.waiters {
			if w.u == u {
				x.waiters = append(x.waiters[:i], x.waiters[i+1:]...)
				break
			}
		}
		o.mu.Unlock()
	}
	return woken, err
}

// DDM returns what the device last reported, and false if it never sent a
// status report.
func (o *Observer) DDM(udid string) (DDMStatus, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	s, ok := o.ddm[udid]
	if !ok {
		return DDMStatus{}, false
	}
	out := *s
	if s.Declarations != nil {
		out.Declarations = make(map[string]string, len(s.Declarations))
		for k, v := range s.Declarations {
			out.Declarations[k] = v
		}
	}
	return out, true
}

// statusReport is the part of a DDM status report the observer keeps.
type statusReport struct {
	StatusItems struct {
		Device struct {
			OperatingSystem struct {
				Version      *string `json:"version"`
				BuildVersion *string `json:"build-version"`
			} `json:"operating-system"`
		} `json:"device"`
		SoftwareUpdate struct {
			InstallState   *string `json:"install-state"`
			PendingVersion *struct {
				OSVersion string `json:"os-version"`
			} `json:"pending-version"`
			FailureReason *struct {
				Count  int    `json:"count"`
				Reason string `json:"reason"`
			} `json:"failure-reason"`
		} `json:"softwareupdate"`
		Management struct {
			Declarations *struct {
				Configurations []declStatus `json:"configurations"`
				Activations    []declStatus `json:"activations"`
				Assets         []declStatus `json:"assets"`
				Management     []declStatus `json:"management"`
			} `json:"declarations"`
		} `json:"management"`
	} `json:"StatusItems"`
}

type declStatus struct {
	Identifier string `json:"identifier"`
	Valid      string `json:"valid"`
}

func (o *Observer) report(udid string, data []byte) {
	var r statusReport
	if json.Unmarshal(data, &r) != nil {
		return
	}
	o.reports.Add(1)
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.ddm[udid]
	if s == nil {
		s = &DDMStatus{}
		o.ddm[udid] = s
	}
	s.Reports++
	si := r.StatusItems
	if v := si.Device.OperatingSystem.Version; v != nil {
		s.OSVersion = *v
	}
	if v := si.Device.OperatingSystem.BuildVersion; v != nil {
		s.BuildVersion = *v
	}
	su := si.SoftwareUpdate
	if su.InstallState != nil {
		s.InstallState = *su.InstallState
	}
	if su.PendingVersion != nil {
		s.PendingVersion = su.PendingVersion.OSVersion
	}
	if su.FailureReason != nil {
		s.FailureCount, s.FailureReason = su.FailureReason.Count, su.FailureReason.Reason
	}
	if d := si.Management.Declarations; d != nil {
		// The declarations item is reported whole.
		s.Declarations = map[string]string{}
		for _, list := range [][]declStatus{d.Configurations, d.Activations, d.Assets, d.Management} {
			for _, ds := range list {
				s.Declarations[ds.Identifier] = ds.Valid
			}
		}
	}
}
