package targets_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/targets"
	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
)

func newWorld(t *testing.T) *scenarios.World {
	t.Helper()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{})
	if err != nil {
		t.Fatalf("NewWorld: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// caPEM is a self-signed CA certificate in PEM.
func caPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mdmsim test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// write puts files (name -> content) in a new folder and returns it.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestOpenEmbedded(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{targets.Embedded, ""} {
		t.Run("spec="+spec, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			w := newWorld(t)
			tg, err := targets.Open(ctx, spec, w, targets.Options{Mint: true})
			if err != nil {
				t.Fatalf("Open(%q): %v", spec, err)
			}
			defer func() {
				if err := tg.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			if tg.Name() != "embedded" {
				t.Errorf("Name: have %q, want embedded", tg.Name())
			}
			want := []scenarios.Capability{scenarios.CapCommands, scenarios.CapDeclarations, scenarios.CapUpdatePolicy, scenarios.CapServerView}
			if have := scenarios.Capabilities(tg); !reflect.DeepEqual(have, want) {
				t.Errorf("Capabilities: have %v, want %v", have, want)
			}
			e, err := tg.Enrollment(ctx)
			if err != nil || e.Identities == nil {
				t.Errorf("Enrollment with Options.Mint: have identities %v, %v; want minted", e.Identities != nil, err)
			}
		})
	}
}

// nanomdmFile is a valid target file with the profile next to it; the
// server is never asked for anything (upload_push_cert: false).
const nanomdmFile = `kind: nanomdm
name: staging
enrollment:
  profile_file: profile.mobileconfig
nanomdm:
  api_url: http://127.0.0.1:1/v1
  api_key: secret
  upload_push_cert: false
`

func TestOpenNanoMDMErrors(t *testing.T) {
	t.Parallel()
	const profile = "profile.mobileconfig"
	tests := []struct {
		name  string
		files map[string]string // target.yaml and what it refers to
		want  []string          // in the error
	}{
		{"unknown field", map[string]string{"target.yaml": "kind: nanomdm\nnanomdm:\n  api_url: http://x/v1\n  apikey: secret\n"},
			[]string{"target.yaml:4:", `unknown field "apikey" in nanomdm`, "known: api_url, api_key"}},
		{"unknown top-level field", map[string]string{"target.yaml": "kind: nanomdm\nname: x\nenrolment:\n  profile_url: http://x\n"},
			[]string{"target.yaml:3:", `unknown field "enrolment" in the top level`, "known: kind, name, enrollment, nanomdm"}},
		{"bad duration", map[string]string{"target.yaml": "kind: nanomdm\nenrollment:\n  profile_file: p\n  poll_interval: soon\nnanomdm:\n  api_url: u\n  api_key: k\n"},
			[]string{"target.yaml", "line 4", "soon"}},
		{"bad bool", map[string]string{"target.yaml": "kind: nanomdm\nenrollment:\n  profile_file: p\nnanomdm:\n  api_url: u\n  api_key: k\n  upload_push_cert: maybe\n"},
			[]string{"target.yaml", "line 7", "maybe"}},
		{"list for a section", map[string]string{"target.yaml": "kind: nanomdm\nnanomdm:\n  - api_url: u\n"},
			[]string{"target.yaml:3:", "nanomdm must be a mapping"}},
		{"no api_url", map[string]string{"target.yaml": "kind: nanomdm\nenrollment:\n  profile_url: http://x\nnanomdm:\n  api_key: k\n"},
			[]string{"target.yaml", "nanomdm.api_url is required"}},
		{"no api_key", map[string]string{"target.yaml": "kind: nanomdm\nenrollment:\n  profile_url: http://x\nnanomdm:\n  api_url: http://x/v1\n"},
			[]string{"target.yaml", "nanomdm.api_key is required"}},
		{"no profile", map[string]string{"target.yaml": "kind: nanomdm\nenrollment:\n  ca_file: ca.pem\nnanomdm:\n  api_url: http://x/v1\n  api_key: k\n"},
			[]string{"target.yaml", "enrollment.profile_url or enrollment.profile_file is required"}},
		{"negative poll interval", map[string]string{"target.yaml": "kind: nanomdm\nenrollment:\n  profile_url: http://x\n  poll_interval: -1m\nnanomdm:\n  api_url: u\n  api_key: k\n"},
			[]string{"target.yaml", "poll_interval must not be negative"}},
		{"unknown kind", map[string]string{"target.yaml": "kind: jamf\n"}, []string{"target.yaml", `unknown kind "jamf"`, "nanomdm or hooks"}},
		{"no kind", map[string]string{"target.yaml": "nanomdm:\n  api_url: http://x/v1\n"}, []string{"target.yaml", "no kind"}},
		{"empty file", map[string]string{"target.yaml": ""}, []string{"target.yaml", "no kind"}},
		{"not YAML", map[string]string{"target.yaml": "kind: [nanomdm\n"}, []string{"target.yaml", "line"}},
		{"kind of the wrong type", map[string]string{"target.yaml": "kind:\n  name: nanomdm\n"}, []string{"target.yaml", "line 2"}},
		{"ca_file without PEM", map[string]string{"target.yaml": strings.Replace(nanomdmFile, "enrollment:\n", "enrollment:\n  ca_file: ca.pem\n", 1),
			profile: "x", "ca.pem": "this is not a certificate\n"},
			[]string{"target.yaml", "enrollment.ca_file", "ca.pem", "no PEM certificate"}},
		{"ca_file with a key only", map[string]string{"target.yaml": strings.Replace(nanomdmFile, "enrollment:\n", "enrollment:\n  ca_file: ca.pem\n", 1),
			profile: "x", "ca.pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
			[]string{"enrollment.ca_file", "no PEM certificate"}},
		{"ca_file missing", map[string]string{"target.yaml": strings.Replace(nanomdmFile, "enrollment:\n", "enrollment:\n  ca_file: ca.pem\n", 1),
			profile: "x"},
			[]string{"target.yaml", "enrollment.ca_file", "ca.pem"}},
		{"profile_file missing", map[string]string{"target.yaml": nanomdmFile},
			[]string{"enrollment profile", profile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dir := write(t, tt.files)
			tg, err := targets.Open(ctx, filepath.Join(dir, "target.yaml"), newWorld(t), targets.Options{})
			if err == nil {
				tg.Close()
				t.Fatalf("Open: have a target, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open: have %q, want it to say %q", err, w)
				}
			}
		})
	}
}

func TestOpenUnreadable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	for _, spec := range []string{filepath.Join(dir, "missing.yaml"), dir} {
		_, err := targets.Open(ctx, spec, newWorld(t), targets.Options{})
		if err == nil || !strings.HasPrefix(err.Error(), "target: ") || !strings.Contains(err.Error(), spec) {
			t.Errorf("Open(%q): have %v, want a target error naming the file", spec, err)
		}
	}
}

// TestOpenNanoMDMRelativePaths: ca_file and profile_file are read next to
// the target file, wherever the process runs.
func TestOpenNanoMDMRelativePaths(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	yaml := strings.Replace(nanomdmFile, "enrollment:\n  profile_file: profile.mobileconfig\n",
		"enrollment:\n  profile_file: sub/profile.mobileconfig\n  ca_file: ./ca.pem\n  poll_interval: 30s\n", 1)
	yaml += "  ddm_url: http://127.0.0.1:1/v1\n"
	dir := write(t, map[string]string{"conf/target.yaml": yaml, "conf/sub/profile.mobileconfig": "the profile",
		"conf/ca.pem": string(caPEM(t)) + string(caPEM(t))})
	tg, err := targets.Open(ctx, filepath.Join(dir, "conf", "target.yaml"), newWorld(t), targets.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer tg.Close()
	if _, ok := tg.(*nanomdm.Target); !ok {
		t.Errorf("Open: have a %T, want a *nanomdm.Target", tg)
	}
	if tg.Name() != "staging" {
		t.Errorf("Name: have %q, want staging", tg.Name())
	}
	want := []scenarios.Capability{scenarios.CapCommands, scenarios.CapDeclarations}
	if have := scenarios.Capabilities(tg); !reflect.DeepEqual(have, want) {
		t.Errorf("Capabilities: have %v, want %v", have, want)
	}
	e, err := tg.Enrollment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Profile) != "the profile" {
		t.Errorf("profile: have %q, want the one next to the file", e.Profile)
	}
	if len(e.Roots) != 2 || e.Roots[0].Subject.CommonName != "mdmsim test CA" {
		t.Errorf("roots: have %d, want the 2 of ca.pem", len(e.Roots))
	}
	if e.PollInterval != 30*time.Second {
		t.Errorf("poll interval: have %v, want 30s", e.PollInterval)
	}
}

// TestOpenNanoMDMEnv: ${VAR} in a target file is the environment's.
//
// NOT PARALLEL: it sets environment variables.
func TestOpenNanoMDMEnv(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	yaml := `kind: nanomdm
name: ${MDMSIM_TEST_NAME}
enrollment:
  profile_file: ${MDMSIM_TEST_DIR}/profile.mobileconfig
nanomdm:
  api_url: ${MDMSIM_TEST_API_URL}
  api_key: $MDMSIM_TEST_API_KEY
  upload_push_cert: false
`
	dir := write(t, map[string]string{"target.yaml": yaml, "elsewhere/profile.mobileconfig": "from the environment"})
	t.Setenv("MDMSIM_TEST_NAME", "from-env")
	t.Setenv("MDMSIM_TEST_DIR", filepath.Join(dir, "elsewhere"))
	t.Setenv("MDMSIM_TEST_API_KEY", "secret")
	t.Setenv("MDMSIM_TEST_API_URL", "")
	spec := filepath.Join(dir, "target.yaml")

	// Unset, the API URL is empty, and required.
	if _, err := targets.Open(ctx, spec, newWorld(t), targets.Options{}); err == nil || !strings.Contains(err.Error(), "nanomdm.api_url is required") {
		t.Fatalf("Open with MDMSIM_TEST_API_URL empty: have %v, want api_url is required", err)
	}
	t.Setenv("MDMSIM_TEST_API_URL", "http://127.0.0.1:1/v1")
	tg, err := targets.Open(ctx, spec, newWorld(t), targets.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer tg.Close()
	if tg.Name() != "from-env" {
		t.Errorf("Name: have %q, want from-env", tg.Name())
	}
	if e, _ := tg.Enrollment(ctx); string(e.Profile) != "from the environment" {
		t.Errorf("profile: have %q, want the file ${MDMSIM_TEST_DIR} names", e.Profile)
	}
}
