package simulator

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestUpdateWithDebugLog runs an install with the device's debug log on:
// each phase change writes a line with the device's UDID while the device
// is locked, which must not wait for its own lock.
func TestUpdateWithDebugLog(t *testing.T) {
	t.Parallel()
	r := newRig(t, mac26)
	var buf bytes.Buffer
	r.d.env.logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	out := r.run(time.Hour, []scripted{{atStart, item("InstallASAP")}})
	if last := out[len(out)-1]; last != "version 26.6.2 (25G83)" {
		t.Errorf("ended with %q, want the update installed", last)
	}
	for _, phase := range []string{"phase=downloading", "phase=installing"} {
		if !strings.Contains(buf.String(), `msg="device update" udid=RIG-Mac14,2 `+phase) {
			t.Errorf("no debug line for %s in:\n%s", phase, buf.String())
		}
	}
}
