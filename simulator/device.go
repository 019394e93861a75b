package simulator

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdmsim/mdmsim/internal/cpuside"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Errors of a device.
var (
	ErrNotEnrolled     = errors.New("simulator: device is not enrolled")
	ErrAlreadyEnrolled = errors.New("simulator: device is already enrolled")
	ErrOffline         = errors.New("simulator: device is off")
)

// enrollment is what a device keeps of its MDM enrollment: its own identity
// and push credentials, and the settings of the profile it enrolled with,
// which every device enrolled from that profile shares.
type enrollment struct {
	*profileSettings
	identity *protocol.Credential
	token    [32]byte
	// The push magic is a UUID, kept as its two halves and written out
	// when sent (pushMagic).
	magicHi, magicLo uint64
}

// pushMagic is the push magic as the device sends it.
func (e *enrollment) pushMagic() string { return uuidFrom(e.magicHi, e.magicLo) }

// profileSettings is what an enrollment profile tells a device, kept once
// per profile however many devices a fleet enrolls with it.
type profileSettings struct {
	serverURL    string
	checkInURL   string
	topic        string
	mode         protocol.AuthMode
	accessRights int
	checkOut     bool
	transport    *protocol.Transport
	profileID    string
	profileUUID  string
	mdmUUID      string // the MDM payload's PayloadUUID
	anchors      [][]byte
	// saved is the settings' persisted form (state.go), made on first use.
	saved atomic.Pointer[ProfileState]
	// bootstrapToken: the profile's ServerCapabilities list
	// com.apple.mdm.bootstraptoken, without which a Mac neither creates
	// nor asks for a bootstrap token (com.apple.mdm.yaml).
	bootstrapToken bool
}

// Device is one simulated Mac or iPhone. Its methods are safe for concurrent
// use. An idle Device is only this struct: no goroutine, no connection.
type Device struct {
	env *Env

	mu  sync.Mutex
	id  identity.Identity
	enr *enrollment
	// rng draws the device's random choices from its seed; pcg is its
	// source, both kept in the struct.
	rng      rand.Rand
	pcg      rand.PCG
	off      bool  // switched off (PowerOff, ShutDownDevice): timers stopped
	down     bool  // restarting into an update: unreachable, timers running
	busy     bool  // a session is running
	again    bool  // a push arrived during the session: run another
	retries  uint8 // consecutive failed sessions with a retry pending
	restarts uint32
	stats    counters
	// lastNotNow says the last status the device sent before the server's
	// empty answer was NotNow: such a device polls again when conditions
	// change (update_*.go).
	lastNotNow bool
	// sw is the software-update state (update_*.go): a few words while
	// nothing is in progress.
	sw softwareUpdate
	// ddm is the declarative management client (ddm*.go), allocated by
	// the first DeclarativeManagement command: nil on devices without DDM.
	ddm *ddmState
	// timers are the device's own pending timers (power.go).
	timers devTimers
	// The device's activity (activity.go): a session or a run of timers.
	active        bool
	timersPending bool          // timers fell due while active
	activityDone  chan struct{} // closed when the activity ends, if awaited
}

// counters is Stats as a device keeps them.
type counters struct {
	Sessions, Commands, Acknowledged, Errors, NotNow, FormatErrors, SessionErrors, Pushes uint32
}

// Stats counts what a device has done.
type Stats struct {
	Sessions      int
	Commands      int
	Acknowledged  int
	Errors        int
	NotNow        int
	FormatErrors  int
	SessionErrors int
	Pushes        int
}

// New returns a device with its own Env built from opts. Devices of a fleet
// share one Env: use (*Env).NewDevice.
func New(id identity.Identity, opts ...Option) *Device {
	return NewEnv(opts...).NewDevice(id)
}

// NewDevice returns a device that uses e.
func (e *Env) NewDevice(id identity.Identity) *Device {
	seed := uint64(id.Seed)
	d := &Device{env: e, id: id, pcg: *rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)}
	d.rng = *rand.New(&d.pcg)
	return d
}

// Identity returns a copy of the device's current identity (OS version and
// build change as it updates).
func (d *Device) Identity() identity.Identity {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.id
}

// UDID is the device's UDID.
func (d *Device) UDID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.id.UDID
}

// Enrolled reports whether the device has an MDM enrollment.
func (d *Device) Enrolled() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.enr != nil
}

// Stats returns the device's counters.
func (d *Device) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.statsLocked()
}

func (d *Device) statsLocked() Stats {
	s := d.stats
	return Stats{Sessions: int(s.Sessions), Commands: int(s.Commands), Acknowledged: int(s.Acknowledged), Errors: int(s.Errors),
		NotNow: int(s.NotNow), FormatErrors: int(s.FormatErrors), SessionErrors: int(s.SessionErrors), Pushes: int(s.Pushes)}
}

// Restarts counts RestartDevice commands carried out.
func (d *Device) Restarts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return int(d.restarts)
}

// PoweredOn reports whether the device is on (ShutDownDevice turns it off).
func (d *Device) PoweredOn() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.unreachableLocked()
}

// Wake is what a push does: the device opens a session with the server in
// the background. A push that arrives during a session causes one more
// session after it, never two at once.
func (d *Device) Wake() { d.wake(true) }

// wake starts a background session; push says whether a push caused it
// (a device also polls on its own, after a restart or once unlocked).
func (d *Device) wake(push bool) {
	d.mu.Lock()
	if push {
		d.stats.Pushes++
	}
	if d.unreachableLocked() || d.enr == nil || d.env.closed() {
		d.mu.Unlock()
		return
	}
	if d.busy {
		d.again = true
		d.mu.Unlock()
		return
	}
	d.busy = true
	d.mu.Unlock()
	d.env.sessionWork.Go(d.drainLabelled)
}

// Session retries: a device whose session failed on the way (network, a
// server error) tries again later on its own clock, so a command is not
// stranded until the next push. The delays are the simulator's choice; Apple
// documents none.
const (
	sessionRetryFirst = time.Minute
	sessionRetryMax   = 30 * time.Minute
	sessionRetryLimit = 6
)

// drainLabelled is drain on a goroutine of the simulator's side, for a CPU
// profile to tell from the server's (internal/cpuside).
func (d *Device) drainLabelled() {
	cpuside.Set(cpuside.Simulator)
	d.drain()
}

func (d *Device) drain() {
	for {
		d.beginActivity()
		err := d.session(d.env.ctx)
		d.endActivity()
		if err != nil {
			d.env.logger.Debug("session", "udid", d.UDID(), "err", err)
		}
		d.scheduleRetry(err)
		d.mu.Lock()
		if d.again && !d.unreachableLocked() && !d.env.closed() {
			d.again = false
			d.mu.Unlock()
			continue
		}
		d.busy = false
		d.again = false
		d.mu.Unlock()
		return
	}
}

// Connect runs one command session now, in the caller's goroutine: Idle,
// then each command the server sends, until its empty answer.
func (d *Device) Connect(ctx context.Context) error {
	// A session holds one unit of the Env's session work throughout, which
	// its handlers may hand over while they wait on the clock.
	d.env.sessionWork.Begin()
	defer d.env.sessionWork.End()
	d.beginActivity()
	defer d.endActivity()
	return d.session(ctx)
}

func (d *Device) enrollmentSnapshot() (*enrollment, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.unreachableLocked() {
		return nil, ErrOffline
	}
	if d.enr == nil {
		return nil, ErrNotEnrolled
	}
	return d.enr, nil
}

// Env returns the environment the device shares with its fleet.
func (d *Device) Env() *Env { return d.env }

// scheduleRetry arms a retry after a failed session, with exponential,
// jittered backoff, and forgets past failures after a good session.
func (d *Device) scheduleRetry(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil || !retryable(err) {
		d.retries = 0
		return
	}
	if d.retries >= sessionRetryLimit || d.unreachableLocked() || d.enr == nil {
		return
	}
	delay := sessionRetryFirst << d.retries
	if delay > sessionRetryMax {
		delay = sessionRetryMax
	}
	delay += time.Duration(d.rng.Int64N(int64(delay / 4)))
	d.retries++
	d.after(delay, func() { d.wake(false) })
}

// retryable says whether a failed session is worth another try: transport
// failures and server errors are; a refusal (4xx) or a device that is off or
// unenrolled is not.
func retryable(err error) bool {
	if errors.Is(err, ErrOffline) || errors.Is(err, ErrNotEnrolled) || errors.Is(err, context.Canceled) {
		return false
	}
	var he *protocol.HTTPError
	if errors.As(err, &he) {
		return he.StatusCode >= 500
	}
	return true
}
