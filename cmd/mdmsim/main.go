// Command mdmsim runs simulated Apple devices against an MDM server, and the
// mock Apple services they need.
//
// Every verb is a cobra command built in its own file (newRunCmd in run.go,
// …) and added to the root in newRoot, so the command stays a thin layer
// over the library packages. Every verb validates its flags before it does
// anything and ends with one of the exit codes below.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mdmsim/mdmsim/clock"
)

// Exit codes, the same for every verb (exitCodesHelp documents them).
const (
	// exitOK: the command did what it was asked and found nothing wrong.
	exitOK = 0
	// exitFailed: the run found failures (devices that did not comply for
	// a reason the fleet does not explain, specs that failed, a benchmark
	// that regressed or errored).
	exitFailed = 1
	// exitUsage: the command line is wrong; nothing was run.
	exitUsage = 2
	// exitCannotRun: the run could not start or go on: the target is
	// unreachable, a mock could not listen, the fleet would not fit in
	// memory, a file could not be written.
	exitCannotRun = 3
	// exitInterrupted (130, or 143 for SIGTERM) is 128 plus the signal
	// that stopped the run; the report printed is partial.
	exitInterrupted = 130
)

const exitCodesHelp = `Exit codes (every command):
  0    all good
  1    the run found failures (see the report)
  2    usage error: a flag or argument is wrong; nothing was run
  3    could not run: target unreachable, a port taken, not enough memory, a file not written
  130  stopped by Ctrl-C (143: SIGTERM); the report printed is partial`

// wall measures how long a job took on the wall clock, whatever virtual
// clock its devices run on.
var wall = clock.Real()

// exitError carries an exit code out of a command; err, when set, is
// printed as one line on stderr.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is a wrong command line: exit 2.
func usageErrorf(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// cannotRun is a run that could not start or go on: exit 3.
func cannotRun(err error) error { return &exitError{code: exitCannotRun, err: err} }

// runFailed is a run that found failures: exit 1, with err printed when set.
func runFailed(err error) error { return &exitError{code: exitFailed, err: err} }

// exitWith ends with code and prints nothing more: the report said it.
func exitWith(code int) error {
	if code == exitOK {
		return nil
	}
	return &exitError{code: code}
}

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}

// execute runs the command line args and returns the exit code.
func execute(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), oneLine(ee.err))
		}
		return ee.code
	}
	// What cobra found wrong with the command line: an unknown command or
	// flag, a flag's value, arguments.
	fmt.Fprintf(stderr, "%s: %v (see %s --help)\n", cmd.CommandPath(), oneLine(err), cmd.CommandPath())
	return exitUsage
}

// oneLine folds an error's lines (cobra's suggestions, a YAML decoder's
// list) into one.
func oneLine(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	s := strings.Join(slices.DeleteFunc(lines, func(l string) bool { return l == "" }), "; ")
	return strings.TrimSuffix(strings.ReplaceAll(s, ":;", ":"), ".")
}

// newRoot builds the command tree.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "mdmsim",
		Short: "simulated Apple devices against an MDM server",
		Long: `mdmsim runs a fleet of simulated Macs, iPhones and iPads that speak the MDM
check-in and command protocol and declarative device management against an
MDM server (the embedded NanoMDM + KMFDDM stack by default), with mock APNs
and GDMF services, and reports what the server made of them.

` + exitCodesHelp,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("a command is required (see mdmsim --help)")
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SuggestionsMinimumDistance = 2
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s (see %s --help)", oneLine(err), cmd.CommandPath())}
	})
	root.SetVersionTemplate("mdmsim {{.Version}}\n")
	root.AddCommand(
		newRunCmd(),
		newConformanceCmd(),
		newBenchCmd(),
		newTargetCmd(),
		newAPNsCmd(),
		newGDMFCmd(),
		newReportCmd(),
		newScenariosCmd(),
		newQuirksCmd(),
		newVersionCmd(),
	)
	// Help for a command is asked for, not an error: exit 0, on stdout.
	root.SetHelpCommand(&cobra.Command{Hidden: true, Use: "help [command]", Short: "help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, _, err := c.Root().Find(args)
			if cmd == nil || err != nil {
				return usageErrorf("unknown help topic %q", strings.Join(args, " "))
			}
			return cmd.Help()
		}})
	return root
}

// noArgs refuses positional arguments with a clear message.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			hint := ""
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = fmt.Sprintf("; did you mean %s?", s[0])
			}
			return usageErrorf("unknown command %q (commands: %s)%s", args[0], strings.Join(subcommandNames(cmd), ", "), hint)
		}
		return usageErrorf("unexpected arguments %q: %s takes flags only", args, cmd.CommandPath())
	}
	return nil
}

func subcommandNames(cmd *cobra.Command) []string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return names
}

// group is a command that only holds subcommands (apns, gdmf, target,
// report): run alone it is a usage error.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("a subcommand is required: %s", strings.Join(subcommandNames(cmd), ", "))
		},
	}
	c.SuggestionsMinimumDistance = 2
	c.AddCommand(subs...)
	return c
}
