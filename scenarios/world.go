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
// Observer that watches the devices. A target's server pushes to the
// world's APNs: in the process directly, from outside through the CONNECT
// proxy (HTTPS_PROXY plus the CA of APNsCACertPEM) or the APNs URL.
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
	// APNsCADir, when set, keeps the mock APNs's CA in that folder
	// (ca.pem, ca-key.pem), made on first use: a server outside the
	// process trusts it once (SSL_CERT_FILE=DIR/ca.pem) across runs.
	APNsCADir string
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
	if cfg.APNsCADir != "" {
		ca, err := pki.LoadOrCreateCA(cfg.APNsCADir, "mdmsim mock APNs CA")
		if err != nil {
			return w, fmt.Errorf("scenarios: mock APNs CA: %w", err)
		}
		apnsOpts = append(apnsOpts, mockapns.WithCA(ca.Cert, ca.Key))
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
	gdmfOpts := []mockgdmf.Option{mockgdmf.WithCatalog(cfg.Catalog), mockgdmf.WithClock(clk), mockgdmf.WithSeed(uint64(cfg.Seed))}
	if cfg.GDMFAddr != "" {
		gdmfOpts = append(gdmfOpts, mockgdmf.WithAddr(cfg.GDMFAddr))
	}
	w.GDMF = mockgdmf.NewServer(gdmfOpts...)
	return w, nil
}

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
