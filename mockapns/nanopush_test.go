package mockapns_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/micromdm/nanomdm/cryptoutil"
	"github.com/micromdm/nanomdm/mdm"
	"github.com/micromdm/nanomdm/push"
	"github.com/micromdm/nanomdm/push/nanopush"

	"github.com/mdmsim/mdmsim/mockapns"
)

// rewriteHost is the RoundTripper a NanoMDM embedder writes by hand: nanopush
// hard-codes https://api.push.apple.com, so every request is sent to the mock.
type rewriteHost struct {
	host string
	next http.RoundTripper
}

func (rt rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Host = rt.host
	return rt.next.RoundTrip(r)
}

// handMadeClient builds nanopush's client from srv.Client() as the brief
// for embedders describes, without PushClient.
func handMadeClient(srv *mockapns.Server) nanopush.NewClient {
	return func(cert *tls.Certificate) (*http.Client, error) {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		return &http.Client{Transport: rewriteHost{host: srv.Listener.Addr().String(), next: tr}}, nil
	}
}

func nanoProvider(t *testing.T, srv *mockapns.Server, cert tls.Certificate, opts ...nanopush.Option) push.PushProvider {
	t.Helper()
	f := nanopush.NewFactory(append([]nanopush.Option{nanopush.WithNewClient(srv.PushClient)}, opts...)...)
	p, err := f.NewPushProvider(&cert)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mdmPush(d *device) *mdm.Push {
	return &mdm.Push{PushMagic: d.magic, Token: d.token, Topic: mdmTopic}
}

func TestNanopushDelivers(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer()
	defer srv.Close()
	cert := pushCert(t, mdmTopic)

	for name, newClient := range map[string]nanopush.NewClient{"PushClient": srv.PushClient, "hand-made": handMadeClient(srv)} {
		t.Run(name, func(t *testing.T) {
			p, err := nanopush.NewFactory(nanopush.WithNewClient(newClient)).NewPushProvider(&cert)
			if err != nil {
				t.Fatal(err)
			}
			devs := []*device{newDevice().register(srv, mdmTopic), newDevice().register(srv, mdmTopic), newDevice().register(srv, mdmTopic)}
			for _, batch := range [][]*device{devs[:1], devs} { // serial, then concurrent
				var pushes []*mdm.Push
				for _, d := range batch {
					pushes = append(pushes, mdmPush(d))
				}
				res, err := p.Push(context.Background(), pushes)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range batch {
					r := res[hexOf(d.token)]
					if r == nil || r.Err != nil || len(r.Id) != 36 {
						t.Fatalf("device %x: response %+v", d.token, r)
					}
					d.waitDelivered(t)
				}
			}
		})
	}
	p := lastPush(t, srv)
	if p.Topic != mdmTopic || p.Auth != mockapns.AuthCertificate || !p.Delivered || p.Status != 200 {
		t.Errorf("recorded %+v", p)
	}
}

func TestNanopushReasons(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer()
	defer srv.Close()
	p := nanoProvider(t, srv, pushCert(t, mdmTopic))

	gone := newDevice().register(srv, mdmTopic)
	srv.UnregisterDevice(gone.token)
	goneAt := time.Now()
	other := newDevice().register(srv, "com.apple.mgmt.External.someone-else")
	faulty := map[string]*device{}
	for _, reason := range []string{mockapns.ReasonServiceUnavailable, mockapns.ReasonShutdown, mockapns.ReasonInternalServerError, mockapns.ReasonTooManyRequests} {
		d := newDevice().register(srv, mdmTopic)
		if err := srv.FailToken(d.token, reason); err != nil {
			t.Fatal(err)
		}
		faulty[reason] = d
	}
	expired, err := mockapns.NewPushCertificate(mdmTopic, time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ok := newDevice().register(srv, mdmTopic)

	tests := []struct {
		name     string
		provider push.PushProvider
		push     *mdm.Push
		status   int
		reason   string
	}{
		{"never registered", p, &mdm.Push{PushMagic: "x", Token: newToken()}, 400, mockapns.ReasonBadDeviceToken},
		{"short token", p, &mdm.Push{PushMagic: "x", Token: []byte{1, 2, 3}}, 400, mockapns.ReasonBadDeviceToken},
		{"unregistered", p, mdmPush(gone), 410, mockapns.ReasonUnregistered},
		{"other topic", p, mdmPush(other), 400, mockapns.ReasonDeviceTokenNotForTopic},
		{"unavailable", p, mdmPush(faulty[mockapns.ReasonServiceUnavailable]), 503, mockapns.ReasonServiceUnavailable},
		{"shutdown", p, mdmPush(faulty[mockapns.ReasonShutdown]), 503, mockapns.ReasonShutdown},
		{"internal error", p, mdmPush(faulty[mockapns.ReasonInternalServerError]), 500, mockapns.ReasonInternalServerError},
		{"too many requests", p, mdmPush(faulty[mockapns.ReasonTooManyRequests]), 429, mockapns.ReasonTooManyRequests},
		{"expired push certificate", nanoProvider(t, srv, expired), mdmPush(ok), 403, mockapns.ReasonBadCertificate},
		{"certificate for a non-MDM topic", nanoProvider(t, srv, pushCert(t, "com.example.app")), mdmPush(ok), 403, mockapns.ReasonBadCertificate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.provider.Push(context.Background(), []*mdm.Push{tc.push})
			if err != nil {
				t.Fatal(err)
			}
			r := res[tc.push.Token.String()]
			var perr *nanopush.JSONPushError
			if r == nil || !errors.As(r.Err, &perr) {
				t.Fatalf("have %+v, want a JSONPushError", r)
			}
			if perr.Reason != tc.reason {
				t.Errorf("reason: have %q, want %q", perr.Reason, tc.reason)
			}
			if want := "push HTTP status: " + strconv.Itoa(tc.status) + ": "; len(r.Err.Error()) < len(want) || r.Err.Error()[:len(want)] != want {
				t.Errorf("error %q, want prefix %q", r.Err, want)
			}
			if tc.status == 410 {
				// nanopush keeps the raw value: milliseconds since the epoch.
				if d := time.UnixMilli(perr.Timestamp).Sub(goneAt); d < -2*time.Second || d > 2*time.Second {
					t.Errorf("timestamp %d, want about %d", perr.Timestamp, goneAt.UnixMilli())
				}
			}
		})
	}
	ok.notDelivered(t)
}

func TestNanopushMagicMismatch(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer()
	defer srv.Close()
	p := nanoProvider(t, srv, pushCert(t, mdmTopic))
	d := newDevice().register(srv, mdmTopic)
	res, err := p.Push(context.Background(), []*mdm.Push{{PushMagic: "stale-magic", Token: d.token, Topic: mdmTopic}})
	if err != nil || res[hexOf(d.token)].Err != nil {
		t.Fatalf("have %v %+v; APNs accepts a push whatever its magic", err, res)
	}
	d.notDelivered(t)
	if st := srv.Stats(); st.Delivery[mockapns.DeliveryMagicMismatch] != 1 || st.Delivered() != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestNanopushStoreAndForward uses nanopush's WithExpiration, which sets
// apns-expiration, against an offline device.
func TestNanopushStoreAndForward(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer()
	defer srv.Close()
	p := nanoProvider(t, srv, pushCert(t, mdmTopic), nanopush.WithExpiration(time.Hour))
	d := newDevice().register(srv, mdmTopic)
	srv.SetOnline(d.token, false)
	for range 3 {
		res, err := p.Push(context.Background(), []*mdm.Push{mdmPush(d)})
		if err != nil || res[hexOf(d.token)].Err != nil {
			t.Fatalf("push: %v %+v", err, res)
		}
	}
	d.notDelivered(t)
	if exp := lastPush(t, srv).Expiration; exp == "" {
		t.Error("apns-expiration not recorded")
	}
	srv.SetOnline(d.token, true)
	d.waitDelivered(t)
	d.notDelivered(t) // one stored push, not three
	st := srv.Stats()
	if st.Delivered() != 1 || st.Delivery[mockapns.DeliverySuperseded] != 2 {
		t.Errorf("stats %+v", st.Delivery)
	}
}

// TestNanopushAfterClose checks that closing the mock gives nanopush a plain
// error: a GOAWAY would make nanopush v0.9.0 dereference a nil response.
func TestNanopushAfterClose(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer()
	p := nanoProvider(t, srv, pushCert(t, mdmTopic))
	d := newDevice().register(srv, mdmTopic)
	if res, err := p.Push(context.Background(), []*mdm.Push{mdmPush(d)}); err != nil || res[hexOf(d.token)].Err != nil {
		t.Fatalf("push: %v %+v", err, res)
	}
	srv.Close()
	res, err := p.Push(context.Background(), []*mdm.Push{mdmPush(d)})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[hexOf(d.token)]; r == nil || r.Err == nil {
		t.Fatalf("push to a closed server: %+v", r)
	}
}

// TestPushCertificateForNanoMDM checks that the push certificate helpers make
// what NanoMDM's push-certificate store accepts.
func TestPushCertificateForNanoMDM(t *testing.T) {
	t.Parallel()
	cert := pushCert(t, mdmTopic)
	certPEM, keyPEM, err := mockapns.PushCertificatePEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := cryptoutil.TopicFromCert(pair.Leaf)
	if err != nil || topic != mdmTopic {
		t.Fatalf("NanoMDM reads topic %q, %v; want %q", topic, err, mdmTopic)
	}
	if got := mockapns.TopicFromCertificate(pair.Leaf); got != mdmTopic {
		t.Errorf("TopicFromCertificate: %q", got)
	}
}
