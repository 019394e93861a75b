package nanomdm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/internal/testutil"
	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// ddmDevice draws a DDM-capable device: a supervised Mac on macOS 15 or an
// iPhone on iOS 18, on an OS the catalog shipped for it.
func ddmDevice(t *testing.T, env *simulator.Env, i int) *simulator.Device {
	t.Helper()
	model, version, build := "Mac14,2", "15.7.1", "24G231"
	if i%2 == 1 {
		model, version, build = "iPhone15,2", "18.6", "22G86"
	}
	id, err := identity.New(gofakeit.New(int64(100+i)), identity.Options{Model: model})
	if err != nil {
		t.Fatal(err)
	}
	id.OSVersion, id.BuildVersion, id.IsSupervised = version, build, true
	return env.NewDevice(id)
}

// TestDDMClientAgainstStack: declarations set through KMFDDM's HTTP API
// (the embedded stack's, with DDMClient) reach ten
// devices, whose status reports KMFDDM's declaration-status shows current,
// active and valid; a changed declaration and a removed one follow; the raw
// report keeps the softwareupdate.* items KMFDDM does not turn into values.
func TestDDMClientAgainstStack(t *testing.T) {
	t.Parallel()
	stack := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clk := clock.NewManual(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	env := simulator.NewEnv(simulator.WithPushService(stack.APNs()), simulator.WithHTTPClient(stack.HTTPClient()),
		simulator.WithClock(clk))
	profile, err := env.FetchProfile(ctx, stack.EnrollURL())
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	var devices []*simulator.Device
	var ids []string
	idents := map[string]*protocol.Identity{}
	for i := range n {
		d := ddmDevice(t, env, i)
		ident, err := stack.MintIdentity(d.UDID())
		if err != nil {
			t.Fatal(err)
		}
		if err := d.EnrollWithIdentity(ctx, profile, ident); err != nil {
			t.Fatal(err)
		}
		devices = append(devices, d)
		ids = append(ids, d.UDID())
		idents[d.UDID()] = ident
	}
	if err := stack.WaitEnrolled(ctx, n); err != nil {
		t.Fatal(err)
	}

	ddmAPI := nanomdm.NewDDMClient(stack.URL+refmdm.PathDDMAPI, stack.APIKey, stack.HTTPClient())
	decls := []nanomdm.Declaration{
		{Type: ddm.TypeServerCapabilities, Identifier: "com.example.caps",
			Payload: map[string]any{"Version": "1.0.0", "SupportedFeatures": map[string]any{}}},
		{Type: ddm.TypeStatusSubscriptions, Identifier: "com.example.subs",
			Payload: map[string]any{"StatusItems": []any{
				map[string]any{"Name": "softwareupdate.install-state"},
				map[string]any{"Name": "softwareupdate.pending-version"},
				map[string]any{"Name": "device.operating-system.version"},
				map[string]any{"Name": "device.operating-system.build-version"},
			}}},
		{Type: ddm.TypeSoftwareUpdateEnforcementSpecific, Identifier: "com.example.su",
			Payload: map[string]any{"TargetOSVersion": "26.2", "TargetLocalDateTime": "2026-01-12T18:00:00"}},
		{Type: ddm.TypeActivationSimple, Identifier: "com.example.act",
			Payload: map[string]any{"StandardConfigurations": []string{"com.example.subs", "com.example.su"}}},
	}
	for _, d := range decls {
		if changed, err := ddmAPI.PutDeclaration(ctx, d); err != nil || !changed {
			t.Fatalf("put %s: changed %v, %v", d.Identifier, changed, err)
		}
	}
	if err := ddmAPI.SetDeclarations(ctx, "fleet", "com.example.caps", "com.example.subs", "com.example.su", "com.example.act"); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := ddmAPI.PutEnrollmentSet(ctx, id, "fleet"); err != nil {
			t.Fatal(err)
		}
	}

	// current waits until every device reported every declaration of want
	// at its current ServerToken, active and valid, and no other.
	current := func(step string, want ...string) {
		t.Helper()
		testutil.EventuallyCtx(ctx, t, step, func() (bool, error) {
			st, err := ddmAPI.DeclarationStatus(ctx, ids...)
			if err != nil {
				return false, err
			}
			for _, id := range ids {
				got := map[string]bool{}
				for _, ds := range st[id] {
					if !ds.Current || !ds.Active || ds.Valid != "valid" {
						return false, fmt.Errorf("%s: %+v", id, ds)
					}
					got[ds.Identifier] = true
				}
				if len(got) != len(want) {
					return false, fmt.Errorf("%s reported %v", id, got)
				}
				for _, w := range want {
					if !got[w] {
						return false, fmt.Errorf("%s has not reported %s", id, w)
					}
				}
			}
			return true, nil
		})
	}
	current("first sync", "com.example.caps", "com.example.subs", "com.example.su", "com.example.act")
	for _, d := range devices {
		if !d.DDMEnabled() || len(d.DDMActiveConfigurations(ddm.TypeSoftwareUpdateEnforcementSpecific)) != 1 {
			t.Errorf("%s: %+v", d.UDID(), d.DDMDeclarations())
		}
	}

	// The raw report has what KMFDDM's values leave out.
	for _, d := range devices {
		raw, err := ddmAPI.StatusReport(ctx, d.UDID(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := ddm.ValidateStatusReport(raw); err != nil {
			t.Errorf("%s: %v", d.UDID(), err)
		}
		var rep struct {
			StatusItems struct {
				Device struct {
					OS struct {
						Version string `json:"version"`
					} `json:"operating-system"`
				} `json:"device"`
				SoftwareUpdate struct {
					InstallState string `json:"install-state"`
				} `json:"softwareupdate"`
			}
		}
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.StatusItems.Device.OS.Version != d.Identity().OSVersion || rep.StatusItems.SoftwareUpdate.InstallState != "waiting" { // 26.2 is not in the catalog yet: the declaration waits
			t.Errorf("%s: raw report %s", d.UDID(), raw)
		}
	}
	vals, err := ddmAPI.StatusValues(ctx, "", ids[0])
	if err != nil {
		t.Fatal(err)
	}
	var sawVersion bool
	for _, v := range vals[ids[0]] {
		if strings.Contains(v.Path, "softwareupdate") {
			t.Errorf("KMFDDM now keeps softwareupdate values (%s): the raw-report workaround can go", v.Path)
		}
		sawVersion = sawVersion || v.Path == ".StatusItems.device.operating-system.version"
	}
	if !sawVersion {
		t.Errorf("no device.operating-system.version value in %+v", vals[ids[0]])
	}

	// A changed declaration: KMFDDM notifies every device, which fetches
	// it again.
	decls[2].Payload = map[string]any{"TargetOSVersion": "26.3", "TargetLocalDateTime": "2026-02-01T09:00:00"}
	if changed, err := ddmAPI.PutDeclaration(ctx, decls[2]); err != nil || !changed {
		t.Fatalf("change: %v %v", changed, err)
	}
	current("changed", "com.example.caps", "com.example.subs", "com.example.su", "com.example.act")
	for _, d := range devices {
		active := d.DDMActiveConfigurations(ddm.TypeSoftwareUpdateEnforcementSpecific)
		if p, err := ddm.DecodePayload[ddm.SoftwareUpdateEnforcementSpecific](active[0]); err != nil || p.TargetOSVersion != "26.3" {
			t.Errorf("%s: %+v %v", d.UDID(), p, err)
		}
	}

	// A declaration taken out of the set goes from the devices.
	if err := ddmAPI.SetDeclarations(ctx, "fleet", "com.example.caps", "com.example.subs", "com.example.act"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyCtx(ctx, t, "removed", func() (bool, error) {
		for _, d := range devices {
			if len(d.DDMActiveConfigurations(ddm.TypeSoftwareUpdateEnforcementSpecific)) != 0 {
				return false, fmt.Errorf("%s still has it", d.UDID())
			}
		}
		return true, nil
	})

	// A declaration the enrollment may not see is a 404, which devices read
	// as "removed", not a server error.
	tr := protocol.NewTransport(protocol.WithRootCAs(stack.RootCAs()))
	cred, err := protocol.NewCredential(idents[ids[0]])
	if err != nil {
		t.Fatal(err)
	}
	sess := tr.Session(cred, protocol.MdmSignature)
	defer sess.Close()
	_, err = sess.Checkin(ctx, stack.URL+refmdm.PathMDM, &protocol.DeclarativeManagement{
		Enrollment: protocol.Enrollment{UDID: ids[0]}, Endpoint: "declaration/configuration/com.example.su"})
	var he *protocol.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
		t.Errorf("removed declaration: %v, want HTTP 404", err)
	}
}

// TestDDMClientAuth: KMFDDM's API on the stack needs the stack's key, and
// the client tells a wrong one apart.
func TestDDMClientAuth(t *testing.T) {
	t.Parallel()
	stack := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bad := nanomdm.NewDDMClient(stack.URL+refmdm.PathDDMAPI, "wrong", stack.HTTPClient())
	_, err := bad.PutDeclaration(ctx, nanomdm.Declaration{Type: ddm.TypeOrganizationInfo, Identifier: "x",
		Payload: map[string]any{"Name": "x"}})
	var apiErr *nanomdm.APIError
	if !errors.Is(err, nanomdm.ErrUnauthorized) || !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(err.Error(), "kmfddm API: PUT "+refmdm.PathDDMAPI+"/declarations: HTTP 401 Unauthorized") {
		t.Errorf("wrong key: %v, want HTTP 401", err)
	}
	good := nanomdm.NewDDMClient(stack.URL+refmdm.PathDDMAPI, stack.APIKey, stack.HTTPClient())
	d := nanomdm.Declaration{Type: ddm.TypeOrganizationInfo, Identifier: "org", Payload: map[string]any{"Name": "Example"}}
	if changed, err := good.PutDeclaration(ctx, d); err != nil || !changed {
		t.Fatalf("put: %v %v", changed, err)
	}
	if changed, err := good.PutDeclaration(ctx, d); err != nil || changed {
		t.Errorf("same again: changed %v, %v", changed, err)
	}
	if ids, err := good.SetDeclarationIDs(ctx, "none"); err != nil || len(ids) != 0 {
		t.Errorf("empty set: %v %v", ids, err)
	}
	raw, err := good.GetDeclaration(ctx, "org")
	if err != nil {
		t.Fatal(err)
	}
	decl, err := ddm.ParseDeclaration(raw)
	if err != nil || decl.ServerToken == "" {
		t.Errorf("KMFDDM serves %s: %v", raw, err)
	}
}
