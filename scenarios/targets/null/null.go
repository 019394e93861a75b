// Package null is an MDM server that does as little as the protocol
// allows: check-ins and the command channel answered at the cost of a map
// look-up, P-256 identities minted without a CA's signature (the
// certificates carry a placeholder), pushes sent through the world's mock
// APNs. Benchmarked against it, the simulator measures itself.
//
// It is not a server to test: it trusts any request that carries an
// Mdm-Signature header and never verifies the signature or the certificate
// chain (a real server must), it serves plain HTTP on 127.0.0.1 (the
// devices accept an http ServerURL), and it keeps command results in a
// bounded map, forgetting those beyond its capacity.
package null

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/internal/cpuside"
	"github.com/mdmsim/mdmsim/internal/pki"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Defaults of the null server.
const (
	// DefaultMaxResults bounds the command results kept.
	DefaultMaxResults = 100_000
	// DefaultPushConcurrency bounds the pushes in flight per Enqueue/Push.
	DefaultPushConcurrency = 64
	// Topic is the push topic of the null server's devices.
	Topic = "com.apple.mgmt.External.6d646d73-696d-4e75-6c6c-000000000000"
	// Paths of the check-in and command endpoints.
	PathCheckin = "/mdm/checkin"
	PathConnect = "/mdm/connect"
	// maxBody bounds a request body the server reads.
	maxBody = 4 << 20
)

// Option configures the null target.
type Option func(*Target)

// WithMaxResults bounds the command results kept (DefaultMaxResults).
func WithMaxResults(n int) Option { return func(t *Target) { t.maxResults = n } }

// Stats are the null server's counters.
type Stats struct {
	Authenticate, TokenUpdate, CheckOut, Idle, Results, CommandsSent, Pushes, PushErrors int64
	// ResultsDropped counts results not kept because the map was full.
	ResultsDropped int64
	// Unauthenticated counts requests refused for lack of an Mdm-Signature.
	Unauthenticated int64
}

// Target is the null server as a scenarios.Target.
type Target struct {
	URL string

	maxResults int
	ca         *pki.CA
	minter     *pki.Minter
	profile    []byte
	push       *http.Client
	pushURL    string
	srv        *http.Server
	ln         net.Listener

	mu      sync.Mutex
	devices map[string]device // by UDID, held by value: a fleet of a million is a million entries
	results map[resultKey]string

	authenticate, tokenUpdate, checkOut, idle, nresults, sent, pushes, pushErrs, dropped, unauth atomic.Int64
}

type device struct {
	token string // the push token's bytes; "" before a TokenUpdate with one
	magic string
	queue [][]byte // command plists, oldest first
}

type resultKey struct{ udid, uuid string }

// New starts the null server on 127.0.0.1, pushing through w's mock APNs.
func New(ctx context.Context, w *scenarios.World, opts ...Option) (*Target, error) {
	if w == nil || w.APNs == nil {
		panic("null: New needs a world with a mock APNs")
	}
	t := &Target{maxResults: DefaultMaxResults, devices: map[string]device{}, results: map[resultKey]string{}}
	for _, o := range opts {
		o(t)
	}
	if err := t.newCA(); err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := w.PushCertificate(Topic)
	if err != nil {
		return nil, fmt.Errorf("null: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("null: push certificate: %w", err)
	}
	if t.push, err = w.APNs.PushClient(&cert); err != nil {
		return nil, fmt.Errorf("null: push client: %w", err)
	}
	t.pushURL = w.APNs.URL
	var lc net.ListenConfig
	if t.ln, err = lc.Listen(ctx, "tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("null: listen: %w", err)
	}
	t.URL = "http://" + t.ln.Addr().String()
	if t.profile, err = t.buildProfile(); err != nil {
		t.ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT "+PathCheckin, t.serveCheckin)
	mux.HandleFunc("PUT "+PathConnect, t.serveConnect)
	t.srv = &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}
	go func() {
		cpuside.Set(cpuside.Server) // its connections' goroutines inherit it
		_ = t.srv.Serve(t.ln)
	}()
	return t, nil
}

func (t *Target) newCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("null: CA key: %w", err)
	}
	now := time.Now()
	if t.ca, err = pki.NewCA("mdmsim null MDM CA", key, now.Add(-time.Hour), now.AddDate(10, 0, 0)); err != nil {
		return fmt.Errorf("null: %w", err)
	}
	// Certificates as small as a client certificate gets (no
	// organization, no authority key identifier) and unsigned: the null
	// server checks nothing, and a CA's signature is a server's work, not
	// the simulator's, which is what the null server is there to measure.
	// A device keeps its certificate.
	if t.minter, err = t.ca.NewMinter(""); err != nil {
		return fmt.Errorf("null: %w", err)
	}
	t.minter.OmitAuthorityKeyID()
	t.minter.Unsigned()
	return nil
}

// MintCredential issues a device identity (ECDSA P-256, unsigned) in the
// compact form a device keeps: the enrollment fast path.
func (t *Target) MintCredential(commonName string) (*protocol.Credential, error) {
	now := time.Now()
	der, key, err := t.minter.Mint(commonName, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		return nil, fmt.Errorf("null: identity: %w", err)
	}
	return protocol.NewCredentialDER(der, key)
}

func (t *Target) buildProfile() ([]byte, error) {
	p := &protocol.EnrollmentProfile{
		PayloadIdentifier: "com.github.mdmsim.null",
		PayloadUUID:       "6D646D73-696D-4E75-6C6C-000000000001",
		MDM: protocol.MDMPayload{
			PayloadType: protocol.PayloadTypeMDM, PayloadVersion: 1,
			PayloadIdentifier: "com.github.mdmsim.null.mdm", PayloadUUID: "6D646D73-696D-4E75-6C6C-000000000002",
			ServerURL: t.URL + PathConnect, CheckInURL: t.URL + PathCheckin, Topic: Topic,
			// No payload carries this identity: devices get theirs from
			// MintCredential, never over SCEP.
			IdentityCertificateUUID: "6D646D73-696D-4E75-6C6C-000000000003",
			SignMessage:             true, AccessRights: 8191, CheckOutWhenRemoved: true,
			// Apple-silicon Macs escrow their bootstrap token only with a
			// server that says it keeps one.
			ServerCapabilities: []string{simulator.CapabilityBootstrapToken},
		},
	}
	b, err := p.Marshal()
	if err != nil {
		return nil, fmt.Errorf("null: profile: %w", err)
	}
	return b, nil
}

// Name implements scenarios.Target.
func (t *Target) Name() string { return "null" }

// Enrollment implements scenarios.Target: the profile, and the CA as the
// identity source (the null server has no SCEP).
func (t *Target) Enrollment(context.Context) (scenarios.Enrollment, error) {
	return scenarios.Enrollment{Profile: t.profile, Roots: []*x509.Certificate{t.ca.Cert}, Identities: t.MintCredential}, nil
}

// Commands implements scenarios.Target.
func (t *Target) Commands() scenarios.Commands { return commands{t} }

// Declarations implements scenarios.Target: the null server has none.
func (t *Target) Declarations() scenarios.Declarations { return nil }

// UpdatePolicy implements scenarios.Target: the null server has none.
func (t *Target) UpdatePolicy() scenarios.UpdatePolicy { return nil }

// Close stops the server.
func (t *Target) Close() error {
	t.push.CloseIdleConnections()
	return t.srv.Close()
}

// Stats returns the counters.
func (t *Target) Stats() Stats {
	return Stats{Authenticate: t.authenticate.Load(), TokenUpdate: t.tokenUpdate.Load(), CheckOut: t.checkOut.Load(),
		Idle: t.idle.Load(), Results: t.nresults.Load(), CommandsSent: t.sent.Load(), Pushes: t.pushes.Load(),
		PushErrors: t.pushErrs.Load(), ResultsDropped: t.dropped.Load(), Unauthenticated: t.unauth.Load()}
}

// Result returns the status udid answered to a command, if kept.
func (t *Target) Result(udid, commandUUID string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.results[resultKey{udid, commandUUID}]
	return s, ok
}

// Enrolled reports how many devices hold a push token.
func (t *Target) Enrolled() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.devices)
}

// bodies are the buffers requests are read into: a handler keeps nothing
// of its body (what it stores, it copies), so the buffer goes back when it
// returns.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// readBody reads an authenticated request's body into a pooled buffer,
// handed back by release; it writes the error and returns nil when the
// request is refused.
func (t *Target) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func()) {
	if r.Header.Get("Mdm-Signature") == "" && (r.TLS == nil || len(r.TLS.PeerCertificates) == 0) {
		t.unauth.Add(1)
		http.Error(w, "no Mdm-Signature", http.StatusUnauthorized)
		return nil, nil
	}
	bp := bodies.Get().(*[]byte)
	buf := (*bp)[:0]
	lr := io.LimitReader(r.Body, maxBody+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil || len(buf) > maxBody {
			bodies.Put(bp)
			http.Error(w, "bad body", http.StatusBadRequest)
			return nil, nil
		}
	}
	if len(buf) > maxBody {
		bodies.Put(bp)
		http.Error(w, "bad body", http.StatusBadRequest)
		return nil, nil
	}
	return buf, func() {
		if cap(buf) <= 64<<10 {
			*bp = buf[:0]
			bodies.Put(bp)
		}
	}
}

type checkinMessage struct {
	MessageType string `plist:"MessageType"`
	UDID        string `plist:"UDID"`
	Token       []byte `plist:"Token"`
	PushMagic   string `plist:"PushMagic"`
}

func (t *Target) serveCheckin(w http.ResponseWriter, r *http.Request) {
	body, release := t.readBody(w, r)
	if body == nil {
		return
	}
	defer release()
	m, err := decodeCheckin(body)
	if err != nil || m.UDID == "" {
		http.Error(w, "bad check-in", http.StatusBadRequest)
		return
	}
	switch m.MessageType {
	case "Authenticate":
		t.authenticate.Add(1)
	case "TokenUpdate":
		t.tokenUpdate.Add(1)
		t.mu.Lock()
		d := t.devices[m.UDID]
		if len(m.Token) > 0 {
			d.token, d.magic = string(m.Token), m.PushMagic
		}
		t.devices[m.UDID] = d
		t.mu.Unlock()
	case "CheckOut":
		t.checkOut.Add(1)
		t.mu.Lock()
		delete(t.devices, m.UDID)
		t.mu.Unlock()
	default:
		// Other check-ins (UserAuthenticate, DeclarativeManagement, …)
		// are answered with nothing.
	}
	w.WriteHeader(http.StatusOK)
}

type resultMessage struct {
	UDID        string `plist:"UDID"`
	Status      string `plist:"Status"`
	CommandUUID string `plist:"CommandUUID"`
}

// decodeCheckin reads a check-in: scanned when flat (scan.go), decoded
// otherwise.
func decodeCheckin(body []byte) (checkinMessage, error) {
	var m checkinMessage
	if f, ok := asFlat(body); ok {
		var e [4]error
		m.MessageType, _, e[0] = f.str("MessageType")
		m.UDID, _, e[1] = f.str("UDID")
		m.Token, _, e[2] = f.data("Token")
		m.PushMagic, _, e[3] = f.str("PushMagic")
		if errors.Join(e[:]...) == nil {
			return m, nil
		}
		m = checkinMessage{}
	}
	err := plist.Unmarshal(body, &m)
	return m, err
}

// decodeResult reads a command result as decodeCheckin reads a check-in.
func decodeResult(body []byte) (resultMessage, error) {
	var m resultMessage
	if f, ok := asFlat(body); ok {
		var e [3]error
		m.UDID, _, e[0] = f.str("UDID")
		m.Status, _, e[1] = f.str("Status")
		m.CommandUUID, _, e[2] = f.str("CommandUUID")
		if errors.Join(e[:]...) == nil {
			return m, nil
		}
		m = resultMessage{}
	}
	err := plist.Unmarshal(body, &m)
	return m, err
}

func (t *Target) serveConnect(w http.ResponseWriter, r *http.Request) {
	body, release := t.readBody(w, r)
	if body == nil {
		return
	}
	defer release()
	m, err := decodeResult(body)
	if err != nil || m.UDID == "" || m.Status == "" {
		http.Error(w, "bad result", http.StatusBadRequest)
		return
	}
	var next []byte
	t.mu.Lock()
	if m.Status == "Idle" {
		t.idle.Add(1)
	} else {
		t.nresults.Add(1)
		k := resultKey{m.UDID, m.CommandUUID}
		if _, ok := t.results[k]; ok || len(t.results) < t.maxResults {
			t.results[k] = m.Status
		} else {
			t.dropped.Add(1)
		}
	}
	if d, ok := t.devices[m.UDID]; ok && len(d.queue) > 0 {
		// An answer to the head of the queue (anything but NotNow)
		// takes it off; NotNow leaves it for the next session.
		if m.Status != "Idle" && m.Status != "NotNow" {
			d.queue[0] = nil
			d.queue = d.queue[1:]
			if len(d.queue) == 0 {
				d.queue = nil
			}
			t.devices[m.UDID] = d
		}
		if len(d.queue) > 0 && m.Status != "NotNow" {
			next = d.queue[0]
		}
	}
	t.mu.Unlock()
	if next != nil {
		t.sent.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write(next)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// commands is the null server's command channel.
type commands struct{ t *Target }

// Enqueue implements scenarios.Commands: the command is queued for every
// known device, then each is pushed.
func (c commands) Enqueue(ctx context.Context, udids []string, cmd scenarios.Command) error {
	body, err := cmd.Plist()
	if err != nil {
		return err
	}
	c.t.mu.Lock()
	var missing int
	for _, u := range udids {
		d, ok := c.t.devices[u]
		if !ok {
			missing++
			continue
		}
		d.queue = append(d.queue, body)
		c.t.devices[u] = d
	}
	c.t.mu.Unlock()
	if missing > 0 {
		return fmt.Errorf("null: %d of %d devices are not enrolled", missing, len(udids))
	}
	return c.Push(ctx, udids)
}

// Push implements scenarios.Commands: one APNs request per device, a
// bounded number at once.
func (c commands) Push(ctx context.Context, udids []string) error {
	t := c.t
	type target struct {
		token, magic string
	}
	tgts := make([]target, 0, len(udids))
	t.mu.Lock()
	for _, u := range udids {
		if d := t.devices[u]; d.token != "" {
			tgts = append(tgts, target{d.token, d.magic})
		}
	}
	t.mu.Unlock()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next atomic.Int64
	)
	workers := min(DefaultPushConcurrency, len(tgts))
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(tgts)) || ctx.Err() != nil {
					return
				}
				if err := t.pushOne(ctx, tgts[i].token, tgts[i].magic); err != nil {
					t.pushErrs.Add(1)
					mu.Lock()
					if len(errs) < 3 {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", scenarios.ErrPushFailed, errors.Join(errs...))
	}
	return ctx.Err()
}

func (t *Target) pushOne(ctx context.Context, token, magic string) error {
	t.pushes.Add(1)
	payload := []byte(`{"mdm":"` + magic + `"}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.pushURL+"/3/device/"+hex.EncodeToString([]byte(token)), bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("apns-topic", Topic)
	req.Header.Set("apns-push-type", "mdm")
	resp, err := t.push.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("null: push: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}
