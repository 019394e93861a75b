package simulator

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// PushService is the device's side of APNs: a device registers its token
// after TokenUpdate and is called back when a push for it arrives. The mock
// APNs and the embedded stack's push endpoint satisfy it.
type PushService interface {
	RegisterDevice(token []byte, topic, pushMagic string, deliver func())
	UnregisterDevice(token []byte)
}

// EventKind says what happened to a device.
type EventKind int

// Event kinds.
const (
	EventEnrolled EventKind = iota
	EventCheckedOut
	EventCommand
	EventSessionError
	// EventOSUpdated: the device came back from a software-update restart
	// on a new OS (Event.OSVersion, Event.BuildVersion).
	EventOSUpdated
)

func (k EventKind) String() string {
	switch k {
	case EventEnrolled:
		return "enrolled"
	case EventCheckedOut:
		return "checked-out"
	case EventCommand:
		return "command"
	case EventSessionError:
		return "session-error"
	case EventOSUpdated:
		return "os-updated"
	}
	return "unknown"
}

// Event is one thing a device did; a fleet's reporters consume them.
type Event struct {
	Kind        EventKind
	UDID        string
	RequestType string
	CommandUUID string
	Status      protocol.Status
	Err         error
	Duration    time.Duration
	// OSVersion and BuildVersion are the new OS of an EventOSUpdated.
	OSVersion    string
	BuildVersion string
}

// Env is what devices of a fleet share. Its fields are read-only once a
// device uses it.
type Env struct {
	// Transport carries check-ins and command results; nil means one is
	// made at enrollment that trusts the profile's certificate payloads.
	Transport *protocol.Transport
	// HTTPClient fetches enrollment profiles and talks SCEP.
	HTTPClient *http.Client
	Push       PushService
	Handlers   *Handlers
	Logger     *slog.Logger
	// Clock is device time: every timer of a device (downloads, restarts,
	// deadlines) runs on it. Default clock.Real().
	Clock clock.Clock
	// OnEvent, if set, is called for every event, from the device's
	// goroutine; it must be quick and safe for concurrent use.
	OnEvent func(Event)
	// Catalog is Apple's world as the devices see it: what
	// AvailableOSUpdates lists and what an update installs. Default
	// catalog.Default().
	Catalog *catalog.Catalog
	// UpdateTimings drive every device's software-update engine. Default
	// DefaultUpdateTimings(); see WithUpdateTimings.
	UpdateTimings update.Timings

	sessions chan struct{}
	// requestTimeout bounds each exchange with the server (transport).
	requestTimeout time.Duration
	// sessionWork counts sessions in flight for a discrete-event clock.
	sessionWork *clock.Work
	anchors     anchors
	profiles    sync.Map // *protocol.EnrollmentProfile -> *profileSettings

	// Test seams, set before any device uses the Env: a check-in and a poll
	// without a server.
	checkinHook func(ctx context.Context, m protocol.CheckinMessage) ([]byte, error)
	pollHook    func()
}

// DefaultMaxSessions bounds how many devices of one Env talk to the server at
// once; pushed devices beyond it wait their turn, as a real fleet's devices
// are spread in time.
const DefaultMaxSessions = 256

// Option configures an Env.
type Option func(*Env)

// WithTransport shares a transport (and its connection pool).
func WithTransport(t *protocol.Transport) Option { return func(e *Env) { e.Transport = t } }

// WithHTTPClient sets the client for profile downloads and SCEP.
func WithHTTPClient(c *http.Client) Option { return func(e *Env) { e.HTTPClient = c } }

// WithPushService sets where devices register their push tokens.
func WithPushService(p PushService) Option { return func(e *Env) { e.Push = p } }

// WithHandlers replaces the command handlers.
func WithHandlers(h *Handlers) Option { return func(e *Env) { e.Handlers = h } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(e *Env) { e.Logger = l } }

// WithClock sets the devices' clock (scaled or manual for virtual time).
func WithClock(c clock.Clock) Option { return func(e *Env) { e.Clock = c } }

// WithEvents sets the event callback.
func WithEvents(fn func(Event)) Option { return func(e *Env) { e.OnEvent = fn } }

// WithRequestTimeout bounds each exchange of a device with the MDM server
// on the wall clock: protocol.DefaultTimeout by default, and
// DiscreteRequestTimeout on a discrete-event clock, where a starved machine
// must only make a run slower, not fail sessions that a quiet one
// completes.
func WithRequestTimeout(d time.Duration) Option { return func(e *Env) { e.requestTimeout = d } }

// DiscreteRequestTimeout is the default request timeout of devices on a
// discrete-event clock: long enough for any load, short enough that a hung
// server ends in an error.
const DiscreteRequestTimeout = 5 * time.Minute

// WithMaxSessions bounds concurrent sessions.
func WithMaxSessions(n int) Option {
	return func(e *Env) {
		if n > 0 {
			e.sessions = make(chan struct{}, n)
		}
	}
}

// NewEnv builds an Env for many devices.
func NewEnv(opts ...Option) *Env {
	e := &Env{}
	for _, o := range opts {
		o(e)
	}
	if e.Handlers == nil {
		e.Handlers = DefaultHandlers()
	}
	if e.Clock == nil {
		e.Clock = clock.Real()
	}
	if e.Catalog == nil {
		e.Catalog = catalog.Default()
	}
	if e.UpdateTimings == (update.Timings{}) {
		e.UpdateTimings = update.DefaultTimings()
	}
	if e.Logger == nil {
		e.Logger = slog.New(slog.DiscardHandler)
	}
	if e.HTTPClient == nil {
		e.HTTPClient = &http.Client{Timeout: protocol.DefaultTimeout}
	}
	if e.sessions == nil {
		e.sessions = make(chan struct{}, DefaultMaxSessions)
	}
	e.sessionWork = clock.NewWork(e.Clock, "device-session")
	if e.requestTimeout == 0 && e.sessionWork != nil {
		e.requestTimeout = DiscreteRequestTimeout
	}
	return e
}

func (e *Env) emit(ev Event) {
	if e.OnEvent != nil {
		e.OnEvent(ev)
	}
}
