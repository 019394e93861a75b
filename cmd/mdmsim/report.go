package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newReportCmd() *cobra.Command {
	return group("report", "work with saved results: render a bench result as an HTML page", newReportHTMLCmd())
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
