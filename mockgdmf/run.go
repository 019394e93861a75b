package mockgdmf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
)

// Config is what `mdmsim gdmf serve` needs: a standalone server's settings.
type Config struct {
	// Listen is the TCP address to serve on ("127.0.0.1:8443"; port 0
	// picks a free one).
	Listen string
	// CatalogFile, if set, is a GDMF pmv JSON file served instead of the
	// built-in catalog.
	CatalogFile string
	// CAOut, if set, is where the CA certificate is written (PEM), so
	// clients can trust the server.
	CAOut string
	// Now is the server's clock; nil means the wall clock.
	Now func() time.Time
}

// Validate reports a Config that cannot run.
func (c Config) Validate() error {
	if c.Listen == "" {
		return errors.New("mockgdmf: listen address is empty")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("mockgdmf: listen address %q: %w", c.Listen, err)
	}
	return nil
}

// Run serves cfg until ctx is done. Once the server accepts connections
// (and the CA file is written) it calls ready with the server's URL.
func Run(ctx context.Context, cfg Config, ready func(url string)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	opts := []Option{}
	if cfg.CatalogFile != "" {
		f, err := os.Open(cfg.CatalogFile)
		if err != nil {
			return fmt.Errorf("mockgdmf: catalog: %w", err)
		}
		c, err := catalog.Load(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("mockgdmf: catalog %s: %w", cfg.CatalogFile, err)
		}
		opts = append(opts, WithCatalog(c))
	}
	if cfg.Now != nil {
		opts = append(opts, WithNow(cfg.Now))
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("mockgdmf: %w", err)
	}
	s := NewUnstartedServer(append(opts, WithListener(l))...)
	defer s.Close()
	if cfg.CAOut != "" {
		if err := os.WriteFile(cfg.CAOut, s.CACertPEM(), 0o644); err != nil {
			return fmt.Errorf("mockgdmf: writing CA: %w", err)
		}
	}
	s.Start()
	if ready != nil {
		ready(s.URL)
	}
	<-ctx.Done()
	return nil
}
