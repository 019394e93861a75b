package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

func newTargetCmd() *cobra.Command {
	return group("target", "check that a target (an MDM server) works with the simulated devices", newTargetCheckCmd())
}

func newTargetCheckCmd() *cobra.Command {
	var (
		tf   *targetFlags
		out  outputFlags
		wait time.Duration
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "try a target step by step: reach its API, enroll one device, send it a command, see the push and the answer",
		Long: `Try a target step by step — reach its API, enroll one device from its profile,
send it a command, see the push arrive and the answer come back — and name
what fails, with a hint. Exit 1 when a step fails.

` + exitCodesHelp,
		Example: "  mdmsim target check --target nanomdm.yaml --apns-proxy 127.0.0.1:3128",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if err := tf.checkTarget(); err != nil {
				return err
			}
			if wait <= 0 {
				return usageErrorf("--wait must be positive, have %v", wait)
			}
			return targetCheck(tf, out, wait, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	tf = addTargetFlags(fs, targets.Embedded)
	fs.BoolVar(&out.json, "json", false, "print the report as JSON")
	addLogFlags(fs, &out)
	fs.DurationVar(&wait, "wait", jobs.DefaultCheckWait, "how long each step waits for the server and the device")
	return cmd
}

func targetCheck(tf *targetFlags, out outputFlags, wait time.Duration, stdout, stderr io.Writer) error {
	sig, stop := withSignals(context.Background(), stderr)
	defer stop()
	ctx, cancel := context.WithTimeout(sig, 5*time.Minute+4*wait)
	defer cancel()
	cfg := jobs.Config{}
	cfg.Logger, cfg.ServerLogger = out.loggers(stderr)
	tf.jobConfig(&cfg)
	rep := jobs.Check(ctx, cfg, wait)
	if out.json {
		b, _ := json.Marshal(rep)
		fmt.Fprintln(stdout, string(b))
	} else {
		for _, s := range rep.Steps {
			mark := "ok  "
			switch {
			case s.Skipped:
				mark = "skip"
			case !s.OK:
				mark = "FAIL"
			}
			line := fmt.Sprintf("%s %s", mark, s.Name)
			if s.Detail != "" {
				line += ": " + s.Detail
			}
			fmt.Fprintln(stdout, line)
			if s.Error != "" {
				fmt.Fprintln(stdout, "     error:", s.Error)
			}
			if s.Hint != "" {
				fmt.Fprintln(stdout, "     hint: ", s.Hint)
			}
		}
	}
	if code := sig.exitCode(0); code != 0 {
		return exitWith(code)
	}
	if !rep.OK() {
		if len(rep.Steps) > 0 && !rep.Steps[0].OK && !rep.Steps[0].Skipped {
			// The server could not be reached at all.
			return exitWith(exitCannotRun)
		}
		return exitWith(exitFailed)
	}
	return nil
}
