package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

// soakOptions are the flags of `mdmsim bench soak`.
type soakOptions struct {
	cfg        bench.SoakConfig
	target     string
	json       bool
	timeout    time.Duration
	memProfile string
	shardFlag  string
}

// newBenchSoakCmd is `mdmsim bench soak`: a fleet left running for days of
// virtual time, the process's heap and RSS printed at every virtual day.
func newBenchSoakCmd() *cobra.Command {
	o := &soakOptions{}
	cmd := &cobra.Command{
		Use:   "soak",
		Short: "leave a fleet running for days of virtual time and print heap and RSS at every virtual day",
		Long: `Leave an enrolled fleet running for days of virtual time, on the discrete-event
clock, against a target in the process: every device checks in on its own every
--checkin-every and, with --ddm, syncs and sends a full status report every day.
At every virtual day the process's live heap and RSS are printed with what the
fleet did. The goal is a flat process: heap and RSS within 5% of the first day's
for the rest of the run; exit 1 when it is not met.

` + exitCodesHelp,
		Example: "  mdmsim bench soak --devices 10000 --days 30",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFinite(cmd); err != nil {
				return err
			}
			if !targets.InProcess(o.target) {
				return usageErrorf("--target must be embedded or null: the soak runs on the discrete-event clock")
			}
			if o.timeout <= 0 {
				return usageErrorf("--timeout must be positive, have %v", o.timeout)
			}
			var err error
			if o.cfg.Shard, err = fleet.ResolveShard(o.shardFlag, os.Getenv); err != nil {
				return usageErrorf("--shard: %v", err)
			}
			if err := checkDevices(o.cfg.Devices, o.cfg.Shard); err != nil {
				return err
			}
			if o.cfg.DDM && o.target == targets.Null {
				return usageErrorf("--ddm needs a target with declarations (embedded); give --ddm=false for null")
			}
			if err := o.cfg.Validate(); err != nil {
				return usageErrorf("%v", err)
			}
			return soak(o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&o.cfg.Devices, "devices", 10000, "devices in the fleet")
	fs.IntVar(&o.cfg.Days, "days", bench.DefaultSoakDays, "virtual days")
	fs.Int64Var(&o.cfg.Seed, "seed", 1, "seed of the fleet")
	fs.DurationVar(&o.cfg.CheckinEvery, "checkin-every", bench.DefaultSoakCheckinEvery, "how often each device checks in on its own")
	fs.BoolVar(&o.cfg.DDM, "ddm", true, "every device syncs and sends a status report every day (needs declarations: embedded)")
	fs.StringVar(&o.target, "target", targets.Embedded, "embedded or null (in the process, on the discrete-event clock)")
	fs.StringVar(&o.shardFlag, "shard", "", "run shard i of n of the fleet (i from 0)")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON, as the last line of stdout")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Hour, "give up after this long, on the wall clock")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile to this file at the last day, the fleet live (go tool pprof)")
	return cmd
}

func soak(o *soakOptions, stdout, stderr io.Writer) error {
	cfg := o.cfg
	if o.memProfile != "" {
		// Every allocation sampled: the profile is for finding what grows
		// by a few bytes a device a day.
		runtime.MemProfileRate = 512
	}
	sig, stopSignals := withSignals(context.Background(), stderr)
	defer stopSignals()
	ctx, cancel := context.WithTimeout(sig, o.timeout)
	defer cancel()
	cfg.Say = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	var last bench.SoakDay
	cfg.OnDay = func(d bench.SoakDay) {
		fmt.Fprintf(stdout, "day %2d: heap %7.1f MiB  RSS %7.1f MiB  enrolled %d  sessions %d (+%d)  status reports %d (+%d)  session errors %d  wall %s\n",
			d.Day, mib(d.HeapBytes), mib(d.RSSBytes), d.Enrolled, d.Sessions, d.Sessions-last.Sessions,
			d.StatusReports, d.StatusReports-last.StatusReports, d.SessionErrors, d.Wall.Round(time.Second))
		last = d
		if d.Day == cfg.Days && o.memProfile != "" {
			if err := writeHeapProfile(o.memProfile); err != nil {
				fmt.Fprintln(stderr, "mdmsim bench soak: --memprofile:", err)
			}
		}
	}
	vc := newVirtualClock("mdmsim bench soak", storyStart(catalog.Default()), 0, stderr)
	defer vc.close()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{Clock: vc.Clock, Seed: cfg.Seed})
	if err != nil {
		return cannotRun(err)
	}
	defer w.Close()
	t, err := targets.Open(ctx, o.target, w, targets.Options{Mint: true})
	if err != nil {
		return cannotRun(err)
	}
	defer t.Close()
	res, err := bench.Soak(ctx, w, t, cfg)
	if code := sig.exitCode(0); code != 0 {
		return exitWith(code)
	}
	if err != nil {
		return cannotRun(err)
	}
	fmt.Fprintln(stdout, res.Verdict())
	if o.json {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
	}
	if res.Partial || !res.Flat {
		return exitWith(exitFailed)
	}
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
