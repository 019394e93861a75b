package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The README's examples are transcripts of the binary: every console block
// that runs mdmsim is preceded by a marker that says how it is checked,
//
//	<!-- transcript: exact -->          the output, as printed
//	<!-- transcript: shape -->          the same lines, whatever the figures
//	<!-- transcript: skip REASON -->    not run here, and why
//
// and TestREADMETranscripts runs the binary as the README shows it and
// compares. exact still allows what changes from run to run whatever the
// seed: wall times, ports, the stack's push topic. shape compares the
// lines with every figure masked, in order; a line of the README may be
// missing from the output only when it says how the CPU split (a sample).

// transcript is one console block of the README.
type transcript struct {
	line    int // of the block's opening fence
	mode    string
	reason  string
	command []transcriptStep
}

// transcriptStep is a "$ command" line and the output that follows it.
type transcriptStep struct {
	cmd  string
	want []string
}

var markerRE = regexp.MustCompile(`^<!-- transcript: (exact|shape|skip)(?: (.*))? -->$`)

func readTranscripts(t *testing.T, path string) []transcript {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out      []transcript
		marker   []string
		inBlock  bool
		cur      *transcript
		lastText string
		n        int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case !inBlock && line == "```console":
			inBlock = true
			cur = &transcript{line: n}
			if marker != nil {
				cur.mode, cur.reason = marker[1], marker[2]
			}
		case inBlock && line == "```":
			inBlock = false
			for i := range cur.command {
				// The blank line that parts one command from the next.
				w := cur.command[i].want
				for len(w) > 0 && strings.TrimSpace(w[len(w)-1]) == "" {
					w = w[:len(w)-1]
				}
				cur.command[i].want = w
			}
			out = append(out, *cur)
			cur = nil
		case inBlock && strings.HasPrefix(line, "$ "):
			cur.command = append(cur.command, transcriptStep{cmd: strings.TrimPrefix(line, "$ ")})
		case inBlock:
			if len(cur.command) == 0 {
				t.Fatalf("%s:%d: console block output before a $ line", path, n)
			}
			s := &cur.command[len(cur.command)-1]
			s.want = append(s.want, line)
		}
		if !inBlock {
			if strings.TrimSpace(line) != "" {
				lastText = line
			}
			marker = markerRE.FindStringSubmatch(lastText)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// runsMDMSIM reports whether a block runs the binary.
func (tr transcript) runsMDMSIM() bool {
	for _, s := range tr.command {
		if strings.Contains(s.cmd, "mdmsim ") {
			return true
		}
	}
	return false
}

var (
	// Figures that change from run to run whatever the seed.
	volatile = []struct {
		re   *regexp.Regexp
		with string
	}{
		{regexp.MustCompile(`"wall_seconds":[0-9.]+`), `"wall_seconds":W`},
		{regexp.MustCompile(`\bin [0-9]+\.[0-9]+s\b`), "in Ws"},
		{regexp.MustCompile(`https://127\.0\.0\.1:[0-9]+`), "https://127.0.0.1:PORT"},
		{regexp.MustCompile(`[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}`), "UUID"},
	}
	// A figure: a number with its unit, or a duration of several units.
	figureRE = regexp.MustCompile(`[0-9][0-9.]*(?:µs|ms|ns|h|m|s|%|k|M)?(?:[0-9.]+(?:µs|ms|ns|h|m|s))*`)
	spaceRE  = regexp.MustCompile(`\s+`)
)

func normalizeExact(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return strings.TrimRight(s, " ")
}

func normalizeShape(s string) string {
	s = normalizeExact(s)
	s = figureRE.ReplaceAllString(s, "#")
	return strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
}

// run runs a README command line with the binary built from this tree:
// "mdmsim ARGS" or "go run ./cmd/mdmsim ARGS", optionally "| tail -1",
// and returns what a terminal shows: stderr, then stdout (its last line
// when piped to tail), and the exit code.
func runREADME(t *testing.T, bin, line string) ([]string, int) {
	t.Helper()
	tail := false
	if before, ok := strings.CutSuffix(line, " | tail -1"); ok {
		line, tail = before, true
	}
	line = strings.Replace(line, "go run ./cmd/mdmsim", "mdmsim", 1)
	args, err := splitArgs(line)
	if err != nil || len(args) == 0 || args[0] != "mdmsim" {
		t.Fatalf("README command %q: not an mdmsim command line (%v)", line, err)
	}
	cmd := exec.Command(bin, args[1:]...)
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if code < 0 {
		t.Fatalf("%s: %v", line, runErr)
	}
	out := lines(stderr.String())
	so := lines(stdout.String())
	if tail && len(so) > 0 {
		so = so[len(so)-1:]
	}
	return append(out, so...), code
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// splitArgs splits a command line on spaces, with single quotes.
func splitArgs(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		in    bool
		quote bool
	)
	for _, r := range s {
		switch {
		case r == '\'':
			quote, in = !quote, true
		case r == ' ' && !quote:
			if in {
				args = append(args, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote {
		return nil, fmt.Errorf("unterminated quote")
	}
	if in {
		args = append(args, cur.String())
	}
	return args, nil
}

// TestREADMETranscripts: the README's examples are what the binary prints.
func TestREADMETranscripts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	trs := readTranscripts(t, "../../README.md")
	checked := 0
	for _, tr := range trs {
		if !tr.runsMDMSIM() {
			continue
		}
		name := fmt.Sprintf("README.md:%d", tr.line)
		switch tr.mode {
		case "":
			t.Errorf("%s: a console block that runs mdmsim has no <!-- transcript: exact|shape|skip --> marker", name)
			continue
		case "skip":
			if strings.TrimSpace(tr.reason) == "" {
				t.Errorf("%s: transcript: skip without a reason", name)
			}
			continue
		}
		checked++
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bin := binary(t)
			lastCode := 0
			for _, step := range tr.command {
				var got []string
				if step.cmd == "echo $?" {
					got = []string{fmt.Sprint(lastCode)}
				} else {
					got, lastCode = runREADME(t, bin, step.cmd)
				}
				if tr.mode == "exact" {
					compareExact(t, step.cmd, step.want, got)
				} else {
					compareShape(t, step.cmd, step.want, got)
				}
			}
		})
	}
	if checked == 0 {
		t.Fatal("no README transcript checked")
	}
}

func compareExact(t *testing.T, cmd string, want, got []string) {
	t.Helper()
	w := make([]string, len(want))
	for i, l := range want {
		w[i] = normalizeExact(l)
	}
	g := make([]string, len(got))
	for i, l := range got {
		g[i] = normalizeExact(l)
	}
	if strings.Join(w, "\n") != strings.Join(g, "\n") {
		t.Errorf("$ %s\nREADME:\n%s\nbinary:\n%s", cmd, strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}

// compareShape wants every README line, figures masked, in the output in
// order; the sampled CPU split may be missing.
func compareShape(t *testing.T, cmd string, want, got []string) {
	t.Helper()
	g := make([]string, len(got))
	for i, l := range got {
		g[i] = normalizeShape(l)
	}
	j := 0
	for _, l := range want {
		w := normalizeShape(l)
		k := j
		for k < len(g) && g[k] != w {
			k++
		}
		if k == len(g) {
			if strings.HasPrefix(l, "cpu by side") {
				continue
			}
			t.Errorf("$ %s\nREADME line not in the output (figures masked): %q\nbinary:\n%s", cmd, l, strings.Join(got, "\n"))
			return
		}
		j = k + 1
	}
}
