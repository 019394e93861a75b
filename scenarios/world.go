package scenarios

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/internal/pki"
	"github.com/mdmsim/mdmsim/mockapns"
	"github.com/mdmsim/mdmsim/mockgdmf"
)

// World is Apple's side of a run and its time: the mock APNs every device
// registers with, the mock GDMF servers ask what releases exist, the
// catalog both serve, the clock of devices and enforcers alike, and the
// Observer that watches the devices. A server outside the process reaches
// both mocks through the CONNECT proxy (HTTPS_PROXY, trusting the CA kept
// in WorldConfig.CADir: api.push.apple.com goes to the mock APNs,
// gdmf.apple.com to the mock GDMF) or at their URLs.
type World struct {
	Clock    clock.Clock
	Catalog  *catalog.Catalog
	Observer *Observer
	APNs     *mockapns.Server
	GDMF     *mockgdmf.Server
	// Proxy tunnels api.push.apple.com to APNs; nil unless asked for.
	Proxy *mockapns.Proxy
}

// WorldConfig says how to build a World; zero fields take defaults.
type WorldConfig struct {
	// Clock is the world's time: nil means the wall clock.
	Clock clock.Clock
	// Catalog is what exists in Apple's world: nil means catalog.Default().
	Catalog *catalog.Catalog
	// Seed drives the mocks' random choices.
	Seed int64
	// APNsAddr and GDMFAddr are where the mocks listen (127.0.0.1 with a
	// free port when empty).
	APNsAddr, GDMFAddr string
	// CADir, when set, keeps the mocks' CA (APNs and GDMF) in that
	// folder (ca.pem, ca-key.pem), made on first use: a server outside the
	// process trusts it once (SSL_CERT_FILE=DIR/ca.pem) across runs.
	CADir string
	// ProxyAddr, when set, starts the CONNECT proxy there ("127.0.0.1:0"
	// for a free port): what a server outside the process pushes through.
	ProxyAddr string
}

// NewWorld starts the mocks.
func NewWorld(cfg WorldConfig) (w *World, err error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Catalog == nil {
		cfg.Catalog = catalog.Default()
	}
	w = &World{Clock: cfg.Clock, Catalog: cfg.Catalog, Observer: NewObserver()}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	clk := cfg.Clock
	apnsOpts := []mockapns.Option{mockapns.WithSeed(cfg.Seed),
		mockapns.WithAfterFunc(func(d time.Duration, f func()) { clk.AfterFunc(d, f) }),
		mockapns.WithLogf(func(string, ...any) {})}
	if work := clock.NewWork(clk, "push-delivery"); work != nil {
		apnsOpts = append(apnsOpts, mockapns.WithWork(work))
	}
	var gdmfOpts []mockgdmf.Option
	if cfg.CADir != "" {
		ca, err := pki.LoadOrCreateCA(cfg.CADir, "mdmsim mock Apple services CA")
		if err != nil {
			return w, fmt.Errorf("scenarios: the mocks' CA: %w", err)
		}
		apnsOpts = append(apnsOpts, mockapns.WithCA(ca.Cert, ca.Key))
		gdmfOpts = append(gdmfOpts, mockgdmf.WithCA(ca.Cert, ca.Key))
	}
	if cfg.APNsAddr != "" {
		ln, err := net.Listen("tcp", cfg.APNsAddr)
		if err != nil {
			return w, fmt.Errorf("scenarios: mock APNs: %w", err)
		}
		apnsOpts = append(apnsOpts, mockapns.WithListener(ln))
	}
	w.APNs = mockapns.NewServer(apnsOpts...)
	if cfg.ProxyAddr != "" {
		ln, err := net.Listen("tcp", cfg.ProxyAddr)
		if err != nil {
			return w, fmt.Errorf("scenarios: APNs proxy: %w", err)
		}
		if w.Proxy, err = w.APNs.NewProxy(ln); err != nil {
			ln.Close()
			return w, fmt.Errorf("scenarios: APNs proxy: %w", err)
		}
	}
	gdmfOpts = append(gdmfOpts, mockgdmf.WithCatalog(cfg.Catalog), mockgdmf.WithClock(clk), mockgdmf.WithSeed(uint64(cfg.Seed)),
		mockgdmf.WithHosts(GDMFHost))
	if cfg.GDMFAddr != "" {
		ln, err := net.Listen("tcp", cfg.GDMFAddr)
		if err != nil {
			return w, fmt.Errorf("scenarios: mock GDMF: %w", err)
		}
		gdmfOpts = append(gdmfOpts, mockgdmf.WithListener(ln))
	}
	w.GDMF = mockgdmf.NewServer(gdmfOpts...)
	if w.Proxy != nil {
		// A server that asks Apple which releases exist, through the
		// same proxy, asks the mock.
		w.Proxy.Route(GDMFHost, w.GDMF.Listener.Addr().String())
	}
	return w, nil
}

// GDMFHost is Apple's software lookup service, which the proxy takes to
// the mock GDMF.
const GDMFHost = "gdmf.apple.com"

// PushCertificate mints a push certificate for topic, valid for a year
// from now on the wall clock (TLS checks it), and makes the mock APNs
// accept the topic: what a server uploads to push its devices.
func (w *World) PushCertificate(topic string) (certPEM, keyPEM []byte, err error) {
	now := time.Now()
	cert, err := mockapns.NewPushCertificate(topic, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		return nil, nil, fmt.Errorf("scenarios: push certificate: %w", err)
	}
	w.APNs.AllowTopic(topic)
	return mockapns.PushCertificatePEM(cert)
}

// Releases returns the releases Apple's software lookup service lists
// now, fetched from the mock GDMF as a server fetches them.
func (w *World) Releases(ctx context.Context) (*catalog.Catalog, error) {
	return FetchReleases(ctx, w.GDMF.Client(), w.GDMF.URL+"/v2/pmv")
}

// FetchReleases reads a GDMF /v2/pmv document from url.
func FetchReleases(ctx context.Context, hc *http.Client, url string) (*catalog.Catalog, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scenarios: GDMF: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scenarios: GDMF: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scenarios: GDMF: %s: HTTP %d", url, resp.StatusCode)
	}
	// Load bounds what it reads (catalog.MaxDocumentSize) and says when a
	// body is larger; a limit of our own would cut the body short and turn
	// that into a confusing "unexpected end of JSON input".
	c, err := catalog.Load(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scenarios: GDMF: %w", err)
	}
	return c, nil
}

// Close stops the mocks.
func (w *World) Close() error {
	var errs []error
	if w.Proxy != nil {
		errs = append(errs, w.Proxy.Close())
	}
	if w.GDMF != nil {
		w.GDMF.Close()
	}
	if w.APNs != nil {
		w.APNs.Close()
	}
	return errors.Join(errs...)
}
