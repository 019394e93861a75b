package refmdm_test

import (
	"context"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/mockapns"
	"github.com/mdmsim/mdmsim/simulator"
)

// TestPushFailuresReachTheServer: an APNs failure injected in the mock is
// what NanoMDM's push client reports through the API, the device is not
// woken, and once the fault is gone the next push gets the command through.
func TestPushFailuresReachTheServer(t *testing.T) {
	t.Parallel()
	stack := startStack(t)
	env := simulator.NewEnv(simulator.WithPushService(stack.APNs()), simulator.WithHTTPClient(stack.HTTPClient()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	profile, err := env.FetchProfile(ctx, stack.EnrollURL())
	if err != nil {
		t.Fatal(err)
	}
	d := newDevice(t, env, 5, catalog.IOS)
	ident, _ := stack.MintIdentity(d.UDID())
	if err := d.EnrollWithIdentity(ctx, profile, ident); err != nil {
		t.Fatal(err)
	}
	token, _, _ := d.PushToken()
	if err := stack.APNs().FailToken(token, mockapns.ReasonUnregistered); err != nil {
		t.Fatal(err)
	}
	res, err := stack.Enqueue(ctx, []string{d.UDID()}, "c-fail", "SecurityInfo", nil)
	if err == nil || res.Status[d.UDID()].PushError == "" {
		t.Fatalf("push through a failing APNs: err %v, status %+v", err, res.Status)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(stack.ResultsFor("c-fail")); n != 0 || d.Stats().Sessions != 0 {
		t.Fatalf("device answered %d times without a push (sessions %d)", n, d.Stats().Sessions)
	}

	stack.APNs().ClearFaults()
	if _, err := stack.API().Push(ctx, []string{d.UDID()}); err != nil {
		t.Fatal(err)
	}
	if err := stack.WaitResults(ctx, "c-fail", 1); err != nil {
		t.Fatalf("queued command after the fault cleared: %v", err)
	}
	if st := stack.APNs().Stats(); st.Delivered() < 1 {
		t.Fatalf("mock APNs stats: %+v", st)
	}
}
