package protocol

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Defaults of the transport.
const (
	DefaultTimeout             = 30 * time.Second
	DefaultMaxIdleConnsPerHost = 256
	// MaxResponseSize bounds what a device reads from a server answer.
	MaxResponseSize = MaxCommandSize
)

// AuthMode is how a device proves its identity to the server.
type AuthMode int

const (
	// MdmSignature signs each body with a detached CMS signature in the
	// Mdm-Signature header (the enrollment profile's SignMessage=true).
	MdmSignature AuthMode = iota
	// MutualTLS presents the identity as the TLS client certificate.
	MutualTLS
)

func (m AuthMode) String() string {
	if m == MutualTLS {
		return "mtls"
	}
	return "mdm-signature"
}

// Identity is a device's enrollment identity: its certificate and key.
// RSA and ECDSA keys are supported.
type Identity struct {
	Certificate *x509.Certificate
	PrivateKey  crypto.Signer
}

// HTTPError is a non-200 answer from the server.
type HTTPError struct {
	StatusCode int
	Body       []byte
}

func (e *HTTPError) Error() string {
	b := e.Body
	if len(b) > 200 {
		b = b[:200]
	}
	return fmt.Sprintf("protocol: server answered HTTP %d: %s", e.StatusCode, bytes.TrimSpace(b))
}

// Transport carries check-ins and command results to MDM servers. One
// Transport is shared by a whole fleet: with Mdm-Signature every device uses
// the same keep-alive connection pool; with mutual TLS a connection is bound
// to a certificate, so each Session has its own and closes it when done, and
// an idle device holds no connection either way.
type Transport struct {
	timeout time.Duration
	tlsConf *tls.Config
	shared  *http.Client
	base    *http.Transport
}

// TransportOption configures a Transport.
type TransportOption func(*Transport)

// WithRootCAs sets the roots a device trusts for the server (for example the
// certificate payload of an enrollment profile).
func WithRootCAs(pool *x509.CertPool) TransportOption {
	return func(t *Transport) { t.tlsConf.RootCAs = pool }
}

// WithTimeout bounds each HTTP exchange and each TLS handshake (default
// DefaultTimeout and 10 s). A simulated world on a discrete-event clock
// sets it long: a wall-clock limit that a starved machine runs into fails
// a session that would have succeeded, and changes the run.
func WithTimeout(d time.Duration) TransportOption {
	return func(t *Transport) {
		if d > 0 {
			t.timeout = d
			t.base.TLSHandshakeTimeout = d
		}
	}
}

const defaultHandshakeTimeout = 10 * time.Second

// WithMaxIdleConnsPerHost sizes the shared keep-alive pool.
func WithMaxIdleConnsPerHost(n int) TransportOption {
	return func(t *Transport) {
		t.base.MaxIdleConnsPerHost = n
		t.base.MaxConnsPerHost = max(t.base.MaxConnsPerHost, n)
	}
}

// NewTransport returns a Transport ready for use by many devices at once.
func NewTransport(opts ...TransportOption) *Transport {
	t := &Transport{
		timeout: DefaultTimeout,
		tlsConf: &tls.Config{MinVersion: tls.VersionTLS12},
	}
	t.base = &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: DefaultMaxIdleConnsPerHost,
		// Devices sharing this transport queue for a connection beyond
		// the pool instead of opening one each: a fleet in one process
		// would run out of descriptors.
		MaxConnsPerHost:     DefaultMaxIdleConnsPerHost,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: defaultHandshakeTimeout,
		ForceAttemptHTTP2:   false,
	}
	for _, o := range opts {
		o(t)
	}
	t.base.TLSClientConfig = t.tlsConf
	t.shared = &http.Client{Transport: t.base, Timeout: t.timeout}
	return t
}

// CloseIdleConnections closes the shared pool's idle connections.
func (t *Transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// Session is one device's conversation with the server: a check-in, or a
// command loop that runs until the server's empty answer.
type Session struct {
	t      *Transport
	id     *Credential
	mode   AuthMode
	client *http.Client
	own    *http.Transport
}

// Session opens a session for a device's credential.
func (t *Transport) Session(id *Credential, mode AuthMode) *Session {
	s := &Session{t: t, id: id, mode: mode, client: t.shared}
	if mode == MutualTLS {
		conf := t.tlsConf.Clone()
		if id != nil {
			if key, err := id.Signer(); err == nil {
				conf.Certificates = []tls.Certificate{{Certificate: [][]byte{id.CertificateDER()}, PrivateKey: key}}
			}
		}
		s.own = t.base.Clone()
		s.own.TLSClientConfig = conf
		s.own.MaxIdleConnsPerHost = 1
		s.client = &http.Client{Transport: s.own, Timeout: t.timeout}
	}
	return s
}

// Close releases the session's own connection (mutual TLS).
func (s *Session) Close() {
	if s.own != nil {
		s.own.CloseIdleConnections()
	}
}

// Checkin sends a check-in message and returns the server's answer body.
func (s *Session) Checkin(ctx context.Context, url string, m CheckinMessage) ([]byte, error) {
	body, err := MarshalCheckin(m)
	if err != nil {
		return nil, err
	}
	return s.Put(ctx, url, ContentTypeCheckin, body)
}

// Report sends a command result and returns the next command (empty when
// the server has nothing more).
func (s *Session) Report(ctx context.Context, url string, r *Result) ([]byte, error) {
	body, err := r.Marshal()
	if err != nil {
		return nil, err
	}
	return s.Put(ctx, url, ContentTypeCommand, body)
}

// Put sends body with the given content type, authenticated as the session's
// identity, and returns the answer body of a 200.
func (s *Session) Put(ctx context.Context, url, contentType string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("protocol: request: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "MDM/1.0")
	if s.mode == MdmSignature {
		// The signing time is the wall clock's: servers check it against
		// the certificate's validity, which is on the wall clock too.
		sig, err := s.id.mdmSignature(body, time.Now())
		if err != nil {
			return nil, err
		}
		req.Header.Set("Mdm-Signature", sig)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("protocol: %w", err)
	}
	defer resp.Body.Close()
	var data []byte
	if resp.ContentLength != 0 { // the empty answer, the most common, needs no buffer
		if data, err = io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1)); err != nil {
			return nil, fmt.Errorf("protocol: read answer: %w", err)
		}
	}
	if len(data) > MaxResponseSize {
		return nil, fmt.Errorf("protocol: answer: %w", ErrTooLarge)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{StatusCode: resp.StatusCode, Body: data}
	}
	return data, nil
}
