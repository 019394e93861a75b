// Command soak leaves a fleet running for days of virtual time and prints,
// at every virtual day, the process's live heap and RSS and what the fleet
// did: the devices check in on their own and, with DDM, sync and report
// their status every day. The goal is a flat process: heap and RSS within
// 5% of the first day's for the rest of the run. See bench.Soak; `make
// soak` runs it on 10 000 devices for 30 days.
//
//	soak [--devices 10000] [--days 30] [--seed 1] [--target embedded] [--checkin-every 8h] [--ddm] [--json]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg bench.SoakConfig
	fs.IntVar(&cfg.Devices, "devices", 10000, "devices in the fleet")
	fs.IntVar(&cfg.Days, "days", bench.DefaultSoakDays, "virtual days")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of the fleet")
	fs.DurationVar(&cfg.CheckinEvery, "checkin-every", bench.DefaultSoakCheckinEvery, "how often each device checks in on its own")
	fs.BoolVar(&cfg.DDM, "ddm", true, "turn DDM on: every device syncs and sends a status report every day (needs declarations: embedded)")
	target := fs.String("target", targets.Embedded, "embedded or null (in the process, on the discrete-event clock)")
	asJSON := fs.Bool("json", false, "print the result as JSON, as the last line of stdout")
	timeout := fs.Duration("timeout", 2*time.Hour, "give up after this long, on the wall clock")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file at the last day, the fleet live (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *memProfile != "" {
		// Every allocation sampled: the profile is for finding what grows
		// by a few bytes a device a day.
		runtime.MemProfileRate = 512
	}
	if !targets.InProcess(*target) {
		fmt.Fprintln(stderr, "soak: --target must be embedded or null: the soak runs on the discrete-event clock")
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	cfg.Say = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	var last bench.SoakDay
	cfg.OnDay = func(d bench.SoakDay) {
		fmt.Fprintf(stdout, "day %2d: heap %7.1f MiB  RSS %7.1f MiB  enrolled %d  sessions %d (+%d)  status reports %d (+%d)  session errors %d  wall %s\n",
			d.Day, mib(d.HeapBytes), mib(d.RSSBytes), d.Enrolled, d.Sessions, d.Sessions-last.Sessions,
			d.StatusReports, d.StatusReports-last.StatusReports, d.SessionErrors, d.Wall.Round(time.Second))
		last = d
		if d.Day == cfg.Days && *memProfile != "" {
			if err := writeHeapProfile(*memProfile); err != nil {
				fmt.Fprintln(stderr, "soak: --memprofile:", err)
			}
		}
	}

	start := catalog.Default().LatestPostingDate().AddDate(0, 0, 10).Add(9 * time.Hour)
	clk := clock.NewDiscrete(start, clock.WithStallReport(30*time.Second, func(s clock.Stall) {
		fmt.Fprintf(stderr, "soak: warning: %s\n", s)
	}))
	defer clk.Close()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{Clock: clk, Seed: cfg.Seed})
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 1
	}
	defer w.Close()
	t, err := targets.Open(ctx, *target, w, targets.Options{Mint: true})
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 1
	}
	defer t.Close()
	res, err := bench.Soak(ctx, w, t, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 1
	}
	fmt.Fprintln(stdout, res.Verdict())
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
	}
	if res.Partial || !res.Flat {
		return 1
	}
	return 0
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
