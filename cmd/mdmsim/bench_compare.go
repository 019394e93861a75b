package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/bench/report"
)

// newBenchCompareCmd is `mdmsim bench compare [flags] old.json new.json`.
// It prints per operation the change in rate, latency and errors, then CPU
// and memory, and exits 1 when a figure got worse by more than
// --threshold, 2 on a usage error or an unreadable run, 0 otherwise.
func newBenchCompareCmd() *cobra.Command {
	threshold := thresholdFlag(report.DefaultThreshold)
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "compare old.json new.json",
		Short: "compare two bench results; exit 1 when a figure regressed by more than --threshold",
		Long: `Compare two results of mdmsim bench (--out files, or --json output saved whole):
per operation the change in rate, latency and errors, then CPU and memory.
Exit 1 when a figure got worse by more than --threshold, 2 when a file cannot
be read as a result.

` + exitCodesHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageErrorf("want two result files (old, new), have %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return benchCompare(args[0], args[1], float64(threshold), asJSON, cmd.OutOrStdout())
		},
	}
	cmd.Flags().Var(&threshold, "threshold", `relative change that counts as a regression: "10%" (or "10")`)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the comparison as JSON")
	return cmd
}

func benchCompare(oldPath, newPath string, threshold float64, asJSON bool, stdout io.Writer) error {
	old, err := readResult(oldPath)
	if err != nil {
		return usageErrorf("%v", err)
	}
	new, err := readResult(newPath)
	if err != nil {
		return usageErrorf("%v", err)
	}
	c := report.Compare(old, new)
	c.Threshold = threshold
	regs := c.Regressions()
	if asJSON {
		out := struct {
			report.Comparison
			Regressions []string `json:"regressions"`
		}{Comparison: c, Regressions: []string{}}
		for _, r := range regs {
			out.Regressions = append(out.Regressions, r.String())
		}
		data, err := json.Marshal(out)
		if err != nil {
			return cannotRun(err)
		}
		fmt.Fprintf(stdout, "%s\n", data)
	} else {
		fmt.Fprintf(stdout, "old: %s\nnew: %s\n\n", oldPath, newPath)
		if err := c.WriteText(stdout); err != nil {
			return cannotRun(err)
		}
	}
	if len(regs) > 0 {
		return exitWith(exitFailed)
	}
	return nil
}

// readResult reads a bench result file (bench.ReadResult); errors name it.
func readResult(path string) (*bench.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := bench.ReadResult(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// thresholdFlag is a fraction written as a percentage: "10%" and "10" are
// both 0.1.
type thresholdFlag float64

func (t *thresholdFlag) String() string {
	return strconv.FormatFloat(float64(*t)*100, 'f', -1, 64) + "%"
}

// Type names the flag's value in help.
func (t *thresholdFlag) Type() string { return "percent" }

func (t *thresholdFlag) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return fmt.Errorf("want a percentage like 10%%, have %q", s)
	}
	*t = thresholdFlag(v / 100)
	return nil
}
