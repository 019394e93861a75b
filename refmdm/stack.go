package refmdm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	kitlog "github.com/go-kit/kit/log"
	nlhttp "github.com/micromdm/nanolib/http"
	nlog "github.com/micromdm/nanolib/log"
	nanoapi "github.com/micromdm/nanomdm/api"
	"github.com/micromdm/nanomdm/certverify"
	"github.com/micromdm/nanomdm/cryptoutil"
	httpapi "github.com/micromdm/nanomdm/http/api"
	httpmdm "github.com/micromdm/nanomdm/http/mdm"
	"github.com/micromdm/nanomdm/mdm"
	"github.com/micromdm/nanomdm/push/nanopush"
	pushsvc "github.com/micromdm/nanomdm/push/service"
	"github.com/micromdm/nanomdm/service"
	"github.com/micromdm/nanomdm/service/certauth"
	"github.com/micromdm/nanomdm/service/nanomdm"
	nanokv "github.com/micromdm/nanomdm/storage/kv"
	scepserver "github.com/micromdm/scep/v2/server"
	"github.com/smallstep/scep"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/internal/cpuside"
	"github.com/mdmsim/mdmsim/internal/kvtree"
	"github.com/mdmsim/mdmsim/mockapns"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Paths served by the stack. NanoMDM's API (PathAPI, user DefaultUser)
// and KMFDDM's (PathDDMAPI, user DDMUser) take the stack's APIKey; the
// clients in scenarios/targets/nanomdm drive them, rooted at URL+PathAPI
// and URL+PathDDMAPI.
const (
	PathMDM     = "/mdm"
	PathEnroll  = "/mdm/enroll"
	PathSCEP    = "/scep"
	PathAPI     = "/v1"
	DefaultUser = "nanomdm"
)

// Option configures a Stack.
type Option func(*config)

type config struct {
	apns      *mockapns.Server // the caller's; nil: the stack makes its own
	mtls      bool
	logger    *slog.Logger
	now       func() time.Time
	challenge string
	apiKey    string
	clock     clock.Clock
	mutation  Mutation // the self-test's deliberate mistake (mutation.go)
	// resultWindow bounds the command results kept (observer.go).
	resultWindow int
}

// WithClock puts the stack's mock APNs on clk: delivery latency is waited
// for on it, and on a discrete-event clock a push accepted and not yet
// delivered counts as work in flight. Devices and enforcers take the same
// clock. Certificates keep to the wall clock (WithNow).
func WithClock(clk clock.Clock) Option { return func(c *config) { c.clock = clk } }

// WithAPNs makes the stack's NanoMDM push through srv, a mock APNs the
// caller owns (Stack.Close leaves it running) and may share between
// stacks or devices of its own; the caller sets it up, WithClock included.
func WithAPNs(srv *mockapns.Server) Option { return func(c *config) { c.apns = srv } }

// WithMutualTLS makes the enrollment profile ask devices for mutual TLS
// (SignMessage=false) instead of Mdm-Signature. The server accepts both.
func WithMutualTLS() Option { return func(c *config) { c.mtls = true } }

// WithLogger routes NanoMDM's and the stack's logs to l.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithNow sets the time source for certificate validity (default: wall time).
// Certificates are checked against the wall clock by TLS and CMS, so this
// exists for tests that need fixed certificates, not for virtual time.
func WithNow(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithChallenge sets the SCEP challenge (default: random).
func WithChallenge(s string) Option { return func(c *config) { c.challenge = s } }

// WithAPIKey sets NanoMDM's API key (default: random).
func WithAPIKey(s string) Option { return func(c *config) { c.apiKey = s } }

// Stack is a running reference MDM stack.
type Stack struct {
	// URL is the base of the stack's HTTPS listener, e.g. https://127.0.0.1:PORT.
	URL string
	// Topic is the push topic, com.apple.mgmt.External.<uuid>.
	Topic string
	// APIKey authenticates NanoMDM's API (PathAPI, user DefaultUser) and
	// KMFDDM's (PathDDMAPI, user DDMUser).
	APIKey string
	// Challenge is the SCEP challenge the enrollment profile carries.
	Challenge string

	cfg     config
	ca      *authority
	store   *nanokv.KV
	obs     *observer
	apns    *mockapns.Server
	ownAPNs bool // made by the stack, closed with it
	srv     *http.Server
	ln      net.Listener
	profile []byte
	enq     *nanoapi.PushEnqueuer // NanoMDM's own enqueue-and-push, below its API
	ddm     *ddmStack             // DDM: KMFDDM in-process (ddm.go)

	closeOnce sync.Once

	transportOnce sync.Once
	transport     *http.Transport
}

// Start builds and starts the stack on 127.0.0.1 with a random port.
func Start(ctx context.Context, opts ...Option) (*Stack, error) {
	cfg := config{now: clock.Real().Now, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.challenge == "" {
		cfg.challenge = newUUID()
	}
	if cfg.apiKey == "" {
		cfg.apiKey = newUUID()
	}
	s := &Stack{cfg: cfg, Challenge: cfg.challenge, APIKey: cfg.apiKey, obs: newObserver(cfg.resultWindow)}
	var err error
	if s.ca, err = newAuthority("mdmsim reference CA", cfg.now); err != nil {
		return nil, err
	}
	if s.apns = cfg.apns; s.apns == nil {
		var apnsOpts []mockapns.Option
		if clk := cfg.clock; clk != nil {
			apnsOpts = append(apnsOpts,
				mockapns.WithAfterFunc(func(d time.Duration, f func()) { clk.AfterFunc(d, f) }),
				mockapns.WithWork(clock.NewWork(clk, "push-delivery")))
		}
		s.apns, s.ownAPNs = mockapns.NewServer(apnsOpts...), true
	}
	if err := s.startServer(); err != nil {
		if s.ownAPNs {
			s.apns.Close()
		}
		return nil, err
	}
	if err := s.setup(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Stack) startServer() error {
	logger := &slogAdapter{l: s.cfg.logger}
	var queue *kvtree.Store
	s.store, queue = newNanoStore() // store.go
	pushService := pushsvc.New(s.store, s.store, nanopush.NewFactory(nanopush.WithNewClient(s.apns.PushClient)), logger.With("service", "push"))
	var err error
	if s.enq, err = nanoapi.NewPushEnqueuer(s.store, pushService, nanoapi.WithLogger(logger.With("service", "enqueue"))); err != nil {
		return fmt.Errorf("refmdm: enqueuer: %w", err)
	}
	// DDM (ddm.go): KMFDDM answers NanoMDM's DeclarativeManagement check-ins.
	dm, err := s.newDDM(logger)
	if err != nil {
		return err
	}
	// svcStore is what the MDM service stores in: the store itself, unless a
	// mutation (mutation.go) replaces part of it.
	var svcStore serviceStore = s.store
	if s.cfg.mutation == MutationKeepsCheckedOutQueue {
		svcStore = keepQueue{s.store}
	}
	// Answered commands' reports are kept for the latest results only
	// (reports.go).
	svcStore = newBoundedReports(svcStore, queue, s.cfg.resultWindow)
	nano := nanomdm.New(svcStore, nanomdm.WithLogger(logger.With("service", "nanomdm")), nanomdm.WithDeclarativeManagement(dm))
	var svc service.CheckinAndCommandService = observed{CheckinAndCommandService: nano, obs: s.obs}
	svc = certauth.New(svc, svcStore, certauth.WithLogger(logger.With("service", "certauth")))
	var verifier httpmdm.CertVerifier
	pool, err := certverify.NewPoolVerifier(s.ca.trustedPEM(), nil, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return fmt.Errorf("refmdm: verifier: %w", err)
	}
	verifier = newVerifyCache(pool)
	if s.cfg.mutation == MutationAcceptsForeignCA {
		verifier = acceptAll{}
	}

	mux := http.NewServeMux()
	mdmMux := nlhttp.NewMWMux(mux)
	// A device proves its identity either way: the TLS extractor takes the
	// client certificate when there is one, and a valid Mdm-Signature, when
	// present, takes precedence. Verification always follows extraction.
	mdmMux.Use(func(h http.Handler) http.Handler { return httpmdm.CertExtractTLSMiddleware(h, logger) })
	mdmMux.Use(func(h http.Handler) http.Handler {
		return httpmdm.CertExtractMdmSignatureMiddleware(h, httpmdm.MdmSignatureVerifierFunc(cryptoutil.VerifyMdmSignature),
			httpmdm.SigLogWithLogger(logger), httpmdm.SigLogWithLogErrors(true))
	})
	mdmMux.Use(func(h http.Handler) http.Handler { return httpmdm.CertVerifyMiddleware(h, verifier, logger) })
	mdmMux.Handle(PathMDM, http.MaxBytesHandler(httpmdm.CheckinAndCommandHandler(svc, logger.With("handler", "mdm")), 16<<20))

	// The APIs stay mounted although the stack's own calls go below them:
	// they are how outside tooling (and scenarios/targets/nanomdm's
	// clients) drive the stack, as they drive a deployed NanoMDM.
	apiMux := nlhttp.NewMWMux(mux)
	apiMux.Use(func(h http.Handler) http.Handler {
		return nlhttp.NewSimpleBasicAuthHandler(h, DefaultUser, s.APIKey, "nanomdm")
	})
	httpapi.HandleAPIv1(PathAPI, apiMux, logger.With("handler", "api"), s.store, pushService)
	s.mountDDM(mux, logger) // DDM (ddm.go): KMFDDM's API at PathDDMAPI

	scepSvc, err := scepserver.NewService(s.ca.Cert, s.ca.key,
		scepserver.StaticChallengeMiddleware(s.Challenge, scepserver.CSRSignerContextFunc(s.signCSR)))
	if err != nil {
		return fmt.Errorf("refmdm: scep: %w", err)
	}
	scepHandler := scepserver.MakeHTTPHandler(scepserver.MakeServerEndpoints(scepSvc), scepSvc, kitlog.NewNopLogger())
	mux.Handle(PathSCEP, scepHandler)
	mux.HandleFunc("GET "+PathEnroll, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-apple-aspen-config")
		w.Write(s.profile)
	})

	cert, err := s.ca.serverCertificate("127.0.0.1", "localhost")
	if err != nil {
		return err
	}
	s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("refmdm: listen: %w", err)
	}
	s.URL = "https://" + s.ln.Addr().String()
	s.srv = &http.Server{
		Handler: mux,
		// Generous: the stack's clients share its process, and a machine
		// starved of CPU must make a run slower, not cut its sessions.
		ReadHeaderTimeout: 5 * time.Minute,
		// Enqueue takes its enrollment IDs in the path: room for ~300 000.
		MaxHeaderBytes: 8 << 20,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequestClientCert,
			MinVersion:   tls.VersionTLS12,
		},
		ErrorLog: slog.NewLogLogger(s.cfg.logger.Handler(), slog.LevelDebug),
	}
	go func() {
		cpuside.Set(cpuside.Server) // its connections' goroutines inherit it
		_ = s.srv.ServeTLS(s.ln, "", "")
	}()
	return nil
}

// setup stores the push certificate in NanoMDM's storage, checked as
// NanoMDM's pushcert API checks it, and builds the enrollment profile for
// its topic.
func (s *Stack) setup(ctx context.Context) error {
	topic := "com.apple.mgmt.External." + newUUID()
	now := s.cfg.now()
	pushCert, err := mockapns.NewPushCertificate(topic, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		return fmt.Errorf("refmdm: push certificate: %w", err)
	}
	certPEM, keyPEM, err := mockapns.PushCertificatePEM(pushCert)
	if err != nil {
		return fmt.Errorf("refmdm: push certificate: %w", err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("refmdm: push certificate: %w", err)
	}
	if err := s.store.StorePushCert(ctx, certPEM, keyPEM); err != nil {
		return fmt.Errorf("refmdm: store push certificate: %w", err)
	}
	// Read it back the way the push service will: by topic.
	stored, _, err := s.store.RetrievePushCert(ctx, topic)
	if err != nil {
		return fmt.Errorf("refmdm: push certificate for %s: %w", topic, err)
	}
	got, err := cryptoutil.TopicFromCert(stored.Leaf)
	if stored.Leaf == nil {
		got, err = "", errors.New("no leaf certificate")
	}
	if err != nil {
		return fmt.Errorf("refmdm: stored push certificate: %w", err)
	}
	if got != topic {
		return fmt.Errorf("refmdm: push certificate stored for topic %q, want %q", got, topic)
	}
	s.Topic = topic
	s.profile, err = s.buildProfile()
	return err
}

func (s *Stack) buildProfile() ([]byte, error) {
	scepUUID := newUUID()
	p := &protocol.EnrollmentProfile{
		PayloadIdentifier: "com.github.mdmsim.enroll",
		PayloadUUID:       newUUID(),
		Certificates:      [][]byte{s.ca.Cert.Raw},
		SCEP: &protocol.SCEPPayload{
			PayloadType: protocol.PayloadTypeSCEP, PayloadVersion: 1,
			PayloadIdentifier: "com.github.mdmsim.enroll.scep", PayloadUUID: scepUUID,
			PayloadContent: protocol.SCEPPayloadContent{
				URL: s.URL + PathSCEP, Name: "mdmsim", Challenge: s.Challenge,
				Keysize: 2048, KeyType: "RSA", KeyUsage: 5,
				Subject: [][][]string{{{"CN", "%HardwareUUID%"}}},
			},
		},
		MDM: protocol.MDMPayload{
			PayloadType: protocol.PayloadTypeMDM, PayloadVersion: 1,
			PayloadIdentifier: "com.github.mdmsim.enroll.mdm", PayloadUUID: newUUID(),
			ServerURL: s.URL + PathMDM, CheckInURL: s.URL + PathMDM, Topic: s.Topic,
			IdentityCertificateUUID: scepUUID, SignMessage: !s.cfg.mtls, AccessRights: 8191,
			CheckOutWhenRemoved: true,
			ServerCapabilities:  []string{"com.apple.mdm.per-user-connections", "com.apple.mdm.bootstraptoken"},
		},
	}
	return p.Marshal()
}

func (s *Stack) signCSR(_ context.Context, m *scep.CSRReqMessage) (*x509.Certificate, error) {
	if m == nil || m.CSR == nil {
		return nil, errors.New("refmdm: scep: no CSR")
	}
	tmpl := deviceTemplate(m.CSR.Subject.CommonName)
	tmpl.Subject = m.CSR.Subject
	return s.ca.sign(tmpl, m.CSR.PublicKey, 365*24*time.Hour)
}

// httpClient trusts the stack's CA; it is what a test or the CLI uses to
// reach the stack.
//
// Every client shares one transport whose keep-alive pool is as large as
// the number of callers that talk to the stack at once (an enforcer step
// per device): a pool of two, net/http's default, costs a TLS handshake
// for nearly every API call of a large fleet.
func (s *Stack) httpClient() *http.Client {
	s.transportOnce.Do(func() {
		s.transport = &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: s.RootCAs()},
			MaxIdleConnsPerHost: APIIdleConns,
			// Ten thousand enforcer steps calling at one instant queue for
			// a connection instead of opening ten thousand: each costs two
			// descriptors in this process, and running out of them fails
			// requests at random.
			MaxConnsPerHost: APIIdleConns,
			IdleConnTimeout: 90 * time.Second,
		}
	})
	return &http.Client{Timeout: 5 * time.Minute, Transport: s.transport}
}

// APIIdleConns sizes the keep-alive pool of the clients HTTPClient returns
// (all share one transport): tests that bound a fleet's connections and
// goroutines count it.
const APIIdleConns = 256

// RootCAs is a pool holding the stack's CA.
func (s *Stack) RootCAs() *x509.CertPool {
	return s.ca.Pool()
}

// CACertPEM is the stack's CA certificate.
func (s *Stack) CACertPEM() []byte { return append([]byte(nil), s.ca.PEM...) }

// EnrollmentProfile is the unsigned .mobileconfig the stack serves at
// PathEnroll.
func (s *Stack) EnrollmentProfile() []byte { return append([]byte(nil), s.profile...) }

// EnrollURL is where the enrollment profile is served.
func (s *Stack) EnrollURL() string { return s.URL + PathEnroll }

// MintIdentity is the fast enrollment path for large fleets: an ECDSA P-256
// identity issued directly by the stack's CA for minted identities.
func (s *Stack) MintIdentity(commonName string) (*protocol.Identity, error) {
	c, err := s.ca.mintCredential(commonName)
	if err != nil {
		return nil, err
	}
	return c.Identity()
}

// MintCredential is MintIdentity in the compact form a device keeps, with
// nothing parsed: what a fleet's enrollment uses (fleet.IdentitySource).
func (s *Stack) MintCredential(commonName string) (*protocol.Credential, error) {
	return s.ca.mintCredential(commonName)
}

// APNs is the mock APNs that NanoMDM's push client talks to and devices
// register their tokens with; tests inject push failures through it.
func (s *Stack) APNs() *mockapns.Server { return s.apns }

// HTTPClient returns a client that trusts the stack's TLS certificate.
func (s *Stack) HTTPClient() *http.Client { return s.httpClient() }

// Close stops the stack.
func (s *Stack) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.srv != nil {
			err = s.srv.Close()
		}
		if s.apns != nil && s.ownAPNs {
			s.apns.Close()
		}
		if s.transport != nil {
			s.transport.CloseIdleConnections()
		}
	})
	return err
}

// slogAdapter lets NanoMDM log through slog. NanoMDM's logger has two
// levels: Info, which it also uses for errors (with an "err" key), and
// Debug. A line with an error is a warning here, so a handler at warning
// level keeps the server's trouble and drops its chatter; the "msg" pair
// becomes the message rather than a second msg key.
type slogAdapter struct {
	l  *slog.Logger
	kv []any
}

func (a *slogAdapter) Info(kv ...interface{})  { a.log(slog.LevelInfo, kv) }
func (a *slogAdapter) Debug(kv ...interface{}) { a.log(slog.LevelDebug, kv) }
func (a *slogAdapter) With(kv ...interface{}) nlog.Logger {
	return &slogAdapter{l: a.l, kv: append(append([]any{}, a.kv...), kv...)}
}

func (a *slogAdapter) log(level slog.Level, kv []any) {
	// NanoMDM logs several lines a request: nothing is allocated for one
	// the handler drops (an Info line may still rise to a warning).
	ctx0 := context.Background()
	if !a.l.Enabled(ctx0, level) && (level != slog.LevelInfo || !a.l.Enabled(ctx0, slog.LevelWarn)) {
		return
	}
	msg, rest, failed := splitMsg(kv)
	if failed && level == slog.LevelInfo {
		level = slog.LevelWarn
	}
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	a.l.Log(ctx, level, msg, append(append([]any{}, a.kv...), rest...)...)
}

// splitMsg takes NanoMDM's "msg" pair out of kv, and reports whether kv
// carries an error.
func splitMsg(kv []any) (msg string, rest []any, failed bool) {
	msg = "nanomdm"
	rest = make([]any, 0, len(kv))
	for i := 0; i < len(kv); i += 2 {
		k, _ := kv[i].(string)
		if i+1 >= len(kv) {
			rest = append(rest, kv[i])
			break
		}
		switch k {
		case "msg":
			if m, ok := kv[i+1].(string); ok {
				msg = m
				continue
			}
		case "err":
			failed = failed || kv[i+1] != nil
		}
		rest = append(rest, kv[i], kv[i+1])
	}
	return msg, rest, failed
}

// EnqueueStatus is one enrollment's outcome of an enqueue.
type EnqueueStatus struct {
	// PushResult is the APNs id of the push; PushError why it failed.
	PushResult string
	PushError  string
	// CommandError is why the command was not queued for the enrollment.
	CommandError string
}

// EnqueueResult is NanoMDM's account of an enqueue, as its API would
// answer it.
type EnqueueResult struct {
	CommandUUID string
	RequestType string
	// Status is by enrollment ID.
	Status map[string]EnqueueStatus
	// PushError and CommandError are failures of the whole call.
	PushError    string
	CommandError string
}

// Enqueue queues a command for enrollments and pushes them, through
// NanoMDM's own enqueuer (what its /v1/enqueue API calls), and remembers
// the RequestType so results can be told apart. Some enrollments failing
// is a result, not an error (Status says which); all failing, or the whole
// call failing, is an error too, with the result still filled in.
func (s *Stack) Enqueue(ctx context.Context, ids []string, commandUUID, requestType string, payload map[string]any) (*EnqueueResult, error) {
	body, err := protocol.NewCommand(commandUUID, requestType, payload)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, errors.New("refmdm: enqueue: no enrollment IDs")
	}
	s.obs.recordSent(commandUUID, requestType)
	r, code, err := s.enq.RawCommandEnqueueWithPush(ctx, body, ids, false)
	if err != nil {
		return nil, fmt.Errorf("refmdm: enqueue %s: %w", requestType, err)
	}
	res := &EnqueueResult{CommandUUID: r.CommandUUID, RequestType: r.RequestType, Status: make(map[string]EnqueueStatus, len(r.Status)),
		PushError: errString(r.PushError), CommandError: errString(r.EnqueueError)}
	for id, st := range r.Status {
		res.Status[id] = EnqueueStatus{PushResult: st.PushID, PushError: errString(st.PushError), CommandError: errString(st.EnqueueError)}
	}
	if code >= 300 && code != http.StatusMultiStatus {
		return res, fmt.Errorf("refmdm: enqueue %s: %w", requestType, r.Error())
	}
	return res, nil
}

func errString(e *nanoapi.Error) string {
	if !e.Valid() {
		return ""
	}
	return e.Error()
}

// Results returns the command results the stack keeps (the latest of each
// device for each command, within WithResultWindow's bound), in the order
// they came: on a discrete-event clock devices that answer at the same
// virtual instant may come in any order (clock.Discrete), so compare
// results per device, not by position.
func (s *Stack) Results() []CommandResult {
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	return s.obs.all()
}

// ResultsSeen is how many command results the stack has recorded, those
// it no longer keeps and those later replaced by the same device's next
// answer included.
func (s *Stack) ResultsSeen() int {
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	return s.obs.seen
}

// ResultsFor returns the results kept for one command UUID: the latest of
// each device that answered it, in the order the devices first answered.
func (s *Stack) ResultsFor(commandUUID string) []CommandResult {
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	return s.obs.resultsFor(commandUUID)
}

// WaitResults blocks until n devices have answered commandUUID (a device
// that answers NotNow and later Acknowledged counts once).
func (s *Stack) WaitResults(ctx context.Context, commandUUID string, n int) error {
	return s.obs.wait(ctx, func() bool { return s.obs.answered(commandUUID) >= n })
}

// Enrolled reports how many devices have completed TokenUpdate and not
// checked out.
func (s *Stack) Enrolled() int {
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	return len(s.obs.enrolled)
}

// WaitEnrolled blocks until at least n devices are enrolled.
func (s *Stack) WaitEnrolled(ctx context.Context, n int) error {
	return s.obs.wait(ctx, func() bool { return len(s.obs.enrolled) >= n })
}

// BootstrapTokenEscrowed reports whether the device has escrowed a
// bootstrap token with the server.
func (s *Stack) BootstrapTokenEscrowed(ctx context.Context, udid string) bool {
	r := mdm.NewRequestWithContext(ctx, nil)
	r.EnrollID = &mdm.EnrollID{Type: mdm.Device, ID: udid}
	tok, err := s.store.RetrieveBootstrapToken(r, &mdm.GetBootstrapToken{})
	return err == nil && tok != nil && len(tok.BootstrapToken) > 0
}
