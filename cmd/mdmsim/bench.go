package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/bench/report"
	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

// benchFlags are the flags of `mdmsim bench`.
type benchFlags struct {
	wl          bench.Workload
	tf          *targetFlags
	out         outputFlags
	mint        bool
	model       string
	outFile     string
	html        string
	timeout     time.Duration
	maxInFlight int
	metricsAddr string
	cpuProfile  string
	memProfile  string
	skipMemory  bool
	// validateOnly checks the command line and stops.
	validateOnly bool
	shardFlag    string
	lo           *legacyOptions
	do           *ddmOptions
}

// Flags of bench that only some workloads read, and which. A rollout
// reads --scenario and the flags of that scenario of mdmsim run
// (scenarioTable).
var (
	benchPacingFlags   = []string{"rate", "ramp", "duration", "workers", "model", "max-in-flight"}
	benchRolloutFlags  = rolloutFlags()
	benchRolloutOnly   = append([]string{"scenario"}, scenarioFlagNames()...)
	benchWorkloadFlags = map[string][]string{
		bench.WorkloadEnroll:   benchPacingFlags,
		bench.WorkloadCheckin:  benchPacingFlags,
		bench.WorkloadPush:     append([]string{"batch", "rounds", "wait"}, benchPacingFlags...),
		bench.WorkloadCommands: append([]string{"rounds", "wait"}, benchPacingFlags...),
		bench.WorkloadRollout:  benchRolloutOnly,
	}
)

// rolloutFlags are the flags each rollout scenario reads: --scenario and
// those of the same scenario of mdmsim run.
func rolloutFlags() map[string][]string {
	out := map[string][]string{}
	for _, name := range bench.Rollouts {
		sc, ok := lookupScenario(name)
		if !ok {
			panic("mdmsim: bench rollout " + name + " is not a scenario of mdmsim run")
		}
		out[name] = append([]string{"scenario"}, sc.flags...)
	}
	return out
}

func newBenchCmd() *cobra.Command {
	b := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "benchmark a target at fleet scale: enrollment storms, check-ins at a rate, push storms, command rounds, update rollouts",
		Long: `Benchmark a target (the null server by default) at fleet scale and print latency
percentiles, throughput, CPU and memory; --json, --out and --html keep them.
Exit 1 when the run stopped early (--timeout): the result is then partial.

` + exitCodesHelp,
		Example: `  mdmsim bench --workload enroll --devices 100000
  mdmsim bench --workload checkin --devices 10000 --rate 5000 --duration 60s --html checkin.html
  mdmsim bench --workload push --target embedded --devices 10000 --batch 10000
  mdmsim bench --workload rollout --scenario ddm-deadline --devices 1000
  mdmsim bench compare old.json new.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := b.parse(cmd); err != nil {
				return err
			}
			if b.validateOnly {
				return nil
			}
			return b.run(cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	wl := &b.wl
	b.tf = addTargetFlags(fs, targets.Null)
	fs.BoolVar(&b.mint, "mint", true, "embedded: enroll with identities its CA mints (no SCEP)")
	fs.StringVar(&b.model, "model", "", "open or closed (default: open when --rate is set)")
	fs.BoolVar(&b.out.json, "json", false, "print the Result as JSON, as the last line of stdout")
	fs.BoolVarP(&b.out.quiet, "quiet", "q", false, "no progress line on stderr (there is none when stderr is not a terminal)")
	fs.StringVar(&b.outFile, "out", "", "write the Result JSON to this file")
	fs.StringVar(&b.html, "html", "", "write the HTML report to this file")
	fs.DurationVar(&b.timeout, "timeout", time.Hour, "give up after this long, with a partial result")
	fs.IntVar(&b.maxInFlight, "max-in-flight", bench.DefaultMaxInFlight, "open model: bound on outstanding operations (beyond it hits are dropped)")
	fs.StringVar(&b.metricsAddr, "metrics-listen", "", "serve Prometheus metrics of the run at this address (/metrics), e.g. 127.0.0.1:9464")
	fs.StringVar(&b.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	fs.StringVar(&b.memProfile, "memprofile", "", "write a heap profile to this file once the work is done, with the fleet still live")
	fs.StringVar(&b.shardFlag, "shard", "", "run shard i of n of the fleet (i from 0; --devices stays the whole fleet's size; mdmsim report merge adds the results up); default from JOB_COMPLETION_INDEX and JOB_COMPLETIONS when both are set")
	fs.BoolVar(&b.validateOnly, "validate-only", false, "check the flags and exit: 0 when they are right, 2 with the reason")
	fs.BoolVar(&b.skipMemory, "skip-memory-check", false, "run even when the memory estimate says the fleet will not fit")
	fs.StringVar(&wl.Name, "workload", bench.WorkloadEnroll, joinNames(bench.Workloads))
	fs.IntVar(&wl.Devices, "devices", 1000, fmt.Sprintf("devices in the fleet (the whole fleet: at most %d in one process, see --shard)", maxDevices))
	fs.Int64Var(&wl.Seed, "seed", 1, "seed of the fleet")
	fs.Float64Var(&wl.Run.Rate, "rate", 0, "open model: operations per second")
	fs.DurationVar(&wl.Run.Ramp, "ramp", 0, "open model: linear ramp from 0 to --rate")
	fs.DurationVar(&wl.Run.Duration, "duration", 0, "how long to offer work (0: until the workload's operations are done)")
	fs.IntVar(&wl.Run.Workers, "workers", bench.DefaultWorkers, "closed model: concurrent workers")
	fs.IntVar(&wl.Batch, "batch", bench.DefaultBatch, "push: devices per push operation")
	fs.IntVar(&wl.Rounds, "rounds", bench.DefaultRounds, "push, commands: commands per device; the rounds are offered at once, so later rounds queue behind earlier ones")
	fs.DurationVar(&wl.Wait, "wait", bench.DefaultWait, "push, commands: how long to wait for an answer")
	fs.StringVar(&wl.Rollout.Scenario, "scenario", bench.RolloutLegacyUpdate, "rollout: the update job, "+joinNames(bench.Rollouts))
	// The rollout's flags are those of `mdmsim run --scenario`.
	b.lo, b.do = legacyFlags(fs), ddmFlags(fs)
	cmd.AddCommand(newBenchCompareCmd(), newBenchSoakCmd())
	return cmd
}

// parse validates every flag before anything runs; a flag the workload
// does not read is an error.
func (b *benchFlags) parse(cmd *cobra.Command) error {
	if err := checkFinite(cmd); err != nil {
		return err
	}
	wl := &b.wl
	allowed, ok := benchWorkloadFlags[wl.Name]
	if !ok {
		return usageErrorf("--workload must be %s, have %q", joinNames(bench.Workloads), wl.Name)
	}
	all := append(append([]string{}, benchPacingFlags...), benchRolloutOnly...)
	all = append(all, "batch", "rounds", "wait")
	if err := onlyFlags(cmd, all, allowed, func(f string) string {
		return "does not apply to --workload " + wl.Name
	}); err != nil {
		return err
	}
	var err error
	if wl.Shard, err = fleet.ResolveShard(b.shardFlag, os.Getenv); err != nil {
		return usageErrorf("--shard: %v", err)
	}
	if err := checkDevices(wl.Devices, wl.Shard); err != nil {
		return err
	}
	if err := b.tf.checkTarget(); err != nil {
		return err
	}
	if b.tf.target != targets.Embedded {
		if err := refuseFlags(cmd, "applies to --target embedded only", "mint"); err != nil {
			return err
		}
	}
	if b.timeout <= 0 {
		return usageErrorf("--timeout must be positive, have %v", b.timeout)
	}
	if b.maxInFlight < 1 {
		return usageErrorf("--max-in-flight must be at least 1, have %d", b.maxInFlight)
	}
	if wl.Batch < 1 || wl.Rounds < 1 || wl.Wait <= 0 {
		return usageErrorf("--batch and --rounds must be at least 1 and --wait positive, have %d, %d and %v", wl.Batch, wl.Rounds, wl.Wait)
	}
	if wl.Run.Rate < 0 || wl.Run.Ramp < 0 || wl.Run.Duration < 0 {
		return usageErrorf("--rate, --ramp and --duration must not be negative")
	}
	if wl.Name != bench.WorkloadRollout {
		open := b.model == bench.Open || (b.model == "" && wl.Run.Rate > 0)
		if open {
			if err := refuseFlags(cmd, "applies to the closed model (no --rate)", "workers"); err != nil {
				return err
			}
		} else if err := refuseFlags(cmd, "applies to the open model (give --rate)", "ramp", "max-in-flight"); err != nil {
			return err
		}
	}
	wl.Run.Model, wl.Run.MaxInFlight = b.model, b.maxInFlight
	// The server shares the process: its CPU is told from the simulator's
	// by a profile of the run (unless --cpuprofile takes the profiler).
	wl.Run.SplitCPU = targets.InProcess(b.tf.target) && b.cpuProfile == ""
	if wl.Name == bench.WorkloadRollout {
		scenarioFlags, ok := benchRolloutFlags[wl.Rollout.Scenario]
		if !ok {
			return usageErrorf("--scenario must be %s, have %q", joinNames(bench.Rollouts), wl.Rollout.Scenario)
		}
		if err := onlyFlags(cmd, benchRolloutOnly, scenarioFlags, func(f string) string {
			return "does not apply to --scenario " + wl.Rollout.Scenario
		}); err != nil {
			return err
		}
		if err := rolloutWorkload(wl, b.tf, b.lo, b.do); err != nil {
			return err
		}
	}
	if err := wl.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	return nil
}

func (b *benchFlags) run(stdout, stderr io.Writer) error {
	wl := b.wl
	tf := b.tf
	rollout := wl.Name == bench.WorkloadRollout
	job := wl.Name
	if rollout {
		job = wl.Rollout.Scenario
	}
	lo, hi := wl.Shard.Range(wl.Devices)
	if err := checkMemory("mdmsim bench", tf.target, job, hi-lo, b.skipMemory, stderr); err != nil {
		return err
	}
	sig, stopSignals := withSignals(context.Background(), stderr)
	defer stopSignals()
	ctx, cancel := context.WithTimeout(sig, b.timeout)
	defer cancel()
	say := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	wl.Say = say
	plan := bench.PlanMemory(wl.Name, tf.target, wl.Devices)
	plan.Apply()
	say("%s", plan)
	stopProfile, err := startCPUProfile(b.cpuProfile)
	if err != nil {
		return cannotRun(fmt.Errorf("--cpuprofile: %w", err))
	}
	defer stopProfile()
	if b.memProfile != "" {
		path := b.memProfile
		wl.AfterRun = func() {
			f, err := os.Create(path)
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
		vc = newVirtualClock("mdmsim bench", storyStart(catalog.Default()), b.lo.speed, stderr)
		defer vc.close()
		wc.Clock = vc.Clock
	}
	w, err := scenarios.NewWorld(tf.worldConfig(wc))
	if err != nil {
		return cannotRun(err)
	}
	defer w.Close()
	t, err := targets.Open(ctx, tf.target, w, targets.Options{Mint: b.mint})
	if err != nil {
		if code := sig.exitCode(0); code != 0 {
			return exitWith(code)
		}
		return cannotRun(err)
	}
	defer t.Close()
	var observers []bench.Observer
	// A status line on a terminal (none when stderr is not one, or with
	// --quiet), ended before the results are printed.
	progress := report.NewProgress(stderr, report.WithTerminal(!b.out.quiet && report.IsTerminal(stderr)))
	if progress.Enabled() && !rollout { // a rollout is one operation; its job says how it goes
		total := wl.Devices
		if wl.Run.Rate > 0 && wl.Run.Duration > 0 {
			total = int(wl.Run.Rate * wl.Run.Duration.Seconds())
		}
		progress.Phase(wl.Name, total)
		observers = append(observers, progressObserver{progress})
	}
	if b.metricsAddr != "" {
		m := report.NewMetrics()
		stopMetrics, err := m.ServeMetrics(b.metricsAddr)
		if err != nil {
			return cannotRun(fmt.Errorf("--metrics-listen: %w", err))
		}
		defer stopMetrics()
		say("metrics at http://%s/metrics", b.metricsAddr)
		observers = append(observers, m)
	}
	if len(observers) > 0 {
		wl.Run.Observer = combine(observers)
	}
	res, err := bench.RunWorkload(ctx, w, t, wl)
	progress.Done()
	if vc != nil {
		vc.behind(stderr)
	}
	if err != nil {
		if code := sig.exitCode(0); code != 0 {
			return exitWith(code)
		}
		return cannotRun(err)
	}
	if tf.target != targets.Null && tf.target != targets.Embedded {
		res.Target = tf.target
	}
	data, err := json.Marshal(res)
	if err != nil {
		return cannotRun(err)
	}
	if b.outFile != "" {
		if err := os.WriteFile(b.outFile, append(data, '\n'), 0o644); err != nil {
			return cannotRun(err)
		}
	}
	if b.html != "" {
		if err := writeHTML(b.html, res); err != nil {
			return cannotRun(fmt.Errorf("--html: %w", err))
		}
	}
	if b.out.json {
		fmt.Fprintf(stdout, "%s\n", data)
	} else {
		printBench(stdout, res)
	}
	if code := sig.exitCode(0); code != 0 {
		return exitWith(code)
	}
	if res.Partial {
		return runFailed(errors.New("the run stopped before its end (--timeout); the result is partial"))
	}
	return nil
}

// rolloutWorkload puts the rollout flags (those of `mdmsim run --scenario`)
// in wl.
func rolloutWorkload(wl *bench.Workload, tf *targetFlags, lo *legacyOptions, do *ddmOptions) error {
	if !tf.inProcess() && lo.speed == 0 {
		return usageErrorf("a server outside the process lives on real time: give --speed N (1 is real time) for a rollout; the discrete-event clock is for the targets in the process")
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
		if err := do.validate(lo); err != nil {
			return err
		}
		ro.DDM = do.job()
	default:
		return usageErrorf("--scenario must be %s, have %q", joinNames(bench.Rollouts), ro.Scenario)
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// progressObserver moves the status line on at every operation.
type progressObserver struct{ p *report.Progress }

func (o progressObserver) Observe(string, time.Duration, error) { o.p.Add(1) }

// combine shows every operation to each of observers. One alone is used
// as it is; of several, only a combination holding a gauge observer (the
// Prometheus metrics) is itself one, so the runner sets no gauge per
// operation that nobody reads.
func combine(observers []bench.Observer) bench.Observer {
	if len(observers) == 1 {
		return observers[0]
	}
	l := observerList{all: observers}
	for _, o := range observers {
		if g, ok := o.(bench.GaugeObserver); ok {
			l.gauges = append(l.gauges, g)
		}
	}
	if len(l.gauges) > 0 {
		return gaugeList{l}
	}
	return l
}

// observerList shows every operation to each of its observers.
type observerList struct {
	all    []bench.Observer
	gauges []bench.GaugeObserver
}

func (l observerList) Observe(op string, d time.Duration, err error) {
	for _, o := range l.all {
		o.Observe(op, d, err)
	}
}

// gaugeList is an observerList that passes the levels on to the observers
// that follow them.
type gaugeList struct{ observerList }

func (l gaugeList) SetInFlight(n int) {
	for _, g := range l.gauges {
		g.SetInFlight(n)
	}
}

func (l gaugeList) SetEnrolled(n int) {
	for _, g := range l.gauges {
		g.SetEnrolled(n)
	}
}
