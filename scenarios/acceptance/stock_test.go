package acceptance_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/internal/stock"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/scenarios/targets/hooks"
	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// adapter opens a target on the stock servers.
type adapter struct {
	name string
	open func(t *testing.T, w *scenarios.World, srv *stock.Servers, wh *nanomdm.Webhook) scenarios.Target
}

var adapters = []adapter{
	{"nanomdm", func(t *testing.T, w *scenarios.World, srv *stock.Servers, wh *nanomdm.Webhook) scenarios.Target {
		tg, err := nanomdm.New(t.Context(), w, nanomdm.Config{
			APIURL: srv.NanoMDMURL + "/v1", APIKey: srv.APIKey, DDMURL: srv.KMFDDMURL + "/v1",
			Profile: srv.Profile, UploadPushCert: true, Webhook: wh,
		})
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}},
	{"hooks", func(t *testing.T, w *scenarios.World, srv *stock.Servers, _ *nanomdm.Webhook) scenarios.Target {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("the hooks example drives the server with curl, which is not installed")
		}
		// NanoMDM serves no profile: the test does, as an enrollment URL.
		ps := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.Write(srv.Profile) }))
		t.Cleanup(ps.Close)
		t.Setenv("NANOMDM_PROFILE_URL", ps.URL)
		t.Setenv("NANOMDM_API", srv.NanoMDMURL+"/v1")
		t.Setenv("NANOMDM_API_KEY", srv.APIKey)
		t.Setenv("KMFDDM_API", srv.KMFDDMURL+"/v1")
		f, err := hooks.Load(filepath.Join("..", "..", "examples", "targets", "nanomdm-curl.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		tg, err := f.Open(t.Context(), w)
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}},
}

// world starts the mocks on clk with the APNs proxy the stock NanoMDM
// pushes through, and the stock servers pointed at it; the target is
// opened by a.
func world(t *testing.T, a adapter, clk clock.Clock) (*scenarios.World, scenarios.Target) {
	t.Helper()
	caDir := t.TempDir()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{Clock: clk, ProxyAddr: "127.0.0.1:0", CADir: caDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	var wh *nanomdm.Webhook
	opts := stock.Options{DDM: true, CAKeySize: 2048,
		NanoMDMEnv: []string{"HTTPS_PROXY=" + w.Proxy.URL, "SSL_CERT_FILE=" + filepath.Join(caDir, "ca.pem")}}
	if a.name == "nanomdm" {
		if wh, err = nanomdm.NewWebhook(nanomdm.WebhookOptions{}); err != nil {
			t.Fatal(err)
		}
		opts.WebhookURL = wh.URL()
	}
	srv, err := stock.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	tg := a.open(t, w, srv, wh)
	t.Cleanup(func() { tg.Close() })
	return w, tg
}

// shortTimings are update timings a thousand times shorter than a real
// device's, for enforcement on real time.
func shortTimings() update.Timings {
	t := update.DefaultTimings()
	for _, r := range []*update.Range{&t.AcceptLatencyMac, &t.AcceptLatencyIOS, &t.PrepareMac, &t.PrepareIOS, &t.PrepareRSR,
		&t.ApplyMac, &t.ApplyIOS, &t.RestartMac, &t.RestartIOS, &t.UserResponse, &t.ScanForce, &t.ScanBackground} {
		r.Min, r.Max = r.Min/1000, r.Max/1000
	}
	t.MacBandwidth, t.IOSBandwidth = t.MacBandwidth*1000, t.IOSBandwidth*1000
	t.Countdown /= 1000
	t.IOSScanTimeout /= 1000
	return t
}

// TestStockServers runs the DeviceInformation job (200 devices), the
// legacy enforcer on real time (20 devices) and a DDM declaration on a
// scaled device clock (20 devices) against the stock servers, through
// each adapter.
func TestStockServers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the stock servers; skipped with -short")
	}
	if _, err := stock.Build(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, a := range adapters {
		t.Run(a.name, func(t *testing.T) {
			t.Run("DeviceInformation", func(t *testing.T) { deviceInformation(t, a) })
			t.Run("legacy", func(t *testing.T) { legacy(t, a) })
			t.Run("ddm", func(t *testing.T) { ddm(t, a) })
		})
	}
}

func deviceInformation(t *testing.T, a adapter) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	w, tg := world(t, a, nil)
	run, err := jobs.Attach(ctx, jobs.Config{Devices: 200, Seed: 1}, w, tg)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := jobs.DeviceInformation(ctx, run, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", sum)
	if !sum.OK() || sum.Acknowledged != 200 {
		t.Errorf("have %+v, want 200 enrolled and acknowledged", sum)
	}
	if v, ok := tg.(interface{ ServerView() scenarios.ServerView }); ok {
		sv := v.ServerView()
		if st, ok := sv.CommandStatus(run.Fleet.EnrolledUDIDs()[0], jobs.DeviceInfoCommandUUID(1)); !ok || st != "Acknowledged" {
			t.Errorf("the webhook says %q, %v; want Acknowledged", st, ok)
		}
	}
}

func legacy(t *testing.T, a adapter) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	w, tg := world(t, a, nil)
	run, err := jobs.Attach(ctx, jobs.Config{Devices: 20, Seed: 2,
		DeviceOptions: []simulator.Option{simulator.WithUpdateTimings(shortTimings())}}, w, tg)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := jobs.LegacyUpdate(ctx, run, jobs.LegacyConfig{Enforcer: reference.EnforcerConfig{
		Deadline: 2 * time.Minute, PollInterval: time.Second, IdlePollInterval: 2 * time.Second, ScanWait: time.Second,
		NotNowRetry: 2 * time.Second, Renudge: 20 * time.Second, RetryAfterError: 10 * time.Second, Repush: 5 * time.Second,
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", sum)
	if sum.Compliant+sum.Noncompliant != 20 {
		t.Errorf("have %d outcomes, want 20", sum.Compliant+sum.Noncompliant)
	}
	if sum.Compliant == 0 || sum.Updated == 0 {
		t.Errorf("no device was brought to its target: %+v", sum)
	}
	for reason := range sum.Reasons {
		if reason == "" || reason == reference.ReasonUnreachable {
			t.Errorf("%d devices without a reason the server could see: %q", sum.Reasons[reason], reason)
		}
	}
}

func ddm(t *testing.T, a adapter) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cat := catalog.Default()
	// Devices and the enforcer run 1800 times faster than the server's
	// wall clock: the deadline two hours away is four seconds, and the
	// last time zone's, about ten hours away, twenty.
	clk := clock.NewScaled(cat.LatestPostingDate().AddDate(0, 0, 10).Add(9*time.Hour), 1800)
	w, tg := world(t, a, clk)
	run, err := jobs.Attach(ctx, jobs.Config{Devices: 20, Seed: 3}, w, tg)
	if err != nil {
		t.Fatal(err)
	}
	// The late window is three hours of device time (six seconds of the
	// server's): a loaded machine's slower answers do not leave devices
	// behind as unreachable or without status.
	sum, err := jobs.DDMDeadline(ctx, run, jobs.DDMConfig{Lead: 2 * time.Hour, PollInterval: 5 * time.Minute, LateWindow: 3 * time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", sum)
	reached := 0
	for _, d := range run.Fleet.Devices() {
		if len(d.UpdateHistory()) > 0 {
			reached++
		}
	}
	if sum.Compliant+sum.Noncompliant != 20 {
		t.Errorf("have %d outcomes, want 20", sum.Compliant+sum.Noncompliant)
	}
	for _, bad := range []string{reference.ReasonUnreachable, reference.ReasonNoStatus, reference.ReasonCommandError,
		reference.ReasonNoReleases, reference.ReasonDeclarationInvalid, ""} {
		if n := sum.Reasons[bad]; n > 0 {
			t.Errorf("%d devices %q: the declaration did not get through", n, bad)
		}
	}
	if sum.Compliant == 0 || reached == 0 {
		t.Errorf("no device reached its target (%d installed an update): %+v", reached, sum)
	}

	// What the server recorded of the declarations is what the devices
	// reported (KMFDDM's status API, through the nanomdm target).
	sd, ok := tg.Declarations().(scenarios.ServerDeclarations)
	if !ok {
		return
	}
	udids := run.Fleet.EnrolledUDIDs()
	st, err := sd.DeclarationStatus(ctx, udids...)
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, id := range udids {
		dev, _ := w.Observer.DDM(id)
		for _, ds := range st[id] {
			if want, ok := dev.Declarations[ds.Identifier]; ok {
				compared++
				if ds.Valid != want {
					t.Errorf("%s %s: the server says %q, the device reported %q", id, ds.Identifier, ds.Valid, want)
				}
			}
		}
	}
	if compared == 0 {
		t.Error("the server recorded no declaration status the devices reported")
	}
}

// TestStockPolling: a server whose pushes cannot reach the mock APNs (here
// NanoMDM's proxy leads nowhere) still gets its commands answered when the
// target asks devices to poll, and the run says it polled.
func TestStockPolling(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the stock servers; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	srv, err := stock.Start(ctx, stock.Options{CAKeySize: 2048, NanoMDMEnv: []string{"HTTPS_PROXY=http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	tg, err := nanomdm.New(ctx, w, nanomdm.Config{APIURL: srv.NanoMDMURL + "/v1", APIKey: srv.APIKey,
		Profile: srv.Profile, UploadPushCert: true, PollInterval: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	run, err := jobs.Attach(ctx, jobs.Config{Devices: 10, Seed: 4}, w, tg)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	sum, err := jobs.DeviceInformation(ctx, run, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.OK() || sum.Acknowledged != 10 || !sum.Polling {
		t.Errorf("have %+v, want 10 acknowledged by polling devices", sum)
	}
	if st := w.APNs.Stats(); st.Delivered() != 0 {
		t.Errorf("the mock APNs delivered %d pushes; the server could not reach it", st.Delivered())
	}
}
