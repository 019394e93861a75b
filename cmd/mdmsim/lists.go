package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mdmsim/mdmsim/simulator/update"
)

// scenarioDefault is `mdmsim run`'s job when --scenario is not given.
const scenarioDefault = "default"

// scenarioInfo is one scenario of `mdmsim run`: its name, what it does,
// and the flags of run that only it reads.
type scenarioInfo struct {
	name    string
	summary string
	flags   []string
}

// scenarioTable is every scenario `mdmsim run --scenario` knows: the CLI
// checks flags against it and `mdmsim scenarios` prints it.
var scenarioTable = []scenarioInfo{
	{scenarioDefault, "enroll the fleet and send every device DeviceInformation with a push; exit 1 unless every device enrolled and answered", nil},
	{scenarioLegacyUpdate, "the reference enforcer brings every device to its newest OS with ScheduleOSUpdateScan, AvailableOSUpdates, ScheduleOSUpdate and OSUpdateStatus, for a week of virtual time; exit 1 when a device is left behind for a reason the fleet does not explain",
		[]string{"speed", "deadline", "escalate", "quirks", "cooperative", "population"}},
	{scenarioDDMDeadline, "the reference DDM enforcer sends every device a softwareupdate.enforcement.specific declaration with a local deadline a week away and reads compliance from status reports; exit 1 when a device is late or left behind for a reason the fleet does not explain",
		[]string{"speed", "off", "lead", "cooperative", "population"}},
}

func lookupScenario(name string) (scenarioInfo, bool) {
	if name == "" {
		name = scenarioDefault
	}
	i := slices.IndexFunc(scenarioTable, func(s scenarioInfo) bool { return s.name == name })
	if i < 0 {
		return scenarioInfo{}, false
	}
	return scenarioTable[i], true
}

func scenarioNames() []string {
	names := make([]string, len(scenarioTable))
	for i, s := range scenarioTable {
		names[i] = s.name
	}
	return names
}

// scenarioFlagNames are the flags of run that belong to some scenarios.
func scenarioFlagNames() []string {
	var names []string
	for _, s := range scenarioTable {
		for _, f := range s.flags {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
	}
	return names
}

// scenariosWithFlag names the scenarios that read flag: "--scenario a or b".
func scenariosWithFlag(flag string) string {
	var names []string
	for _, s := range scenarioTable {
		if slices.Contains(s.flags, flag) {
			names = append(names, s.name)
		}
	}
	return "--scenario " + joinNames(names)
}

// listCmd is a verb that prints one of the code's tables, as text or,
// with --json, as JSON.
func listCmd(use, short string, print func(w io.Writer, asJSON bool) error) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return print(cmd.OutOrStdout(), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print it as JSON")
	return cmd
}

func newScenariosCmd() *cobra.Command {
	return listCmd("scenarios", "list the scenarios of mdmsim run, with their own flags", printScenarios)
}

// scenarioDoc is a scenario as `mdmsim scenarios --json` prints it.
type scenarioDoc struct {
	Name    string    `json:"name"`
	Summary string    `json:"summary"`
	Flags   []flagDoc `json:"flags"`
}

type flagDoc struct {
	Name    string `json:"name"`
	Default string `json:"default"`
	Usage   string `json:"usage"`
}

func printScenarios(w io.Writer, asJSON bool) error {
	// The flags' help is that of mdmsim run itself.
	run := newRunCmd().Flags()
	docs := make([]scenarioDoc, 0, len(scenarioTable))
	for _, s := range scenarioTable {
		d := scenarioDoc{Name: s.name, Summary: s.summary, Flags: []flagDoc{}}
		for _, name := range s.flags {
			d.Flags = append(d.Flags, docOf(run.Lookup(name)))
		}
		docs = append(docs, d)
	}
	if asJSON {
		b, err := json.Marshal(docs)
		if err != nil {
			return cannotRun(err)
		}
		fmt.Fprintln(w, string(b))
		return nil
	}
	for i, d := range docs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\n  %s\n", d.Name, d.Summary)
		for _, f := range d.Flags {
			fmt.Fprintf(w, "  --%-12s %s (default %s)\n", f.Name, f.Usage, f.Default)
		}
	}
	return nil
}

func docOf(f *pflag.Flag) flagDoc {
	if f == nil {
		panic("mdmsim: scenarioTable names a flag run does not have")
	}
	def := f.DefValue
	if def == "" {
		def = `""`
	}
	return flagDoc{Name: f.Name, Default: def, Usage: f.Usage}
}

func newQuirksCmd() *cobra.Command {
	return listCmd("quirks", "list the device quirks --quirks switches on, one line each", printQuirks)
}

// quirkDoc is a quirk as `mdmsim quirks --json` prints it.
type quirkDoc struct {
	Name     string `json:"name"`
	ID       string `json:"id"`
	Platform string `json:"platform"`
	Default  bool   `json:"default"`
	Observed string `json:"observed"`
	Doc      string `json:"doc"`
}

func printQuirks(w io.Writer, asJSON bool) error {
	var docs []quirkDoc
	for _, q := range update.Quirks() {
		p := string(q.Platform)
		if p == "" {
			p = "all"
		}
		docs = append(docs, quirkDoc{Name: q.Name, ID: q.ID, Platform: p, Default: q.Default, Observed: q.Observed, Doc: q.Doc})
	}
	if asJSON {
		b, err := json.Marshal(docs)
		if err != nil {
			return cannotRun(err)
		}
		fmt.Fprintln(w, string(b))
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tPLATFORM\tDEFAULT\tWHAT THE DEVICE DOES")
	for _, d := range docs {
		def := "off"
		if d.Default {
			def = "on"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.ID, d.Platform, def, d.Doc)
	}
	if err := tw.Flush(); err != nil {
		return cannotRun(err)
	}
	fmt.Fprintln(w, "\nSwitch them on for a share of the fleet: mdmsim run --scenario legacy-update --quirks prepare-stall=0.1,available-empty=0.05")
	return nil
}

// buildInfo is what `mdmsim version` says of the binary.
type buildInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := info.Main.Version; v != "" {
		b.Version = v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// versionString is the one line `mdmsim --version` prints after "mdmsim".
func versionString() string {
	b := readBuildInfo()
	var extra []string
	if b.Revision != "" {
		rev := b.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if b.Modified {
			rev += "+modified"
		}
		extra = append(extra, rev)
	}
	if b.Time != "" {
		extra = append(extra, b.Time)
	}
	extra = append(extra, b.Go, b.Platform)
	return b.Version + " (" + strings.Join(extra, ", ") + ")"
}

func newVersionCmd() *cobra.Command {
	return listCmd("version", "print the version of mdmsim, its commit and Go", func(w io.Writer, asJSON bool) error {
		if asJSON {
			b, _ := json.Marshal(readBuildInfo())
			fmt.Fprintln(w, string(b))
			return nil
		}
		fmt.Fprintln(w, "mdmsim "+versionString())
		return nil
	})
}
