package store_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/fleet/store"
	"github.com/mdmsim/mdmsim/simulator"
)

// The child process of TestKillNineResume: it opens the state in
// $STORE_CHILD_DIR, resumes what is there, enrolls the rest of the fleet
// in $STORE_CHILD_URL printing "enrolled UDID" as each enrollment is
// counted, then checks every device in and prints the report.
const (
	envChild   = "STORE_CHILD_DIR"
	envURL     = "STORE_CHILD_URL"
	killFleet  = 60
	killAfter  = 20 // enrollments counted before the kill
	childNoise = "child:"
)

func TestStoreChild(t *testing.T) {
	dir := os.Getenv(envChild)
	if dir == "" {
		t.Skip("the child process of TestKillNineResume")
	}
	if err := runChild(dir, os.Getenv(envURL)); err != nil {
		fmt.Println(childNoise, "error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runChild(dir, url string) error {
	st, err := store.Open(dir, store.Fleet{Seed: testSeed, Devices: killFleet, Target: "test"})
	if err != nil {
		return err
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
		out.Unlock()
	}
	f, err := fleet.New(fleet.Config{Devices: killFleet, Seed: testSeed, Concurrency: 2}, simulator.WithStateSink(st),
		simulator.WithEvents(func(e simulator.Event) {
			if e.Kind == simulator.EventEnrolled {
				say("enrolled %s", e.UDID)
			}
		}))
	if err != nil {
		return err
	}
	restored, err := st.Resume(f)
	if err != nil {
		return err
	}
	say("restored %d", restored)
	ctx := context.Background()
	if _, err := f.Enroll(ctx, profileFor(url), mint(uint64(restored)+1)); err != nil {
		return err
	}
	answered := 0
	for _, d := range f.Devices() {
		if err := d.Connect(ctx); err != nil {
			return fmt.Errorf("%s: %w", d.UDID(), err)
		}
		answered++
	}
	if err := st.Close(); err != nil {
		return err
	}
	say("report enrolled=%d answered=%d", f.Counters().Enrolled.Load(), answered)
	return nil
}

// TestKillNineResume kills a fleet with SIGKILL while it enrolls, restarts
// it on the same state, and checks that every device the first run counted
// enrolled came back with the same identity (the server knows its
// certificate), that every device answers the server, and that the final
// report counts every device once.
func TestKillNineResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two child processes")
	}
	t.Parallel()
	srv := newServer()
	srv.delay = 5 * time.Millisecond
	// The first run cannot enroll more than killAfter devices before it
	// is killed, however fast the machine: the rest wait for hold.
	srv.holdAfter, srv.hold = killAfter, make(chan struct{})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dir := t.TempDir()

	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStoreChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envChild+"="+dir, envURL+"="+ts.URL)
		cmd.Stderr = os.Stderr
		return cmd
	}

	// First run: killed once killAfter enrollments are counted.
	first := child()
	stdout, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	counted := map[string]bool{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if udid, ok := strings.CutPrefix(sc.Text(), "enrolled "); ok {
			counted[udid] = true
			if len(counted) == killAfter {
				break
			}
		}
	}
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	if len(counted) < killAfter {
		t.Fatalf("the first run counted %d enrollments before it ended, want %d", len(counted), killAfter)
	}
	srv.mu.Lock()
	certs := map[string]string{}
	for udid, d := range srv.devices {
		certs[udid] = string(d.cert)
	}
	srv.mu.Unlock()
	if len(certs) >= killFleet {
		t.Fatalf("the server holds %d devices at the kill: it came too late", len(certs))
	}
	close(srv.hold)

	// Second run: resumes and finishes.
	second := child()
	out, err := second.Output()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	var restored int
	var report string
	for _, line := range strings.Split(string(out), "\n") {
		if r, ok := strings.CutPrefix(line, "restored "); ok {
			fmt.Sscan(r, &restored)
		}
		if r, ok := strings.CutPrefix(line, "report "); ok {
			report = r
		}
		if udid, ok := strings.CutPrefix(line, "enrolled "); ok && counted[udid] {
			t.Errorf("%s enrolled again after the kill", udid)
		}
	}
	if restored < len(counted) {
		t.Errorf("restored %d devices, the first run counted %d", restored, len(counted))
	}
	if want := fmt.Sprintf("enrolled=%d answered=%d", killFleet, killFleet); report != want {
		t.Errorf("report %q, want %q", report, want)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.devices) != killFleet {
		t.Errorf("the server holds %d devices, want %d", len(srv.devices), killFleet)
	}
	for udid := range counted {
		d := srv.devices[udid]
		if d == nil || d.authenticates != 1 || string(d.cert) != certs[udid] || d.idles != 1 {
			t.Errorf("%s: counted before the kill, but the server has %+v", udid, d)
		}
	}
	for udid, d := range srv.devices {
		if d.idles != 1 || d.badIdles != 0 {
			t.Errorf("%s: %d Idle answered, %d refused; want 1, 0", udid, d.idles, d.badIdles)
		}
	}
}
