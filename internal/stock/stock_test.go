package stock

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/mockapns"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// syncBuffer collects the servers' output, shown when a test fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func logOnFailure(t *testing.T, out *syncBuffer) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("servers' output:\n%s", out)
		}
	})
}

func get(t *testing.T, url, user, pass string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// gone tells whether pid no longer names a process (it was reaped).
func gone(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	return p.Signal(syscall.Signal(0)) != nil
}

func buildOrSkip(t *testing.T) Binaries {
	t.Helper()
	if testing.Short() {
		t.Skip("stock: builds (go install) and runs NanoMDM, scepserver and KMFDDM; skipped with -short")
	}
	bins, err := Build(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return bins
}

func TestStart(t *testing.T) {
	bins := buildOrSkip(t)
	out := &syncBuffer{}
	logOnFailure(t, out)
	s, err := Start(t.Context(), Options{Binaries: bins, DDM: true, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	for _, l := range s.CommandLines() {
		t.Log(l)
	}

	if code, body := get(t, s.NanoMDMURL+"/version", "", ""); code != 200 || !strings.Contains(string(body), NanoMDMVersion) {
		t.Errorf("nanomdm GET /version: have %d %q, want 200 with %s", code, body, NanoMDMVersion)
	}
	if code, body := get(t, s.KMFDDMURL+"/version", "", ""); code != 200 || !strings.Contains(string(body), KMFDDMVersion) {
		t.Errorf("kmfddm GET /version: have %d %q, want 200 with %s", code, body, KMFDDMVersion)
	}
	if code, body := get(t, s.KMFDDMURL+"/v1/declarations", "kmfddm", s.APIKey); code != 200 {
		t.Errorf("kmfddm GET /v1/declarations: have %d %q, want 200", code, body)
	}

	code, der := get(t, s.SCEPURL+"?operation=GetCACert", "", "")
	if code != 200 {
		t.Fatalf("GetCACert: have %d, want 200", code)
	}
	block, _ := pem.Decode(s.CACertPEM)
	if block == nil {
		t.Fatalf("CACertPEM is not PEM: %q", s.CACertPEM)
	}
	if !bytes.Equal(der, block.Bytes) {
		t.Errorf("GetCACert answers a certificate other than CACertPEM")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		t.Errorf("CA certificate: %v", err)
	}

	prof, err := protocol.ParseProfile(s.Profile)
	if err != nil {
		t.Fatalf("ParseProfile: %v\n%s", err, s.Profile)
	}
	for _, c := range []struct{ name, have, want string }{
		{"Topic", prof.MDM.Topic, s.Topic},
		{"ServerURL", prof.MDM.ServerURL, s.MDMURL},
		{"CheckInURL", prof.CheckInURL(), s.MDMURL},
		{"SCEP URL", prof.SCEP.PayloadContent.URL, s.SCEPURL},
		{"Challenge", prof.SCEP.PayloadContent.Challenge, s.Challenge},
	} {
		if c.have != c.want {
			t.Errorf("profile %s: have %q, want %q", c.name, c.have, c.want)
		}
	}
	if !prof.MDM.SignMessage || prof.SCEP == nil || !strings.HasPrefix(s.Topic, "com.apple.mgmt.External.") {
		t.Errorf("profile: SignMessage %v, SCEP %v, Topic %q", prof.MDM.SignMessage, prof.SCEP != nil, s.Topic)
	}

	now := clock.Real().Now()
	cert, err := mockapns.NewPushCertificate(s.Topic, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UploadPushCert(t.Context(), cert); err != nil {
		t.Fatal(err)
	}

	pids := s.PIDs()
	if len(pids) != 3 {
		t.Fatalf("PIDs: have %v, want scepserver, nanomdm and kmfddm", pids)
	}
	s.StopNanoMDM()
	if !gone(pids["nanomdm"]) {
		t.Errorf("nanomdm (pid %d) still running after StopNanoMDM", pids["nanomdm"])
	}
	if code, _ := get(t, s.SCEPURL+"?operation=GetCACert", "", ""); code != 200 {
		t.Errorf("scepserver stopped with nanomdm: GetCACert %d", code)
	}
	s.Stop()
	for name, pid := range pids {
		if !gone(pid) {
			t.Errorf("%s (pid %d) still running after Stop", name, pid)
		}
	}
	if _, err := os.Stat(s.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s left behind: %v", s.dir, err)
	}
}

// A server that dies on start makes Start fail with its output, and takes
// the servers already started down with it.
func TestStartReportsEarlyDeath(t *testing.T) {
	bins := buildOrSkip(t)
	fake := filepath.Join(t.TempDir(), "nanomdm")
	script := "#!/bin/sh\necho 'nanomdm: no such storage' >&2\nexit 3\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	bins.NanoMDM = fake
	for _, logFiles := range []bool{false, true} {
		s, err := Start(t.Context(), Options{Binaries: bins, CAKeySize: 2048, LogFiles: logFiles})
		if err == nil {
			s.Stop()
			t.Fatal("Start succeeded with a nanomdm that exits")
		}
		if !strings.Contains(err.Error(), "no such storage") || !strings.Contains(err.Error(), "nanomdm exited early") {
			t.Errorf("LogFiles %v: error: have %q, want nanomdm's output in it", logFiles, err)
		}
	}
}
