package cpusplit

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// WriteText writes the report for people: the set-up, then one line per
// identity kind with each process's CPU per idle check-in, their ratio
// and the goal.
func WriteText(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "idle check-ins against stock NanoMDM %s in its own process; %s, %d CPUs\n",
		r.NanoMDM, r.GoVersion, r.NumCPU)
	fmt.Fprintf(w, "%d devices (seed %d), %d measured check-ins per kind after %d warm-up, %d in flight; SCEP CA RSA-%d\n",
		r.Devices, r.Seed, r.Checkins, r.Warmup, r.Workers, r.SCEPCAKeySize)
	row := func(cols ...any) {
		line := fmt.Sprintf("%-21s %9s %6s %8s %12s %10s %6s %6s  %s", cols...)
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	row("identity", "check-ins", "errors", "wall", "simulator µs", "nanomdm µs", "ratio", "goal", "")
	for _, f := range r.Runs {
		verdict := "met"
		if !f.Met {
			verdict = "not met"
		}
		row(f.Identity, strconv.FormatInt(f.Checkins, 10), strconv.FormatInt(f.Errors, 10),
			time.Duration(f.Wall).Round(time.Millisecond).String(), fmt.Sprintf("%.0f", f.SimulatorMicros),
			fmt.Sprintf("%.0f", f.NanoMDMMicros), fmt.Sprintf("%.2f", f.Ratio), fmt.Sprintf("≤%.2f", f.Goal), verdict)
	}
	fmt.Fprintln(w, "µs: CPU time (user + system) per answered check-in; simulator: this process (getrusage),")
	_, err := fmt.Fprintln(w, "nanomdm: the server process (/proc/<pid>/stat); ratio: simulator / nanomdm")
	return err
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
