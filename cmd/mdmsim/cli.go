package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// outputFlags are the flags of every verb that runs something and reports
// it: the JSON summary, the event stream, the progress line and the logs.
type outputFlags struct {
	json       bool
	jsonEvents bool
	quiet      bool
	verbose    int
	logFormat  string
}

func addOutputFlags(fs *pflag.FlagSet, o *outputFlags, events bool) {
	fs.BoolVar(&o.json, "json", false, "print a JSON summary as the last line of stdout (and nothing else on stdout)")
	if events {
		fs.BoolVar(&o.jsonEvents, "json-events", false, "with --json: stream one JSON event per phase change on stdout before the summary")
	}
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress line on stderr (there is none when stderr is not a terminal)")
	addLogFlags(fs, o)
}

func addLogFlags(fs *pflag.FlagSet, o *outputFlags) {
	fs.CountVarP(&o.verbose, "verbose", "v", "log to stderr: -v every device state change (debug) and the server's warnings; -vv also the server's info; -vvv its debug")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format on stderr: text or json")
}

func (o *outputFlags) validate() error {
	if o.jsonEvents && !o.json {
		return usageErrorf("--json-events streams with --json: give both")
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return usageErrorf("--log-format must be text or json, have %q", o.logFormat)
	}
	return nil
}

// loggers returns the devices' logger and the server's (the embedded
// stack's own logger, whose chatter -v filters to warnings).
func (o *outputFlags) loggers(stderr io.Writer) (devices, server *slog.Logger) {
	if o.verbose == 0 {
		off := slog.New(slog.DiscardHandler)
		return off, off
	}
	newHandler := func(level slog.Level) slog.Handler {
		opts := &slog.HandlerOptions{Level: level}
		if o.logFormat == "json" {
			return slog.NewJSONHandler(stderr, opts)
		}
		return slog.NewTextHandler(stderr, opts)
	}
	serverLevel := slog.LevelWarn
	switch {
	case o.verbose >= 3:
		serverLevel = slog.LevelDebug
	case o.verbose == 2:
		serverLevel = slog.LevelInfo
	}
	return slog.New(newHandler(slog.LevelDebug)), slog.New(newHandler(serverLevel)).With("side", "server")
}

// checkFinite refuses a float flag given as Inf or NaN, which pflag takes:
// every float the CLI reads is a finite number.
func checkFinite(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err != nil || f.Value.Type() != "float64" {
			return
		}
		v, perr := strconv.ParseFloat(f.Value.String(), 64)
		if perr != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			err = usageErrorf("--%s must be a finite number, have %s", f.Name, f.Value.String())
		}
	})
	return err
}

// refuseFlags is a usage error naming the first of names that was given:
// a flag that does not apply, and why.
func refuseFlags(cmd *cobra.Command, why string, names ...string) error {
	for _, n := range names {
		if cmd.Flags().Changed(n) {
			return usageErrorf("--%s %s", n, why)
		}
	}
	return nil
}

// onlyFlags refuses, among the flags in group, those given that are not in
// allowed: flags that belong to another scenario or workload.
func onlyFlags(cmd *cobra.Command, group, allowed []string, why func(flag string) string) error {
	for _, n := range group {
		if cmd.Flags().Changed(n) && !slices.Contains(allowed, n) {
			return usageErrorf("--%s %s", n, why(n))
		}
	}
	return nil
}

// interrupt is the context of a run that stops gracefully on Ctrl-C or
// SIGTERM: the first signal cancels the context, so the run prints what
// it did; a second one exits at once.
type interrupt struct {
	context.Context
	mu  sync.Mutex
	sig os.Signal
}

// withSignals returns a context cancelled by SIGINT or SIGTERM, and a
// stop that releases the signals.
func withSignals(parent context.Context, stderr io.Writer) (*interrupt, func()) {
	ctx, cancel := context.WithCancel(parent)
	in := &interrupt{Context: ctx}
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			in.mu.Lock()
			in.sig = s
			in.mu.Unlock()
			fmt.Fprintf(stderr, "\nmdmsim: %s: stopping, the report will be partial (again to quit at once)\n", signalName(s))
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-ch:
			fmt.Fprintf(stderr, "mdmsim: %s again: quitting\n", signalName(s))
			os.Exit(exitCodeFor(s))
		case <-done:
		}
	}()
	return in, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

// signalled returns the signal that stopped the run, nil when none did.
func (in *interrupt) signalled() os.Signal {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.sig
}

// exitCode is exitInterrupted for a run a signal stopped, else code.
func (in *interrupt) exitCode(code int) int {
	if s := in.signalled(); s != nil {
		return exitCodeFor(s)
	}
	return code
}

func exitCodeFor(s os.Signal) int {
	if s == syscall.SIGTERM {
		return 128 + int(syscall.SIGTERM)
	}
	return exitInterrupted
}

func signalName(s os.Signal) string {
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "interrupted"
}

// joinNames lists names for a message: "a, b or c".
func joinNames(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
