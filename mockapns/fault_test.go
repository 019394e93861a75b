package mockapns_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/internal/testutil"
	"github.com/mdmsim/mdmsim/mockapns"
)

// pusher sends raw provider-API requests with a push certificate.
type pusher struct {
	t  testing.TB
	hc *http.Client
}

func newPusher(t testing.TB, srv *mockapns.Server) *pusher {
	cert := pushCert(t, mdmTopic)
	hc, err := srv.PushClient(&cert)
	if err != nil {
		t.Fatal(err)
	}
	return &pusher{t: t, hc: hc}
}

// push sends payload to token and returns status and reason.
func (p *pusher) push(token []byte, payload []byte, header ...string) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest("POST", "https://api.push.apple.com/3/device/"+hexOf(token), bytes.NewReader(payload))
	if err != nil {
		p.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Reason string `json:"reason"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Reason
}

func (p *pusher) want(d *device, status int, reason string, header ...string) {
	p.t.Helper()
	if s, r := p.push(d.token, d.payload(), header...); s != status || r != reason {
		p.t.Errorf("have %d %q, want %d %q", s, r, status, reason)
	}
}

// capturedTimers is a WithAfterFunc that holds timers until fired by hand.
type capturedTimers struct {
	mu sync.Mutex
	d  []time.Duration
	f  []func()
}

func (c *capturedTimers) after(d time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.d, c.f = append(c.d, d), append(c.f, f)
}

func (c *capturedTimers) fireAll() []time.Duration {
	c.mu.Lock()
	d, f := c.d, c.f
	c.d, c.f = nil, nil
	c.mu.Unlock()
	for _, fn := range f {
		fn()
	}
	return d
}

func TestRateLimitWindowsOnServerClock(t *testing.T) {
	t.Parallel()
	clk := &manualClock{t: time.Now().Truncate(time.Second)}
	srv := mockapns.NewServer(mockapns.WithNow(clk.Now), mockapns.WithFaults(mockapns.RateLimit("global", 2, false)))
	defer srv.Close()
	p := newPusher(t, srv)
	a, b := newDevice().register(srv, mdmTopic), newDevice().register(srv, mdmTopic)
	p.want(a, 200, "")
	p.want(b, 200, "")
	p.want(a, 429, mockapns.ReasonTooManyRequests)
	clk.Add(time.Second)
	p.want(b, 200, "")

	// Per token: each token has its own budget.
	if err := srv.AddFault(mockapns.RateLimit("global", 1, true)); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	p.want(a, 200, "")
	p.want(b, 200, "")
	p.want(a, 429, mockapns.ReasonTooManyRequests)
	if got := srv.Stats().Reasons[mockapns.ReasonTooManyRequests]; got != 2 {
		t.Errorf("TooManyRequests counted %d times, want 2", got)
	}
}

func TestFaultsPerTokenAndGlobal(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer()
	defer srv.Close()
	p := newPusher(t, srv)
	a, b := newDevice().register(srv, mdmTopic), newDevice().register(srv, mdmTopic)

	if err := srv.FailToken(a.token, mockapns.ReasonUnregistered); err != nil {
		t.Fatal(err)
	}
	p.want(a, 410, mockapns.ReasonUnregistered)
	p.want(b, 200, "")

	if err := srv.AddFault(mockapns.Unavailable()); err != nil {
		t.Fatal(err)
	}
	p.want(b, 503, mockapns.ReasonServiceUnavailable)
	if got := len(srv.Faults()); got != 2 {
		t.Errorf("%d faults, want 2", got)
	}
	// Same name replaces.
	if err := srv.AddFault(mockapns.Reject("unavailable", mockapns.ReasonShutdown)); err != nil {
		t.Fatal(err)
	}
	p.want(b, 503, mockapns.ReasonShutdown)
	if !srv.RemoveFault("unavailable") || srv.RemoveFault("unavailable") {
		t.Error("RemoveFault: want true then false")
	}
	p.want(b, 200, "")
	srv.ClearFaults()
	p.want(a, 200, "")

	// A reason APNs does not define needs an explicit status.
	if err := srv.AddFault(mockapns.Reject("odd", "BadPushType")); err == nil {
		t.Error("unknown reason without status accepted")
	}
	odd := mockapns.Reject("odd", "BadPushType")
	odd.Status = 400
	if err := srv.AddFault(odd.ForToken(a.token)); err != nil {
		t.Fatal(err)
	}
	p.want(a, 400, "BadPushType")
}

func TestFaultValidate(t *testing.T) {
	t.Parallel()
	for _, f := range []mockapns.Fault{
		{},
		{Name: "x"},
		{Name: "x", Type: "explode"},
		{Name: "x", Type: mockapns.FaultReject},
		{Name: "x", Type: mockapns.FaultReject, Reason: mockapns.ReasonShutdown, Status: 200},
		{Name: "x", Type: mockapns.FaultDrop, Probability: 1.5},
		{Name: "x", Type: mockapns.FaultDrop, Token: "not hex"},
		{Name: "x", Type: mockapns.FaultRateLimit, Limit: -1},
		{Name: "x", Type: mockapns.FaultLatency},
		{Name: "x", Type: mockapns.FaultLatency, Latency: mockapns.Uniform(time.Second, time.Millisecond)},
		{Name: "x", Type: mockapns.FaultLatency, Latency: mockapns.Fixed(-time.Second)},
	} {
		if err := f.Validate(); err == nil {
			t.Errorf("%+v: no error", f)
		}
	}
}

func TestDropIsSeeded(t *testing.T) {
	t.Parallel()
	pattern := func(seed int64) []bool {
		srv := mockapns.NewServer(mockapns.WithSeed(seed), mockapns.WithFaults(mockapns.Drop("lossy", 0.5)))
		defer srv.Close()
		p := newPusher(t, srv)
		d := newDevice().register(srv, mdmTopic)
		for range 100 {
			p.want(d, 200, "")
		}
		var out []bool
		for _, ps := range srv.Pushes() {
			out = append(out, ps.Delivery == mockapns.DeliveryDropped)
		}
		return out
	}
	a, b, c := pattern(7), pattern(7), pattern(8)
	dropped := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("push %d: same seed, different outcome", i)
		}
		if a[i] {
			dropped++
		}
	}
	if dropped < 25 || dropped > 75 {
		t.Errorf("%d of 100 dropped with probability 0.5", dropped)
	}
	if equal := func() bool {
		for i := range a {
			if a[i] != c[i] {
				return false
			}
		}
		return true
	}(); equal {
		t.Error("different seeds gave the same drops")
	}
}

func TestLatencyDistributions(t *testing.T) {
	t.Parallel()
	clk := &manualClock{t: time.Now()}
	timers := &capturedTimers{}
	srv := mockapns.NewServer(mockapns.WithNow(clk.Now), mockapns.WithAfterFunc(timers.after))
	defer srv.Close()
	p := newPusher(t, srv)

	fixed := newDevice().register(srv, mdmTopic)
	uniform := newDevice().register(srv, mdmTopic)
	normal := newDevice().register(srv, mdmTopic)
	for _, f := range []mockapns.Fault{
		mockapns.Delay("fixed", mockapns.Fixed(100*time.Millisecond)).ForToken(fixed.token),
		mockapns.Delay("uniform", mockapns.Uniform(10*time.Millisecond, 20*time.Millisecond)).ForToken(uniform.token),
		mockapns.Delay("normal", mockapns.Normal(50*time.Millisecond, 30*time.Millisecond, 40*time.Millisecond)).ForToken(normal.token),
	} {
		if err := srv.AddFault(f); err != nil {
			t.Fatal(err)
		}
	}
	p.want(fixed, 200, "")
	fixed.notDelivered(t)
	clk.Add(100 * time.Millisecond)
	if d := timers.fireAll(); len(d) != 1 || d[0] != 100*time.Millisecond {
		t.Fatalf("timers %v, want one of 100ms", d)
	}
	fixed.waitDelivered(t)
	if st := srv.Stats(); st.Latency.Count != 1 || time.Duration(st.Latency.P50) != 100*time.Millisecond {
		t.Errorf("latency %+v, want one sample of 100ms", st.Latency)
	}

	for range 50 {
		p.want(uniform, 200, "")
		p.want(normal, 200, "")
	}
	ds := timers.fireAll()
	for i, d := range ds {
		if i%2 == 0 && (d < 10*time.Millisecond || d > 20*time.Millisecond) {
			t.Errorf("uniform sample %v outside [10ms, 20ms]", d)
		}
		if i%2 == 1 && d < 40*time.Millisecond {
			t.Errorf("normal sample %v below its min 40ms", d)
		}
	}
	testutil.Eventually(t, "100 deliveries", func() bool { return uniform.n.Load() == 50 && normal.n.Load() == 50 })
}

func TestStoreAndForward(t *testing.T) {
	t.Parallel()
	clk := &manualClock{t: time.Now()}
	srv := mockapns.NewServer(mockapns.WithNow(clk.Now))
	defer srv.Close()
	p := newPusher(t, srv)
	d := newDevice().register(srv, mdmTopic)
	srv.SetOnline(d.token, false)

	p.want(d, 200, "", "apns-expiration", "0")
	if got := lastPush(t, srv).Delivery; got != mockapns.DeliveryNotStored {
		t.Errorf("apns-expiration 0 offline: %q, want not stored", got)
	}
	exp := strconv.FormatInt(clk.Now().Add(time.Minute).Unix(), 10)
	p.want(d, 200, "", "apns-expiration", exp)
	clk.Add(2 * time.Minute)
	srv.SetOnline(d.token, true)
	d.notDelivered(t)
	if got := srv.Pushes()[1].Delivery; got != mockapns.DeliveryExpired {
		t.Errorf("expired stored push: %q", got)
	}

	// No apns-expiration: stored until the device is back.
	srv.SetOnline(d.token, false)
	p.want(d, 200, "")
	clk.Add(12 * time.Hour) // within the push certificate's validity
	srv.SetOnline(d.token, true)
	d.waitDelivered(t)

	// Registering again (a reconnect) also brings the device back.
	srv.SetOnline(d.token, false)
	p.want(d, 200, "")
	d.register(srv, mdmTopic)
	d.waitDelivered(t)
}

func TestUnknownTokensAccepted(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer(mockapns.WithAcceptUnknownTokens(), mockapns.WithTokenLength(0))
	defer srv.Close()
	p := newPusher(t, srv)
	if s, r := p.push([]byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte(`{"mdm":"x"}`)); s != 200 {
		t.Fatalf("have %d %q", s, r)
	}
	if got := lastPush(t, srv).Delivery; got != mockapns.DeliveryNoDevice {
		t.Errorf("delivery %q", got)
	}
}

func TestUnregisterDuringLatency(t *testing.T) {
	t.Parallel()
	timers := &capturedTimers{}
	srv := mockapns.NewServer(mockapns.WithAfterFunc(timers.after), mockapns.WithFaults(mockapns.Delay("slow", mockapns.Fixed(time.Second))))
	defer srv.Close()
	p := newPusher(t, srv)
	d := newDevice().register(srv, mdmTopic)
	p.want(d, 200, "")
	srv.UnregisterDevice(d.token)
	timers.fireAll()
	testutil.Eventually(t, "no_device", func() bool { return srv.Stats().Delivery[mockapns.DeliveryNoDevice] == 1 })
	d.notDelivered(t)
	p.want(d, 410, mockapns.ReasonUnregistered)
}

func TestResetKeepsDevicesAndFaults(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer(mockapns.WithFaults(mockapns.Drop("d", 1).ForToken([]byte{9})))
	defer srv.Close()
	p := newPusher(t, srv)
	d := newDevice().register(srv, mdmTopic)
	p.want(d, 200, "")
	d.waitDelivered(t)
	srv.Reset()
	if st := srv.Stats(); st.Requests != 0 || len(srv.Pushes()) != 0 || st.Latency.Count != 0 {
		t.Errorf("after Reset: %+v", st)
	}
	if srv.Devices() != 1 || len(srv.Faults()) != 1 {
		t.Error("Reset dropped devices or faults")
	}
	p.want(d, 200, "")
	d.waitDelivered(t)
}

func TestMaxRecords(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer(mockapns.WithMaxRecords(3))
	defer srv.Close()
	p := newPusher(t, srv)
	d := newDevice().register(srv, mdmTopic)
	for i := range 5 {
		p.want(d, 200, "", "apns-collapse-id", strconv.Itoa(i))
	}
	ps := srv.Pushes()
	if len(ps) != 3 || ps[0].CollapseID != "2" || ps[2].CollapseID != "4" {
		t.Errorf("kept %d pushes: %+v", len(ps), ps)
	}
	if srv.Stats().Accepted != 5 {
		t.Error("counters must not be bounded")
	}
}

func TestClientCAs(t *testing.T) {
	t.Parallel()
	trusted, untrusted := pushCert(t, mdmTopic), pushCert(t, mdmTopic)
	pool := x509.NewCertPool()
	pool.AddCert(trusted.Leaf)
	srv := mockapns.NewServer(mockapns.WithClientCAs(pool))
	defer srv.Close()
	d := newDevice().register(srv, mdmTopic)
	for _, tc := range []struct {
		cert   tls.Certificate
		status int
	}{{trusted, 200}, {untrusted, 403}} {
		hc, err := srv.PushClient(&tc.cert)
		if err != nil {
			t.Fatal(err)
		}
		p := &pusher{t: t, hc: hc}
		if tc.status == 200 {
			p.want(d, 200, "")
		} else {
			p.want(d, 403, mockapns.ReasonBadCertificate)
		}
	}
}
