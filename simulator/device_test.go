package simulator_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v6"
	"github.com/micromdm/nanomdm/cryptoutil"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/internal/testutil"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// scriptedServer is a minimal MDM server: it accepts check-ins, hands out
// queued command bodies one per poll, and records what the device sent.
type scriptedServer struct {
	*httptest.Server
	mu       sync.Mutex
	queue    [][]byte
	checkins []protocol.CheckinMessage
	results  []*protocol.Result
	badSig   int
	failNext int // answer this many command polls with 503
	// hold, when set, keeps every command poll waiting until it is closed
	// or the request ends; held counts the polls waiting.
	hold chan struct{}
	held int
}

func newScriptedServer(t *testing.T) *scriptedServer {
	s := &scriptedServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := cryptoutil.VerifyMdmSignature(r.Header.Get("Mdm-Signature"), body); err != nil {
			s.mu.Lock()
			s.badSig++
			s.mu.Unlock()
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		if hold := s.hold; hold != nil && r.Header.Get("Content-Type") != protocol.ContentTypeCheckin {
			s.held++
			s.mu.Unlock()
			select {
			case <-hold:
			case <-r.Context().Done():
			}
			s.mu.Lock()
			s.held--
		}
		defer s.mu.Unlock()
		if r.Header.Get("Content-Type") == protocol.ContentTypeCheckin {
			m, err := protocol.UnmarshalCheckin(body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			s.checkins = append(s.checkins, m)
			return
		}
		if s.failNext > 0 {
			s.failNext--
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		res, err := protocol.DecodeResult(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.results = append(s.results, res)
		if len(s.queue) > 0 {
			w.Write(s.queue[0])
			s.queue = s.queue[1:]
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scriptedServer) enqueue(t *testing.T, uuid, requestType string, payload map[string]any) {
	t.Helper()
	b, err := protocol.NewCommand(uuid, requestType, payload)
	if err != nil {
		t.Fatal(err)
	}
	s.enqueueRaw(b)
}

func (s *scriptedServer) enqueueRaw(b []byte) {
	s.mu.Lock()
	s.queue = append(s.queue, b)
	s.mu.Unlock()
}

// result returns the device's answer to a command UUID.
func (s *scriptedServer) result(t *testing.T, uuid string) *protocol.Result {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.results {
		if r.CommandUUID == uuid {
			return r
		}
	}
	t.Fatalf("no result for %s", uuid)
	return nil
}

func (s *scriptedServer) profile(accessRights int) *protocol.EnrollmentProfile {
	return &protocol.EnrollmentProfile{
		PayloadIdentifier: "test.enroll", PayloadUUID: "P1",
		Certificates: [][]byte{s.Certificate().Raw},
		MDM: protocol.MDMPayload{PayloadType: protocol.PayloadTypeMDM, ServerURL: s.URL + "/mdm",
			Topic: "com.apple.mgmt.External.test", IdentityCertificateUUID: "X", SignMessage: true,
			AccessRights: accessRights, CheckOutWhenRemoved: true,
			ServerCapabilities: []string{simulator.CapabilityBootstrapToken}},
	}
}

// selfIdentity is a device identity without SCEP.
func selfIdentity(t testing.TB) *protocol.Identity {
	t.Helper()
	cert, key := testutil.SelfSigned(t, "dev")
	return &protocol.Identity{Certificate: cert, PrivateKey: key}
}

// fakePush records registrations, as a push service would.
type fakePush struct {
	mu    sync.Mutex
	reg   map[string]func()
	magic map[string]string
}

func (p *fakePush) RegisterDevice(token []byte, topic, magic string, deliver func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reg == nil {
		p.reg, p.magic = map[string]func(){}, map[string]string{}
	}
	p.reg[string(token)], p.magic[string(token)] = deliver, magic
}

func (p *fakePush) UnregisterDevice(token []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.reg, string(token))
}

func enrolledDevice(t *testing.T, srv *scriptedServer, accessRights int, platform catalog.Platform, opts ...simulator.Option) (*simulator.Device, *fakePush) {
	t.Helper()
	id, err := identity.New(gofakeit.New(11), identity.Options{Platform: platform})
	if err != nil {
		t.Fatal(err)
	}
	push := &fakePush{}
	d := simulator.New(id, append(opts, simulator.WithPushService(push))...)
	if err := d.EnrollWithIdentity(context.Background(), srv.profile(accessRights), selfIdentity(t)); err != nil {
		t.Fatal(err)
	}
	return d, push
}

func TestEnrollmentCheckins(t *testing.T) {
	t.Parallel()
	srv := newScriptedServer(t)
	d, push := enrolledDevice(t, srv, simulator.AccessAll, catalog.MacOS)
	id := d.Identity()
	if len(srv.checkins) != 2 {
		t.Fatalf("check-ins: have %d, want Authenticate and TokenUpdate", len(srv.checkins))
	}
	auth, ok := srv.checkins[0].(*protocol.Authenticate)
	if !ok || auth.UDID != id.UDID || auth.Topic != "com.apple.mgmt.External.test" || auth.Model != id.Model.Identifier ||
		auth.ModelName != id.Model.ModelName || auth.DeviceName != id.DeviceName || auth.OSVersion != id.OSVersion {
		t.Fatalf("Authenticate: %+v for %+v", srv.checkins[0], id)
	}
	tu, ok := srv.checkins[1].(*protocol.TokenUpdate)
	token, magic, _ := d.PushToken()
	if !ok || len(tu.Token) != 32 || string(tu.Token) != string(token) || tu.PushMagic != magic || magic == "" {
		t.Fatalf("TokenUpdate: %+v", srv.checkins[1])
	}
	if push.magic[string(token)] != magic {
		t.Fatal("token not registered with the push service before use")
	}
	if err := d.EnrollWithIdentity(context.Background(), srv.profile(simulator.AccessAll), selfIdentity(t)); err == nil {
		t.Fatal("second enrollment accepted")
	}
	if err := d.Unenroll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.checkins[2].(*protocol.CheckOut); !ok {
		t.Fatalf("third check-in: %T, want CheckOut", srv.checkins[2])
	}
	if len(push.reg) != 0 {
		t.Fatal("token still registered after CheckOut")
	}
}

// TestCommandAnswers runs a session of commands through the device, the
// hostile ones included, and checks every answer.
func TestCommandAnswers(t *testing.T) {
	t.Parallel()
	srv := newScriptedServer(t)
	d, _ := enrolledDevice(t, srv, simulator.AccessAll, catalog.MacOS)
	id := d.Identity()
	srv.enqueue(t, "info", "DeviceInformation", map[string]any{"Queries": []string{"OSVersion", "BuildVersion", "SerialNumber", "SoftwareUpdateDeviceID", "UDID", "WiFiMAC", "NoSuchKey"}})
	srv.enqueue(t, "bogus", "Bogus", nil)
	srv.enqueueRaw([]byte("not a plist at all"))
	srv.enqueue(t, "wrongtype", "DeviceInformation", map[string]any{"Queries": "OSVersion"})
	srv.enqueue(t, "sec", "SecurityInfo", nil)
	srv.enqueue(t, "profiles", "ProfileList", nil)
	srv.enqueue(t, "apps", "InstalledApplicationList", nil)
	srv.enqueue(t, "certs", "CertificateList", nil)
	srv.enqueue(t, "restart", "RestartDevice", nil)
	if err := d.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}

	info := srv.result(t, "info")
	qr, _ := info.Fields["QueryResponses"].(map[string]any)
	want := map[string]any{"OSVersion": id.OSVersion, "BuildVersion": id.BuildVersion, "SerialNumber": id.SerialNumber,
		"SoftwareUpdateDeviceID": id.Model.SoftwareUpdateDeviceID, "UDID": id.UDID, "WiFiMAC": id.WiFiMAC}
	if info.Status != protocol.StatusAcknowledged || len(qr) != len(want) {
		t.Fatalf("DeviceInformation: %s %v", info.Status, qr)
	}
	for k, v := range want {
		if qr[k] != v {
			t.Errorf("DeviceInformation %s: have %v, want %v", k, qr[k], v)
		}
	}
	bogus := srv.result(t, "bogus")
	if bogus.Status != protocol.StatusError || len(bogus.ErrorChain) != 1 || bogus.ErrorChain[0] != protocol.InvalidRequestType("Bogus") {
		t.Errorf("unknown command: %+v", bogus)
	}
	var garbage *protocol.Result
	for _, r := range srv.results {
		if r.CommandUUID == "" && r.Status == protocol.StatusCommandFormatError {
			garbage = r
		}
	}
	if garbage == nil {
		t.Error("a body that is not a plist got no CommandFormatError")
	}
	if r := srv.result(t, "wrongtype"); r.Status != protocol.StatusCommandFormatError {
		t.Errorf("Queries of the wrong type: %s", r.Status)
	}
	sec := srv.result(t, "sec").Fields["SecurityInfo"].(map[string]any)
	if sec["BootstrapTokenRequiredForSoftwareUpdate"] != id.Model.AppleSilicon {
		t.Errorf("SecurityInfo bootstrap token requirement %v for Apple silicon %v", sec["BootstrapTokenRequiredForSoftwareUpdate"], id.Model.AppleSilicon)
	}
	if pl := srv.result(t, "profiles").Fields["ProfileList"].([]any); len(pl) != 1 {
		t.Errorf("ProfileList: %v", pl)
	}
	if apps := srv.result(t, "apps").Fields["InstalledApplicationList"].([]any); len(apps) == 0 {
		t.Error("no applications")
	}
	if certs := srv.result(t, "certs").Fields["CertificateList"].([]any); len(certs) != 2 {
		t.Errorf("CertificateList: %d entries, want identity + anchor", len(certs))
	}
	if srv.result(t, "restart").Status != protocol.StatusAcknowledged || d.Restarts() != 1 {
		t.Error("RestartDevice not carried out")
	}
	st := d.Stats()
	if st.Commands != 9 || st.FormatErrors != 2 || st.Errors != 1 || st.Acknowledged != 6 || srv.badSig != 0 {
		t.Errorf("stats %+v, bad signatures %d", st, srv.badSig)
	}
}

func TestAccessRightsEnforced(t *testing.T) {
	t.Parallel()
	srv := newScriptedServer(t)
	d, _ := enrolledDevice(t, srv, simulator.AccessQueryDeviceInfo, catalog.IOS)
	srv.enqueue(t, "info", "DeviceInformation", map[string]any{"Queries": []string{"OSVersion", "WiFiMAC", "IMEI"}})
	srv.enqueue(t, "apps", "InstalledApplicationList", nil)
	if err := d.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	qr := srv.result(t, "info").Fields["QueryResponses"].(map[string]any)
	if _, leaked := qr["WiFiMAC"]; leaked || qr["OSVersion"] == nil {
		t.Errorf("without network rights: %v", qr)
	}
	if r := srv.result(t, "apps"); r.Status != protocol.StatusError {
		t.Errorf("app list without the right: %s", r.Status)
	}
}

func TestShutDownIgnoresPushes(t *testing.T) {
	t.Parallel()
	srv := newScriptedServer(t)
	d, _ := enrolledDevice(t, srv, simulator.AccessAll, catalog.IOS)
	srv.enqueue(t, "off", "ShutDownDevice", nil)
	if err := d.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d.PoweredOn() || srv.result(t, "off").Status != protocol.StatusAcknowledged {
		t.Fatal("ShutDownDevice not carried out")
	}
	before := len(srv.results)
	d.Wake() // an off device decides at once: no session starts
	if len(srv.results) != before || d.Stats().Sessions != 1 {
		t.Fatal("a device that is off answered a push")
	}
	if err := d.PowerOn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(srv.results) != before+1 {
		t.Fatal("a device that starts up did not poll")
	}
}

// TestWakeCoalesces: pushes during a session cause one more session, not a
// pile of concurrent ones.
func TestWakeCoalesces(t *testing.T) {
	t.Parallel()
	srv := newScriptedServer(t)
	// A paused discrete clock never moves, but knows when every session
	// the pushes started has ended: no guessing with sleeps.
	clk := clock.NewDiscrete(time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC))
	defer clk.Close()
	d, _ := enrolledDevice(t, srv, simulator.AccessAll, catalog.MacOS, simulator.WithClock(clk))
	for i := 0; i < 20; i++ {
		d.Wake()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := clk.WaitIdle(ctx); err != nil {
		t.Fatalf("sessions still in flight: %v (%v)", err, clk.Busy())
	}
	if st := d.Stats(); st.Pushes != 20 || st.Sessions < 1 || st.Sessions > 2 {
		t.Fatalf("20 pushes gave %+v, want 1 or 2 sessions", st)
	}
}

// TestSessionRetry: a session that fails on a server error is retried on
// the device's clock, and the queued command gets its answer without a push.
func TestSessionRetry(t *testing.T) {
	t.Parallel()
	srv := newScriptedServer(t)
	clk := clock.NewManual(time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC))
	d, _ := enrolledDevice(t, srv, simulator.AccessAll, catalog.MacOS, simulator.WithClock(clk))
	srv.mu.Lock()
	srv.failNext = 2
	srv.mu.Unlock()
	srv.enqueue(t, "c1", "SecurityInfo", nil)
	d.Wake()
	testutil.Eventually(t, "the condition", func() bool { return d.Stats().SessionErrors == 1 && clk.Pending() == 1 })
	clk.Advance(2 * time.Minute) // first retry: 1 min + up to 25 % jitter
	testutil.Eventually(t, "the condition", func() bool { return d.Stats().SessionErrors == 2 && clk.Pending() == 1 })
	clk.Advance(3 * time.Minute) // second retry: 2 min + jitter
	testutil.Eventually(t, "the condition", func() bool { return d.Stats().Acknowledged == 1 })
	if st := d.Stats(); st.Pushes != 1 || st.Sessions != 3 {
		t.Fatalf("stats %+v, want one push and three sessions", st)
	}
	if clk.Pending() != 0 {
		t.Fatalf("%d timers pending after a good session", clk.Pending())
	}
}
