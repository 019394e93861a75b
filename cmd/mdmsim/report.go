package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mdmsim/mdmsim/bench/report"
)

func newReportCmd() *cobra.Command {
	return group("report", "work with saved results: merge the shards of a run, render a bench result as an HTML page",
		newReportMergeCmd(), newReportHTMLCmd())
}

func newReportMergeCmd() *cobra.Command {
	var out, html string
	cmd := &cobra.Command{
		Use:   "merge SHARD.json...",
		Short: "merge the results of a run's shards (--shard i/n) into one: counts, reasons and histograms added exactly",
		Long: `Merge the JSON results of the shards of one run (mdmsim bench --out or --json,
mdmsim run --json: the last line of each file is read) into one report: counts,
errors and reasons summed, latency histograms added bucket by bucket (the
percentiles are exact), compliance curves added device by device. It refuses
shards of different runs (workload, scenario, seed, fleet size), duplicates
and missing shards. The merged result goes to stdout, or to --out; --html
writes the benchmark's page.

` + exitCodesHelp,
		Example: "  mdmsim report merge shard-*.json --out merged.json --html merged.html",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("want the shards' result files, have none")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := report.MergeFiles(args)
			if err != nil {
				// Shards that do not make one run, or a file that is not
				// a result: the command line named the wrong files.
				return usageErrorf("%v", err)
			}
			data, err := m.JSON()
			if err != nil {
				return cannotRun(err)
			}
			if out == "" {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", data)
			} else if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
				return cannotRun(fmt.Errorf("--out: %w", err))
			}
			if html != "" {
				if m.Bench == nil {
					return usageErrorf("--html: job summaries have no HTML page; benchmark results do")
				}
				if err := writeHTML(html, m.Bench); err != nil {
					return cannotRun(fmt.Errorf("--html: %w", err))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the merged result to this file instead of stdout")
	cmd.Flags().StringVar(&html, "html", "", "write the merged benchmark's HTML page to this file")
	return cmd
}

func newReportHTMLCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "html RESULT.json",
		Short: "write the HTML page of a saved bench result (--out, or --json output saved whole)",
		Example: "  mdmsim bench --workload checkin --rate 2000 --duration 30s --out checkin.json\n" +
			"  mdmsim report html checkin.json --out checkin.html",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("want one result file, have %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageErrorf("--out is required: the HTML file to write")
			}
			res, err := readResult(args[0])
			if err != nil {
				return usageErrorf("%v", err)
			}
			if err := writeHTML(out, res); err != nil {
				return cannotRun(fmt.Errorf("--out: %w", err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the HTML file to write")
	return cmd
}
