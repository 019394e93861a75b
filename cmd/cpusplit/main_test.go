package main

import (
	"bytes"
	"strings"
	"testing"
)

// Bad flags are refused before anything is built or started.
func TestFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--kinds", "dsa"}, {"--devices", "-3"}, {"extra"}, {"--no-such-flag"}} {
		var out, errs bytes.Buffer
		if code := run(args, &out, &errs); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errs.String())
		}
		if out.Len() > 0 {
			t.Errorf("%v: printed %q", args, out.String())
		}
	}
	var out, errs bytes.Buffer
	run([]string{"--kinds", "dsa"}, &out, &errs)
	if !strings.Contains(errs.String(), `unknown identity kind "dsa"`) {
		t.Errorf("have %q", errs.String())
	}
}
