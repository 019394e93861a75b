package mockgdmf

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/internal/cpuside"
	"github.com/mdmsim/mdmsim/internal/pki"
)

// PMVPath is the path of Apple's software lookup endpoint.
const PMVPath = "/v2/pmv"

// ControlPrefix is where the mock's own control API lives.
const ControlPrefix = "/_mock/"

// DefaultAddr is where a server listens unless told otherwise.
const DefaultAddr = "127.0.0.1:0"

// DefaultRequestLimit is how many requests a server remembers by default;
// older ones are dropped first.
const DefaultRequestLimit = 10000

// Request is one request the mock answered on the GDMF endpoint (or any
// other non-control path). Control-API requests are not recorded.
type Request struct {
	Time       time.Time   `json:"time"` // the server's now (see WithNow)
	Method     string      `json:"method"`
	Path       string      `json:"path"`
	Query      string      `json:"query,omitempty"`
	Header     http.Header `json:"header"`
	RemoteAddr string      `json:"remote_addr"`
	// Status is what the mock answered; Faults the kinds that hit.
	Status int         `json:"status"`
	Faults []FaultKind `json:"faults,omitempty"`
}

// Server is a mock of gdmf.apple.com serving a catalog over TLS, in the
// shape of httptest.Server.
type Server struct {
	// URL is "https://host:port", set by Start.
	URL string
	// Listener is the network listener (plain TCP; the server adds TLS).
	Listener net.Listener

	catalog  *catalog.Catalog
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	limit    int
	ca       *authority
	srv      *http.Server
	clientMu sync.Mutex
	client   *http.Client

	mu       sync.Mutex
	started  bool
	closed   bool
	rng      *rand.Rand
	faults   []Fault
	requests []Request
}

// Option configures a Server.
type Option func(*config)

type config struct {
	catalog  *catalog.Catalog
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	listener net.Listener
	addr     string
	hosts    []string
	ca       *pki.CA
	seed     uint64
	limit    int
}

// WithCatalog serves c instead of catalog.Default(). The server reads c at
// every request, so timeline events on c (Post, Expire) show at once.
func WithCatalog(c *catalog.Catalog) Option { return func(o *config) { o.catalog = c } }

// WithNow sets the server's clock (a virtual clock's Now method). The
// default is the wall clock.
func WithNow(now func() time.Time) Option { return func(o *config) { o.now = now } }

// WithClock puts the server on clk: what it serves and records reads
// clk.Now, and latency faults wait on clk.Sleep. On a discrete-event clock
// virtual time stands still while a client holds its work, so a client
// that meets a latency fault there must wait for the answer without
// holding work (clock.Work.Sleep, clock.Wakeup).
func WithClock(clk clock.Clock) Option {
	return func(o *config) { o.now, o.sleep = clk.Now, clk.Sleep }
}

// WithSleep sets how a latency fault waits; it must return early with the
// context's error when the request is cancelled. The default waits on a real
// timer; a virtual clock can supply its own.
func WithSleep(sleep func(context.Context, time.Duration) error) Option {
	return func(o *config) { o.sleep = sleep }
}

// WithListener serves on l (a plain TCP listener; the server adds TLS). The
// server closes it on Close.
func WithListener(l net.Listener) Option { return func(o *config) { o.listener = l } }

// WithAddr listens on addr ("127.0.0.1:8443"); the default is DefaultAddr.
func WithAddr(addr string) Option { return func(o *config) { o.addr = addr } }

// WithCA issues the server's certificate from this CA instead of a fresh
// one: a server outside the process told to trust it once keeps trusting
// the mock across runs.
func WithCA(cert *x509.Certificate, key crypto.Signer) Option {
	return func(o *config) {
		o.ca = &pki.CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}
	}
}

// WithHosts adds DNS names or IP addresses to the server certificate, which
// always covers localhost, 127.0.0.1 and ::1.
func WithHosts(hosts ...string) Option {
	return func(o *config) { o.hosts = append(o.hosts, hosts...) }
}

// WithSeed seeds the choice of which requests a probabilistic fault hits.
func WithSeed(seed uint64) Option { return func(o *config) { o.seed = seed } }

// WithRequestLimit sets how many requests are remembered (older ones are
// dropped); zero or less keeps DefaultRequestLimit.
func WithRequestLimit(n int) Option { return func(o *config) { o.limit = n } }

// NewServer starts and returns a mock GDMF server. Like httptest.NewServer it
// panics if it cannot listen; use NewUnstartedServer with WithListener to
// handle that error yourself.
func NewServer(opts ...Option) *Server {
	s := NewUnstartedServer(opts...)
	s.Start()
	return s
}

// NewUnstartedServer returns a server that is listening but not yet serving;
// call Start. It panics if it cannot listen or create its certificates.
func NewUnstartedServer(opts ...Option) *Server {
	cfg := config{addr: DefaultAddr, seed: 1, limit: DefaultRequestLimit}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.limit <= 0 {
		cfg.limit = DefaultRequestLimit
	}
	if cfg.catalog == nil {
		cfg.catalog = catalog.Default()
	}
	if cfg.now == nil {
		cfg.now = clock.Real().Now
	}
	if cfg.sleep == nil {
		cfg.sleep = clock.Real().Sleep
	}
	l := cfg.listener
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", cfg.addr); err != nil {
			panic(fmt.Sprintf("mockgdmf: listen on %s: %v", cfg.addr, err))
		}
	}
	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, cfg.hosts...)
	if h, _, err := net.SplitHostPort(l.Addr().String()); err == nil {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			hosts = append(hosts, h)
		}
	}
	ca, err := newAuthority(cfg.ca, hosts)
	if err != nil {
		l.Close()
		panic(err.Error())
	}
	s := &Server{
		Listener: l,
		catalog:  cfg.catalog,
		now:      cfg.now,
		sleep:    cfg.sleep,
		limit:    cfg.limit,
		ca:       ca,
		rng:      rand.New(rand.NewPCG(cfg.seed, 0x6764_6d66)),
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{ca.leaf},
			MinVersion:   tls.VersionTLS12,
		},
		// Clients that do not trust the CA are expected (that is a test
		// of theirs); their failed handshakes are not worth a log line.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return s
}

// Start begins serving. It panics if called twice.
func (s *Server) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		panic("mockgdmf: Server already started")
	}
	s.started = true
	s.URL = "https://" + urlHost(s.Listener.Addr())
	go func() {
		cpuside.Set(cpuside.World)
		_ = s.srv.ServeTLS(s.Listener, "", "")
	}()
}

// urlHost turns a listener address into a host:port a client can dial
// (an unspecified address such as 0.0.0.0 becomes 127.0.0.1).
func urlHost(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// Close stops the server and closes its listener and the idle connections
// of its Client.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if started {
		s.srv.Close()
	} else {
		s.Listener.Close()
	}
	s.clientMu.Lock()
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	s.clientMu.Unlock()
}

// Certificate returns the CA certificate that issued the server's
// certificate: the one a client must trust.
func (s *Server) Certificate() *x509.Certificate { return s.ca.caCert }

// CACertPEM returns Certificate in PEM form.
func (s *Server) CACertPEM() []byte { return slices.Clone(s.ca.caPEM) }

// Client returns an HTTP client that trusts the server's CA.
func (s *Server) Client() *http.Client {
	s.clientMu.Lock()
	defer s.clientMu.Unlock()
	if s.client == nil {
		pool := x509.NewCertPool()
		pool.AddCert(s.ca.caCert)
		s.client = &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2: true,
		}}
	}
	return s.client
}

// Catalog returns the catalog the server answers from (to Post or Expire
// releases during a run).
func (s *Server) Catalog() *catalog.Catalog { return s.catalog }

// Requests returns the requests recorded since the start or the last Reset,
// oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		r.Faults = slices.Clone(r.Faults)
		out[i] = r
	}
	return out
}

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// SetFault installs f, replacing any fault of the same kind. It returns
// ErrInvalidFault (wrapped) for a fault Validate rejects.
func (s *Server) SetFault(f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setFaultLocked(f)
	return nil
}

func (s *Server) setFaultLocked(f Fault) {
	for i := range s.faults {
		if s.faults[i].Kind == f.Kind {
			s.faults[i] = f
			return
		}
	}
	s.faults = append(s.faults, f)
}

// Faults returns the installed faults (with their remaining counts).
func (s *Server) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Fault{}, s.faults...)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Handler returns the server's HTTP handler (GDMF endpoint and control API),
// for mounting in another server.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(ControlPrefix+"faults", s.handleFaults)
	mux.HandleFunc(ControlPrefix+"requests", s.handleRequests)
	mux.HandleFunc(ControlPrefix+"releases", s.handleReleases)
	mux.HandleFunc(ControlPrefix, func(w http.ResponseWriter, r *http.Request) {
		controlError(w, http.StatusNotFound, "unknown control endpoint %s; see /_mock/faults, /_mock/requests and /_mock/releases", r.URL.Path)
	})
	mux.HandleFunc("/", s.handleGDMF)
	return mux
}

// hits decides which installed faults apply to this request and uses up
// their counts.
func (s *Server) hits() map[FaultKind]Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[FaultKind]Fault{}
	kept := s.faults[:0]
	for _, f := range s.faults {
		hit := f.Probability == 0 || s.rng.Float64() < f.Probability
		if hit {
			out[f.Kind] = f
			if f.Count > 0 {
				f.Count--
				if f.Count == 0 {
					continue
				}
			}
		}
		kept = append(kept, f)
	}
	s.faults = kept
	return out
}

func (s *Server) record(r *http.Request, at time.Time, status int, faults map[FaultKind]Fault) {
	rec := Request{
		Time:       at,
		Method:     r.Method,
		Path:       r.URL.Path,
		Query:      r.URL.RawQuery,
		Header:     r.Header.Clone(),
		RemoteAddr: r.RemoteAddr,
		Status:     status,
	}
	for _, k := range []FaultKind{FaultLatency, FaultStatus, FaultStale, FaultMalformed} {
		if _, ok := faults[k]; ok {
			rec.Faults = append(rec.Faults, k)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) >= s.limit {
		s.requests = slices.Delete(s.requests, 0, len(s.requests)-s.limit+1)
	}
	s.requests = append(s.requests, rec)
}

func (s *Server) handleGDMF(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	if r.URL.Path != PMVPath {
		s.record(r, now, http.StatusNotFound, nil)
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.record(r, now, http.StatusMethodNotAllowed, nil)
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	faults := s.hits()
	if f, ok := faults[FaultLatency]; ok {
		if err := s.sleep(r.Context(), time.Duration(f.Latency)); err != nil {
			s.record(r, now, 0, faults) // the client went away
			return
		}
	}
	if f, ok := faults[FaultStatus]; ok {
		s.record(r, now, f.Status, faults)
		if f.RetryAfter > 0 {
			secs := (time.Duration(f.RetryAfter) + time.Second - 1) / time.Second
			w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
		}
		http.Error(w, http.StatusText(f.Status), f.Status)
		return
	}
	at := now
	if f, ok := faults[FaultStale]; ok {
		if !f.AsOf.IsZero() {
			at = f.AsOf
		} else {
			at = now.Add(-time.Duration(f.StaleBy))
		}
	}
	body, err := json.Marshal(s.catalog.Document(at))
	if err != nil {
		s.record(r, now, http.StatusInternalServerError, faults)
		http.Error(w, "cannot render the catalog", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if _, ok := faults[FaultMalformed]; ok {
		body = body[:len(body)/2]
		h.Set("Content-Length", strconv.Itoa(len(body)))
		s.record(r, now, http.StatusOK, faults)
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(body)
		}
		return
	}
	tag := etag(body)
	h.Set("ETag", tag)
	if etagMatch(r.Header.Get("If-None-Match"), tag) {
		s.record(r, now, http.StatusNotModified, faults)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	s.record(r, now, http.StatusOK, faults)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// etag is a strong validator: the hash of the body.
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// etagMatch implements If-None-Match's weak comparison over a list of tags.
func etagMatch(header, tag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}
