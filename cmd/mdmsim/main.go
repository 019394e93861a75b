// Command mdmsim runs simulated Apple devices against an MDM server, and the
// mock Apple services they need.
//
// Each subcommand lives in its own file and registers itself in init, so the
// command stays a thin layer over the library packages.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/mdmsim/mdmsim/clock"
)

// subcommand is one verb of the CLI: it parses its own flags from args and
// returns the process exit code.
type subcommand struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var subcommands = map[string]subcommand{}

// wall measures how long a job took on the wall clock, whatever virtual
// clock its devices run on.
var wall = clock.Real()

// register adds a subcommand; it is called from init functions only.
func register(name, summary string, run func(args []string, stdout, stderr io.Writer) int) {
	if _, dup := subcommands[name]; dup {
		panic("mdmsim: subcommand registered twice: " + name)
	}
	subcommands[name] = subcommand{summary: summary, run: run}
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sc, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "mdmsim: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return sc.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mdmsim <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, subcommands[n].summary)
	}
}
