package null_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/targets"
	"github.com/mdmsim/mdmsim/scenarios/targets/null"
)

func newWorld(t *testing.T) *scenarios.World {
	t.Helper()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestEnrollAndCommand(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := newWorld(t)
	tgt, err := null.New(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	if got := scenarios.Capabilities(tgt); len(got) != 1 || got[0] != scenarios.CapCommands {
		t.Errorf("capabilities: have %v, want [commands]", got)
	}
	r, err := jobs.Attach(ctx, jobs.Config{Devices: 6, Seed: 3}, w, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if r.Fleet.Enrolled != 6 || tgt.Enrolled() != 6 {
		t.Fatalf("enrolled: fleet %d, server %d, want 6", r.Fleet.Enrolled, tgt.Enrolled())
	}
	sum, err := jobs.DeviceInformation(ctx, r, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.OK() {
		t.Fatalf("summary: %+v", sum)
	}
	st := tgt.Stats()
	if st.Authenticate != 6 || st.TokenUpdate != 6 || st.Pushes != 6 || st.PushErrors != 0 || st.CommandsSent != 6 {
		t.Errorf("stats: %+v", st)
	}
	udid := r.Fleet.EnrolledUDIDs()[0]
	if s, ok := tgt.Result(udid, jobs.DeviceInfoCommandUUID(3)); !ok || s != "Acknowledged" {
		t.Errorf("result of %s: have %q %v, want Acknowledged", udid, s, ok)
	}
	// An idle check-in with nothing queued is answered empty.
	d, _ := r.Fleet.Device(udid)
	if err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if tgt.Stats().Idle < 7 {
		t.Errorf("idle: have %d, want at least 7", tgt.Stats().Idle)
	}
	// Unenrolling sends CheckOut, which forgets the device.
	if err := d.Unenroll(ctx); err != nil {
		t.Fatal(err)
	}
	if tgt.Enrolled() != 5 || tgt.Stats().CheckOut != 1 {
		t.Errorf("after CheckOut: enrolled %d, check-outs %d", tgt.Enrolled(), tgt.Stats().CheckOut)
	}
}

func TestUnsignedRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tgt, err := null.New(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	for _, path := range []string{null.PathCheckin, null.PathConnect} {
		req, _ := http.NewRequest(http.MethodPut, tgt.URL+path, strings.NewReader("<plist/>"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without Mdm-Signature: have HTTP %d, want 401", path, resp.StatusCode)
		}
	}
	if tgt.Stats().Unauthenticated != 2 {
		t.Errorf("unauthenticated: have %d, want 2", tgt.Stats().Unauthenticated)
	}
}

func TestBoundedResults(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := newWorld(t)
	tgt, err := null.New(ctx, w, null.WithMaxResults(2))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	r, err := jobs.Attach(ctx, jobs.Config{Devices: 4, Seed: 5}, w, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.DeviceInformation(ctx, r, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := tgt.Stats(); st.Results != 4 || st.ResultsDropped != 2 {
		t.Errorf("results %d, dropped %d; want 4 and 2", st.Results, st.ResultsDropped)
	}
}

func TestOpenByName(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tgt, err := targets.Open(context.Background(), targets.Null, w, targets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	if tgt.Name() != "null" {
		t.Errorf("name: have %q", tgt.Name())
	}
}
