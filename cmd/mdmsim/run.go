package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/targets"
	"github.com/mdmsim/mdmsim/scenarios/targets/embedded"
)

// runOptions are the flags of `mdmsim run`.
type runOptions struct {
	// targetFlags say which target, and where the mocks meet it.
	*targetFlags
	out     outputFlags
	devices int
	seed    int64
	enroll  string
	mtls    bool
	timeout time.Duration
	// scenario picks the job (scenarioTable).
	scenario string
	// cpuProfile, when set, is where a CPU profile of the run is written.
	cpuProfile string
	// skipMemoryCheck runs a fleet the memory estimate says will not fit.
	skipMemoryCheck bool
	// validateOnly checks the command line and stops (for manifests and
	// Makefiles that want to know their flags are right).
	validateOnly bool
	// shard is --shard (or the Kubernetes index variables), resolved.
	shardFlag string
	shard     fleet.Shard
	enrollSet bool
	// state is the directory of the fleet's state (--state): "" keeps it
	// in memory only.
	state  string
	legacy *legacyOptions
	ddm    *ddmOptions
}

// Wall-clock limits of a run: the default job sends one command; a
// scenario runs a fleet through days of virtual time.
const (
	defaultTimeout  = 2 * time.Minute
	scenarioTimeout = time.Hour
)

// scepAutoLimit is the largest fleet that enrolls over SCEP with
// --enroll=auto; beyond it RSA key generation dominates and the fast path
// (identities minted by the stack's CA) is used.
const scepAutoLimit = 50

// maxDevices bounds --devices in one process: beyond it, shard the fleet
// over several processes.
const maxDevices = 10_000_000

func newRunCmd() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "enroll a simulated fleet in an MDM server (the embedded reference stack by default) and run a scenario",
		Long: `Enroll a simulated fleet in an MDM server and run a scenario (mdmsim scenarios
lists them): by default every device is sent DeviceInformation with a push.

` + exitCodesHelp,
		Example: `  mdmsim run
  mdmsim run --devices 200 --json
  mdmsim run --scenario legacy-update --devices 100 --seed 7
  mdmsim run --scenario ddm-deadline --target nanomdm.yaml --speed 60`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.parse(cmd); err != nil {
				return err
			}
			if o.validateOnly {
				return nil
			}
			return o.run(cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	o.targetFlags = addTargetFlags(fs, targets.Embedded)
	fs.IntVar(&o.devices, "devices", fleet.DefaultDevices, fmt.Sprintf("number of simulated devices (the whole fleet: at most %d in one process, see --shard)", maxDevices))
	fs.Int64Var(&o.seed, "seed", 1, "seed of every random choice (same seed, same fleet)")
	fs.StringVar(&o.enroll, "enroll", "auto", "enrollment path: scep, fast (identities minted by the stack's CA) or auto (scep up to 50 devices)")
	fs.BoolVar(&o.mtls, "mtls", false, "devices authenticate with mutual TLS instead of Mdm-Signature (embedded target)")
	fs.DurationVar(&o.timeout, "timeout", defaultTimeout, "give up after this long on the wall clock, with a partial report (scenarios: "+scenarioTimeout.String()+" unless set)")
	fs.StringVar(&o.scenario, "scenario", scenarioDefault, "the job: "+joinNames(scenarioNames()))
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	fs.BoolVar(&o.skipMemoryCheck, "skip-memory-check", false, "run even when the memory estimate says the fleet will not fit")
	fs.StringVar(&o.state, "state", "", "keep the fleet's state in this directory and resume from it: devices come back enrolled with their identities (needs a server outside the process to resume)")
	addOutputFlags(fs, &o.out, true)
	fs.StringVar(&o.shardFlag, "shard", "", "run shard i of n of the fleet (i from 0; --devices stays the whole fleet's size); default from JOB_COMPLETION_INDEX and JOB_COMPLETIONS when both are set")
	fs.BoolVar(&o.validateOnly, "validate-only", false, "check the flags and exit: 0 when they are right, 2 with the reason")
	o.legacy = legacyFlags(fs)
	o.ddm = ddmFlags(fs)
	return cmd
}

// parse validates the flags, all of them, before anything runs.
func (o *runOptions) parse(cmd *cobra.Command) error {
	if err := checkFinite(cmd); err != nil {
		return err
	}
	if err := o.out.validate(); err != nil {
		return err
	}
	o.enrollSet = cmd.Flags().Changed("enroll")
	sc, ok := lookupScenario(o.scenario)
	if !ok {
		return usageErrorf("--scenario must be %s, have %q (mdmsim scenarios lists them)", joinNames(scenarioNames()), o.scenario)
	}
	if err := onlyFlags(cmd, scenarioFlagNames(), sc.flags, func(f string) string {
		return "applies to " + scenariosWithFlag(f) + ", not to --scenario " + sc.name
	}); err != nil {
		return err
	}
	if !cmd.Flags().Changed("timeout") && sc.name != scenarioDefault {
		// A scenario's wall time is the CPU its fleet needs, not its
		// virtual time: a large fleet on a busy machine takes minutes.
		o.timeout = scenarioTimeout
	}
	var err error
	if o.shard, err = fleet.ResolveShard(o.shardFlag, os.Getenv); err != nil {
		return usageErrorf("--shard: %v", err)
	}
	if err := checkDevices(o.devices, o.shard); err != nil {
		return err
	}
	switch o.enroll {
	case "auto":
		o.enroll = "scep"
		if o.devices > scepAutoLimit {
			o.enroll = "fast"
		}
	case "scep", "fast":
	default:
		return usageErrorf("--enroll must be auto, scep or fast, have %q", o.enroll)
	}
	if o.timeout <= 0 {
		return usageErrorf("--timeout must be positive, have %v", o.timeout)
	}
	if err := o.checkTarget(); err != nil {
		return err
	}
	if o.state != "" {
		if fi, err := os.Stat(o.state); err == nil && !fi.IsDir() {
			return usageErrorf("--state must be a directory, %s is a file", o.state)
		}
	}
	if o.target != targets.Embedded && (o.enroll == "fast" || o.mtls) {
		if o.enroll == "fast" && o.enrollSet || o.mtls {
			return usageErrorf("--enroll fast and --mtls apply to the embedded target only")
		}
		o.enroll = "scep"
	}
	if !o.inProcess() && sc.name != scenarioDefault && o.legacy.speed == 0 {
		return usageErrorf("a server outside the process lives on real time: give --speed N (1 is real time) for its scenarios; the discrete-event clock is for the embedded target")
	}
	switch sc.name {
	case scenarioLegacyUpdate:
		return o.legacy.validate()
	case scenarioDDMDeadline:
		if err := checkSpeed(o.legacy.speed, "discrete-event clock"); err != nil {
			return err
		}
		return o.ddm.validate(o.legacy)
	}
	return nil
}

// run runs the scenario the flags chose and turns its outcome into the
// exit code.
func (o *runOptions) run(stdout, stderr io.Writer) error {
	if err := o.checkMemory(stderr); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		return cannotRun(fmt.Errorf("--cpuprofile: %w", err))
	}
	defer stopProfile()
	sig, stopSignals := withSignals(context.Background(), stderr)
	defer stopSignals()
	ctx, cancel := context.WithTimeout(sig, o.timeout)
	defer cancel()
	rep := newReporter(o.out, stdout, stderr)
	var res jobResult
	switch o.scenario {
	case scenarioLegacyUpdate:
		res = runLegacy(ctx, o, rep, stderr)
	case scenarioDDMDeadline:
		res = runDDM(ctx, o, rep, stderr)
	default:
		res = runDefault(ctx, o, rep, stderr)
	}
	return finish(sig, o.out, rep, res, stdout)
}

// jobResult is what a scenario hands back to be printed and judged.
type jobResult struct {
	// summary is printed as JSON with --json; it has wall_seconds.
	summary any
	// err is what stopped the job; setup errors (jobs.ErrSetup) exit 3.
	err error
	// failures says what the run found wrong, "" when nothing.
	failures string
}

// finish prints the summary and picks the exit code: interrupted runs
// exit 130/143, runs that could not start 3, runs that found failures or
// stopped early 1.
func finish(sig *interrupt, out outputFlags, rep *reporter, res jobResult, stdout io.Writer) error {
	rep.end()
	if out.json {
		b, err := json.Marshal(res.summary)
		if err != nil {
			return cannotRun(err)
		}
		fmt.Fprintln(stdout, string(b))
	}
	if code := sig.exitCode(0); code != 0 {
		return exitWith(code)
	}
	switch {
	case res.err != nil && errors.Is(res.err, jobs.ErrSetup):
		return cannotRun(res.err)
	case res.err != nil && errors.Is(res.err, context.DeadlineExceeded):
		return runFailed(fmt.Errorf("stopped by --timeout before the end; the report is partial: %w", res.err))
	case res.err != nil:
		return runFailed(res.err)
	case res.failures != "":
		return runFailed(errors.New(res.failures))
	}
	return nil
}

// runSummary is the JSON line `mdmsim run --json` prints last.
type runSummary struct {
	jobs.DeviceInfoSummary
	WallSeconds float64 `json:"wall_seconds"`
}

// runDefault is the main job: enroll the fleet in the target, send
// DeviceInformation to every device through the server's command channel
// with a push, and wait for every answer.
func runDefault(ctx context.Context, o *runOptions, rep *reporter, stderr io.Writer) jobResult {
	start := wall.Now()
	sum := runSummary{DeviceInfoSummary: jobs.DeviceInfoSummary{Devices: o.devices}}
	res := jobResult{summary: &sum}
	defer func() { sum.WallSeconds = roundSeconds(wall.Since(start)) }()
	run, err := startRun(ctx, o, rep, stderr, jobs.Config{}, nil)
	if run != nil {
		defer run.Close()
	}
	if run == nil || run.Fleet == nil {
		sum.Partial = ctx.Err() != nil
		res.err = err
		return res
	}
	describeTarget(run, rep.say)
	describeShard(o, rep.say)
	sum.Enrolled = run.Fleet.Enrolled
	rep.say("enrolled %d/%d devices (%s) %s in %.2fs", sum.Enrolled, run.Devices(), jobs.MixString(run.Fleet.Mix()), o.enrollLabel(), wall.Since(start).Seconds())
	if err != nil {
		sum.Partial = ctx.Err() != nil
		res.err = err
		return res
	}
	cmdStart := wall.Now()
	sum.DeviceInfoSummary, err = jobs.DeviceInformation(ctx, run, o.timeout)
	rep.say("DeviceInformation: sent %d with a push, %d acknowledged, %d errors, %d not now in %.2fs%s",
		sum.CommandsSent, sum.Acknowledged, sum.Errors, sum.NotNow, wall.Since(cmdStart).Seconds(), partialMark(sum.Partial))
	if err != nil {
		res.err = err
		return res
	}
	if !sum.OK() {
		res.failures = fmt.Sprintf("%d of %d devices enrolled, %d of %d commands acknowledged", sum.Enrolled, sum.Devices, sum.Acknowledged, sum.CommandsSent)
	}
	rep.say("done in %.2fs", wall.Since(start).Seconds())
	return res
}

func partialMark(partial bool) string {
	if partial {
		return " (partial)"
	}
	return ""
}

// enrollLabel says how the devices enrolled.
func (o *runOptions) enrollLabel() string {
	switch {
	case o.target == targets.Null:
		return "with identities the null server mints"
	case o.enroll == "fast":
		return "with identities the stack's CA mints"
	}
	return "over SCEP"
}

// describeTarget says what the run talks to.
func describeTarget(run *jobs.Run, say func(string, ...any)) {
	if e, ok := run.Target.(*embedded.Target); ok {
		st := e.Stack()
		say("reference stack: NanoMDM + KMFDDM + SCEP CA at %s, push topic %s", st.URL, st.Topic)
		return
	}
	say("target %s (%s)", run.Target.Name(), strings.Join(capNames(run.Target), ", "))
	if p := run.World.Proxy; p != nil {
		say("the server pushes through HTTPS_PROXY=%s, trusting %s; the mock GDMF is at %s (or gdmf.apple.com through the proxy)",
			p.URL, filepath.Join(run.Config.CADir, "ca.pem"), run.World.GDMF.URL)
	}
	if run.Fleet != nil && run.Fleet.Polling {
		say("devices poll the server on their own (not what real devices do): results show the server's command handling, not its pushes")
	}
}

// describeShard says which slice of the fleet a sharded run is.
func describeShard(o *runOptions, say func(string, ...any)) {
	if !o.shard.Sharded() {
		return
	}
	lo, hi := o.shard.Range(o.devices)
	say("shard %s of a fleet of %d: devices %d to %d (mdmsim report merge adds the shards' --json results up)", o.shard, o.devices, lo, hi-1)
}

func capNames(t scenarios.Target) []string {
	var out []string
	for _, c := range scenarios.Capabilities(t) {
		out = append(out, string(c))
	}
	return out
}

func roundSeconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// checkDevices bounds --devices: at least one device, and at most
// maxDevices in this process (its shard of the fleet).
func checkDevices(devices int, shard fleet.Shard) error {
	lo, hi := shard.Range(max(devices, 0))
	switch {
	case devices < 1:
		return usageErrorf("--devices must be at least 1, have %d", devices)
	case hi-lo > maxDevices:
		return usageErrorf("--devices: at most %d devices in one process, have %d (split the fleet with --shard i/n)", maxDevices, hi-lo)
	case hi == lo:
		return usageErrorf("--shard %s of %d devices holds no device", shard, devices)
	}
	return nil
}

// checkMemory refuses a fleet the estimate says will not fit in the memory
// this process can have.
func (o *runOptions) checkMemory(stderr io.Writer) error {
	lo, hi := o.shard.Range(o.devices)
	return checkMemory("mdmsim run", o.target, o.scenario, hi-lo, o.skipMemoryCheck, stderr)
}

// checkMemory refuses (exit 3) a run of devices against target for job
// (a scenario or a bench workload) that the memory estimate says will not
// fit, or only warns with --skip-memory-check (skip).
func checkMemory(verb, target, job string, devices int, skip bool, stderr io.Writer) error {
	err := bench.CheckFits(bench.EstimateRun(target, job, devices))
	switch {
	case err == nil:
		return nil
	case skip:
		fmt.Fprintf(stderr, "%s: warning: %v; running anyway (--skip-memory-check)\n", verb, err)
		return nil
	}
	return cannotRun(fmt.Errorf("%w (give --skip-memory-check to run anyway)", err))
}

// startCPUProfile writes a CPU profile to path until the returned stop is
// called; with path empty it does nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
