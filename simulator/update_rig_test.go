package simulator

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/schemacheck"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// rigStart is when every rig's clock starts: ten days after the newest
// release of the built-in catalog, a Thursday morning in Paris.
var rigStart = catalog.Default().LatestPostingDate().AddDate(0, 0, 10).Add(8 * time.Hour)

// rigTimings are the default timings without jitter, so transcripts are
// exact.
func rigTimings() update.Timings {
	t := update.DefaultTimings()
	t.BandwidthJitter = 0
	t.AcceptLatencyMac = update.Range{Min: time.Minute, Max: time.Minute}
	t.AcceptLatencyIOS = update.Range{Min: 10 * time.Second, Max: 10 * time.Second}
	t.PrepareMac = update.Range{Min: 10 * time.Minute, Max: 10 * time.Minute}
	t.PrepareIOS = update.Range{Min: 5 * time.Minute, Max: 5 * time.Minute}
	t.PrepareRSR = update.Range{Min: 2 * time.Minute, Max: 2 * time.Minute}
	t.ApplyMac = update.Range{Min: 2 * time.Minute, Max: 2 * time.Minute}
	t.ApplyIOS = update.Range{Min: 3 * time.Minute, Max: 3 * time.Minute}
	t.RestartMac = update.Range{Min: 20 * time.Minute, Max: 20 * time.Minute}
	t.RestartIOS = update.Range{Min: 10 * time.Minute, Max: 10 * time.Minute}
	t.UserResponse = update.Range{Min: 5 * time.Minute, Max: 5 * time.Minute}
	t.ScanForce = update.Range{Min: 30 * time.Second, Max: 30 * time.Second}
	t.ScanBackground = update.Range{Min: 10 * time.Minute, Max: 10 * time.Minute}
	t.NightWindow = 0
	return t
}

// rig is one device on a manual clock, driven without a server: commands go
// straight to its handlers, check-ins to a hook.
type rig struct {
	t     *testing.T
	clk   *clock.Manual
	d     *Device
	enr   *enrollment
	start time.Time

	mu       sync.Mutex
	checkins []string
	polls    int
	token    []byte // what the server answers GetBootstrapToken
	n        int
}

type rigConfig struct {
	model, version string
	build          string // for a version the catalog does not have
	seed           int64  // added to the device's seed
	user           update.UserProfile
	env            update.Environment
	quirks         []string
	timings        func(*update.Timings)
	unsupervised   bool
	token          bool
	freeGB         float64
	battery        float64
	// downloadTime sets the bandwidth so the newest update (or the one of
	// downloadVersion) downloads in exactly this long (0: the timings'
	// bandwidth).
	downloadTime    time.Duration
	downloadVersion string
	// failures are the Env's failure chances (WithFailures).
	failures update.Failures
	// enrollment is how the device enrolled (zero: as supervised says).
	enrollment identity.Enrollment
}

func newRig(t *testing.T, c rigConfig) *rig {
	t.Helper()
	m, ok := catalog.LookupModel(c.model)
	if !ok {
		t.Fatalf("no model %s", c.model)
	}
	cat := catalog.Default()
	build := c.build
	for _, r := range cat.ShippedBuilds(m) {
		if build == "" && r.ProductVersion == c.version {
			build = r.Build
		}
	}
	if build == "" {
		t.Fatalf("%s never ran %s", c.model, c.version)
	}
	if c.freeGB == 0 {
		c.freeGB = 200
	}
	if c.battery == 0 {
		c.battery = 0.8
	}
	id := identity.Identity{
		UDID: "RIG-" + c.model, ProvisioningUDID: "RIG-" + c.model, SerialNumber: "RIG0000001", DeviceName: "Rig",
		Model: &m, OSVersion: c.version, BuildVersion: build, TimeZone: "Europe/Paris",
		DeviceCapacity: 512, AvailableDeviceCapacity: c.freeGB, BatteryLevel: c.battery,
		IsSupervised: !c.unsupervised, Seed: 42 + c.seed, Enrollment: c.enrollment,
	}
	tm := rigTimings()
	if c.downloadTime > 0 {
		v := catalog.MustParseVersion(c.version)
		for _, rel := range cat.Installable(m, v, build, rigStart) {
			if c.downloadVersion == "" || rel.ProductVersion == c.downloadVersion {
				bw := float64(rel.DownloadSize(m, v)) / c.downloadTime.Seconds()
				tm.MacBandwidth, tm.IOSBandwidth = bw, bw
				break
			}
		}
	}
	if c.timings != nil {
		c.timings(&tm)
	}
	r := &rig{t: t, clk: clock.NewManual(rigStart), start: rigStart, enr: &enrollment{profileSettings: &profileSettings{accessRights: AccessAll}}}
	env := NewEnv(WithClock(r.clk), WithCatalog(cat), WithUpdateTimings(tm), WithFailures(c.failures))
	r.d = env.NewDevice(id)
	r.d.SetUserProfile(c.user)
	r.d.SetEnvironment(c.env)
	for _, q := range c.quirks {
		if err := r.d.SetQuirk(q, true); err != nil {
			t.Fatal(err)
		}
	}
	if c.token {
		r.token = []byte("bootstrap-token")
	}
	env.checkinHook = r.checkin
	env.pollHook = func() { r.mu.Lock(); r.polls++; r.mu.Unlock() }
	return r
}

func (r *rig) checkin(_ context.Context, m protocol.CheckinMessage) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch m.(type) {
	case *protocol.GetBootstrapToken:
		r.checkins = append(r.checkins, "GetBootstrapToken")
		if r.token == nil {
			return nil, nil
		}
		return plist.Marshal(protocol.BootstrapTokenResponse{BootstrapToken: r.token})
	case *protocol.TokenUpdate:
		r.checkins = append(r.checkins, "TokenUpdate")
	default:
		r.checkins = append(r.checkins, fmt.Sprintf("%T", m))
	}
	return nil, nil
}

func (r *rig) target() schemacheck.Target {
	id := r.d.Identity()
	os := "iOS"
	if id.IsMac() {
		os = "macOS"
	}
	return schemacheck.Target{OS: os, Version: id.OSVersion}
}

// send runs one command through the device's handlers, checks an
// Acknowledged answer against Apple's schema as a server would receive it,
// and returns it decoded.
func (r *rig) send(requestType string, payload map[string]any, opts ...schemacheck.Option) *protocol.Result {
	r.t.Helper()
	r.n++
	body, err := protocol.NewCommand(fmt.Sprintf("cmd-%d", r.n), requestType, payload)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.sendRaw(requestType, body, opts...)
}

func (r *rig) sendRaw(requestType string, body []byte, opts ...schemacheck.Option) *protocol.Result {
	r.t.Helper()
	target := r.target() // before the command: a restart may change it
	res, _ := r.d.handle(context.Background(), r.enr, body)
	res.UDID = r.d.UDID()
	wire, err := res.Marshal()
	if err != nil {
		r.t.Fatalf("%s: result does not marshal: %v", requestType, err)
	}
	back, err := protocol.DecodeResult(wire)
	if err != nil {
		r.t.Fatal(err)
	}
	if back.Status == protocol.StatusAcknowledged {
		if s, err := schemacheck.For(requestType); err == nil {
			opts = append(opts, schemacheck.AllowMissing("AvailableOSUpdates[].MetadataURL"))
			if err := s.CheckResult(target, wire, opts...); err != nil {
				r.t.Errorf("%s answer breaks Apple's schema: %v\n%s", requestType, err, wire)
			}
		}
	}
	return back
}

// schedule sends ScheduleOSUpdate for one update.
func (r *rig) schedule(item map[string]any) *protocol.Result {
	r.t.Helper()
	if _, ok := item["ProductKey"]; !ok {
		if _, ok := item["ProductVersion"]; !ok {
			item["ProductKey"] = r.newestKey()
		}
	}
	return r.send(RequestScheduleOSUpdate, map[string]any{"Updates": []any{item}},
		// A resend after the restart is acknowledged with no UpdateResults.
		schemacheck.AllowMissing("UpdateResults"))
}

// newestKey is the ProductKey of the newest update the device may install.
func (r *rig) newestKey() string {
	r.t.Helper()
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	rels := r.d.installableLocked()
	if len(rels) == 0 {
		r.t.Fatal("nothing to install")
	}
	return rels[0].ProductKey(r.d.installedVersion(), r.d.id.BuildVersion)
}

// results renders UpdateResults: "InstallLater Downloading", one per item.
func results(res *protocol.Result) string {
	if res.Status != protocol.StatusAcknowledged {
		return fmt.Sprintf("%s %v", res.Status, res.ErrorChain)
	}
	items, ok := res.Fields["UpdateResults"].([]any)
	if !ok {
		return "no UpdateResults"
	}
	var parts []string
	for _, it := range items {
		m := it.(map[string]any)
		s := fmt.Sprintf("%s %s", m["InstallAction"], m["Status"])
		if _, ok := m["ErrorChain"]; ok {
			s += " +ErrorChain"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// status renders OSUpdateStatus: "[]", "Downloading 0.50", "Idle 1.00
// downloaded deferrals 2/3".
func (r *rig) status() string {
	r.t.Helper()
	if !r.d.PoweredOn() {
		return "offline"
	}
	res := r.send(RequestOSUpdateStatus, nil)
	items, _ := res.Fields["OSUpdateStatus"].([]any)
	if len(items) == 0 {
		return "[]"
	}
	m := items[0].(map[string]any)
	s := fmt.Sprintf("%s %.2f", m["Status"], m["DownloadPercentComplete"])
	if m["IsDownloaded"] == true {
		s += " downloaded"
	}
	if v, ok := m["DeferralsRemaining"]; ok {
		s += fmt.Sprintf(" deferrals %v/%v", v, m["MaxDeferrals"])
	}
	return s
}

func (r *rig) elapsed() time.Duration { return r.clk.Now().Sub(r.start) }

// trigger says when a scripted command is sent.
type trigger int

const (
	atStart    trigger = iota
	onPrepared         // the first time the update is downloaded and idle or waiting
	onBack             // once the device is back from its restart
)

type scripted struct {
	when trigger
	item map[string]any
}

// run plays a script for at most limit of virtual time and returns the
// transcript: each ScheduleOSUpdate answer, each distinct OSUpdateStatus
// answer with the time it first showed, a mid-download sample, and the
// device's version at the end.
func (r *rig) run(limit time.Duration, script []scripted) []string {
	r.t.Helper()
	var out []string
	last := ""
	note := func(s string) {
		if s == last {
			return
		}
		last = s
		out = append(out, fmt.Sprintf("+%v %s", r.elapsed(), s))
	}
	sent := make([]bool, len(script))
	lastKey := ""
	send := func(when trigger) {
		for i, sc := range script {
			if sent[i] || sc.when != when {
				continue
			}
			sent[i] = true
			item := map[string]any{}
			for k, v := range sc.item {
				item[k] = v
			}
			if _, ok := item["ProductKey"]; !ok && lastKey != "" {
				if _, ok := item["ProductVersion"]; !ok {
					item["ProductKey"] = lastKey // a resend
				}
			}
			res := r.schedule(item)
			if k, ok := item["ProductKey"].(string); ok {
				lastKey = k
			}
			out = append(out, fmt.Sprintf("+%v schedule %v: %s", r.elapsed(), sc.item["InstallAction"], results(res)))
			last = ""
			note(r.status())
		}
	}
	send(atStart)
	note(r.status())
	wasOff, sampled := false, false
	for r.elapsed() < limit {
		next, ok := r.clk.Next()
		if !ok {
			break
		}
		if next.Sub(r.start) > limit {
			r.clk.Set(r.start.Add(limit))
			break
		}
		st := r.d.UpdateState()
		if st.Phase == PhaseDownloading && !sampled {
			// Halfway through the download.
			r.d.mu.Lock()
			half := r.d.sw.job.dlStart.Add(r.d.sw.job.dlDur / 2)
			r.d.mu.Unlock()
			if half.After(r.clk.Now()) && half.Before(next) {
				r.clk.Set(half)
				sampled = true
				note(r.status())
				continue
			}
		}
		r.clk.AdvanceToNext()
		note(r.status())
		st = r.d.UpdateState()
		if st.Phase == PhasePrepared && st.WaitingFor != "" {
			send(onPrepared)
		}
		off := !r.d.PoweredOn()
		if wasOff && !off {
			send(onBack)
		}
		wasOff = off
	}
	id := r.d.Identity()
	v := fmt.Sprintf("version %s (%s)", id.OSVersion, id.BuildVersion)
	if id.SupplementalBuildVersion != "" {
		v += fmt.Sprintf(" + %s %s", id.SupplementalOSVersionExtra, id.SupplementalBuildVersion)
	}
	return append(out, v)
}

func schemacheckAllowMissingUpdateResults() schemacheck.Option {
	return schemacheck.AllowMissing("UpdateResults")
}

func newCommandBody(requestType string, payload map[string]any) ([]byte, error) {
	return protocol.NewCommand("bench", requestType, payload)
}
