package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdmsim/mdmsim/fleet/store"
)

// TestRunState: --state writes the fleet's state; a second run on it
// against the in-process null target, which died with the first, cannot
// run (exit 3) and says why, as does a run of another fleet; a file given
// as the directory is a usage error (exit 2).
func TestRunState(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	run := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := execute(append([]string{"run", "--target", "null", "--state", dir}, args...), &stdout, &stderr)
		return code, stderr.String()
	}
	if code, stderr := run("--devices", "5"); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	info, ok, err := store.Peek(dir)
	if err != nil || !ok || info.Devices != 5 || info.Fleet.Seed != 1 {
		t.Fatalf("state after the run: %+v, %v, %v", info, ok, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--devices", "5"}, "resuming needs a server outside the process"},
		{[]string{"--devices", "6"}, "another fleet"},
	} {
		if code, stderr := run(tt.args...); code != 3 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 3 and %q", tt.args, code, stderr, tt.want)
		}
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := execute([]string{"run", "--state", file}, &stdout, &stderr); code != 2 {
		t.Errorf("--state FILE: exit %d, want 2: %s", code, stderr.String())
	}
}
