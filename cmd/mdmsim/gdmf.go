package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mdmsim/mdmsim/mockgdmf"
)

func init() {
	register("gdmf", "serve a mock of Apple's software lookup service (GDMF)", gdmfMain)
}

const gdmfUsage = `usage: mdmsim gdmf serve [--listen ADDR] [--catalog FILE] [--ca-out FILE]

Serves GET /v2/pmv in Apple's shape over TLS with a throwaway CA, plus a
control API under /_mock/ (faults, recorded requests). Prints the server's URL
on the first line of stdout and serves until SIGINT or SIGTERM.
`

func gdmfMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, gdmfUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] != "serve" {
		fmt.Fprintf(stderr, "mdmsim gdmf: unknown subcommand %q\n\n%s", args[0], gdmfUsage)
		return 2
	}
	fs := flag.NewFlagSet("mdmsim gdmf serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, gdmfUsage)
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	var cfg mockgdmf.Config
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "TCP address to serve on (port 0 picks a free port)")
	fs.StringVar(&cfg.CatalogFile, "catalog", "", "GDMF pmv JSON file to serve instead of the built-in catalog")
	fs.StringVar(&cfg.CAOut, "ca-out", "", "write the server's CA certificate (PEM) to this file")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mdmsim gdmf serve: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "mdmsim gdmf serve: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := mockgdmf.Run(ctx, cfg, func(url string) { fmt.Fprintln(stdout, url) })
	if err != nil {
		fmt.Fprintf(stderr, "mdmsim gdmf serve: %v\n", err)
		return 1
	}
	return 0
}
