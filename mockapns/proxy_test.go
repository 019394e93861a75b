package mockapns_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micromdm/nanomdm/mdm"
	"github.com/micromdm/nanomdm/push/nanopush"

	"github.com/mdmsim/mdmsim/mockapns"
)

// TestProxyCarriesNanopush runs NanoMDM's push client as its binary does
// with HTTPS_PROXY set: requests go to https://api.push.apple.com through
// the CONNECT proxy, and the mock sees the push certificate and wakes the
// device.
func TestProxyCarriesNanopush(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer()
	defer srv.Close()
	proxy, err := srv.NewProxy(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	topic := "com.apple.mgmt.External.5e0d4c1e-1c38-4b5c-9f0e-3d0e4a9b7c11"
	cert, err := mockapns.NewPushCertificate(topic, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	proxyURL, _ := url.Parse(proxy.URL)
	newClient := func(c *tls.Certificate) (*http.Client, error) {
		tr := &http.Transport{
			Proxy:             http.ProxyURL(proxyURL),
			TLSClientConfig:   &tls.Config{Certificates: []tls.Certificate{*c}, RootCAs: roots},
			ForceAttemptHTTP2: true,
		}
		return &http.Client{Transport: tr}, nil
	}
	token := make([]byte, 32)
	token[0] = 0x42
	var woken atomic.Int32
	srv.RegisterDevice(token, topic, "magic", func() { woken.Add(1) })

	prov, err := nanopush.NewFactory(nanopush.WithNewClient(newClient)).NewPushProvider(&cert)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := prov.Push(context.Background(), []*mdm.Push{{Token: token, PushMagic: "magic", Topic: topic}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp {
		if r.Err != nil || r.Id == "" {
			t.Fatalf("push through the proxy: %+v", r)
		}
	}
	deadline := time.Now().Add(time.Minute) // a hang guard, not a timing
	for woken.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if woken.Load() != 1 {
		t.Fatal("device not woken through the proxy")
	}
}

func TestProxyRefusesOtherHosts(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer()
	defer srv.Close()
	proxy, err := srv.NewProxy(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxyURL, _ := url.Parse(proxy.URL)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	for _, target := range []string{"https://example.com/", "https://api.push.apple.com:8443/"} {
		if _, err := c.Get(target); err == nil {
			t.Errorf("proxy tunnelled to %s", target)
		}
	}
	resp, err := http.Get(proxy.URL + "/3/device/00")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("plain GET to the proxy: %d", resp.StatusCode)
	}
}
