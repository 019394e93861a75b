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
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/mdmsim/mdmsim/fleet"
)

func init() {
	register("run", "enroll a simulated fleet in the embedded reference MDM stack and run a scenario", runMain)
}

// runOptions are the flags of `mdmsim run`.
type runOptions struct {
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
	Devices      int     `json:"devices"`
	Enrolled     int     `json:"enrolled"`
	CommandsSent int     `json:"commands_sent"`
	Acknowledged int     `json:"acknowledged"`
	Errors       int     `json:"errors"`
	NotNow       int     `json:"not_now"`
	WallSeconds  float64 `json:"wall_seconds"`
}

func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mdmsim run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o runOptions
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
	fs.Visit(func(f *flag.Flag) { timeoutSet = timeoutSet || f.Name == "timeout" })
	if !timeoutSet && o.scenario != "" && o.scenario != "default" {
		// A scenario's wall time is the CPU its fleet needs, not its
		// virtual time: a large fleet on a busy machine takes minutes.
		o.timeout = scenarioTimeout
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(stderr, "mdmsim run:", err)
		return 2
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "mdmsim run:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "mdmsim run: cpu profile:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
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

// runDefault is the main job on the embedded default: start the stack,
// enroll the fleet, send DeviceInformation to every device through
// NanoMDM's API with a push, and wait for every answer.
func runDefault(ctx context.Context, o runOptions, stdout, stderr io.Writer) (runSummary, error) {
	start := wall.Now()
	sum := runSummary{Devices: o.devices}
	logger := jobLogger(o, stderr)
	say := sayer(o, stdout)

	ef, err := enrollFleet(ctx, o, logger, fleet.Config{Devices: o.devices, Seed: o.seed, MacFraction: fleet.DefaultMacFraction}, nil)
	if ef != nil {
		defer ef.stack.Close()
	}
	if ef == nil || ef.fleet == nil {
		return sum, err
	}
	stack, f := ef.stack, ef.fleet
	say("reference stack: NanoMDM + KMFDDM + SCEP CA at %s, push topic %s", stack.URL, stack.Topic)
	sum.Enrolled = stack.Enrolled()
	say("enrolled %d/%d devices (%s) over %s in %.2fs", sum.Enrolled, o.devices, mixString(f.Mix()), o.enroll, wall.Since(start).Seconds())
	if err != nil {
		return sum, err
	}

	cmdStart := wall.Now()
	const commandUUID = "mdmsim-run-deviceinformation"
	res, err := stack.Enqueue(ctx, f.UDIDs(), commandUUID, "DeviceInformation",
		map[string]any{"Queries": []string{"UDID", "DeviceName", "OSVersion", "BuildVersion", "ProductName", "SerialNumber", "SoftwareUpdateDeviceID"}})
	if err != nil {
		return sum, err
	}
	sum.CommandsSent = len(res.Status)
	pushErrors := map[string]int{}
	for _, st := range res.Status {
		if st.PushError != "" {
			pushErrors[st.PushError]++
		}
	}
	if len(pushErrors) > 0 {
		fmt.Fprintf(stderr, "mdmsim run: the server's pushes failed for %d devices: %v\n", sumValues(pushErrors), pushErrors)
	}
	waitErr := stack.WaitResults(ctx, commandUUID, sum.CommandsSent)
	for _, r := range stack.ResultsFor(commandUUID) {
		switch r.Status {
		case "Acknowledged":
			sum.Acknowledged++
		case "NotNow":
			sum.NotNow++
		default:
			sum.Errors++
		}
	}
	say("DeviceInformation: sent %d with a push, %d acknowledged, %d errors, %d not now in %.2fs",
		sum.CommandsSent, sum.Acknowledged, sum.Errors, sum.NotNow, wall.Since(cmdStart).Seconds())
	if waitErr != nil {
		c := f.Counters()
		st := stack.APNs().Stats()
		return sum, fmt.Errorf("waiting for answers: %w (APNs accepted %d, delivered %d, refused %v; device sessions failed %d)",
			waitErr, st.Accepted, st.Delivered(), st.Reasons, c.SessionErrors.Load())
	}
	say("done in %.2fs", wall.Since(start).Seconds())
	return sum, nil
}

func mixString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

func roundSeconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

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
