package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mdmsim/mdmsim/mockapns"
)

func init() {
	register("apns", "serve a mock of Apple's push service (APNs)", apnsMain)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func apnsMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		apnsUsage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "serve":
		return apnsServe(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "mdmsim apns: unknown command %q\n\n", args[0])
		apnsUsage(stderr)
		return 2
	}
}

func apnsUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: mdmsim apns serve --listen 127.0.0.1:PORT [--ca-out FILE] [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Serves the APNs provider API (POST /3/device/<token>) over HTTP/2, the control API under")
	fmt.Fprintln(w, "/_mock/ and the device stream /_mock/stream for fleets in other processes. Prints its URL")
	fmt.Fprintln(w, "on the first line of stdout and serves until SIGINT or SIGTERM. With --proxy-listen it also")
	fmt.Fprintln(w, "serves a CONNECT proxy for api.push.apple.com and prints its URL on the second line.")
}

func apnsServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mdmsim apns serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen      = fs.String("listen", "127.0.0.1:0", "address to listen on (port 0 picks a free port)")
		caOut       = fs.String("ca-out", "", "write the CA certificate (PEM) that clients must trust to this file")
		h2c         = fs.Bool("h2c", false, "serve cleartext HTTP/2 instead of TLS (token authentication only)")
		seed        = fs.Int64("seed", mockapns.DefaultSeed, "seed for drops, latency samples and generated apns-ids")
		tokenLen    = fs.Int("token-length", mockapns.DefaultTokenLength, "device-token length in bytes (0: any)")
		acceptAny   = fs.Bool("accept-unknown-tokens", false, "accept pushes to tokens no device registered")
		tsSeconds   = fs.Bool("timestamp-seconds", false, "send 410 timestamps in seconds instead of milliseconds")
		maxRecords  = fs.Int("max-records", mockapns.DefaultMaxRecords, "pushes kept for /_mock/pushes (-1: all)")
		verbose     = fs.Bool("v", false, "log refused pushes and control-API errors to stderr")
		topics      stringList
		hostnames   stringList
		statsPeriod = fs.Duration("stats-every", 0, "log counters to stderr this often (0: never)")
		proxyListen = fs.String("proxy-listen", "", "also serve an HTTP CONNECT proxy for api.push.apple.com here (for servers that honour HTTPS_PROXY); its URL is the second line of stdout")
	)
	fs.Var(&topics, "topic", "accepted push topic, repeatable; a trailing * accepts a prefix (default "+mockapns.DefaultTopicPattern+")")
	fs.Var(&hostnames, "hostname", "extra DNS name for the server certificate, repeatable")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mdmsim apns serve: unexpected arguments %q\n", fs.Args())
		return 2
	}

	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "mdmsim apns serve: %v\n", err)
		return 1
	}
	opts := []mockapns.Option{
		mockapns.WithListener(l),
		mockapns.WithSeed(*seed),
		mockapns.WithTokenLength(*tokenLen),
		mockapns.WithMaxRecords(*maxRecords),
		mockapns.WithHostnames(hostnames...),
	}
	if *h2c {
		opts = append(opts, mockapns.WithH2C())
	}
	if *acceptAny {
		opts = append(opts, mockapns.WithAcceptUnknownTokens())
	}
	if *tsSeconds {
		opts = append(opts, mockapns.WithTimestampUnit(time.Second))
	}
	if len(topics) > 0 {
		opts = append(opts, mockapns.WithTopics(topics...))
	}
	if *verbose {
		opts = append(opts, mockapns.WithLogf(func(format string, args ...any) {
			fmt.Fprintf(stderr, format+"\n", args...)
		}))
	}
	srv := mockapns.NewUnstartedServer(opts...)
	if *caOut != "" {
		if err := os.WriteFile(*caOut, srv.CACertPEM(), 0o644); err != nil {
			srv.Close()
			fmt.Fprintf(stderr, "mdmsim apns serve: write CA: %v\n", err)
			return 1
		}
	}
	srv.Start()
	defer srv.Close()
	fmt.Fprintln(stdout, srv.URL)
	if *proxyListen != "" {
		pl, err := net.Listen("tcp", *proxyListen)
		if err != nil {
			fmt.Fprintf(stderr, "mdmsim apns serve: proxy: %v\n", err)
			return 1
		}
		proxy, err := srv.NewProxy(pl)
		if err != nil {
			fmt.Fprintf(stderr, "mdmsim apns serve: proxy: %v\n", err)
			return 1
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
	if *statsPeriod > 0 {
		t := time.NewTicker(*statsPeriod)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stderr, "mdmsim apns serve: shutting down")
			return 0
		case <-tick:
			st := srv.Stats()
			fmt.Fprintf(stderr, "mdmsim apns: devices=%d requests=%d accepted=%d rejected=%d delivered=%d p99=%v\n",
				srv.Devices(), st.Requests, st.Accepted, st.Rejected, st.Delivered(), time.Duration(st.Latency.P99))
		}
	}
}
