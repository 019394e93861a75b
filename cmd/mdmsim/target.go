package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

func init() {
	register("target", "check that a target (an MDM server) works with the simulated devices: mdmsim target check --target FILE", targetMain)
}

func targetMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "usage: mdmsim target check --target FILE|embedded [--json] [--wait D]")
			return 0
		}
		fmt.Fprintln(stderr, "usage: mdmsim target check --target FILE|embedded [--json] [--wait D]")
		return 2
	}
	fs := flag.NewFlagSet("mdmsim target check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tf := addTargetFlags(fs, targets.Embedded)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	wait := fs.Duration("wait", jobs.DefaultCheckWait, "how long each step waits for the server and the device")
	verbose := fs.Bool("v", false, "log the devices' activity to stderr")
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mdmsim target check: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *wait <= 0 {
		fmt.Fprintln(stderr, "mdmsim target check: --wait must be positive")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute+4**wait)
	defer cancel()
	o := runOptions{verbose: *verbose}
	cfg := jobs.Config{Logger: jobLogger(o, stderr)}
	tf.jobConfig(&cfg)
	rep := jobs.Check(ctx, cfg, *wait)
	if *asJSON {
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
	if !rep.OK() {
		return 1
	}
	return 0
}
