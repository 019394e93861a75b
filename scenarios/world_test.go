package scenarios_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/mockapns"
	"github.com/mdmsim/mdmsim/scenarios"
)

func newWorld(t *testing.T, cfg scenarios.WorldConfig) *scenarios.World {
	t.Helper()
	w, err := scenarios.NewWorld(cfg)
	if err != nil {
		t.Fatalf("NewWorld: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// TestWorldStartsAndCloses: NewWorld's mocks serve until Close, which
// stops them.
func TestWorldStartsAndCloses(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{Seed: 3, ProxyAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("NewWorld: %v", err)
	}
	if w.Clock == nil || w.Catalog == nil || w.Observer == nil || w.APNs == nil || w.GDMF == nil || w.Proxy == nil {
		t.Fatalf("NewWorld left something out: %+v", w)
	}
	get := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.GDMF.URL+"/v2/pmv", nil)
		if err != nil {
			return err
		}
		hc := &http.Client{Transport: w.GDMF.Client().Transport.(*http.Transport).Clone()}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("the mock GDMF before Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := get(); err == nil {
		t.Error("the mock GDMF after Close: have an answer, want an error")
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close again: have %v, want nil", err)
	}
}

func TestWorldConfigErrors(t *testing.T) {
	t.Parallel()
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  scenarios.WorldConfig
		want string
	}{
		{"bad APNs address", scenarios.WorldConfig{APNsAddr: "127.0.0.1:notaport"}, "mock APNs"},
		{"bad proxy address", scenarios.WorldConfig{ProxyAddr: "127.0.0.1:notaport"}, "APNs proxy"},
		{"CA folder is a file", scenarios.WorldConfig{CADir: filepath.Join(notDir, "ca")}, "the mocks' CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := scenarios.NewWorld(tt.cfg)
			if err == nil {
				w.Close()
				t.Fatalf("NewWorld(%+v): have no error, want one naming %q", tt.cfg, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewWorld: have %q, want it to name %q", err, tt.want)
			}
		})
	}
}

func TestWorldPushCertificate(t *testing.T) {
	t.Parallel()
	w := newWorld(t, scenarios.WorldConfig{})
	for _, topic := range []string{"com.apple.mgmt.External.0b2a7f4e-1c3d-4e5f-8a9b-0c1d2e3f4a5b", "com.apple.mgmt.test"} {
		certPEM, keyPEM, err := w.PushCertificate(topic)
		if err != nil {
			t.Fatalf("PushCertificate(%q): %v", topic, err)
		}
		b, _ := pem.Decode(certPEM)
		if b == nil || b.Type != "CERTIFICATE" {
			t.Fatalf("PushCertificate(%q): the certificate is not PEM:\n%s", topic, certPEM)
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("PushCertificate(%q): %v", topic, err)
		}
		if have := mockapns.TopicFromCertificate(cert); have != topic {
			t.Errorf("topic of the certificate: have %q, want %q", have, topic)
		}
		if now := time.Now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			t.Errorf("certificate valid %v to %v: want it valid now", cert.NotBefore, cert.NotAfter)
		}
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			t.Errorf("PushCertificate(%q): the key does not go with the certificate: %v", topic, err)
		}
	}
}

// TestWorldCADir: two worlds with the same folder share the mock
// APNs's CA; one without it has a CA of its own.
func TestWorldCADir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "apns-ca")
	first := newWorld(t, scenarios.WorldConfig{CADir: dir})
	second := newWorld(t, scenarios.WorldConfig{CADir: dir})
	other := newWorld(t, scenarios.WorldConfig{})
	a, b := first.APNs.CACertPEM(), second.APNs.CACertPEM()
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("CA of two worlds with one folder: have\n%s\nand\n%s\nwant the same", a, b)
	}
	if bytes.Equal(a, other.APNs.CACertPEM()) {
		t.Error("a world without the folder has the folder's CA; want its own")
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatalf("the folder's ca.pem: %v", err)
	}
	if !bytes.Equal(bytes.TrimSpace(onDisk), bytes.TrimSpace(a)) {
		t.Errorf("ca.pem is not the CA the mock APNs uses:\n%s\nvs\n%s", onDisk, a)
	}
}

func TestWorldReleases(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// On the story's clock: the wall clock may be past every asset's
	// ExpirationDate, when the mock GDMF rightly lists nothing.
	w := newWorld(t, scenarios.WorldConfig{Clock: clock.NewManual(scenarios.SpecStart(catalog.Default()))})
	c, err := w.Releases(ctx)
	if err != nil {
		t.Fatalf("Releases: %v", err)
	}
	rels := c.Releases(w.Clock.Now())
	if len(rels) == 0 {
		t.Fatal("Releases: have an empty catalog, want the releases the mock GDMF lists")
	}
	want := map[string]bool{}
	for _, r := range w.Catalog.Releases(w.Clock.Now()) {
		want[r.Build] = true
	}
	for _, r := range rels {
		if !want[r.Build] {
			t.Errorf("release %+v listed by the mock GDMF is not in the world's catalog", r)
			break
		}
	}
}

func TestFetchReleases(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 8, 22, 12, 0, 0, 0, time.UTC) // the newest snapshot's: its assets are live
	doc, err := json.Marshal(catalog.Default().Document(day))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    []string // in the error; none: success
		notPMV  bool
	}{
		{"ok", func(w http.ResponseWriter, r *http.Request) { w.Write(doc) }, nil, false},
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, []string{"GDMF", "HTTP 404"}, false},
		{"503", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		}, []string{"GDMF", "HTTP 503"}, false},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>sign in</html>")) },
			[]string{"GDMF", "not a GDMF pmv document"}, true},
		{"empty", func(w http.ResponseWriter, r *http.Request) {}, []string{"GDMF", "not a GDMF pmv document"}, true},
		{"huge", func(w http.ResponseWriter, r *http.Request) {
			// A JSON object whose whitespace never ends.
			w.Write([]byte("{"))
			chunk := bytes.Repeat([]byte(" "), 1<<20)
			for range 40 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			w.Write([]byte("}"))
		}, []string{"GDMF", "larger than"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c, err := scenarios.FetchReleases(ctx, srv.Client(), srv.URL+"/v2/pmv")
			if tt.want == nil {
				if err != nil {
					t.Fatalf("FetchReleases: %v", err)
				}
				if len(c.Releases(day)) == 0 {
					t.Error("FetchReleases: have an empty catalog, want the document's releases")
				}
				return
			}
			if err == nil {
				t.Fatalf("FetchReleases: have a catalog, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("FetchReleases: have %q, want it to say %q", err, w)
				}
			}
			if have := errors.Is(err, catalog.ErrNotPMV); have != tt.notPMV {
				t.Errorf("errors.Is(%v, catalog.ErrNotPMV): have %v, want %v", err, have, tt.notPMV)
			}
		})
	}
}

func TestFetchReleasesUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := scenarios.FetchReleases(ctx, http.DefaultClient, url+"/v2/pmv"); err == nil || !strings.Contains(err.Error(), "GDMF") {
		t.Errorf("FetchReleases from a closed server: have %v, want a GDMF error", err)
	}
	if _, err := scenarios.FetchReleases(ctx, http.DefaultClient, "://bad"); err == nil {
		t.Error("FetchReleases of a bad URL: have no error, want one")
	}
}

// TestWorldProxyReachesGDMF: a server outside the process that asks
// gdmf.apple.com through the world's proxy, trusting the CA kept in
// CADir, gets the mock GDMF's release list; other hosts are refused.
func TestWorldProxyReachesGDMF(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{ProxyAddr: "127.0.0.1:0", CADir: dir,
		Clock: clock.NewManual(scenarios.SpecStart(catalog.Default()))})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	proxy, err := url.Parse(w.Proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	rel, err := scenarios.FetchReleases(t.Context(), hc, "https://"+scenarios.GDMFHost+"/v2/pmv")
	if err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if len(rel.Releases(w.Clock.Now())) == 0 {
		t.Error("the mock GDMF listed no release through the proxy")
	}
	if _, err := hc.Get("https://www.apple.com/"); err == nil {
		t.Error("the proxy tunnelled a host it does not serve")
	}
}
