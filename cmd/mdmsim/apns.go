package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mdmsim/mdmsim/mockapns"
)

func newAPNsCmd() *cobra.Command {
	return group("apns", "a mock of Apple's push service (APNs)", newAPNsServeCmd())
}

// maxTokenLength bounds --token-length: APNs device tokens are 32 bytes,
// and nothing longer than this is a token.
const maxTokenLength = 256

func newAPNsServeCmd() *cobra.Command {
	var (
		listen, caOut, proxyListen string
		h2c, acceptAny, tsSeconds  bool
		seed                       int64
		tokenLen, maxRecords       int
		topics, hostnames          []string
		statsPeriod                time.Duration
		out                        outputFlags
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "serve the APNs provider API (HTTP/2), its control API and the device stream",
		Long: `Serve the APNs provider API (POST /3/device/<token>) over HTTP/2, the control API
under /_mock/ and the device stream /_mock/stream for fleets in other processes.
Prints its URL on the first line of stdout and serves until SIGINT or SIGTERM
(exit 0). With --proxy-listen it also serves a CONNECT proxy for
api.push.apple.com and prints its URL on the second line.

` + exitCodesHelp,
		Example: "  mdmsim apns serve --listen 127.0.0.1:2197 --ca-out apns-ca.pem",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case tokenLen < 0 || tokenLen > maxTokenLength:
				return usageErrorf("--token-length must be from 0 (any) to %d, have %d", maxTokenLength, tokenLen)
			case maxRecords < -1:
				return usageErrorf("--max-records must be -1 (all) or at least 0, have %d", maxRecords)
			case statsPeriod < 0:
				return usageErrorf("--stats-every must be 0 (never) or positive, have %v", statsPeriod)
			}
			for name, addr := range map[string]string{"listen": listen, "proxy-listen": proxyListen} {
				if _, _, err := net.SplitHostPort(addr); addr != "" && err != nil {
					return usageErrorf("--%s must be host:port, have %q", name, addr)
				}
			}
			if err := out.validate(); err != nil {
				return err
			}
			return apnsServe(apnsServeOptions{listen: listen, caOut: caOut, proxyListen: proxyListen, h2c: h2c, acceptAny: acceptAny,
				tsSeconds: tsSeconds, seed: seed, tokenLen: tokenLen, maxRecords: maxRecords, topics: topics, hostnames: hostnames,
				statsPeriod: statsPeriod, verbose: out.verbose > 0}, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on (port 0 picks a free port)")
	fs.StringVar(&caOut, "ca-out", "", "write the CA certificate (PEM) that clients must trust to this file")
	fs.BoolVar(&h2c, "h2c", false, "serve cleartext HTTP/2 instead of TLS (token authentication only)")
	fs.Int64Var(&seed, "seed", mockapns.DefaultSeed, "seed for drops, latency samples and generated apns-ids")
	fs.IntVar(&tokenLen, "token-length", mockapns.DefaultTokenLength, "device-token length in bytes (0: any)")
	fs.BoolVar(&acceptAny, "accept-unknown-tokens", false, "accept pushes to tokens no device registered")
	fs.BoolVar(&tsSeconds, "timestamp-seconds", false, "send 410 timestamps in seconds instead of milliseconds")
	fs.IntVar(&maxRecords, "max-records", mockapns.DefaultMaxRecords, "pushes kept for /_mock/pushes (-1: all)")
	fs.StringArrayVar(&topics, "topic", nil, "accepted push topic, repeatable; a trailing * accepts a prefix (default "+mockapns.DefaultTopicPattern+")")
	fs.StringArrayVar(&hostnames, "hostname", nil, "extra DNS name for the server certificate, repeatable")
	fs.DurationVar(&statsPeriod, "stats-every", 0, "log counters to stderr this often (0: never)")
	fs.StringVar(&proxyListen, "proxy-listen", "", "also serve an HTTP CONNECT proxy for api.push.apple.com here (for servers that honour HTTPS_PROXY); its URL is the second line of stdout")
	fs.CountVarP(&out.verbose, "verbose", "v", "log refused pushes and control-API errors to stderr")
	return cmd
}

type apnsServeOptions struct {
	listen, caOut, proxyListen string
	h2c, acceptAny, tsSeconds  bool
	seed                       int64
	tokenLen, maxRecords       int
	topics, hostnames          []string
	statsPeriod                time.Duration
	verbose                    bool
}

func apnsServe(o apnsServeOptions, stdout, stderr io.Writer) error {
	l, err := net.Listen("tcp", o.listen)
	if err != nil {
		return cannotRun(err)
	}
	opts := []mockapns.Option{
		mockapns.WithListener(l),
		mockapns.WithSeed(o.seed),
		mockapns.WithTokenLength(o.tokenLen),
		mockapns.WithMaxRecords(o.maxRecords),
		mockapns.WithHostnames(o.hostnames...),
	}
	if o.h2c {
		opts = append(opts, mockapns.WithH2C())
	}
	if o.acceptAny {
		opts = append(opts, mockapns.WithAcceptUnknownTokens())
	}
	if o.tsSeconds {
		opts = append(opts, mockapns.WithTimestampUnit(time.Second))
	}
	if len(o.topics) > 0 {
		opts = append(opts, mockapns.WithTopics(o.topics...))
	}
	if o.verbose {
		opts = append(opts, mockapns.WithLogf(func(format string, args ...any) {
			fmt.Fprintf(stderr, format+"\n", args...)
		}))
	}
	srv := mockapns.NewUnstartedServer(opts...)
	if o.caOut != "" {
		if err := os.WriteFile(o.caOut, srv.CACertPEM(), 0o644); err != nil {
			srv.Close()
			return cannotRun(fmt.Errorf("write CA: %w", err))
		}
	}
	srv.Start()
	defer srv.Close()
	fmt.Fprintln(stdout, srv.URL)
	if o.proxyListen != "" {
		pl, err := net.Listen("tcp", o.proxyListen)
		if err != nil {
			return cannotRun(fmt.Errorf("proxy: %w", err))
		}
		proxy, err := srv.NewProxy(pl)
		if err != nil {
			return cannotRun(fmt.Errorf("proxy: %w", err))
		}
		defer proxy.Close()
		fmt.Fprintln(stdout, proxy.URL)
	}
	if f, ok := stdout.(interface{ Sync() error }); ok {
		_ = f.Sync()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var tick <-chan time.Time
	if o.statsPeriod > 0 {
		t := time.NewTicker(o.statsPeriod)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stderr, "mdmsim apns serve: shutting down")
			return nil
		case <-tick:
			st := srv.Stats()
			fmt.Fprintf(stderr, "mdmsim apns: devices=%d requests=%d accepted=%d rejected=%d delivered=%d p99=%v\n",
				srv.Devices(), st.Requests, st.Accepted, st.Rejected, st.Delivered(), time.Duration(st.Latency.P99))
		}
	}
}
