// Command cpusplit measures the CPU per idle check-in of the simulator
// (this process) and of the stock NanoMDM (its own process), with RSA-2048
// and with ECDSA P-256 device identities, and prints both and their ratio.
// See package bench/cpusplit; `make bench-cpusplit` runs it.
//
//	cpusplit [--devices 1000] [--checkins 5000] [--kinds rsa,ecdsa] [--keys DIR] [--json] [--out FILE]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/bench/cpusplit"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// defaultKeyPoolDir is the user's cache folder for the key pool, shared by
// runs: the first one generates the keys, the next ones reuse them.
func defaultKeyPoolDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "mdmsim", "keypool")
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cpusplit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg     cpusplit.Config
		kinds   = fs.String("kinds", "rsa,ecdsa", "identity kinds to measure, in order: rsa (RSA-2048 over SCEP), ecdsa (P-256, minted)")
		asJSON  = fs.Bool("json", false, "print the report as JSON instead of a table")
		out     = fs.String("out", "", "also write the report's JSON to this file")
		verbose = fs.Bool("v", false, "show the servers' command lines")
		timeout = fs.Duration("timeout", time.Hour, "give up after this long")
	)
	fs.IntVar(&cfg.Devices, "devices", cpusplit.DefaultDevices, "devices enrolled per kind")
	fs.IntVar(&cfg.Checkins, "checkins", 0, fmt.Sprintf("measured idle check-ins per kind (default %d per device)", cpusplit.DefaultCheckinsPerDevice))
	fs.IntVar(&cfg.Warmup, "warmup", 0, fmt.Sprintf("unmeasured check-ins first (default %d, at most --devices; -1 for none)", cpusplit.DefaultWarmup))
	fs.IntVar(&cfg.Workers, "workers", cpusplit.DefaultWorkers, "check-ins in flight at once")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of the fleet")
	fs.StringVar(&cfg.CPUProfileDir, "cpuprofile-dir", "", "write a CPU profile of each kind's measured phase to this folder (cpusplit-<kind>.pprof)")
	fs.StringVar(&cfg.KeyPoolDir, "keys", defaultKeyPoolDir(), `rsa: take the devices' RSA keys from a key pool cached in this folder ("" to generate each device's own)`)
	fs.IntVar(&cfg.SCEPCAKeySize, "scep-ca-bits", cpusplit.DefaultSCEPCAKeySize, "RSA key size of scepserver's CA")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cpusplit: unexpected arguments %v\n", fs.Args())
		return 2
	}
	for k := range strings.SplitSeq(*kinds, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.Kinds = append(cfg.Kinds, cpusplit.Kind(k))
		}
	}
	cfg.Say = func(format string, a ...any) { fmt.Fprintf(stderr, "cpusplit: "+format+"\n", a...) }
	if *verbose {
		cfg.ServerOutput = stderr
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	// The simulator's collector as mdmsim bench sets it; NanoMDM, in
	// its own process, keeps its defaults.
	plan := bench.PlanMemory(bench.WorkloadCheckin, "nanomdm", cfg.Devices)
	plan.Apply()
	cfg.Say("simulator %s", plan)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	rep, err := cpusplit.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		if rep == nil || len(rep.Runs) == 0 {
			return 1
		}
	}
	data, jerr := json.MarshalIndent(rep, "", "  ")
	if jerr != nil {
		fmt.Fprintln(stderr, "cpusplit:", jerr)
		return 1
	}
	if *out != "" {
		if werr := os.WriteFile(*out, append(data, '\n'), 0o644); werr != nil {
			fmt.Fprintln(stderr, "cpusplit:", werr)
			return 1
		}
	}
	if *asJSON {
		fmt.Fprintf(stdout, "%s\n", data)
	} else if werr := cpusplit.WriteText(stdout, rep); werr != nil {
		return 1
	}
	if err != nil {
		return 1
	}
	return 0
}
