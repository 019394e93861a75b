package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	_ "github.com/mdmsim/mdmsim/scenarios/specs" // the specs register with the suite
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

func init() {
	register("conformance", "run the conformance suite against a target (an MDM server): mdmsim conformance --target FILE|embedded", conformanceMain)
}

// conformanceOptions are the flags of `mdmsim conformance`.
type conformanceOptions struct {
	*targetFlags
	labelFilter string
	junit       string
	json        bool
	list        bool
	speed       float64
	mutant      string
	selftest    bool
	parallel    int
	verbose     bool
	specTimeout time.Duration
}

// conformanceSummary is the JSON line `mdmsim conformance --json` prints.
type conformanceSummary struct {
	Target string `json:"target"`
	Mutant string `json:"mutant,omitempty"`
	scenarios.Summary
	WallSeconds float64 `json:"wall_seconds"`
}

func conformanceMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mdmsim conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o conformanceOptions
	o.targetFlags = addTargetFlags(fs, targets.Embedded)
	fs.StringVar(&o.labelFilter, "label-filter", "", "select specs by label, e.g. 'legacy-update && !slow' or '!needs:declarations'")
	fs.StringVar(&o.junit, "junit", "", "write a JUnit XML report to this file")
	fs.BoolVar(&o.json, "json", false, "print a JSON summary as the last line of stdout")
	fs.BoolVar(&o.list, "list", false, "list the specs (name and labels) without running them")
	fs.Float64Var(&o.speed, "speed", 0, "outside targets: run the devices' time this many times faster than the wall clock (0: real time)")
	fs.StringVar(&o.mutant, "mutant", "", "self-test: run against this mutant of the embedded reference (a deliberately broken server)")
	fs.BoolVar(&o.selftest, "selftest", false, "run the suite against the embedded reference and every mutant of it, and print which specs caught each")
	fs.IntVar(&o.parallel, "parallel", 2, "--selftest: runs at once")
	fs.BoolVar(&o.verbose, "v", false, "print every spec as it runs")
	fs.DurationVar(&o.specTimeout, "spec-timeout", scenarios.DefaultSpecTimeout, "give up on one spec after this long, on the wall clock")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mdmsim conformance: unexpected arguments %q\n", fs.Args())
		return 2
	}
	mutant, ok := reference.LookupMutant(o.mutant)
	switch {
	case !ok:
		fmt.Fprintf(stderr, "mdmsim conformance: no mutant %q (%s)\n", o.mutant, mutantNames())
		return 2
	case mutant != reference.MutantNone && o.target != targets.Embedded:
		fmt.Fprintln(stderr, "mdmsim conformance: --mutant applies to the embedded target only")
		return 2
	case checkSpeed(o.speed, "real time") != nil:
		fmt.Fprintf(stderr, "mdmsim conformance: %v\n", checkSpeed(o.speed, "real time"))
		return 2
	case o.selftest && (o.target != targets.Embedded || mutant != reference.MutantNone):
		fmt.Fprintln(stderr, "mdmsim conformance: --selftest runs the embedded reference and its mutants; it takes no --target or --mutant")
		return 2
	case o.parallel < 1:
		fmt.Fprintln(stderr, "mdmsim conformance: --parallel must be at least 1")
		return 2
	}
	if o.selftest {
		return selftest(o, stdout, stderr)
	}
	inProcess := o.inProcess()
	open := func(ctx context.Context, w *scenarios.World) (scenarios.Target, error) {
		return targets.Open(ctx, o.target, w, targets.Options{Mint: inProcess, Mutant: mutant})
	}
	opts := scenarios.SuiteOptions{LabelFilter: o.labelFilter, JUnitReport: o.junit, InProcess: inProcess, Speed: o.speed,
		ProxyAddr: o.apnsProxy, CADir: o.caDir, SpecTimeout: o.specTimeout, Verbose: o.verbose, DryRun: o.list,
		FailFast: mutant != reference.MutantNone}
	began := wall.Now()
	var t failFlag
	passed := scenarios.Run(&t, open, opts)
	// Ginkgo's report ends without a newline: what follows starts a line.
	fmt.Fprintln(stdout)
	report := scenarios.LastReport()
	if o.list {
		for _, s := range scenarios.ListSpecs(report) {
			fmt.Fprintf(stdout, "%s {%s}\n", s.Name, strings.Join(s.Labels, ", "))
		}
		return 0
	}
	sum := conformanceSummary{Target: o.target, Mutant: string(mutant), Summary: scenarios.Summarize(report),
		WallSeconds: roundSeconds(wall.Since(began))}
	if o.json {
		b, _ := json.Marshal(sum)
		fmt.Fprintln(stdout, string(b))
	}
	if !passed || t.failed || sum.Failed > 0 {
		return 1
	}
	return 0
}

// failFlag takes the suite's failure: the exit code reports it.
type failFlag struct{ failed bool }

func (f *failFlag) Fail() { f.failed = true }

func mutantNames() string {
	names := make([]string, len(reference.Mutants))
	for i, m := range reference.Mutants {
		names[i] = string(m.Name)
	}
	return strings.Join(names, ", ")
}

// selftest runs the suite, each run in a process of its own (Ginkgo runs
// one suite per process), against the embedded reference and every
// mutant, and prints which specs caught each mutant. It succeeds when the
// reference passes every spec and every mutant fails at least one.
func selftest(o conformanceOptions, stdout, stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "mdmsim conformance: --selftest:", err)
		return 3
	}
	runs := append([]reference.MutantInfo{{Name: reference.MutantNone, Mistake: "(the reference)"}}, reference.Mutants...)
	results := make([]conformanceSummary, len(runs))
	errs := make([]error, len(runs))
	sem := make(chan struct{}, o.parallel)
	var wg sync.WaitGroup
	for i, m := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			args := []string{"conformance", "--json", "--spec-timeout", o.specTimeout.String()}
			if o.labelFilter != "" {
				args = append(args, "--label-filter", o.labelFilter)
			}
			if m.Name != reference.MutantNone {
				args = append(args, "--mutant", string(m.Name))
			}
			var out, errOut bytes.Buffer
			cmd := exec.Command(self, args...)
			cmd.Stdout, cmd.Stderr = &out, &errOut
			runErr := cmd.Run()
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &results[i]); err != nil {
				errs[i] = fmt.Errorf("no summary (%v): %s", runErr, lastLines(errOut.String(), 5))
			}
		}()
	}
	wg.Wait()

	fmt.Fprintf(stdout, "%-32s %-8s %s\n", "server", "verdict", "caught by")
	ok, caught := true, 0
	for i, m := range runs {
		name := string(m.Name)
		if name == "" {
			name = "reference"
		}
		r := results[i]
		switch {
		case errs[i] != nil:
			ok = false
			fmt.Fprintf(stdout, "%-32s %-8s %v\n", name, "ERROR", errs[i])
		case m.Name == reference.MutantNone:
			verdict := "PASS"
			if r.Failed > 0 || r.Passed == 0 {
				verdict, ok = "FAIL", false
			}
			fmt.Fprintf(stdout, "%-32s %-8s %d specs passed, %d failed, %d skipped\n", name, verdict, r.Passed, r.Failed, r.Skipped)
			for _, f := range r.Failures {
				fmt.Fprintf(stdout, "%-32s %-8s   %s\n", "", "", firstLine(f))
			}
		case r.Failed > 0:
			caught++
			fmt.Fprintf(stdout, "%-32s %-8s %s\n", name, "caught", firstLine(r.Failures[0]))
		default:
			ok = false
			fmt.Fprintf(stdout, "%-32s %-8s no spec failed (%s)\n", name, "MISSED", m.Mistake)
		}
	}
	score := 100.0
	if n := len(runs) - 1; n > 0 {
		score = 100 * float64(caught) / float64(n)
	}
	fmt.Fprintf(stdout, "mutation score: %d of %d mutants caught (%.0f %%)\n", caught, len(runs)-1, score)
	if !ok {
		return 1
	}
	return 0
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:157] + "…"
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
