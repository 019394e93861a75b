package mockapns

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"net"
	"strings"
	"time"

	"github.com/mdmsim/mdmsim/internal/pki"
)

// Defaults for the options below.
const (
	// DefaultTopicPattern accepts every MDM push topic
	// (com.apple.mgmt.External.<uuid> and its siblings).
	DefaultTopicPattern = "com.apple.mgmt*"
	// DefaultTokenLength is the length of a device token in bytes, as every
	// current Apple device reports it in TokenUpdate.
	DefaultTokenLength = 32
	// DefaultMaxConcurrentStreams is what APNs advertises once a connection
	// is established.
	DefaultMaxConcurrentStreams = 1000
	// DefaultMaxRecords bounds Pushes(): older records are forgotten, counters
	// in Stats are not.
	DefaultMaxRecords = 100_000
	// DefaultSeed seeds the mock's random choices (drops, latency samples,
	// generated apns-ids) when WithSeed is not given, so runs repeat.
	DefaultSeed = 1
	// DefaultTimestampUnit is the unit of "timestamp" in a 410 body: Apple
	// documents milliseconds since the epoch.
	DefaultTimestampUnit = time.Millisecond
)

// Option configures a Server.
type Option func(*config)

type config struct {
	ca            *pki.CA
	listener      net.Listener
	h2c           bool
	topics        []string
	hostnames     []string
	tokenLen      int
	acceptUnknown bool
	maxStreams    int
	maxRecords    int
	seed          int64
	tsUnit        time.Duration
	now           func() time.Time
	afterFunc     func(time.Duration, func())
	work          WorkTracker
	clientCAs     *x509.CertPool
	logf          func(format string, args ...any)
	initialFaults []Fault
}

func defaultConfig() config {
	return config{
		topics:     []string{DefaultTopicPattern},
		tokenLen:   DefaultTokenLength,
		maxStreams: DefaultMaxConcurrentStreams,
		maxRecords: DefaultMaxRecords,
		seed:       DefaultSeed,
		tsUnit:     DefaultTimestampUnit,
		// The clock package is the project's one source of time; the mock
		// takes time as two plain functions so that it stays a leaf and any
		// clock (real, scaled, manual) can be adapted in one line each.
		now:       time.Now,
		afterFunc: func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		work:      noWork{},
	}
}

// WorkTracker counts work in flight for a discrete-event clock: a
// *clock.Work satisfies it. The mock holds one unit from the moment it
// accepts a push that is due now until the device's deliver func returns.
type WorkTracker interface {
	Begin()
	End()
}

type noWork struct{}

func (noWork) Begin() {}
func (noWork) End()   {}

// WithWork reports deliveries in flight to w, so that a discrete-event
// clock (clock.NewWork(clk, "push-delivery")) does not move between a
// push's acceptance and the device waking up. Delivery latency is waited
// for with WithAfterFunc and holds no work meanwhile.
func WithWork(w WorkTracker) Option {
	return func(c *config) {
		if w != nil {
			c.work = w
		}
	}
}

// WithListener serves on l instead of a fresh listener on 127.0.0.1:0. The
// server owns l from then on and closes it in Close.
func WithListener(l net.Listener) Option { return func(c *config) { c.listener = l } }

// WithH2C serves cleartext HTTP/2 with prior knowledge (and HTTP/1.1 for the
// control API) instead of TLS. Certificate authentication is then impossible:
// pushes must use token authentication.
func WithH2C() Option { return func(c *config) { c.h2c = true } }

// WithTopics replaces the accepted topics. A pattern ending in "*" accepts
// every topic with that prefix; any other pattern accepts itself only.
// The default is DefaultTopicPattern.
func WithTopics(patterns ...string) Option {
	return func(c *config) { c.topics = append([]string(nil), patterns...) }
}

// WithHostnames adds DNS names to the server certificate, for clients that
// keep their own host name in the URL and only redirect the dial. 127.0.0.1,
// ::1, localhost and Apple's APNs host names are always present.
func WithHostnames(names ...string) Option {
	return func(c *config) { c.hostnames = append(c.hostnames, names...) }
}

// WithTokenLength sets the device-token length in bytes that the server
// accepts; 0 accepts any length from 1 to 100 bytes. Other lengths are
// refused with BadDeviceToken.
func WithTokenLength(n int) Option { return func(c *config) { c.tokenLen = n } }

// WithAcceptUnknownTokens makes the server accept (200) pushes to well-formed
// tokens that no device registered, as if the device existed but was never
// seen; they are recorded with DeliveryNoDevice. By default such a push is
// refused with BadDeviceToken, as APNs refuses a token it did not issue.
func WithAcceptUnknownTokens() Option { return func(c *config) { c.acceptUnknown = true } }

// WithMaxConcurrentStreams sets the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS the
// server advertises.
func WithMaxConcurrentStreams(n int) Option { return func(c *config) { c.maxStreams = n } }

// WithMaxRecords bounds how many pushes Pushes() keeps (the newest win);
// 0 keeps none, a negative value keeps all.
func WithMaxRecords(n int) Option { return func(c *config) { c.maxRecords = n } }

// WithSeed seeds every random choice the server makes.
func WithSeed(seed int64) Option { return func(c *config) { c.seed = seed } }

// WithTimestampUnit sets the unit of "timestamp" in 410 responses:
// time.Millisecond (Apple's documentation, the default) or time.Second (what
// some older clients assume).
func WithTimestampUnit(unit time.Duration) Option {
	return func(c *config) {
		if unit > 0 {
			c.tsUnit = unit
		}
	}
}

// WithNow sets the server's clock: token-auth expiry, certificate validity,
// apns-expiration, rate-limit windows, 410 timestamps and recorded times all
// read it. Pass a clock's Now method, e.g. WithNow(clk.Now).
func WithNow(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithAfterFunc sets how the server waits for delivery latency: after(d, f)
// must call f once, d later on the server's clock, on any goroutine. The
// default is time.AfterFunc. With the project clock:
//
//	mockapns.WithAfterFunc(func(d time.Duration, f func()) { clk.AfterFunc(d, f) })
func WithAfterFunc(after func(d time.Duration, f func())) Option {
	return func(c *config) {
		if after != nil {
			c.afterFunc = after
		}
	}
}

// WithClientCAs makes certificate authentication verify the client
// certificate's chain against pool (refusing others with BadCertificate).
// By default any certificate is accepted if it is in its validity period and
// names an accepted topic, so self-signed push certificates work.
func WithClientCAs(pool *x509.CertPool) Option { return func(c *config) { c.clientCAs = pool } }

// WithCA signs the server's certificate with this CA instead of a fresh
// one: a server outside the process told to trust it once (SSL_CERT_FILE)
// keeps trusting the mock across runs.
func WithCA(cert *x509.Certificate, key crypto.Signer) Option {
	return func(c *config) {
		c.ca = &pki.CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}
	}
}

// WithLogf receives one line per refused push and per control-API error.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *config) { c.logf = logf }
}

// WithFaults installs faults before the server starts (see AddFault).
func WithFaults(faults ...Fault) Option {
	return func(c *config) { c.initialFaults = append(c.initialFaults, faults...) }
}

// topicMatch reports whether topic is accepted by one of patterns.
func topicMatch(patterns []string, topic string) bool {
	if topic == "" {
		return false
	}
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(topic, prefix) {
				return true
			}
		} else if p == topic {
			return true
		}
	}
	return false
}
