package nanomdm_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/mockapns"
	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// TestClientAgainstStack: the client drives the embedded stack's NanoMDM
// API: a push certificate upload answers its topic, an enqueue reaches
// devices, an APNs failure injected in the mock is what NanoMDM's push
// client reports through the API (and the device is not woken), and once
// the fault is gone a push gets the queued command through.
func TestClientAgainstStack(t *testing.T) {
	t.Parallel()
	stack := startStack(t)
	env := simulator.NewEnv(simulator.WithPushService(stack.APNs()), simulator.WithHTTPClient(stack.HTTPClient()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	profile, err := env.FetchProfile(ctx, stack.EnrollURL())
	if err != nil {
		t.Fatal(err)
	}
	api := nanomdm.NewClient(stack.URL+refmdm.PathAPI, stack.APIKey, stack.HTTPClient())

	// Uploading the stack's topic again answers that topic.
	certPEM, keyPEM := pushCertPEM(t, stack.Topic)
	if topic, err := api.UploadPushCert(ctx, certPEM, keyPEM); err != nil || topic != stack.Topic {
		t.Fatalf("upload: topic %q, %v; want %q", topic, err, stack.Topic)
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
	cmd := commandPlist(t, "c-fail", "SecurityInfo")
	res, err := api.Enqueue(ctx, []string{d.UDID()}, cmd, false)
	var apiErr *nanomdm.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusInternalServerError || res.Status[d.UDID()].PushError == "" {
		t.Fatalf("push through a failing APNs: err %v, status %+v", err, res.Status)
	}
	if res.CommandUUID != "c-fail" || res.RequestType != "SecurityInfo" {
		t.Errorf("result %+v", res)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(stack.ResultsFor("c-fail")); n != 0 || d.Stats().Sessions != 0 {
		t.Fatalf("device answered %d times without a push (sessions %d)", n, d.Stats().Sessions)
	}

	stack.APNs().ClearFaults()
	if res, err := api.Push(ctx, []string{d.UDID()}); err != nil || res.Status[d.UDID()].PushResult == "" {
		t.Fatalf("push: %v, %+v", err, res)
	}
	if err := stack.WaitResults(ctx, "c-fail", 1); err != nil {
		t.Fatalf("queued command after the fault cleared: %v", err)
	}
	if st := stack.APNs().Stats(); st.Delivered() < 1 {
		t.Fatalf("mock APNs stats: %+v", st)
	}

	// Enqueue with nopush queues without waking; a push then delivers.
	res, err = api.Enqueue(ctx, []string{d.UDID()}, commandPlist(t, "c-quiet", "DeviceInformation"), true)
	if err != nil || !res.NoPush || res.Status[d.UDID()].PushResult != "" {
		t.Fatalf("enqueue nopush: %v, %+v", err, res)
	}
	if _, err := api.Push(ctx, []string{d.UDID()}); err != nil {
		t.Fatal(err)
	}
	if err := stack.WaitResults(ctx, "c-quiet", 1); err != nil {
		t.Fatal(err)
	}

	// A wrong key is told apart from every other failure.
	bad := nanomdm.NewClient(stack.URL+refmdm.PathAPI, "wrong", stack.HTTPClient())
	if _, err := bad.Push(ctx, []string{d.UDID()}); !errors.Is(err, nanomdm.ErrUnauthorized) {
		t.Errorf("wrong key: %v, want ErrUnauthorized", err)
	}
	// So is a server whose certificate the client does not trust.
	untrusting := nanomdm.NewClient(stack.URL+refmdm.PathAPI, stack.APIKey, &http.Client{})
	var verr *tls.CertificateVerificationError
	if _, err := untrusting.Push(ctx, []string{d.UDID()}); !errors.As(err, &verr) {
		t.Errorf("untrusted certificate: %v, want a *tls.CertificateVerificationError", err)
	}
}

func startStack(t *testing.T, opts ...refmdm.Option) *refmdm.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := refmdm.Start(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newDevice(t *testing.T, env *simulator.Env, seed int64, platform catalog.Platform) *simulator.Device {
	t.Helper()
	id, err := identity.New(gofakeit.New(seed), identity.Options{Platform: platform})
	if err != nil {
		t.Fatal(err)
	}
	return env.NewDevice(id)
}

func pushCertPEM(t *testing.T, topic string) (certPEM, keyPEM []byte) {
	t.Helper()
	now := time.Now()
	cert, err := mockapns.NewPushCertificate(topic, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err = mockapns.PushCertificatePEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

func commandPlist(t *testing.T, uuid, requestType string) []byte {
	t.Helper()
	b, err := protocol.NewCommand(uuid, requestType, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
