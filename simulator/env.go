package simulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	// EventStatusReport: the device sent a DDM status report (Event.Data,
	// JSON) and the server took it.
	EventStatusReport
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
	case EventStatusReport:
		return "status-report"
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
	// Result is the answer of an EventCommand as the device sent it; Err
	// is set when it did not reach the server. Read-only.
	Result *protocol.Result
	// Command is the command of an EventCommand as the server sent it
	// (its plist). Read-only.
	Command []byte
	// Data is the body of an EventStatusReport. Read-only.
	Data     []byte
	Err      error
	Duration time.Duration
	// OSVersion and BuildVersion are the new OS of an EventOSUpdated.
	OSVersion    string
	BuildVersion string
}

// Env is what devices of a fleet share. It is configured by the options
// given to NewEnv and does not change afterwards; Close ends it.
type Env struct {
	// transport carries check-ins and command results; nil means one is
	// made at enrollment that trusts the profile's certificate payloads.
	transport *protocol.Transport
	// httpClient fetches enrollment profiles and talks SCEP.
	httpClient *http.Client
	push       PushService
	handlers   *Handlers
	logger     *slog.Logger
	// clock is device time: every timer of a device (downloads, restarts,
	// deadlines) runs on it. Default clock.Real().
	clock clock.Clock
	// onEvent, if set, is called for every event, from the device's
	// goroutine; it must be quick and safe for concurrent use.
	onEvent func(Event)
	// catalog is Apple's world as the devices see it: what
	// AvailableOSUpdates lists and what an update installs. Default
	// catalog.Default().
	catalog *catalog.Catalog
	// timings drive every device's software-update engine. Default
	// update.DefaultTimings(); see WithUpdateTimings.
	timings update.Timings
	// failures are the chances that an update step fails (WithFailures).
	failures update.Failures

	// baseCtx is the parent of every session a push, a retry or a poll
	// starts; Close cancels ctx, which ends them and makes devices ignore
	// later pushes.
	baseCtx context.Context
	ctx     context.Context
	cancel  context.CancelFunc
	// pollInterval, when set, makes every enrolled device start a session
	// on its own that often (WithPollInterval).
	pollInterval time.Duration

	// roots are trusted besides the system's and a profile's own
	// certificates, for profile downloads, SCEP and check-ins alike.
	roots []*x509.Certificate

	sessions chan struct{}
	// requestTimeout bounds each exchange with the server (transport).
	requestTimeout time.Duration
	// sessionWork counts sessions in flight for a discrete-event clock.
	sessionWork *clock.Work
	anchors     anchors
	profiles    sync.Map // *protocol.EnrollmentProfile -> *profileSettings
	// stateSink, when set, is told of devices' changes (state.go); states
	// shares their profiles' ProfileState.
	stateSink StateSink
	states    profileStates
	// scepKeys, when set, supplies SCEP keys (keysource.go).
	scepKeys protocol.SCEPKeySource

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
func WithTransport(t *protocol.Transport) Option { return func(e *Env) { e.transport = t } }

// WithHTTPClient sets the client for profile downloads and SCEP.
func WithHTTPClient(c *http.Client) Option { return func(e *Env) { e.httpClient = c } }

// WithPushService sets where devices register their push tokens.
func WithPushService(p PushService) Option { return func(e *Env) { e.push = p } }

// WithRootCAs trusts certs, besides the system roots and the certificate
// payloads of the profile, for everything a device does over TLS: the
// profile download, SCEP and check-ins. It is how a server whose CA the
// profile does not carry is reached.
func WithRootCAs(certs ...*x509.Certificate) Option {
	return func(e *Env) { e.roots = append(e.roots, certs...) }
}

// WithHandlers replaces the command handlers.
func WithHandlers(h *Handlers) Option { return func(e *Env) { e.handlers = h } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(e *Env) { e.logger = l } }

// WithClock sets the devices' clock (scaled or manual for virtual time).
func WithClock(c clock.Clock) Option { return func(e *Env) { e.clock = c } }

// WithEvents adds a callback for every event. Several are called in the
// order given, from the device's goroutine; each must be quick and safe for
// concurrent use.
func WithEvents(fn func(Event)) Option {
	return func(e *Env) {
		if fn == nil {
			return
		}
		if prev := e.onEvent; prev != nil {
			e.onEvent = func(ev Event) { prev(ev); fn(ev) }
			return
		}
		e.onEvent = fn
	}
}

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

// WithBaseContext sets the context that sessions started in the
// background (by a push, a retry, a poll) derive from: cancelling it ends
// them, as Close does. Default context.Background().
func WithBaseContext(ctx context.Context) Option { return func(e *Env) { e.baseCtx = ctx } }

// NewEnv builds an Env for many devices.
func NewEnv(opts ...Option) *Env {
	e := &Env{}
	for _, o := range opts {
		o(e)
	}
	if e.handlers == nil {
		e.handlers = DefaultHandlers()
	}
	if e.clock == nil {
		e.clock = clock.Real()
	}
	if e.catalog == nil {
		e.catalog = catalog.Default()
	}
	if e.timings == (update.Timings{}) {
		e.timings = update.DefaultTimings()
	}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	if e.httpClient == nil {
		e.httpClient = &http.Client{Timeout: protocol.DefaultTimeout}
		if len(e.roots) > 0 {
			pool := systemPool()
			for _, c := range e.roots {
				pool.AddCert(c)
			}
			e.httpClient.Transport = &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: pool}}
		}
	}
	if e.sessions == nil {
		e.sessions = make(chan struct{}, DefaultMaxSessions)
	}
	if e.baseCtx == nil {
		e.baseCtx = context.Background()
	}
	e.ctx, e.cancel = context.WithCancel(e.baseCtx)
	e.sessionWork = clock.NewWork(e.clock, "device-session")
	if e.requestTimeout == 0 && e.sessionWork != nil {
		e.requestTimeout = DiscreteRequestTimeout
	}
	return e
}

func (e *Env) emit(ev Event) {
	if e.logger.Enabled(context.Background(), slog.LevelDebug) {
		e.logEvent(ev)
	}
	if e.onEvent != nil {
		e.onEvent(ev)
	}
}

// logEvent writes what happened to a device as one debug line, with the
// keys the event has.
func (e *Env) logEvent(ev Event) {
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs, slog.String("udid", ev.UDID))
	if ev.RequestType != "" {
		attrs = append(attrs, slog.String("request_type", ev.RequestType))
	}
	if ev.CommandUUID != "" {
		attrs = append(attrs, slog.String("command_uuid", ev.CommandUUID))
	}
	if ev.Status != "" {
		attrs = append(attrs, slog.String("status", string(ev.Status)))
	}
	if ev.OSVersion != "" {
		attrs = append(attrs, slog.String("os_version", ev.OSVersion), slog.String("build", ev.BuildVersion))
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("err", ev.Err.Error()))
	}
	e.logger.LogAttrs(context.Background(), slog.LevelDebug, "device "+ev.Kind.String(), attrs...)
}

// Close ends the Env: it cancels the base context, so sessions started in
// the background end and devices ignore later pushes, retries and polls,
// and closes the idle connections of its transports and HTTP client.
// Sessions a caller runs with Connect or Enroll keep the caller's context.
// Close is safe to call more than once.
func (e *Env) Close() error {
	e.cancel()
	if e.transport != nil {
		e.transport.CloseIdleConnections()
	}
	e.anchors.mu.Lock()
	for _, t := range e.anchors.set {
		t.transport.CloseIdleConnections()
		t.client.CloseIdleConnections()
	}
	e.anchors.mu.Unlock()
	e.httpClient.CloseIdleConnections()
	return nil
}

// closed reports whether Close was called or the base context is done.
func (e *Env) closed() bool { return e.ctx.Err() != nil }
