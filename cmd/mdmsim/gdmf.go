package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mdmsim/mdmsim/mockgdmf"
)

func newGDMFCmd() *cobra.Command {
	return group("gdmf", "a mock of Apple's software lookup service (GDMF)", newGDMFServeCmd())
}

func newGDMFServeCmd() *cobra.Command {
	var cfg mockgdmf.Config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "serve GET /v2/pmv in Apple's shape over TLS, with a control API",
		Long: `Serve GET /v2/pmv in Apple's shape over TLS with a throwaway CA, plus a control
API under /_mock/ (faults, recorded requests). Prints the server's URL on the
first line of stdout and serves until SIGINT or SIGTERM (exit 0).

` + exitCodesHelp,
		Example: "  mdmsim gdmf serve --listen 127.0.0.1:8443 --ca-out gdmf-ca.pem",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
				return usageErrorf("--listen must be host:port, have %q", cfg.Listen)
			}
			if err := cfg.Validate(); err != nil {
				return usageErrorf("%v", err)
			}
			if cfg.CatalogFile != "" {
				if _, err := os.Stat(cfg.CatalogFile); err != nil {
					return usageErrorf("--catalog: %v", err)
				}
			}
			return gdmfServe(cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "TCP address to serve on (port 0 picks a free port)")
	fs.StringVar(&cfg.CatalogFile, "catalog", "", "GDMF pmv JSON file to serve instead of the built-in catalog")
	fs.StringVar(&cfg.CAOut, "ca-out", "", "write the server's CA certificate (PEM) to this file")
	return cmd
}

func gdmfServe(cfg mockgdmf.Config, stdout, _ io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := mockgdmf.Run(ctx, cfg, func(url string) { fmt.Fprintln(stdout, url) })
	if err != nil {
		return cannotRun(err)
	}
	return nil
}
