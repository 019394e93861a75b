package jobs_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/scenarios/targets/embedded"
	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
)

// TestDeviceInformation: five devices of the embedded target all
// acknowledge DeviceInformation.
func TestDeviceInformation(t *testing.T) {
	t.Parallel()
	// A bound for a hang only.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := jobs.Start(ctx, jobs.Config{Devices: 5, Seed: 9, Mint: true})
	if r != nil {
		defer r.Close()
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	sum, err := jobs.DeviceInformation(ctx, r, 2*time.Minute)
	if err != nil {
		t.Fatalf("DeviceInformation: %v (summary %+v)", err, sum)
	}
	want := jobs.DeviceInfoSummary{ShardOf: jobs.ShardOf{Job: jobs.JobDeviceInformation, Seed: 9, FleetDevices: 5},
		Devices: 5, Enrolled: 5, CommandsSent: 5, Acknowledged: 5}
	if sum != want || !sum.OK() {
		t.Errorf("summary: have %+v, want %+v", sum, want)
	}
}

// TestLegacyUpdateCurve: a legacy rollout on the discrete-event clock
// keeps each compliant device's time to compliance, and its curve never
// falls and ends at the report's compliant share.
func TestLegacyUpdateCurve(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a bound for a hang only
	defer cancel()
	clk := clock.NewDiscrete(catalog.Default().LatestPostingDate().AddDate(0, 0, 10).Add(9 * time.Hour))
	defer clk.Close()
	pop := fleet.DefaultPopulation()
	r, err := jobs.Start(ctx, jobs.Config{Devices: 12, Seed: 5, Mint: true, Clock: clk, Population: &pop})
	if r != nil {
		defer r.Close()
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	sum, err := jobs.LegacyUpdate(ctx, r, jobs.LegacyConfig{Enforcer: reference.EnforcerConfig{Deadline: 48 * time.Hour}}, clk.Pause)
	if err != nil {
		t.Fatalf("LegacyUpdate: %v", err)
	}
	if len(sum.ToCompliance) != sum.Compliant || sum.Compliant == 0 || sum.Noncompliant == 0 {
		t.Fatalf("%d times to compliance for %d compliant devices (of %d, %d not): want one each, and both kinds",
			len(sum.ToCompliance), sum.Compliant, sum.Devices, sum.Noncompliant)
	}
	curve := sum.Curve(time.Hour)
	for i := 1; i < len(curve); i++ {
		if curve[i].Compliant < curve[i-1].Compliant || curve[i].At <= curve[i-1].At {
			t.Fatalf("the curve falls or stalls at %d: %v then %v", i, curve[i-1], curve[i])
		}
	}
	last := curve[len(curve)-1]
	if last.At != sum.Story || last.Compliant != sum.Compliant || last.Share != float64(sum.Compliant)/float64(sum.Devices) {
		t.Errorf("last point %+v: want %d compliant (of %d) at the story's end %v", last, sum.Compliant, sum.Devices, sum.Story)
	}
	if sum.Story != 48*time.Hour || len(curve) != 49 {
		t.Errorf("story %v with %d points: want 48h and 49 points", sum.Story, len(curve))
	}
}

// hidden is a target that enrolls devices (in the embedded stack) but
// offers none of its channels.
type hidden struct{ scenarios.Target }

func (hidden) Commands() scenarios.Commands         { return nil }
func (hidden) Declarations() scenarios.Declarations { return nil }
func (hidden) UpdatePolicy() scenarios.UpdatePolicy { return nil }

// TestJobsRequireChannels: a job says which channel a target lacks, with a
// *scenarios.MissingError, instead of failing.
func TestJobsRequireChannels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(context.Context, *jobs.Run) error
		want []scenarios.Capability
	}{
		{"legacy-update", func(ctx context.Context, r *jobs.Run) error {
			_, err := jobs.LegacyUpdate(ctx, r, jobs.LegacyConfig{}, nil)
			return err
		}, []scenarios.Capability{scenarios.CapCommands}},
		{"ddm-deadline", func(ctx context.Context, r *jobs.Run) error {
			_, err := jobs.DDMDeadline(ctx, r, jobs.DDMConfig{Lead: time.Hour}, nil)
			return err
		}, []scenarios.Capability{scenarios.CapCommands, scenarios.CapDeclarations}},
		{"device-information", func(ctx context.Context, r *jobs.Run) error {
			_, err := jobs.DeviceInformation(ctx, r, time.Minute)
			return err
		}, []scenarios.Capability{scenarios.CapCommands}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			w, err := scenarios.NewWorld(scenarios.WorldConfig{})
			if err != nil {
				t.Fatal(err)
			}
			tg, err := embedded.New(ctx, w, embedded.WithMintedIdentities())
			if err != nil {
				w.Close()
				t.Fatal(err)
			}
			r, err := jobs.Attach(ctx, jobs.Config{Devices: 1, Seed: 2}, w, hidden{tg})
			defer r.Close()
			if err != nil {
				t.Fatalf("Attach: %v", err)
			}
			err = tt.run(ctx, r)
			var me *scenarios.MissingError
			if !errors.As(err, &me) {
				t.Fatalf("%s on a target without channels: have %v, want a *scenarios.MissingError", tt.name, err)
			}
			if me.Target != "embedded" || fmt.Sprint(me.Missing) != fmt.Sprint(tt.want) {
				t.Errorf("MissingError: have %+v, want target embedded missing %v", me, tt.want)
			}
		})
	}
}

func TestCheckEmbedded(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep := jobs.Check(ctx, jobs.Config{Target: "embedded", Seed: 4, Mint: true}, 2*time.Minute)
	if !rep.OK() {
		t.Errorf("Check(embedded): not OK: %+v", rep)
	}
	names := []string{}
	for _, s := range rep.Steps {
		names = append(names, s.Name)
		if !s.OK || s.Skipped || s.Error != "" || s.Hint != "" {
			t.Errorf("step %q: have %+v, want it passed", s.Name, s)
		}
	}
	want := []string{"reach the server's API", "fetch the profile and enroll one device", "send a command",
		"push the device", "the device answers", "the server reports the answer"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("steps: have %q, want %q", names, want)
	}
}

// closedPort returns a local address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestCheckFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := closedPort(t)
	closed := filepath.Join(dir, "closed.yaml")
	if err := os.WriteFile(closed, []byte(fmt.Sprintf(`kind: nanomdm
enrollment:
  profile_url: http://%[1]s/mdm/enroll
nanomdm:
  api_url: http://%[1]s/v1
  api_key: secret
`, addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		target   string
		step     string
		inError  string
		wantHint string // part of the hint
	}{
		{"missing file", filepath.Join(dir, "missing.yaml"), "reach the server's API", "missing.yaml", "target file"},
		{"closed port", closed, "reach the server's API", addr, "nothing listens there"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			rep := jobs.Check(ctx, jobs.Config{Target: tt.target}, time.Minute)
			if rep.OK() {
				t.Fatalf("Check: have OK, want a failure: %+v", rep)
			}
			if rep.Target != tt.target {
				t.Errorf("report target: have %q, want %q", rep.Target, tt.target)
			}
			last := rep.Steps[len(rep.Steps)-1]
			if last.Name != tt.step || last.OK {
				t.Fatalf("last step: have %+v, want %q failed", last, tt.step)
			}
			for _, s := range rep.Steps[:len(rep.Steps)-1] {
				if !s.OK {
					t.Errorf("step %q before the last failed: %+v", s.Name, s)
				}
			}
			if !strings.Contains(last.Error, tt.inError) || strings.HasPrefix(last.Error, "setup: ") {
				t.Errorf("error: have %q, want it to name %q (without the setup: prefix)", last.Error, tt.inError)
			}
			if last.Hint == "" || !strings.Contains(last.Hint, tt.wantHint) {
				t.Errorf("hint: have %q, want one that says %q", last.Hint, tt.wantHint)
			}
		})
	}
}

func TestHint(t *testing.T) {
	t.Parallel()
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/v1",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	tests := []struct {
		name string
		err  error
		want string // part of the hint; "" for none
	}{
		{"API 401", &nanomdm.APIError{API: "nanomdm API", Method: "PUT", Path: "/v1/pushcert", StatusCode: 401, Status: "401 Unauthorized"}, "api_key"},
		{"API 403 wrapped", fmt.Errorf("nanomdm target: %w", &nanomdm.APIError{StatusCode: 403, Status: "403 Forbidden"}), "api_key"},
		{"API 404", &nanomdm.APIError{StatusCode: 404, Status: "404 Not Found"}, "API URL"},
		{"connection refused", fmt.Errorf("%w: nanomdm target: enrollment profile: %w", jobs.ErrSetup, refused), "nothing listens there"},
		{"unknown authority", fmt.Errorf("enroll: %w", x509.UnknownAuthorityError{}), "enrollment.ca_file"},
		{"unknown authority, as text", errors.New("Get https://x: tls: failed to verify certificate: x509: certificate signed by unknown authority"), "enrollment.ca_file"},
		{"hostname", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "mdm.example.com"}, "enrollment.ca_file"},
		{"DNS", &url.Error{Op: "Get", URL: "https://mdm.invalid", Err: &net.DNSError{Err: "no such host", Name: "mdm.invalid", IsNotFound: true}}, "does not resolve"},
		{"push not delivered", fmt.Errorf("push: %w", jobs.ErrPushNotDelivered), "HTTPS_PROXY"},
		{"no answer", fmt.Errorf("%w within 30s", jobs.ErrNoAnswer), "queued the command"},
		{"webhook silent", jobs.ErrWebhookSilent, "-webhook-url"},
		{"timeout", fmt.Errorf("x: %w", context.DeadlineExceeded), "timed out"},
		{"missing target file", fmt.Errorf("%w: target: %w", jobs.ErrSetup, &os.PathError{Op: "open", Path: "t.yaml", Err: syscall.ENOENT}), "target file"},
		{"something else", errors.New("the moon is in the wrong phase"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			have := jobs.Hint(tt.err)
			if tt.want == "" {
				if have != "" {
					t.Errorf("Hint(%v): have %q, want none", tt.err, have)
				}
				return
			}
			if !strings.Contains(have, tt.want) {
				t.Errorf("Hint(%v): have %q, want one that says %q", tt.err, have, tt.want)
			}
		})
	}
}

func TestMixString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mix  map[string]int
		want string
	}{
		{nil, ""},
		{map[string]int{"Mac": 3}, "3 Mac"},
		{map[string]int{"iPhone": 8, "Mac": 6, "iPad": 6}, "6 Mac, 6 iPad, 8 iPhone"},
		{map[string]int{"iPad": 0, "Mac": 1}, "1 Mac, 0 iPad"},
	}
	for _, tt := range tests {
		if have := jobs.MixString(tt.mix); have != tt.want {
			t.Errorf("MixString(%v): have %q, want %q", tt.mix, have, tt.want)
		}
	}
}
