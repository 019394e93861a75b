package mockapns

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ErrClosed is returned by Remote.Sync after Close.
var ErrClosed = errors.New("mockapns: remote closed")

// DialOption configures Dial.
type DialOption func(*dialConfig)

type dialConfig struct {
	hc        *http.Client
	roots     *x509.CertPool
	reconnect bool
	logf      func(format string, args ...any)
}

// WithHTTPClient makes Dial use hc, which must speak HTTP/2 to the server
// (its transport needs Protocols with HTTP2, or UnencryptedHTTP2 for h2c).
func WithHTTPClient(hc *http.Client) DialOption { return func(c *dialConfig) { c.hc = hc } }

// WithRootCAs makes Dial trust pool, which should hold the server's CA (the
// PEM that `mdmsim apns serve --ca-out` writes).
func WithRootCAs(pool *x509.CertPool) DialOption { return func(c *dialConfig) { c.roots = pool } }

// WithoutReconnect makes a Remote stop at the first broken stream instead of
// dialling again and re-registering its devices.
func WithoutReconnect() DialOption { return func(c *dialConfig) { c.reconnect = false } }

// WithDialLogf receives a line per stream error and reconnect.
func WithDialLogf(logf func(format string, args ...any)) DialOption {
	return func(c *dialConfig) { c.logf = logf }
}

// Remote is a mock APNs server in another process, seen by devices in this
// one. It has the Server's device-facing methods, so a simulator need not know
// where the mock runs. All devices share one HTTP/2 stream (see "Device
// stream" in the package documentation); if it breaks, the Remote dials
// again and registers its devices again.
type Remote struct {
	url    string
	hc     *http.Client
	ownsHC bool
	cfg    dialConfig

	mu      sync.Mutex
	devices map[string]*remoteDevice
	out     []byte
	pw      *io.PipeWriter
	cancel  context.CancelFunc
	syncs   map[uint64]chan error
	syncSeq uint64
	closed  bool
	signal  chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
}

type remoteDevice struct {
	topic, magic string
	deliver      func()
	online       bool
}

// Dial opens the device stream of the server at url (as printed by
// `mdmsim apns serve`). ctx bounds the dial only; the stream lives until
// Close.
func Dial(ctx context.Context, url string, opts ...DialOption) (*Remote, error) {
	cfg := dialConfig{reconnect: true}
	for _, o := range opts {
		o(&cfg)
	}
	hc, owns := cfg.hc, cfg.hc == nil
	if owns {
		var err error
		if hc, err = newRemoteHTTPClient(url, cfg.roots); err != nil {
			return nil, err
		}
	}
	r := &Remote{
		url:     strings.TrimSuffix(url, "/"),
		hc:      hc,
		ownsHC:  owns,
		cfg:     cfg,
		devices: map[string]*remoteDevice{},
		syncs:   map[uint64]chan error{},
		signal:  make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	body, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	r.wg.Add(2)
	go r.writeLoop()
	go r.run(body)
	return r, nil
}

// newRemoteHTTPClient is an HTTP/2-only client for url: TLS with roots (nil:
// the system pool) for https, prior-knowledge h2c for http.
func newRemoteHTTPClient(url string, roots *x509.CertPool) (*http.Client, error) {
	protos := new(http.Protocols)
	tr := &http.Transport{Protocols: protos, ForceAttemptHTTP2: true, HTTP2: &http.HTTP2Config{}}
	switch {
	case strings.HasPrefix(url, "https://"):
		protos.SetHTTP2(true)
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	case strings.HasPrefix(url, "http://"):
		protos.SetUnencryptedHTTP2(true)
	default:
		return nil, fmt.Errorf("mockapns: URL %q is neither https:// nor http://", url)
	}
	return &http.Client{Transport: tr}, nil
}

// connect opens a stream, queues the registrations of every known device and
// every unanswered sync for it, and returns the event reader after "hello".
func (r *Remote) connect(ctx context.Context) (*bufio.Reader, error) {
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(sctx, http.MethodPost, r.url+controlPrefix+"stream", pr)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("mockapns: dial: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := r.hc.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("mockapns: dial %s: %w", r.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("mockapns: dial %s: status %d: %s", r.url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	br := bufio.NewReaderSize(resp.Body, maxEventLine)
	if err := readHello(br); err != nil {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("mockapns: dial %s: %w", r.url, err)
	}
	if ctx.Err() != nil {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("mockapns: dial %s: %w", r.url, ctx.Err())
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		resp.Body.Close()
		cancel()
		return nil, ErrClosed
	}
	// The queue held operations for the old stream; the device table is the
	// truth, so replay it and the syncs still waiting.
	r.out = r.out[:0]
	for tok, d := range r.devices {
		r.out = appendOp(r.out, streamOp{Op: "register", Token: tok, Topic: d.topic, PushMagic: d.magic})
		if !d.online {
			f := false
			r.out = appendOp(r.out, streamOp{Op: "online", Token: tok, Online: &f})
		}
	}
	for id := range r.syncs {
		r.out = appendOp(r.out, streamOp{Op: "sync", ID: id})
	}
	r.pw, r.cancel = pw, cancel
	r.kick()
	return br, nil
}

// maxEventLine bounds one event line the client reads (the size of its
// read buffer).
const maxEventLine = 64 << 10

// readHello reads the first event of a stream, which must be hello. Like
// every event line it must fit br's buffer: a server that never ends the line
// must not make the client read (and hold) without limit.
func readHello(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return errors.New("hello line too long")
	}
	if err != nil {
		return err
	}
	var hello streamEvent
	if err := json.Unmarshal(line, &hello); err != nil {
		return fmt.Errorf("bad hello %q: %w", line[:min(len(line), 80)], err)
	}
	if hello.Event != "hello" {
		return fmt.Errorf("first event %q, want hello", hello.Event)
	}
	return nil
}

func appendOp(b []byte, op streamOp) []byte {
	j, _ := json.Marshal(op)
	return append(append(b, j...), '\n')
}

func (r *Remote) kick() {
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// enqueue adds an operation for the stream; the caller holds r.mu.
func (r *Remote) enqueueLocked(op streamOp) {
	r.out = appendOp(r.out, op)
	r.kick()
}

// writeLoop copies queued operations to the current stream.
func (r *Remote) writeLoop() {
	defer r.wg.Done()
	for {
		select {
		case <-r.signal:
		case <-r.done:
			return
		}
		r.mu.Lock()
		batch, pw := r.out, r.pw
		if pw != nil {
			r.out = nil
		}
		r.mu.Unlock()
		if pw == nil || len(batch) == 0 {
			continue
		}
		if _, err := pw.Write(batch); err != nil {
			// The reader sees the broken stream too and reconnects, which
			// replays the device table.
			r.logf("mockapns: remote: write: %v", err)
		}
	}
}

// run reads events, and dials again when the stream breaks.
func (r *Remote) run(br *bufio.Reader) {
	defer r.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		err := r.readEvents(br)
		r.mu.Lock()
		closed := r.closed
		if r.cancel != nil {
			r.cancel()
		}
		if r.pw != nil {
			r.pw.CloseWithError(err)
		}
		r.pw, r.cancel = nil, nil
		r.mu.Unlock()
		if closed {
			return
		}
		r.logf("mockapns: remote: stream ended: %v", err)
		if !r.cfg.reconnect {
			r.failSyncs(fmt.Errorf("mockapns: stream ended: %w", err))
			return
		}
		for {
			select {
			case <-r.done:
				return
			case <-time.After(backoff):
			}
			br, err = r.connect(context.Background())
			if err == nil {
				backoff = 50 * time.Millisecond
				break
			}
			if errors.Is(err, ErrClosed) {
				return
			}
			r.logf("mockapns: remote: reconnect: %v", err)
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

func (r *Remote) readEvents(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return errors.New("event line too long")
		}
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		var ev streamEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			r.logf("mockapns: remote: bad event %q: %v", line, err)
			continue
		}
		switch ev.Event {
		case "push":
			r.mu.Lock()
			d := r.devices[ev.Token]
			var fn func()
			if d != nil {
				fn = d.deliver
			}
			r.mu.Unlock()
			if fn != nil {
				go fn()
			}
		case "synced":
			r.mu.Lock()
			ch := r.syncs[ev.ID]
			delete(r.syncs, ev.ID)
			r.mu.Unlock()
			if ch != nil {
				ch <- nil
			}
		case "error":
			r.logf("mockapns: remote: server: %s", ev.Message)
		}
	}
}

func (r *Remote) failSyncs(err error) {
	r.mu.Lock()
	syncs := r.syncs
	r.syncs = map[uint64]chan error{}
	r.mu.Unlock()
	for _, ch := range syncs {
		ch <- err
	}
}

// RegisterDevice registers a device token with the remote server; deliver is
// called on a new goroutine for each push delivered to it. The registration
// is sent asynchronously: call Sync to wait until the server has it.
func (r *Remote) RegisterDevice(token []byte, topic, pushMagic string, deliver func()) {
	if deliver == nil {
		panic("mockapns: RegisterDevice with nil deliver")
	}
	tok := hex.EncodeToString(token)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.devices[tok] = &remoteDevice{topic: topic, magic: pushMagic, deliver: deliver, online: true}
	r.enqueueLocked(streamOp{Op: "register", Token: tok, Topic: topic, PushMagic: pushMagic})
}

// UnregisterDevice unregisters a device token; later pushes to it are
// answered 410 Unregistered.
func (r *Remote) UnregisterDevice(token []byte) {
	tok := hex.EncodeToString(token)
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.devices, tok)
	r.enqueueLocked(streamOp{Op: "unregister", Token: tok})
}

// SetOnline takes a device of this process off or back on the network (see
// Server.SetOnline).
func (r *Remote) SetOnline(token []byte, online bool) {
	tok := hex.EncodeToString(token)
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := r.devices[tok]; d != nil {
		d.online = online
	}
	r.enqueueLocked(streamOp{Op: "online", Token: tok, Online: &online})
}

// Sync waits until the server has applied every operation sent before it.
func (r *Remote) Sync(ctx context.Context) error {
	ch := make(chan error, 1)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.syncSeq++
	id := r.syncSeq
	r.syncs[id] = ch
	r.enqueueLocked(streamOp{Op: "sync", ID: id})
	r.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-r.done:
		return ErrClosed
	case <-ctx.Done():
		r.mu.Lock()
		delete(r.syncs, id)
		r.mu.Unlock()
		return ctx.Err()
	}
}

// Close ends the stream. The server keeps the devices registered, offline.
func (r *Remote) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	if r.pw != nil {
		_ = r.pw.Close()
	}
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
	if r.ownsHC {
		r.hc.CloseIdleConnections()
	}
	return nil
}

func (r *Remote) logf(format string, args ...any) {
	if r.cfg.logf != nil {
		r.cfg.logf(format, args...)
	}
}
