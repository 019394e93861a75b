package cpusplit

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, line string
		want       uint64
		err        bool
	}{
		{"plain", "1234 (nanomdm) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 31 0 0 20 0 9 0 100 0 0", 281, false},
		{"odd name", "77 (a) b) (c d) R 1 77 77 0 -1 0 0 0 0 0 7 5 0 0 20 0 1 0 1 0 0", 12, false},
		{"no name", "77 a R 1", 0, true},
		{"short", "77 (x) R 1 2 3", 0, true},
		{"not a number", "77 (x) R 1 77 77 0 -1 0 0 0 0 0 x 5 0", 0, true},
	} {
		got, err := parseStat([]byte(c.line))
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%s: have %d, %v; want %d, error %v", c.name, got, err, c.want, c.err)
		}
	}
}

func TestProcessCPU(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		if _, err := ProcessCPU(os.Getpid()); err == nil {
			t.Fatal("ProcessCPU works without /proc")
		}
		t.Skip("/proc/<pid>/stat is Linux's")
	}
	before, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel has counted a tick more: CPU time, not wall
	// time, is what moves it.
	x := 0
	for after := before; after == before; {
		for i := range 1 << 20 {
			x += i
		}
		if after, err = ProcessCPU(os.Getpid()); err != nil || after < before {
			t.Fatalf("have %v (%v) after %v", after, err, before)
		}
	}
	_ = x
	if _, err := ProcessCPU(1 << 30); err == nil {
		t.Error("ProcessCPU of a process that does not exist")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	c := Config{Devices: 10}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Checkins != 50 || c.Warmup != 10 || c.Workers != DefaultWorkers || len(c.Kinds) != 2 || c.SCEPCAKeySize != DefaultSCEPCAKeySize {
		t.Errorf("defaults: %+v", c)
	}
	for _, bad := range []Config{{Devices: -1}, {Checkins: -1}, {Workers: -1}, {Kinds: []Kind{"dsa"}}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// A tiny run of both kinds against the stock servers: every check-in is
// answered and both CPU figures are read. (What they are depends on the
// machine; nothing here compares them.)
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the stock servers; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("/proc/<pid>/stat is Linux's")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Devices: 4, Checkins: 40, Workers: 4, Seed: 3, KeyPoolDir: t.TempDir(), Say: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].Kind != RSA || rep.Runs[1].Kind != ECDSA {
		t.Fatalf("runs: %+v", rep.Runs)
	}
	for _, f := range rep.Runs {
		if f.Enrolled != 4 || f.Checkins != 40 || f.Errors != 0 || f.SimulatorCPU <= 0 || f.NanoMDMCPU < 0 {
			t.Errorf("%s: %+v", f.Identity, f)
		}
	}
	var b bytes.Buffer
	if err := WriteText(&b, rep); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + b.String())
	if !strings.Contains(b.String(), "RSA-2048 (SCEP)") || !strings.Contains(b.String(), "ECDSA P-256 (minted)") {
		t.Error("the table lacks a kind")
	}
}

func TestWriteText(t *testing.T) {
	t.Parallel()
	rep := &Report{NanoMDM: "v0.9.0 (-storage inmem)", GoVersion: "go1.26", NumCPU: 2, Devices: 10, Checkins: 50,
		Warmup: 10, Workers: 4, Seed: 1, SCEPCAKeySize: 2048, Runs: []Figures{
			{Identity: RSA.Label(), Checkins: 50, SimulatorMicros: 1200, NanoMDMMicros: 340, Ratio: 3.53, Goal: 1},
			{Identity: ECDSA.Label(), Checkins: 50, SimulatorMicros: 100, NanoMDMMicros: 320, Ratio: 0.31, Goal: 1.0 / 3, Met: true},
		}}
	var b bytes.Buffer
	if err := WriteText(&b, rep); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	for _, want := range []string{
		"RSA-2048 (SCEP)              50      0       0s         1200        340   3.53  ≤1.00  not met",
		"ECDSA P-256 (minted)         50      0       0s          100        320   0.31  ≤0.33  met",
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("no line %q in\n%s", want, b.String())
		}
	}
	for _, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing space: %q", l)
		}
	}
}
