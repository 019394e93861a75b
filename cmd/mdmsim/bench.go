package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/bench/report"
	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

func init() {
	register("bench", "benchmark a target at fleet scale: enrollment storms, check-ins at a rate, push storms, command rounds, update rollouts", benchMain)
}

func benchMain(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "compare" {
		return benchCompareMain(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("mdmsim bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		wl          bench.Workload
		tf          = addTargetFlags(fs, targets.Null)
		mint        = fs.Bool("mint", true, "embedded: enroll with identities its CA mints (no SCEP)")
		model       = fs.String("model", "", "open or closed (default: open when --rate is set)")
		asJSON      = fs.Bool("json", false, "print the Result as JSON, as the last line of stdout")
		out         = fs.String("out", "", "write the Result JSON to this file")
		html        = fs.String("html", "", "write the HTML report to this file")
		timeout     = fs.Duration("timeout", time.Hour, "give up after this long")
		maxInFlight = fs.Int("max-in-flight", bench.DefaultMaxInFlight, "open model: bound on outstanding operations (beyond it hits are dropped)")
		metricsAddr = fs.String("metrics-listen", "", "serve Prometheus metrics of the run at this address (/metrics), e.g. 127.0.0.1:9464")
		cpuProfile  = fs.String("cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
		memProfile  = fs.String("memprofile", "", "write a heap profile to this file once the work is done, with the fleet still live")
	)
	fs.StringVar(&wl.Name, "workload", bench.WorkloadEnroll, strings.Join(bench.Workloads, ", "))
	fs.IntVar(&wl.Devices, "devices", 1000, "devices in the fleet")
	fs.Int64Var(&wl.Seed, "seed", 1, "seed of the fleet")
	fs.Float64Var(&wl.Run.Rate, "rate", 0, "open model: operations per second")
	fs.DurationVar(&wl.Run.Ramp, "ramp", 0, "open model: linear ramp from 0 to --rate")
	fs.DurationVar(&wl.Run.Duration, "duration", 0, "how long to offer work (0: until the workload's operations are done)")
	fs.IntVar(&wl.Run.Workers, "workers", bench.DefaultWorkers, "closed model: concurrent workers")
	fs.IntVar(&wl.Batch, "batch", bench.DefaultBatch, "push: devices per push operation")
	fs.IntVar(&wl.Rounds, "rounds", bench.DefaultRounds, "push, commands: commands per device")
	fs.DurationVar(&wl.Wait, "wait", bench.DefaultWait, "push, commands: how long to wait for an answer")
	fs.StringVar(&wl.Rollout.Scenario, "scenario", bench.RolloutLegacyUpdate, "rollout: the update job, "+strings.Join(bench.Rollouts, " or "))
	// The rollout's flags are those of `mdmsim run --scenario`.
	lo, do := legacyFlags(fs), ddmFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mdmsim bench: unexpected arguments %v\n", fs.Args())
		return 2
	}
	wl.Run.Model, wl.Run.MaxInFlight = *model, *maxInFlight
	// The server shares the process: its CPU is told from the simulator's
	// by a profile of the run (unless --cpuprofile takes the profiler).
	wl.Run.SplitCPU = targets.InProcess(tf.target) && *cpuProfile == ""
	rollout := wl.Name == bench.WorkloadRollout
	if rollout {
		if err := rolloutWorkload(&wl, tf, lo, do); err != nil {
			fmt.Fprintf(stderr, "mdmsim bench: %v\n", err)
			return 2
		}
	}
	if err := wl.Validate(); err != nil {
		fmt.Fprintf(stderr, "mdmsim bench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	say := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	wl.Say = say
	plan := bench.PlanMemory(wl.Name, tf.target, wl.Devices)
	plan.Apply()
	say("%s", plan)
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		fmt.Fprintf(stderr, "mdmsim bench: --cpuprofile: %v\n", err)
		return 2
	}
	defer stopProfile()
	if *memProfile != "" {
		wl.AfterRun = func() {
			f, err := os.Create(*memProfile)
			if err == nil {
				runtime.GC()
				err = errors.Join(pprof.WriteHeapProfile(f), f.Close())
			}
			if err != nil {
				say("--memprofile: %v", err)
			}
		}
	}

	wc := scenarios.WorldConfig{Seed: wl.Seed}
	var vc *virtualClock
	if rollout {
		// Days of the world's time, on the discrete-event clock (or scaled,
		// --speed); the run itself is timed on the wall clock.
		vc = newVirtualClock("mdmsim bench", storyStart(catalog.Default()), lo.speed, stderr)
		defer vc.close()
		wc.Clock = vc.Clock
	}
	w, err := scenarios.NewWorld(tf.worldConfig(wc))
	if err != nil {
		fmt.Fprintf(stderr, "mdmsim bench: %v\n", err)
		return 1
	}
	defer w.Close()
	t, err := targets.Open(ctx, tf.target, w, targets.Options{Mint: *mint})
	if err != nil {
		fmt.Fprintf(stderr, "mdmsim bench: %v\n", err)
		return 1
	}
	defer t.Close()
	var observers []bench.Observer
	// A status line on a terminal (none when stderr is not one), ended
	// before the results are printed.
	progress := report.NewProgress(os.Stderr)
	if progress.Enabled() && !rollout { // a rollout is one operation; its job says how it goes
		total := wl.Devices
		if wl.Run.Rate > 0 && wl.Run.Duration > 0 {
			total = int(wl.Run.Rate * wl.Run.Duration.Seconds())
		}
		progress.Phase(wl.Name, total)
		observers = append(observers, progressObserver{progress})
	}
	if *metricsAddr != "" {
		m := report.NewMetrics()
		stopMetrics, err := m.ServeMetrics(*metricsAddr)
		if err != nil {
			fmt.Fprintf(stderr, "mdmsim bench: --metrics-listen: %v\n", err)
			return 2
		}
		defer stopMetrics()
		say("metrics at http://%s/metrics", *metricsAddr)
		observers = append(observers, m)
	}
	if len(observers) > 0 {
		wl.Run.Observer = observerList(observers)
	}
	res, err := bench.RunWorkload(ctx, w, t, wl)
	if progress.Enabled() && !rollout {
		progress.Done()
	}
	if vc != nil {
		vc.behind(stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mdmsim bench: %v\n", err)
		return 1
	}
	if tf.target != targets.Null && tf.target != targets.Embedded {
		res.Target = tf.target
	}
	data, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(stderr, "mdmsim bench: %v\n", err)
		return 1
	}
	if *out != "" {
		if err := os.WriteFile(*out, append(data, '\n'), 0o644); err != nil {
			fmt.Fprintf(stderr, "mdmsim bench: %v\n", err)
			return 1
		}
	}
	if *html != "" {
		if err := writeHTML(*html, res); err != nil {
			fmt.Fprintf(stderr, "mdmsim bench: --html: %v\n", err)
			return 1
		}
	}
	if *asJSON {
		fmt.Fprintf(stdout, "%s\n", data)
	} else {
		printBench(stdout, res)
	}
	if res.Partial {
		return 1
	}
	return 0
}

// rolloutWorkload puts the rollout flags (those of `mdmsim run --scenario`)
// in wl.
func rolloutWorkload(wl *bench.Workload, tf *targetFlags, lo *legacyOptions, do *ddmOptions) error {
	if !tf.inProcess() && lo.speed == 0 {
		return errors.New("a server outside the process lives on real time: give --speed N (1 is real time) for a rollout; the discrete-event clock is for the targets in the process")
	}
	if err := lo.validate(); err != nil {
		return err
	}
	ro := &wl.Rollout
	ro.Population, ro.Legacy = lo.population(), lo.job()
	switch ro.Scenario {
	case bench.RolloutLegacyUpdate:
		ro.Quirks = lo.quirkMap
	case bench.RolloutDDMDeadline:
		if err := do.validate(); err != nil {
			return err
		}
		ro.DDM = do.job()
	}
	return nil
}

func writeHTML(path string, res *bench.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := report.WriteHTML(f, res); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// printBench writes a result for people.
func printBench(out io.Writer, r *bench.Result) {
	p := r.Pacing
	pacing := fmt.Sprintf("closed, %d workers", p.Workers)
	if p.Model == bench.Open {
		pacing = fmt.Sprintf("open, %.0f/s (ramp %s, max in flight %d)", p.Rate, time.Duration(p.Ramp), p.MaxInFlight)
	}
	workload := r.Workload
	if r.Scenario != "" {
		// One operation, the rollout: there is no pacing to speak of.
		workload, pacing = r.Workload+" "+r.Scenario, "one rollout"
	}
	fmt.Fprintf(out, "%s against %s: %d devices (seed %d), %d enrolled; %s; wall %s\n",
		workload, r.Target, r.Devices, r.Seed, r.Enrolled, pacing, time.Duration(r.Wall).Round(time.Millisecond))
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tcount\terrors\trate/s\tp50\tp90\tp99\tp99.9\tmax\t")
	for _, name := range r.OpNames() {
		s := r.Ops[name]
		rate, d := fmt.Sprintf("%.1f", s.Rate), dur
		if s.Virtual {
			rate, d = "-", virtualDur
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, s.Count, s.Errors, rate,
			d(s.P50), d(s.P90), d(s.P99), d(s.P999), d(s.Max))
	}
	tw.Flush()
	if st := r.Ops[bench.OpTimeToCompliant]; st != nil && st.Virtual {
		fmt.Fprintf(out, "%s: virtual time from the start of the enforcement; its errors are the devices left behind, by reason\n", bench.OpTimeToCompliant)
	}
	if len(r.Compliance) > 0 {
		fmt.Fprintf(out, "compliant by virtual day: %s\n", complianceByDay(r.Compliance))
	}
	if r.Offered > 0 {
		fmt.Fprintf(out, "offered %d\n", r.Offered)
	}
	if len(r.Errors) > 0 {
		fmt.Fprint(out, "errors:")
		for _, k := range sortedKeys(r.Errors) {
			fmt.Fprintf(out, " %s=%d", k, r.Errors[k])
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "cpu %s (%.0f%% of one core); heap %s; max RSS %s",
		time.Duration(r.CPU["process"]).Round(time.Millisecond), 100*r.CPU["process"].Seconds()/max(r.Wall.Seconds(), 1e-9),
		mib(r.HeapBytes), mib(r.MaxRSSBytes))
	if r.BytesPerDevice > 0 {
		fmt.Fprintf(out, "; %.0f bytes per enrolled idle device", r.BytesPerDevice)
	}
	fmt.Fprintln(out)
	if process := r.CPU["process"]; len(r.CPUBySide) > 0 && process > 0 {
		fmt.Fprint(out, "cpu by side (sampled):")
		for _, side := range []string{bench.CPUSimulator, bench.CPUServer, bench.CPUWorld, bench.CPURuntime} {
			if d, ok := r.CPUBySide[side]; ok {
				fmt.Fprintf(out, " %s %s (%.0f%%)", side, time.Duration(d).Round(time.Millisecond), 100*d.Seconds()/process.Seconds())
			}
		}
		fmt.Fprintln(out)
	}
	if r.Partial {
		fmt.Fprintln(out, "partial: the run was stopped before its end")
	}
}

// complianceByDay lists the share compliant at every whole virtual day of
// a curve, and at its end.
func complianceByDay(c []bench.CompliancePoint) string {
	var days []string
	for i, p := range c {
		if p.Day == math.Trunc(p.Day) || i == len(c)-1 {
			days = append(days, fmt.Sprintf("day %s %.1f%%", strconv.FormatFloat(math.Round(p.Day*100)/100, 'f', -1, 64), 100*p.Compliant))
		}
	}
	return strings.Join(days, ", ")
}

// virtualDur prints a virtual latency, hours and days long, to the second.
func virtualDur(d bench.Duration) string { return time.Duration(d).Round(time.Second).String() }

func dur(d bench.Duration) string {
	t := time.Duration(d)
	switch {
	case t >= time.Second:
		return t.Round(time.Millisecond).String()
	case t >= time.Millisecond:
		return t.Round(10 * time.Microsecond).String()
	}
	return t.String()
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// progressObserver moves the status line on at every operation.
type progressObserver struct{ p *report.Progress }

func (o progressObserver) Observe(string, time.Duration, error) { o.p.Add(1) }

// observerList shows every operation to each of its observers.
type observerList []bench.Observer

func (l observerList) Observe(op string, d time.Duration, err error) {
	for _, o := range l {
		o.Observe(op, d, err)
	}
}

// SetInFlight and SetEnrolled pass the levels to the observers that follow
// them (the Prometheus metrics).
func (l observerList) SetInFlight(n int) {
	for _, o := range l {
		if g, ok := o.(bench.GaugeObserver); ok {
			g.SetInFlight(n)
		}
	}
}

func (l observerList) SetEnrolled(n int) {
	for _, o := range l {
		if g, ok := o.(bench.GaugeObserver); ok {
			g.SetEnrolled(n)
		}
	}
}
