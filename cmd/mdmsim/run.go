package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/targets"
	"github.com/mdmsim/mdmsim/scenarios/targets/embedded"
)

func init() {
	register("run", "enroll a simulated fleet in an MDM server (the embedded reference stack by default) and run a job", runMain)
}

// runOptions are the flags of `mdmsim run`.
type runOptions struct {
	// targetFlags say which target, and where the mocks meet it.
	*targetFlags
	devices int
	seed    int64
	json    bool
	enroll  string
	mtls    bool
	timeout time.Duration
	verbose bool
	// scenario picks the job: "" sends DeviceInformation to every device;
	// "legacy-update" runs the reference update enforcer
	// (scenario_legacy.go).
	scenario string
	// cpuProfile, when set, is where a CPU profile of the run is written.
	cpuProfile string
	enrollSet  bool
	legacy     *legacyOptions
	ddm        *ddmOptions
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

func (o *runOptions) validate() error {
	if o.devices < 1 {
		return fmt.Errorf("--devices must be at least 1, have %d", o.devices)
	}
	switch o.enroll {
	case "auto":
		o.enroll = "scep"
		if o.devices > scepAutoLimit {
			o.enroll = "fast"
		}
	case "scep", "fast":
	default:
		return fmt.Errorf("--enroll must be auto, scep or fast, have %q", o.enroll)
	}
	if o.timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	if o.target != targets.Embedded && (o.enroll == "fast" || o.mtls) {
		if o.enroll == "fast" && o.enrollSet || o.mtls {
			return errors.New("--enroll fast and --mtls apply to the embedded target only")
		}
		o.enroll = "scep"
	}
	if o.target != targets.Embedded && o.scenario != "" && o.scenario != "default" && o.legacy.speed == 0 {
		return errors.New("a server outside the process lives on real time: give --speed N (1 is real time) for its scenarios; the discrete-event clock is for the embedded target")
	}
	// --speed is read by both scenarios.
	if err := checkSpeed(o.legacy.speed, "discrete-event clock"); err != nil {
		return err
	}
	switch o.scenario {
	case "", "default":
	case scenarioLegacyUpdate:
		return o.legacy.validate()
	case scenarioDDMDeadline:
		return o.ddm.validate()
	default:
		return fmt.Errorf("--scenario must be default, %s or %s, have %q", scenarioLegacyUpdate, scenarioDDMDeadline, o.scenario)
	}
	return nil
}

// runSummary is the JSON line `mdmsim run --json` prints last.
type runSummary struct {
	jobs.DeviceInfoSummary
	WallSeconds float64 `json:"wall_seconds"`
}

func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mdmsim run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o runOptions
	o.targetFlags = addTargetFlags(fs, targets.Embedded)
	fs.IntVar(&o.devices, "devices", fleet.DefaultDevices, "number of simulated devices")
	fs.Int64Var(&o.seed, "seed", 1, "seed of every random choice (same seed, same fleet)")
	fs.BoolVar(&o.json, "json", false, "print a JSON summary as the last line of stdout")
	fs.StringVar(&o.enroll, "enroll", "auto", "enrollment path: scep, fast (identities minted by the stack's CA) or auto")
	fs.BoolVar(&o.mtls, "mtls", false, "devices authenticate with mutual TLS instead of Mdm-Signature")
	fs.DurationVar(&o.timeout, "timeout", defaultTimeout, "give up after this long, on the wall clock (scenarios: "+scenarioTimeout.String()+" unless set)")
	fs.BoolVar(&o.verbose, "v", false, "log the stack's and devices' activity to stderr")
	fs.StringVar(&o.scenario, "scenario", "", "job to run: default (DeviceInformation to every device), "+scenarioLegacyUpdate+" or "+scenarioDDMDeadline)
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	o.legacy = legacyFlags(fs)
	o.ddm = ddmFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	timeoutSet := false
	fs.Visit(func(f *flag.Flag) {
		timeoutSet = timeoutSet || f.Name == "timeout"
		o.enrollSet = o.enrollSet || f.Name == "enroll"
	})
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mdmsim run: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if !timeoutSet && o.scenario != "" && o.scenario != "default" {
		// A scenario's wall time is the CPU its fleet needs, not its
		// virtual time: a large fleet on a busy machine takes minutes.
		o.timeout = scenarioTimeout
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(stderr, "mdmsim run:", err)
		return 2
	}
	stopProfile, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		fmt.Fprintln(stderr, "mdmsim run: --cpuprofile:", err)
		return 2
	}
	defer stopProfile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	switch o.scenario {
	case scenarioLegacyUpdate:
		return runLegacy(ctx, o, stdout, stderr)
	case scenarioDDMDeadline:
		return runDDM(ctx, o, stdout, stderr)
	}
	return runJob(o, stdout, stderr,
		func() (runSummary, error) { return runDefault(ctx, o, stdout, stderr) },
		func(s *runSummary, w float64) { s.WallSeconds = w },
		func(s runSummary) bool { return s.Acknowledged == s.CommandsSent && s.Enrolled == s.Devices })
}

// runDefault is the main job: enroll the fleet in the target, send
// DeviceInformation to every device through the server's command channel
// with a push, and wait for every answer.
func runDefault(ctx context.Context, o runOptions, stdout, stderr io.Writer) (runSummary, error) {
	start := wall.Now()
	sum := runSummary{DeviceInfoSummary: jobs.DeviceInfoSummary{Devices: o.devices}}
	say := sayer(o, stdout)
	run, err := startRun(ctx, o, jobLogger(o, stderr), say, jobs.Config{}, nil)
	if run != nil {
		defer run.Close()
	}
	if run == nil || run.Fleet == nil {
		return sum, err
	}
	describeTarget(run, say)
	sum.Enrolled = run.Fleet.Enrolled
	say("enrolled %d/%d devices (%s) over %s in %.2fs", sum.Enrolled, o.devices, jobs.MixString(run.Fleet.Mix()), o.enroll, wall.Since(start).Seconds())
	if err != nil {
		return sum, err
	}
	cmdStart := wall.Now()
	sum.DeviceInfoSummary, err = jobs.DeviceInformation(ctx, run, o.timeout)
	say("DeviceInformation: sent %d with a push, %d acknowledged, %d errors, %d not now in %.2fs",
		sum.CommandsSent, sum.Acknowledged, sum.Errors, sum.NotNow, wall.Since(cmdStart).Seconds())
	if err != nil {
		return sum, err
	}
	say("done in %.2fs", wall.Since(start).Seconds())
	return sum, nil
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

func capNames(t scenarios.Target) []string {
	var out []string
	for _, c := range scenarios.Capabilities(t) {
		out = append(out, string(c))
	}
	return out
}

func roundSeconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// runJob runs a job, times it on the wall clock, prints its JSON summary as
// the last line of stdout when asked, and turns the outcome into the exit
// code: 1 on error or when ok says the summary is not what it must be.
func runJob[S any](o runOptions, stdout, stderr io.Writer, job func() (S, error), setWall func(*S, float64), ok func(S) bool) int {
	began := wall.Now()
	sum, err := job()
	setWall(&sum, roundSeconds(wall.Since(began)))
	if o.json {
		b, _ := json.Marshal(sum)
		fmt.Fprintln(stdout, string(b))
	}
	if err != nil {
		fmt.Fprintln(stderr, "mdmsim run:", err)
		return 1
	}
	if !ok(sum) {
		return 1
	}
	return 0
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
