package simulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/micromdm/plist"
	"github.com/smallstep/pkcs7"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/schemacheck"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// adeServer answers Setup Assistant's MachineInfo: 403
// com.apple.softwareupdate.required while the device runs less than min,
// the enrollment profile after. It checks every MachineInfo against
// Apple's schema.
type adeServer struct {
	*httptest.Server
	t       *testing.T
	min     string
	profile []byte

	mu    sync.Mutex
	infos []map[string]any
}

func newADEServer(t *testing.T, min string, profile []byte) *adeServer {
	s := &adeServer{t: t, min: min, profile: profile}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *adeServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != simulator.ContentTypeMachineInfo {
		http.Error(w, "want a signed MachineInfo POST", http.StatusBadRequest)
		return
	}
	p7, err := pkcs7.Parse(body)
	if err != nil || p7.Verify() != nil {
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	var info map[string]any
	if err := plist.Unmarshal(p7.Content, &info); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	os, _ := info["OS_VERSION"].(string)
	target := schemacheck.Target{OS: "iOS", Version: os}
	if _, ok := info["PRODUCT"].(string); ok && len(info["PRODUCT"].(string)) > 3 && info["PRODUCT"].(string)[:3] == "Mac" {
		target.OS = "macOS"
	}
	if sch, err := schemacheck.For("MachineInfo"); err != nil {
		s.t.Error(err)
	} else if err := sch.CheckRequest(target, info); err != nil {
		s.t.Errorf("MachineInfo does not follow Apple's schema: %v\n%v", err, info)
	}
	s.mu.Lock()
	s.infos = append(s.infos, info)
	s.mu.Unlock()
	if ddm.CompareVersions(os, s.min) < 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		json.NewEncoder(w).Encode(map[string]any{"code": "com.apple.softwareupdate.required",
			"message": "Update required", "details": map[string]any{"OSVersion": s.min}})
		return
	}
	w.Write(s.profile)
}

func (s *adeServer) versions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.infos {
		out = append(out, fmt.Sprint(m["OS_VERSION"], " can=", m["MDM_CAN_REQUEST_SOFTWARE_UPDATE"]))
	}
	return out
}

type setupResult struct {
	mu   sync.Mutex
	done bool
	p    *protocol.EnrollmentProfile
	err  error
}

func (r *setupResult) set(p *protocol.EnrollmentProfile, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		panic("done called twice")
	}
	r.done, r.p, r.err = true, p, err
}

func (r *setupResult) get() (bool, *protocol.EnrollmentProfile, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done, r.p, r.err
}

func adeDevice(t *testing.T, srv *adeServer, ds deviceSpec) (*simulator.Device, *clock.Manual) {
	clk := clock.NewManual(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	d := simulator.New(ds.identity(t), simulator.WithClock(clk), simulator.WithCatalog(catalog.Default()),
		simulator.WithRootCAs(srv.Certificate()))
	return d, clk
}

// TestSetupAssistantMinimumOS: the server requires 18.7.1 at enrollment;
// the iPhone on 18.6 installs it in Setup Assistant, asks again on its new
// OS, gets the profile and enrolls (update-behaviour.md B4.11).
func TestSetupAssistantMinimumOS(t *testing.T) {
	t.Parallel()
	mdm := newDDMServer(t)
	prof, err := mdm.profile().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	srv := newADEServer(t, "18.7.1", prof)
	d, clk := adeDevice(t, srv, enfIPhone)
	var res setupResult
	d.SetupAssistant(context.Background(), srv.URL+"/mdm/enroll", res.set)
	if done, _, err := res.get(); done {
		t.Fatalf("done before the update: %v", err)
	}
	if st := d.UpdateState(); st.Version != "18.7.1" || st.Reason != simulator.InstallReasonSetupAssistant {
		t.Errorf("update %+v, want 18.7.1 for setup-assistant", st)
	}
	clk.Advance(2 * time.Hour)
	done, p, err := res.get()
	if !done || err != nil || p == nil {
		t.Fatalf("after the update: done %v, %v", done, err)
	}
	if have := fmt.Sprint(srv.versions()); have != "[18.6 can=true 18.7.1 can=true]" {
		t.Errorf("MachineInfo versions %s", have)
	}
	if h := d.UpdateHistory(); len(h) != 1 || h[0].ToVersion != "18.7.1" || h[0].Reason != simulator.InstallReasonSetupAssistant {
		t.Errorf("history %+v", h)
	}
	if err := d.EnrollWithIdentity(context.Background(), p, selfIdentity(t)); err != nil {
		t.Errorf("enrolling with the profile: %v", err)
	}
}

// When the required version cannot be installed the device goes back to
// the Remote Management pane with ErrSetupUpdate; a server that asks for
// no update gets the device's profile request straight away.
func TestSetupAssistantCannotUpdate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		min  string
		want error
	}{
		{"19.0", simulator.ErrSetupUpdate}, // not in the catalog
		{"18.6", nil},                      // already there
	} {
		srv := newADEServer(t, tt.min, []byte("not a profile"))
		d, _ := adeDevice(t, srv, enfIPhone)
		var res setupResult
		d.SetupAssistant(context.Background(), srv.URL, res.set)
		done, _, err := res.get()
		if !done {
			t.Fatalf("%s: not done at once", tt.min)
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.min, err, tt.want)
		}
		if tt.want == nil && (err == nil || errors.Is(err, simulator.ErrSetupUpdate)) {
			t.Errorf("%s: %v, want the profile's parse error", tt.min, err)
		}
		if len(d.UpdateHistory()) != 0 {
			t.Errorf("%s: installed %+v", tt.min, d.UpdateHistory())
		}
	}
}

// Quirk Q16: a Mac told to reach a version of its own major installs the
// newest major upgrade instead, and the server, satisfied, enrolls it.
func TestSetupAssistantNewerMajorQuirk(t *testing.T) {
	t.Parallel()
	mdm := newDDMServer(t)
	prof, _ := mdm.profile().Marshal()
	srv := newADEServer(t, "15.7.1", prof)
	d, clk := adeDevice(t, srv, enfMac)
	if err := d.SetQuirk(update.QuirkADENewerMajor, true); err != nil {
		t.Fatal(err)
	}
	var res setupResult
	d.SetupAssistant(context.Background(), srv.URL, res.set)
	clk.Advance(3 * time.Hour)
	if done, _, err := res.get(); !done || err != nil {
		t.Fatalf("done %v, %v", done, err)
	}
	if h := d.UpdateHistory(); len(h) != 1 || identityMajor(h[0].ToVersion) != 26 {
		t.Errorf("history %+v, want one upgrade to 26", h)
	}
}

func identityMajor(v string) int {
	var m int
	fmt.Sscan(v, &m)
	return m
}
