package acceptance_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/internal/pki"
	"github.com/mdmsim/mdmsim/internal/stock"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
)

// freeAddr returns a 127.0.0.1 address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// checkRig is a stock NanoMDM started for mdmsim target check: it pushes
// through the proxy address the check will listen on, trusting the mock
// APNs CA kept in caDir, and posts its webhook where the target file says.
type checkRig struct {
	srv                     *stock.Servers
	dir, caDir, proxy, hook string
}

func startCheckRig(t *testing.T, nanoCA string) *checkRig {
	t.Helper()
	r := &checkRig{dir: t.TempDir(), proxy: freeAddr(t), hook: freeAddr(t)}
	r.caDir = filepath.Join(r.dir, "apns")
	if _, err := pki.LoadOrCreateCA(r.caDir, "mdmsim mock APNs CA"); err != nil {
		t.Fatal(err)
	}
	srv, err := stock.Start(t.Context(), stock.Options{CAKeySize: 2048, NanoMDMCA: nanoCA,
		WebhookURL: "http://" + r.hook + "/webhook",
		NanoMDMEnv: []string{"HTTPS_PROXY=http://" + r.proxy, "SSL_CERT_FILE=" + filepath.Join(r.caDir, "ca.pem")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	r.srv = srv
	if err := os.WriteFile(filepath.Join(r.dir, "enroll.mobileconfig"), srv.Profile, 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// file writes a target file for the rig with apiKey and returns its path.
func (r *checkRig) file(t *testing.T, apiKey string) string {
	t.Helper()
	p := filepath.Join(r.dir, "target.yaml")
	body := fmt.Sprintf(`kind: nanomdm
name: stock-nanomdm
enrollment:
  profile_file: enroll.mobileconfig
nanomdm:
  api_url: %s/v1
  api_key: %s
  webhook_listen: %s
`, r.srv.NanoMDMURL, apiKey, r.hook)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (r *checkRig) check(t *testing.T, file string) jobs.CheckReport {
	t.Helper()
	rep := jobs.Check(t.Context(), jobs.Config{Target: file, ProxyAddr: r.proxy, CADir: r.caDir}, 30*time.Second)
	for _, s := range rep.Steps {
		t.Logf("%+v", s)
	}
	return rep
}

// failed returns the step that failed.
func failed(t *testing.T, rep jobs.CheckReport) jobs.Step {
	t.Helper()
	if rep.OK() {
		t.Fatal("the check passed")
	}
	return rep.Steps[len(rep.Steps)-1]
}

// TestTargetCheckStock: mdmsim target check passes against a stock NanoMDM
// and names the fault, with a hint, when the API key is wrong, when the
// server trusts another CA than the one that issued the devices'
// identities, and when the server is stopped: three different errors.
func TestTargetCheckStock(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the stock servers; skipped with -short")
	}
	if _, err := stock.Build(t.Context()); err != nil {
		t.Fatal(err)
	}
	good := startCheckRig(t, "")
	if rep := good.check(t, good.file(t, good.srv.APIKey)); !rep.OK() || len(rep.Steps) != 6 {
		t.Fatalf("the check of a working server: %+v", rep)
	}

	var steps []jobs.Step
	steps = append(steps, failed(t, good.check(t, good.file(t, "not-the-key"))))

	other, err := pki.LoadOrCreateCA(filepath.Join(t.TempDir(), "other"), "another CA")
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(t.TempDir(), "other.pem")
	if err := os.WriteFile(otherFile, other.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	wrongCA := startCheckRig(t, otherFile)
	steps = append(steps, failed(t, wrongCA.check(t, wrongCA.file(t, wrongCA.srv.APIKey))))

	good.srv.StopNanoMDM()
	steps = append(steps, failed(t, good.check(t, good.file(t, good.srv.APIKey))))

	want := []struct{ step, hint string }{
		{"reach the server's API", "API key"},
		{"fetch the profile and enroll one device", "identity"},
		{"reach the server's API", "is the server running"},
	}
	for i, w := range want {
		s := steps[i]
		if s.Name != w.step || !strings.Contains(s.Hint, w.hint) || s.Error == "" {
			t.Errorf("case %d: have step %q error %q hint %q; want step %q with a hint about %q", i, s.Name, s.Error, s.Hint, w.step, w.hint)
		}
	}
	if steps[0].Error == steps[1].Error || steps[1].Error == steps[2].Error || steps[0].Error == steps[2].Error {
		t.Errorf("the three errors are not distinct: %q, %q, %q", steps[0].Error, steps[1].Error, steps[2].Error)
	}
}
