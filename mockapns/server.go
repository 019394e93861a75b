package mockapns

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mdmsim/mdmsim/internal/cpuside"
)

// Server is a mock of Apple's push service, shaped like httptest.Server.
//
// Its handler answers the provider API (POST /3/device/<token>) and the
// control API (/_mock/...). Every method is safe for concurrent use.
type Server struct {
	// URL is the base URL, https://127.0.0.1:port (http:// with WithH2C).
	URL string
	// Listener is the listener the server serves on.
	Listener net.Listener

	cfg     config
	ca      *x509.Certificate
	caPEM   []byte
	tlsCert tls.Certificate
	hs      *http.Server
	client  *http.Client

	started   atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once

	// mu guards the mutable state below. Delivery callbacks and timers are
	// never run while it is held.
	mu         sync.Mutex
	topics     []string
	keys       map[string]providerKey // by key id
	jwtCache   map[string]jwtResult
	devices    map[string]*device // by lowercase hex token
	gone       map[string]goneToken
	faults     []*faultState
	rng        *rand.Rand
	idRng      *rand.Rand
	rec        recorder
	sessions   map[*session]struct{}
	sessionSeq uint64
}

// NewServer starts and returns a new Server. The caller should call Close
// when finished, to shut it down.
func NewServer(opts ...Option) *Server {
	s := NewUnstartedServer(opts...)
	s.Start()
	return s
}

// NewUnstartedServer returns a new Server that is listening but not yet
// serving; configure it (AllowTopic, AddProviderKey, AddFault, RegisterDevice)
// and call Start. It panics if it cannot listen or generate its certificates,
// like httptest.NewUnstartedServer; use WithListener to handle listen errors.
func NewUnstartedServer(opts ...Option) *Server {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		cfg:      cfg,
		topics:   append([]string(nil), cfg.topics...),
		keys:     map[string]providerKey{},
		jwtCache: map[string]jwtResult{},
		devices:  map[string]*device{},
		gone:     map[string]goneToken{},
		rng:      rand.New(rand.NewPCG(uint64(cfg.seed), 0x6d6f636b61706e73)),
		idRng:    rand.New(rand.NewPCG(uint64(cfg.seed), 0x617070732d696473)),
		sessions: map[*session]struct{}{},
	}
	s.rec.init(cfg.maxRecords)
	for _, f := range cfg.initialFaults {
		if err := s.AddFault(f); err != nil {
			panic(fmt.Sprintf("mockapns: WithFaults: %v", err))
		}
	}
	s.Listener = cfg.listener
	if s.Listener == nil {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			if l, err = net.Listen("tcp6", "[::1]:0"); err != nil {
				panic(fmt.Sprintf("mockapns: failed to listen on a port: %v", err))
			}
		}
		s.Listener = l
	}
	if err := s.makeCerts(); err != nil {
		panic(fmt.Sprintf("mockapns: %v", err))
	}
	s.client = s.newClient()
	return s
}

// Start starts a server from NewUnstartedServer.
func (s *Server) Start() {
	if s.started.Swap(true) {
		panic("mockapns: server already started")
	}
	if s.closed.Load() {
		panic("mockapns: server already closed")
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	scheme := "https"
	if s.cfg.h2c {
		protos.SetUnencryptedHTTP2(true)
		scheme = "http"
	} else {
		protos.SetHTTP2(true)
	}
	s.hs = &http.Server{
		Handler:   s,
		Protocols: protos,
		// No IdleTimeout or ReadTimeout: Go's HTTP/2 server answers an idle
		// timer with GOAWAY, and some clients (nanopush v0.9.0) crash on a
		// GOAWAY. APNs keeps healthy connections open for hours too.
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: s.cfg.maxStreams},
		// Handshake failures (a client that does not trust the CA) and
		// the like go to WithLogf, not to the process's standard logger.
		ErrorLog: log.New(logWriter{s}, "", 0),
	}
	l := s.Listener
	if !s.cfg.h2c {
		s.hs.TLSConfig = s.serverTLSConfig()
		l = tls.NewListener(l, s.hs.TLSConfig)
	}
	s.URL = scheme + "://" + urlHost(s.Listener.Addr())
	go func() {
		cpuside.Set(cpuside.World)
		_ = s.hs.Serve(l)
	}()
}

// urlHost renders a listener address for a URL, naming the loopback address
// when the listener is on every interface.
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

func (s *Server) serverTLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{s.tlsCert},
		// Request but do not require: certificate and token authentication
		// share one listener, and a missing certificate must become an APNs
		// error response rather than a failed handshake.
		ClientAuth: tls.RequestClientCert,
		NextProtos: []string{"h2", "http/1.1"},
		MinVersion: tls.VersionTLS12,
	}
}

// Close shuts the server down, closing every connection at once without a
// GOAWAY, and stops deliveries that have not happened yet.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.hs != nil {
			_ = s.hs.Close()
		} else if s.Listener != nil {
			_ = s.Listener.Close()
		}
		s.client.CloseIdleConnections()
		s.mu.Lock()
		for sess := range s.sessions {
			sess.closeLocked()
		}
		s.mu.Unlock()
	})
}

// Certificate returns the CA certificate that issued the server's TLS
// certificate.
func (s *Server) Certificate() *x509.Certificate { return s.ca }

// CACertPEM returns Certificate() PEM-encoded, for other processes
// (SSL_CERT_FILE, --ca-out).
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.caPEM...) }

// Client returns an HTTP/2 client that trusts the server's CA and presents no
// client certificate. Its Transport is an *http.Transport: clone it and set
// TLSClientConfig.Certificates to authenticate with a push certificate, or use
// PushClient. It is the same client on every call and its idle connections
// are closed by Close.
func (s *Server) Client() *http.Client { return s.client }

func (s *Server) newClient() *http.Client {
	protos := new(http.Protocols)
	tr := &http.Transport{
		Protocols:         protos,
		ForceAttemptHTTP2: true,
		HTTP2:             &http.HTTP2Config{},
		MaxIdleConns:      100,
	}
	if s.cfg.h2c {
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP2(true)
		pool := x509.NewCertPool()
		pool.AddCert(s.ca)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}
}

// PushClient returns a client that presents cert and sends every request to
// this server, whatever scheme and host its URL names: clients that hard-code
// https://api.push.apple.com (nanopush) reach the mock unchanged. Its
// signature is nanopush.NewClient's, so it can be passed as
// nanopush.WithNewClient(srv.PushClient).
func (s *Server) PushClient(cert *tls.Certificate) (*http.Client, error) {
	if s.URL == "" {
		return nil, errors.New("mockapns: PushClient called before Start")
	}
	// A fresh base transport: cloning the shared one while it is in use
	// elsewhere races with its lazy HTTP/2 set-up.
	return redirectClient(s.newClient(), s.URL, cert)
}

// NewPushClient is PushClient for a server in another process: baseURL is the
// URL it printed and roots must hold its CA (nil for an h2c URL).
func NewPushClient(baseURL string, roots *x509.CertPool, cert *tls.Certificate) (*http.Client, error) {
	hc, err := newRemoteHTTPClient(baseURL, roots)
	if err != nil {
		return nil, err
	}
	return redirectClient(hc, baseURL, cert)
}

// pushClientMaxConns bounds the connections of a PushClient.
const pushClientMaxConns = 4

func redirectClient(base *http.Client, baseURL string, cert *tls.Certificate) (*http.Client, error) {
	tr, ok := base.Transport.(*http.Transport)
	if !ok {
		return nil, errors.New("mockapns: base client has no *http.Transport")
	}
	scheme, host, ok := strings.Cut(baseURL, "://")
	if !ok || host == "" {
		return nil, fmt.Errorf("mockapns: bad base URL %q", baseURL)
	}
	tr = tr.Clone()
	// A provider keeps a few connections to APNs and multiplexes streams on
	// them; without a bound, a burst of pushes beyond one connection's
	// stream limit opens a connection each and runs out of descriptors.
	tr.MaxConnsPerHost = pushClientMaxConns
	if cert != nil {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &redirectTransport{scheme: scheme, host: strings.TrimSuffix(host, "/"), next: tr}}, nil
}

// redirectTransport points every request at the mock. It clones the request
// before changing it, as a RoundTripper must not modify its input.
type redirectTransport struct {
	scheme, host string
	next         *http.Transport
}

func (t *redirectTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.URL.Scheme = t.scheme
	r2.URL.Host = t.host
	r2.Host = t.host
	return t.next.RoundTrip(r2)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport.
func (t *redirectTransport) CloseIdleConnections() { t.next.CloseIdleConnections() }

// ServeHTTP routes the control API and the provider API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, controlPrefix) {
		s.serveControl(w, r)
		return
	}
	s.servePush(w, r)
}

type logWriter struct{ s *Server }

func (w logWriter) Write(p []byte) (int, error) {
	w.s.logf("mockapns: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.logf != nil {
		s.cfg.logf(format, args...)
	}
}
