package refmdm

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// pushEndpoint is the stack's minimal APNs: it accepts POST /3/device/<token>
// over HTTP/2 from a client presenting the push certificate and wakes the
// device registered for the token. Its method set is the one the simulator
// asks of a push service, so a full mock APNs can take its place.
type pushEndpoint struct {
	mu      sync.RWMutex
	devices map[string]pushTarget
	srv     *http.Server
	ln      net.Listener
	url     string
	roots   *x509.CertPool
	pushes  atomic.Int64
	woken   atomic.Int64
}

type pushTarget struct {
	topic, magic string
	deliver      func()
}

func newPushEndpoint(ca *authority) (*pushEndpoint, error) {
	cert, err := ca.serverCertificate("127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("refmdm: apns listen: %w", err)
	}
	p := &pushEndpoint{devices: map[string]pushTarget{}, ln: ln, url: "https://" + ln.Addr().String(), roots: x509.NewCertPool()}
	p.roots.AddCert(ca.cert)
	p.srv = &http.Server{
		Handler: http.HandlerFunc(p.serve),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAnyClientCert,
			NextProtos:   []string{"h2", "http/1.1"},
		},
	}
	go p.srv.ServeTLS(ln, "", "")
	return p, nil
}

// RegisterDevice records where a push for token goes.
func (p *pushEndpoint) RegisterDevice(token []byte, topic, pushMagic string, deliver func()) {
	p.mu.Lock()
	p.devices[hex.EncodeToString(token)] = pushTarget{topic: topic, magic: pushMagic, deliver: deliver}
	p.mu.Unlock()
}

// UnregisterDevice forgets a token.
func (p *pushEndpoint) UnregisterDevice(token []byte) {
	p.mu.Lock()
	delete(p.devices, hex.EncodeToString(token))
	p.mu.Unlock()
}

func (p *pushEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, reason string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"reason": reason})
	}
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if !ok {
		fail(http.StatusNotFound, "BadPath")
		return
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "MethodNotAllowed")
		return
	}
	var payload struct {
		MDM string `json:"mdm"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4097))
	if len(body) == 0 {
		fail(http.StatusBadRequest, "PayloadEmpty")
		return
	}
	if len(body) > 4096 {
		fail(http.StatusRequestEntityTooLarge, "PayloadTooLarge")
		return
	}
	_ = json.Unmarshal(body, &payload)
	p.mu.RLock()
	t, known := p.devices[strings.ToLower(token)]
	p.mu.RUnlock()
	if _, err := hex.DecodeString(token); err != nil || len(token) != 64 {
		fail(http.StatusBadRequest, "BadDeviceToken")
		return
	}
	if !known {
		fail(http.StatusGone, "Unregistered")
		return
	}
	p.pushes.Add(1)
	id := r.Header.Get("apns-id")
	if id == "" {
		id = newUUID()
	}
	w.Header().Set("apns-id", id)
	w.WriteHeader(http.StatusOK)
	// A device ignores a push whose magic is not the one it registered.
	if payload.MDM == t.magic && t.deliver != nil {
		p.woken.Add(1)
		go t.deliver()
	}
}

// client returns the HTTP client nanopush uses for a push certificate: it
// presents the certificate and sends every request to this endpoint instead
// of api.push.apple.com.
func (p *pushEndpoint) client(cert *tls.Certificate) (*http.Client, error) {
	target := p.url
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{Certificates: []tls.Certificate{*cert}, RootCAs: p.roots},
		ForceAttemptHTTP2: true,
	}
	return &http.Client{Transport: rewriteHost{next: tr, base: target}}, nil
}

func (p *pushEndpoint) close() error { return p.srv.Close() }

// rewriteHost sends requests to another base URL, keeping path and headers.
type rewriteHost struct {
	next http.RoundTripper
	base string
}

func (rt rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	u := *r.URL
	scheme, host, _ := strings.Cut(rt.base, "://")
	u.Scheme, u.Host = scheme, host
	r2 := r.Clone(r.Context())
	r2.URL = &u
	r2.Host = host
	return rt.next.RoundTrip(r2)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
