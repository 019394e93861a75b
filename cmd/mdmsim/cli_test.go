package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/deploy/kubernetes"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// TestBadInputsOneLine: every bad command line exits 2 (or 3 when the run
// cannot start) with exactly one line on stderr that names the problem,
// and nothing on stdout.
func TestBadInputsOneLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "a command is required"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"runn"}, 2, "did you mean run?"},
		{[]string{"run", "--scenario", "legacy-update", "--population", "no-such.yaml"}, 2, "--population: population file: open no-such.yaml"},
		{[]string{"run", "--scenario", "ddm-deadline", "--population", "../../examples/population.yaml", "--cooperative"}, 2, "--cooperative and --population exclude each other"},
		{[]string{"run", "--population", "../../examples/population.yaml"}, 2, "--population applies to --scenario legacy-update or ddm-deadline"},
		{[]string{"run", "--speed", "Inf", "--scenario", "legacy-update"}, 2, "--speed must be a finite number"},
		{[]string{"run", "--speed", "NaN", "--scenario", "legacy-update"}, 2, "--speed must be a finite number"},
		{[]string{"run", "--speed", "1e20", "--scenario", "legacy-update"}, 2, "--speed must be 0"},
		{[]string{"run", "--speed", "0.5", "--scenario", "ddm-deadline"}, 2, "--speed must be 0"},
		{[]string{"run", "--quirks", "garbage"}, 2, "--quirks applies to --scenario legacy-update, not to --scenario default"},
		{[]string{"run", "--scenario", "legacy-update", "--quirks", "garbage=0.1"}, 2, "unknown quirk"},
		{[]string{"run", "--scenario", "legacy-update", "--quirks", "prepare-stall=7"}, 2, "must be from 0 to 1"},
		{[]string{"run", "--scenario", "legacy-update", "--off", "0.1"}, 2, "--off applies to --scenario ddm-deadline"},
		{[]string{"run", "--scenario", "ddm-deadline", "--escalate", "1h"}, 2, "--escalate applies to --scenario legacy-update"},
		{[]string{"run", "--scenario", "nope"}, 2, "--scenario must be default, legacy-update or ddm-deadline"},
		{[]string{"run", "extra", "args"}, 2, "unexpected arguments"},
		{[]string{"run", "--devices", "0"}, 2, "--devices must be at least 1"},
		{[]string{"run", "--devices", "20000000"}, 2, "at most 10000000 devices in one process"},
		{[]string{"run", "--devices", "many"}, 2, "invalid argument"},
		{[]string{"run", "--timeout", "-1s"}, 2, "--timeout must be positive"},
		{[]string{"run", "--json-events"}, 2, "--json-events streams with --json"},
		{[]string{"run", "--log-format", "xml"}, 2, "--log-format must be text or json"},
		{[]string{"run", "--target", "no-such-target.yaml"}, 2, "--target must be embedded, null or a target file"},
		{[]string{"run", "--apns-proxy", "nocolon"}, 2, "--apns-proxy must be host:port"},
		{[]string{"run", "--nope"}, 2, "unknown flag: --nope"},
		{[]string{"run", "--devices", "9000000", "--scenario", "legacy-update"}, 3, "memory"},
		{[]string{"apns", "serve", "--token-length", "-1"}, 2, "--token-length must be from 0"},
		{[]string{"apns", "serve", "--max-records", "-5"}, 2, "--max-records must be -1"},
		{[]string{"apns"}, 2, "a subcommand is required: serve"},
		{[]string{"apns", "listen"}, 2, `unknown command "listen"`},
		{[]string{"gdmf", "serve", "--listen", "nowhere"}, 2, "--listen must be host:port"},
		{[]string{"gdmf", "serve", "--catalog", "no-such.json"}, 2, "--catalog"},
		{[]string{"bench", "--workload", "enroll", "--speed", "Inf"}, 2, "--speed must be a finite number"},
		{[]string{"bench", "--workload", "enroll", "--speed", "2"}, 2, "--speed does not apply to --workload enroll"},
		{[]string{"bench", "--workload", "enroll", "--batch", "5"}, 2, "--batch does not apply to --workload enroll"},
		{[]string{"bench", "--workload", "enroll", "--population", "x.yaml"}, 2, "--population does not apply to --workload enroll"},
		{[]string{"bench", "--workload", "rollout", "--rate", "5"}, 2, "--rate does not apply to --workload rollout"},
		{[]string{"bench", "--workload", "rollout", "--scenario", "ddm-deadline", "--quirks", "reboot-gap=1"}, 2, "--quirks does not apply to --scenario ddm-deadline"},
		{[]string{"bench", "--rate", "10", "--workers", "3"}, 2, "--workers applies to the closed model"},
		{[]string{"bench", "--ramp", "1s"}, 2, "--ramp applies to the open model"},
		{[]string{"bench", "--mint=false"}, 2, "--mint applies to --target embedded only"},
		{[]string{"bench", "--workload", "nope"}, 2, "--workload must be"},
		{[]string{"conformance", "--parallel", "3"}, 2, "--parallel applies to --selftest only"},
		{[]string{"conformance", "--speed", "10"}, 2, "--speed applies to targets outside the process"},
		{[]string{"conformance", "--mutant", "nope"}, 2, `no mutant "nope"`},
		{[]string{"target"}, 2, "a subcommand is required: check"},
		{[]string{"target", "check", "--wait", "0s"}, 2, "--wait must be positive"},
		{[]string{"report", "html", "a.json"}, 2, "--out is required"},
		{[]string{"report", "merge"}, 2, "want the shards' result files"},
		{[]string{"report", "merge", "no-such.json"}, 2, "no-such.json"},
		{[]string{"run", "--shard", "4/4"}, 2, "--shard"},
		{[]string{"run", "--shard", "x"}, 2, "--shard"},
		{[]string{"bench", "soak", "--target", "null"}, 2, "--ddm needs a target with declarations"},
		{[]string{"bench", "soak", "--target", "x.yaml"}, 2, "--target must be embedded or null"},
		{[]string{"quirks", "extra"}, 2, "unexpected arguments"},
		{[]string{"version", "--nope"}, 2, "unknown flag"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := execute(tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr is not one line with %q:\n%s", tc.want, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty:\n%s", stdout.String())
			}
		})
	}
}

// TestHelpEverywhere: --help exits 0 with the help on stdout, for every
// command and subcommand, and the root's help documents the exit codes.
func TestHelpEverywhere(t *testing.T) {
	t.Parallel()
	var paths [][]string
	root := newRoot(&bytes.Buffer{}, &bytes.Buffer{})
	for _, c := range root.Commands() {
		paths = append(paths, []string{c.Name()})
		for _, s := range c.Commands() {
			paths = append(paths, []string{c.Name(), s.Name()})
		}
	}
	paths = append(paths, nil)
	for _, p := range paths {
		for _, help := range []string{"--help", "-h"} {
			var stdout, stderr bytes.Buffer
			args := append(append([]string{}, p...), help)
			if code := execute(args, &stdout, &stderr); code != 0 {
				t.Errorf("%v: exit %d: %s", args, code, stderr.String())
			}
			if !strings.Contains(stdout.String(), "Usage:") {
				t.Errorf("%v: no usage on stdout:\n%s", args, stdout.String())
			}
		}
	}
	var stdout bytes.Buffer
	execute([]string{"--help"}, &stdout, &bytes.Buffer{})
	for _, want := range []string{"0    all good", "1    the run found failures", "2    usage error", "3    could not run", "130"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("root help lacks the exit code line %q", want)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := execute([]string{"version", "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var b buildInfo
	if err := json.Unmarshal(stdout.Bytes(), &b); err != nil || b.Version == "" || !strings.HasPrefix(b.Go, "go") || b.Platform == "" {
		t.Fatalf("version --json: %v %+v", err, b)
	}
	stdout.Reset()
	execute([]string{"--version"}, &stdout, &stderr)
	if !strings.HasPrefix(stdout.String(), "mdmsim "+b.Version+" (") {
		t.Errorf("--version: %q", stdout.String())
	}
}

// TestListsComeFromTables: mdmsim quirks lists every quirk of the update
// package's table and mdmsim scenarios every scenario with its flags.
func TestListsComeFromTables(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := execute([]string{"quirks", "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("quirks: exit %d: %s", code, stderr.String())
	}
	var quirks []quirkDoc
	if err := json.Unmarshal(stdout.Bytes(), &quirks); err != nil {
		t.Fatal(err)
	}
	if len(quirks) != len(update.Quirks()) {
		t.Errorf("quirks lists %d, the table has %d", len(quirks), len(update.Quirks()))
	}
	stdout.Reset()
	execute([]string{"quirks"}, &stdout, &stderr)
	for _, q := range update.Quirks() {
		if !strings.Contains(stdout.String(), q.Name+" ") || !strings.Contains(stdout.String(), q.Doc) {
			t.Errorf("quirks lacks %s", q.Name)
		}
	}
	stdout.Reset()
	if code := execute([]string{"scenarios", "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("scenarios: exit %d: %s", code, stderr.String())
	}
	var docs []scenarioDoc
	if err := json.Unmarshal(stdout.Bytes(), &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != len(scenarioTable) {
		t.Fatalf("scenarios lists %d, the table has %d", len(docs), len(scenarioTable))
	}
	for i, d := range docs {
		if d.Name != scenarioTable[i].name || len(d.Flags) != len(scenarioTable[i].flags) {
			t.Errorf("scenario %d: %+v", i, d)
		}
		for _, f := range d.Flags {
			if f.Usage == "" {
				t.Errorf("%s: flag %s has no help", d.Name, f.Name)
			}
		}
	}
}

// TestReporterTerminal: on a terminal the status line shows each phase's
// count and detail, human lines stay above it, and --json-events streams
// one event per phase change.
func TestReporterTerminal(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	r := newReporterOn(outputFlags{}, &stdout, &stderr, true)
	n := 3
	r.onPhase(jobs.Phase{Name: jobs.PhaseEnroll, Total: 10, Done: func() int { return n }})
	r.say("enrolled %d", 10)
	r.onPhase(jobs.Phase{Name: jobs.PhaseEnforce, Total: 10, Done: func() int { return 4 },
		Detail: func() string { return "virtual day 2 of 7, 4 compliant" }})
	r.end()
	if !strings.Contains(stderr.String(), "enroll  3/10") || !strings.Contains(stderr.String(), "virtual day 2 of 7, 4 compliant") {
		t.Errorf("status line:\n%q", stderr.String())
	}
	if stdout.String() != "enrolled 10\n" {
		t.Errorf("stdout %q", stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	r = newReporterOn(outputFlags{json: true, jsonEvents: true}, &stdout, &stderr, false)
	r.onPhase(jobs.Phase{Name: jobs.PhaseDraw, Total: 5, Done: func() int { return 5 }})
	r.say("not printed with --json")
	r.onPhase(jobs.Phase{Name: jobs.PhaseEnroll, Total: 5, Done: func() int { return 2 }})
	r.end()
	if stderr.Len() != 0 {
		t.Errorf("stderr without a terminal: %q", stderr.String())
	}
	var events []phaseEvent
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var e phaseEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		events = append(events, e)
	}
	if len(events) != 3 || events[0].Phase != "draw" || events[1].Phase != "enroll" || events[1].Ended.Phase != "draw" ||
		*events[1].Ended.Done != 5 || events[2].Event != "end" || *events[2].Ended.Done != 2 {
		t.Errorf("events:\n%s", stdout.String())
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds mdmsim once for the tests that run it as a process.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mdmsim-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "mdmsim")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// TestSignalStopsWithPartialReport: Ctrl-C (SIGINT) or SIGTERM in the
// middle of a legacy-update enforcement ends the run with its summary,
// marked partial, the devices cut short under "interrupted", and exit
// 130 or 143.
func TestSignalStopsWithPartialReport(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := binary(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			t.Parallel()
			// On a scaled clock at real time the week cannot end before
			// the signal, however fast the machine.
			cmd := exec.Command(bin, "run", "--scenario", "legacy-update", "--devices", "200", "--speed", "1", "--json", "--json-events")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			var last string
			sent := false
			for sc.Scan() {
				last = sc.Text()
				var e phaseEvent
				if !sent && json.Unmarshal([]byte(last), &e) == nil && e.Event == "phase" && e.Phase == jobs.PhaseEnforce {
					if err := cmd.Process.Signal(tc.sig); err != nil {
						t.Fatal(err)
					}
					sent = true
				}
			}
			err = cmd.Wait()
			code := cmd.ProcessState.ExitCode()
			if !sent {
				t.Fatalf("no enforce phase event; exit %d, stderr:\n%s", code, stderr.String())
			}
			if code != tc.code {
				t.Fatalf("exit %d (%v), want %d; stderr:\n%s", code, err, tc.code, stderr.String())
			}
			var sum legacySummary
			if err := json.Unmarshal([]byte(last), &sum); err != nil {
				t.Fatalf("last line %q: %v", last, err)
			}
			if !sum.Partial || sum.Devices != 200 || sum.Enrolled != 200 || sum.Compliant+sum.Noncompliant != 200 ||
				sum.Reasons[reference.ReasonInterrupted] == 0 {
				t.Errorf("summary: %s", last)
			}
			if !strings.Contains(stderr.String(), "the report will be partial") {
				t.Errorf("stderr: %s", stderr.String())
			}
		})
	}
}

// TestUnreachableTargetCannotRun: a target whose server does not answer
// exits 3, with the reason on one line.
func TestUnreachableTargetCannotRun(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	file := filepath.Join(t.TempDir(), "closed.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf("kind: nanomdm\nenrollment:\n  profile_url: http://%[1]s/mdm/enroll\nnanomdm:\n  api_url: http://%[1]s/v1\n  api_key: secret\n", addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"run", "--target", file, "--devices", "2"},
		{"run", "--target", file, "--devices", "2", "--scenario", "legacy-update", "--speed", "60", "--json"},
		{"run", "--target", file, "--devices", "2", "--scenario", "ddm-deadline", "--speed", "60"},
	} {
		var stdout, stderr bytes.Buffer
		code := execute(args, &stdout, &stderr)
		if code != 3 {
			t.Fatalf("%v: exit %d, want 3; stderr:\n%s", args, code, stderr.String())
		}
		if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "connection refused") {
			t.Errorf("%v: stderr:\n%s", args, stderr.String())
		}
	}
}

// TestMakefileCommandsValidate: the mdmsim run and bench command lines of
// the Makefile are ones the CLI accepts.
func TestMakefileCommandsValidate(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		_, rest, ok := strings.Cut(line, "run ./cmd/mdmsim ")
		if !ok || !(strings.HasPrefix(rest, "run") || strings.HasPrefix(rest, "bench")) || strings.Contains(rest, "$(") {
			continue
		}
		args, err := splitArgs(rest)
		if err != nil {
			t.Fatal(err)
		}
		n++
		var stdout, stderr bytes.Buffer
		if code := execute(append(args, "--validate-only"), &stdout, &stderr); code != 0 {
			t.Errorf("Makefile: mdmsim %s: exit %d: %s", rest, code, stderr.String())
		}
	}
	if n == 0 {
		t.Fatal("no mdmsim command line found in the Makefile")
	}
	var stdout, stderr bytes.Buffer
	if code := execute([]string{"bench", "--workload", "enroll", "--batch", "3", "--validate-only"}, &stdout, &stderr); code != 2 {
		t.Errorf("--validate-only with a bad flag: exit %d", code)
	}
}

// TestKubernetesJobArgsValidate: the arguments the Indexed Job passes
// each pod, with the pod's index and count expanded, are a command line
// mdmsim accepts; the target file is the ConfigMap's, written where the
// pod mounts it.
func TestKubernetesJobArgsValidate(t *testing.T) {
	t.Parallel()
	jobs, err := kubernetes.JobArgs()
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) == 0 {
		t.Fatal("no Job in deploy/kubernetes")
	}
	target := filepath.Join(t.TempDir(), "target.yaml")
	if err := os.WriteFile(target, []byte("kind: nanomdm\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range jobs {
		for _, index := range []string{"0", "9"} {
			expanded := kubernetes.Expand(args, map[string]string{"JOB_COMPLETION_INDEX": index, "JOB_COMPLETIONS": "10"})
			for i, a := range expanded {
				if strings.HasPrefix(a, "--target=") {
					expanded[i] = "--target=" + target
				}
			}
			var stdout, stderr bytes.Buffer
			if code := execute(append(expanded, "--validate-only"), &stdout, &stderr); code != 0 {
				t.Errorf("%s: mdmsim %s: exit %d: %s", name, strings.Join(expanded, " "), code, stderr.String())
			}
		}
	}
}

// TestEmptyShardRefused: a shard that holds no device of the fleet is a
// usage error.
func TestEmptyShardRefused(t *testing.T) {
	t.Parallel()
	for i := range 2 {
		shard := fleet.Shard{Index: i, Count: 2}
		lo, hi := shard.Range(1)
		var stdout, stderr bytes.Buffer
		code := execute([]string{"run", "--devices", "1", "--shard", shard.String(), "--validate-only"}, &stdout, &stderr)
		if empty := lo == hi; empty != (code == 2) || empty && !strings.Contains(stderr.String(), "holds no device") {
			t.Errorf("shard %s of 1 device (%d..%d): exit %d: %s", shard, lo, hi, code, stderr.String())
		}
	}
}

// countObserver counts what it is shown; gaugeObserver also takes levels.
type countObserver struct{ n *int }

func (c countObserver) Observe(string, time.Duration, error) { *c.n++ }

type gaugeObserver struct {
	countObserver
	inFlight *int
}

func (g gaugeObserver) SetInFlight(n int) { *g.inFlight = n }
func (g gaugeObserver) SetEnrolled(int)   {}

// TestCombineObservers: every observer sees every operation, and only a
// combination that holds a gauge observer takes levels.
func TestCombineObservers(t *testing.T) {
	t.Parallel()
	var a, b, level int
	plain := combine([]bench.Observer{countObserver{&a}, countObserver{&b}})
	if _, ok := plain.(bench.GaugeObserver); ok {
		t.Error("observers without gauges combine into a gauge observer")
	}
	plain.Observe("op", time.Millisecond, nil)
	withGauge := combine([]bench.Observer{countObserver{&a}, gaugeObserver{countObserver{&b}, &level}})
	g, ok := withGauge.(bench.GaugeObserver)
	if !ok {
		t.Fatal("a gauge observer's levels are lost in the combination")
	}
	withGauge.Observe("op", time.Millisecond, nil)
	g.SetInFlight(7)
	if a != 2 || b != 2 || level != 7 {
		t.Errorf("seen %d and %d operations, level %d; want 2, 2, 7", a, b, level)
	}
}
