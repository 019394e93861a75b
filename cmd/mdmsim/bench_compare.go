package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/bench/report"
)

// benchCompareMain is `mdmsim bench compare [flags] old.json new.json`: the
// bench verb dispatches its "compare" argument here. It prints per
// operation the change in rate, latency and errors, then CPU and memory,
// and exits 1 when a figure got worse by more than --threshold, 2 on a
// usage error or an unreadable run, 0 otherwise.
func benchCompareMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mdmsim bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	threshold := thresholdFlag(report.DefaultThreshold)
	fs.Var(&threshold, "threshold", `relative change that counts as a regression: "10%" (or "10")`)
	asJSON := fs.Bool("json", false, "print the comparison as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mdmsim bench compare [--threshold 10%] [--json] old.json new.json")
		fs.PrintDefaults()
	}
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(paths) != 2 {
		fmt.Fprintf(stderr, "mdmsim bench compare: want two result files (old, new), have %d\n", len(paths))
		fs.Usage()
		return 2
	}
	old, err := readResult(paths[0])
	if err != nil {
		fmt.Fprintf(stderr, "mdmsim bench compare: %v\n", err)
		return 2
	}
	new, err := readResult(paths[1])
	if err != nil {
		fmt.Fprintf(stderr, "mdmsim bench compare: %v\n", err)
		return 2
	}
	c := report.Compare(old, new)
	c.Threshold = float64(threshold)
	regs := c.Regressions()
	if *asJSON {
		out := struct {
			report.Comparison
			Regressions []string `json:"regressions"`
		}{Comparison: c, Regressions: []string{}}
		for _, r := range regs {
			out.Regressions = append(out.Regressions, r.String())
		}
		data, err := json.Marshal(out)
		if err != nil {
			fmt.Fprintf(stderr, "mdmsim bench compare: %v\n", err)
			return 2
		}
		fmt.Fprintf(stdout, "%s\n", data)
	} else {
		fmt.Fprintf(stdout, "old: %s\nnew: %s\n\n", paths[0], paths[1])
		if err := c.WriteText(stdout); err != nil {
			fmt.Fprintf(stderr, "mdmsim bench compare: %v\n", err)
			return 2
		}
	}
	if len(regs) > 0 {
		return 1
	}
	return 0
}

// parseInterleaved parses flags wherever they stand, so both
// `compare --threshold 5% a b` and `compare a b --threshold 5%` work.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func readResult(path string) (*bench.Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// `mdmsim bench --json` prints the Result as its last line; accept
	// such output saved whole, as well as a file of the Result alone.
	text := strings.TrimSpace(string(data))
	if i := strings.LastIndexByte(text, '\n'); i >= 0 && !json.Valid([]byte(text)) {
		text = text[i+1:]
	}
	var r bench.Result
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		return nil, fmt.Errorf("%s: not a bench result: %w", path, err)
	}
	if r.Schema > bench.SchemaVersion {
		return nil, fmt.Errorf("%s: schema %d is newer than this mdmsim reads (%d)", path, r.Schema, bench.SchemaVersion)
	}
	return &r, nil
}

// thresholdFlag is a fraction written as a percentage: "10%" and "10" are
// both 0.1.
type thresholdFlag float64

func (t *thresholdFlag) String() string {
	return strconv.FormatFloat(float64(*t)*100, 'f', -1, 64) + "%"
}

func (t *thresholdFlag) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 || v != v {
		return fmt.Errorf("want a percentage like 10%%, have %q", s)
	}
	*t = thresholdFlag(v / 100)
	return nil
}
