package refmdm_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v6"
	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

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

type recorder struct {
	mu     sync.Mutex
	events []simulator.Event
}

func (r *recorder) add(e simulator.Event) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }

func newDevice(t *testing.T, env *simulator.Env, seed int64, platform catalog.Platform) *simulator.Device {
	t.Helper()
	id, err := identity.New(gofakeit.New(seed), identity.Options{Platform: platform})
	if err != nil {
		t.Fatal(err)
	}
	return env.NewDevice(id)
}

// TestEndToEnd walks the whole path: the devices fetch the profile the stack
// serves, enroll over SCEP (and one on the fast path), NanoMDM pushes through
// its own nanopush client, and the devices fetch and acknowledge the command.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	for _, mtls := range []bool{false, true} {
		name := "mdm-signature"
		var opts []refmdm.Option
		if mtls {
			name = "mtls"
			opts = append(opts, refmdm.WithMutualTLS())
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stack := startStack(t, opts...)
			rec := &recorder{}
			env := simulator.NewEnv(simulator.WithPushService(stack.APNs()), simulator.WithHTTPClient(stack.HTTPClient()),
				simulator.WithEvents(rec.add))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			profile, err := env.FetchProfile(ctx, stack.EnrollURL())
			if err != nil {
				t.Fatal(err)
			}
			if profile.MDM.SignMessage == mtls {
				t.Fatalf("profile SignMessage=%v with mtls=%v", profile.MDM.SignMessage, mtls)
			}
			mac := newDevice(t, env, 1, catalog.MacOS)
			phone := newDevice(t, env, 2, catalog.IOS)
			fast := newDevice(t, env, 3, "")
			for _, d := range []*simulator.Device{mac, phone} {
				if err := d.Enroll(ctx, profile); err != nil {
					t.Fatal(err)
				}
			}
			ident, err := stack.MintIdentity(fast.UDID())
			if err != nil {
				t.Fatal(err)
			}
			if err := fast.EnrollWithIdentity(ctx, profile, ident); err != nil {
				t.Fatal(err)
			}
			if err := stack.WaitEnrolled(ctx, 3); err != nil {
				t.Fatalf("server saw %d enrollments: %v", stack.Enrolled(), err)
			}

			devices := []*simulator.Device{mac, phone, fast}
			ids := []string{mac.UDID(), phone.UDID(), fast.UDID()}
			res, err := stack.Enqueue(ctx, ids, "cmd-info", "DeviceInformation",
				map[string]any{"Queries": []string{"OSVersion", "BuildVersion", "SerialNumber", "ProductName"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				if st := res.Status[id]; st.PushError != "" || st.PushResult == "" {
					t.Errorf("push to %s: %+v", id, st)
				}
			}
			if err := stack.WaitResults(ctx, "cmd-info", 3); err != nil {
				t.Fatalf("results: %v (have %d)", err, len(stack.ResultsFor("cmd-info")))
			}
			byUDID := map[string]*simulator.Device{}
			for _, d := range devices {
				byUDID[d.UDID()] = d
			}
			for _, r := range stack.ResultsFor("cmd-info") {
				if r.Status != "Acknowledged" {
					t.Errorf("%s answered %s", r.UDID, r.Status)
				}
				var body struct {
					QueryResponses map[string]string `plist:"QueryResponses"`
				}
				if err := plist.Unmarshal(r.Raw, &body); err != nil {
					t.Fatal(err)
				}
				id := byUDID[r.UDID].Identity()
				want := map[string]string{"OSVersion": id.OSVersion, "BuildVersion": id.BuildVersion,
					"SerialNumber": id.SerialNumber, "ProductName": id.Model.Identifier}
				for k, v := range want {
					if body.QueryResponses[k] != v {
						t.Errorf("%s %s: server got %q, want %q", r.UDID, k, body.QueryResponses[k], v)
					}
				}
			}

			// An unknown command is refused the way devices refuse it.
			if _, err := stack.Enqueue(ctx, ids[:1], "cmd-bogus", "BogusCommand", nil); err != nil {
				t.Fatal(err)
			}
			if err := stack.WaitResults(ctx, "cmd-bogus", 1); err != nil {
				t.Fatal(err)
			}
			r := stack.ResultsFor("cmd-bogus")[0]
			if r.Status != "Error" || len(r.ErrorChain) != 1 || r.ErrorChain[0].ErrorCode != 12021 ||
				r.ErrorChain[0].LocalizedDescription != "“BogusCommand” is not a valid request type." {
				t.Errorf("unknown command answered %+v", r)
			}

			// CheckOut reaches the server.
			if err := phone.Unenroll(ctx); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for stack.Enrolled() != 2 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if stack.Enrolled() != 2 {
				t.Errorf("after CheckOut the server has %d enrollments, want 2", stack.Enrolled())
			}
		})
	}
}

// TestForeignCARefused: a device whose identity comes from another CA is
// refused by the server, and nothing about it is stored.
func TestForeignCARefused(t *testing.T) {
	t.Parallel()
	stack := startStack(t)
	env := simulator.NewEnv(simulator.WithPushService(stack.APNs()), simulator.WithHTTPClient(stack.HTTPClient()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	profile, err := protocol.ParseProfile(stack.EnrollmentProfile())
	if err != nil {
		t.Fatal(err)
	}
	d := newDevice(t, env, 7, catalog.MacOS)
	err = d.EnrollWithIdentity(ctx, profile, foreignIdentity(t))
	var he *protocol.HTTPError
	if !errors.As(err, &he) || he.StatusCode != 400 {
		t.Fatalf("enroll with a foreign CA: have %v, want HTTP 400", err)
	}
	if d.Enrolled() || stack.Enrolled() != 0 {
		t.Fatalf("foreign device enrolled: device %v, server %d", d.Enrolled(), stack.Enrolled())
	}
}

func foreignIdentity(t *testing.T) *protocol.Identity {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "foreign CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "intruder"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &protocol.Identity{Certificate: cert, PrivateKey: key}
}
