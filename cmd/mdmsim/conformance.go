package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	_ "github.com/mdmsim/mdmsim/scenarios/specs" // the specs register with the suite
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

// conformanceOptions are the flags of `mdmsim conformance`.
type conformanceOptions struct {
	*targetFlags
	out         outputFlags
	labelFilter string
	junit       string
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

func newConformanceCmd() *cobra.Command {
	o := &conformanceOptions{}
	cmd := &cobra.Command{
		Use:   "conformance",
		Short: "run the conformance suite against a target (an MDM server)",
		Long: `Run the conformance suite (Ginkgo specs of Apple's documented behaviour and of
software-update enforcement) against a target: the embedded reference stack by
default, or a target file. Exit 1 when a spec fails.

` + exitCodesHelp,
		Example: `  mdmsim conformance --label-filter '!slow' --json
  mdmsim conformance --target nanomdm.yaml --junit conformance.xml
  mdmsim conformance --selftest`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			mutant, err := o.parse(cmd)
			if err != nil {
				return err
			}
			if o.selftest {
				return selftest(o, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			return conformance(o, mutant, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	o.targetFlags = addTargetFlags(fs, targets.Embedded)
	fs.StringVar(&o.labelFilter, "label-filter", "", "select specs by label, e.g. 'legacy-update && !slow' or '!needs:declarations'")
	fs.StringVar(&o.junit, "junit", "", "write a JUnit XML report to this file")
	fs.BoolVar(&o.out.json, "json", false, "print a JSON summary as the last line of stdout")
	fs.BoolVar(&o.list, "list", false, "list the specs (name and labels) without running them")
	fs.Float64Var(&o.speed, "speed", 0, "outside targets: run the devices' time this many times faster than the wall clock (1 to 1e9; 0: real time)")
	fs.StringVar(&o.mutant, "mutant", "", "self-test: run against this mutant of the embedded reference (a deliberately broken server)")
	fs.BoolVar(&o.selftest, "selftest", false, "run the suite against the embedded reference and every mutant of it, and print which specs caught each")
	fs.IntVar(&o.parallel, "parallel", 2, "--selftest: runs at once")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "print every spec as it runs")
	fs.DurationVar(&o.specTimeout, "spec-timeout", scenarios.DefaultSpecTimeout, "give up on one spec after this long, on the wall clock")
	return cmd
}

func (o *conformanceOptions) parse(cmd *cobra.Command) (reference.Mutant, error) {
	if err := checkFinite(cmd); err != nil {
		return "", err
	}
	if err := o.checkTarget(); err != nil {
		return "", err
	}
	mutant, ok := reference.LookupMutant(o.mutant)
	switch {
	case !ok:
		return "", usageErrorf("no mutant %q (%s)", o.mutant, mutantNames())
	case mutant != reference.MutantNone && o.target != targets.Embedded:
		return "", usageErrorf("--mutant applies to the embedded target only")
	case o.selftest && (o.target != targets.Embedded || mutant != reference.MutantNone || o.list || o.junit != ""):
		return "", usageErrorf("--selftest runs the embedded reference and its mutants; it takes no --target, --mutant, --list or --junit")
	case !o.selftest && cmd.Flags().Changed("parallel"):
		return "", usageErrorf("--parallel applies to --selftest only")
	case o.parallel < 1 || o.parallel > 64:
		return "", usageErrorf("--parallel must be from 1 to 64, have %d", o.parallel)
	case o.specTimeout <= 0:
		return "", usageErrorf("--spec-timeout must be positive, have %v", o.specTimeout)
	case o.inProcess() && o.speed != 0:
		return "", usageErrorf("--speed applies to targets outside the process (the embedded target runs the discrete-event clock)")
	}
	if err := checkSpeed(o.speed, "real time"); err != nil {
		return "", err
	}
	return mutant, nil
}

func conformance(o *conformanceOptions, mutant reference.Mutant, stdout io.Writer) error {
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
		return nil
	}
	sum := conformanceSummary{Target: o.target, Mutant: string(mutant), Summary: scenarios.Summarize(report),
		WallSeconds: roundSeconds(wall.Since(began))}
	if o.out.json {
		b, _ := json.Marshal(sum)
		fmt.Fprintln(stdout, string(b))
	}
	if !passed || t.failed || sum.Failed > 0 {
		return exitWith(exitFailed)
	}
	return nil
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
func selftest(o *conformanceOptions, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return cannotRun(fmt.Errorf("--selftest: %w", err))
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
		return exitWith(exitFailed)
	}
	return nil
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
