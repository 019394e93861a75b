package refmdm_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/mockapns"
	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// enrollOne enrolls one device on the fast path and waits for the server
// to see it.
func enrollOne(ctx context.Context, t *testing.T, stack *refmdm.Stack, env *simulator.Env, seed int64) *simulator.Device {
	t.Helper()
	profile, err := env.FetchProfile(ctx, stack.EnrollURL())
	if err != nil {
		t.Fatal(err)
	}
	d := newDevice(t, env, seed, catalog.IOS)
	ident, err := stack.MintIdentity(d.UDID())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.EnrollWithIdentity(ctx, profile, ident); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestAPIsMounted: NanoMDM's and KMFDDM's HTTP APIs stay mounted, behind
// the stack's API key, for the tooling that drives the stack from outside.
func TestAPIsMounted(t *testing.T) {
	t.Parallel()
	stack := startStack(t)
	hc := stack.HTTPClient()
	for _, tc := range []struct {
		method, path, user, key string
		want                    int
	}{
		{http.MethodGet, refmdm.PathDDMAPI + "/declarations", refmdm.DDMUser, stack.APIKey, http.StatusOK},
		{http.MethodGet, refmdm.PathDDMAPI + "/declarations", refmdm.DDMUser, "wrong", http.StatusUnauthorized},
		{http.MethodGet, refmdm.PathDDMAPI + "/declarations", refmdm.DefaultUser, stack.APIKey, http.StatusUnauthorized},
		{http.MethodPut, refmdm.PathAPI + "/pushcert", refmdm.DefaultUser, "wrong", http.StatusUnauthorized},
		// An empty body is no certificate: the handler, not the auth, refuses it.
		{http.MethodPut, refmdm.PathAPI + "/pushcert", refmdm.DefaultUser, stack.APIKey, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(tc.method, stack.URL+tc.path, http.NoBody)
		req.SetBasicAuth(tc.user, tc.key)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s as %s/%s: have HTTP %d, want %d", tc.method, tc.path, tc.user, tc.key, resp.StatusCode, tc.want)
		}
	}
}

// TestPushCertStored: the push certificate stored in NanoMDM's storage is
// for the topic the profile gives devices (Start checks the storage).
func TestPushCertStored(t *testing.T) {
	t.Parallel()
	stack := startStack(t)
	p, err := protocol.ParseProfile(stack.EnrollmentProfile())
	if err != nil {
		t.Fatal(err)
	}
	if p.MDM.Topic != stack.Topic || stack.Topic == "" {
		t.Fatalf("profile topic %q, stack topic %q", p.MDM.Topic, stack.Topic)
	}
}

// TestEnqueuePushFailure: an APNs failure injected in the mock is what
// NanoMDM's push client reports to Enqueue, the device is not woken, and
// once the fault is gone the next command gets through.
func TestEnqueuePushFailure(t *testing.T) {
	t.Parallel()
	stack := startStack(t)
	env := simulator.NewEnv(simulator.WithPushService(stack.APNs()), simulator.WithHTTPClient(stack.HTTPClient()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := enrollOne(ctx, t, stack, env, 5)
	if _, err := stack.Enqueue(ctx, nil, "c-none", "SecurityInfo", nil); err == nil {
		t.Error("enqueue to no enrollment: no error")
	}
	token, _, _ := d.PushToken()
	if err := stack.APNs().FailToken(token, mockapns.ReasonUnregistered); err != nil {
		t.Fatal(err)
	}
	res, err := stack.Enqueue(ctx, []string{d.UDID()}, "c-fail", "SecurityInfo", nil)
	if err == nil || res == nil || res.Status[d.UDID()].PushError == "" {
		t.Fatalf("push through a failing APNs: err %v, result %+v", err, res)
	}
	if res.CommandUUID != "c-fail" || res.RequestType != "SecurityInfo" || res.Status[d.UDID()].CommandError != "" {
		t.Errorf("result %+v", res)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(stack.ResultsFor("c-fail")); n != 0 || d.Stats().Sessions != 0 {
		t.Fatalf("device answered %d times without a push (sessions %d)", n, d.Stats().Sessions)
	}

	stack.APNs().ClearFaults()
	res, err = stack.Enqueue(ctx, []string{d.UDID()}, "c-ok", "DeviceInformation", nil)
	if err != nil || res.Status[d.UDID()].PushResult == "" {
		t.Fatalf("enqueue after the fault cleared: %v, %+v", err, res)
	}
	// The device fetches both: the queued one first.
	if err := stack.WaitResults(ctx, "c-ok", 1); err != nil {
		t.Fatal(err)
	}
	if err := stack.WaitResults(ctx, "c-fail", 1); err != nil {
		t.Fatalf("queued command after the fault cleared: %v", err)
	}
	if r := stack.ResultsFor("c-ok")[0]; r.RequestType != "DeviceInformation" || r.Status != "Acknowledged" {
		t.Errorf("result %+v", r)
	}
}

// TestWithAPNs: a caller's mock APNs is used, survives the stack, and can
// serve another stack.
func TestWithAPNs(t *testing.T) {
	t.Parallel()
	apns := mockapns.NewServer()
	t.Cleanup(apns.Close)
	first := startStack(t, refmdm.WithAPNs(apns))
	if first.APNs() != apns {
		t.Fatal("the stack made its own mock APNs")
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := startStack(t, refmdm.WithAPNs(apns))
	env := simulator.NewEnv(simulator.WithPushService(apns), simulator.WithHTTPClient(second.HTTPClient()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := enrollOne(ctx, t, second, env, 6)
	if _, err := second.Enqueue(ctx, []string{d.UDID()}, "c-1", "SecurityInfo", nil); err != nil {
		t.Fatal(err)
	}
	if err := second.WaitResults(ctx, "c-1", 1); err != nil {
		t.Fatal(err)
	}
	if st := apns.Stats(); st.Delivered() < 1 {
		t.Errorf("mock APNs stats after the first stack closed: %+v", st)
	}
}
