package pki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/internal/pki"
)

func TestServerCertificateVerifies(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, kind := range []string{"rsa", "ecdsa"} {
		var ca *pki.CA
		var err error
		if kind == "rsa" {
			k, _ := rsa.GenerateKey(rand.Reader, 2048)
			ca, err = pki.NewCA("test CA", k, now.Add(-time.Hour), now.Add(time.Hour))
		} else {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			ca, err = pki.NewCA("test CA", k, now.Add(-time.Hour), now.Add(time.Hour))
		}
		if err != nil {
			t.Fatal(err)
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		cert, err := ca.ServerCertificate("server", []string{"127.0.0.1", "example.test"}, key, now.Add(-time.Hour), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		opts := x509.VerifyOptions{Roots: ca.Pool(), DNSName: "example.test"}
		if _, err := cert.Leaf.Verify(opts); err != nil {
			t.Errorf("%s: leaf does not verify for its host name: %v", kind, err)
		}
		if err := cert.Leaf.VerifyHostname("127.0.0.1"); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
		if err := cert.Leaf.VerifyHostname("other.test"); err == nil {
			t.Errorf("%s: leaf valid for a host it was not issued for", kind)
		}
		if len(cert.Certificate) != 2 || !ca.Cert.Equal(mustParse(t, cert.Certificate[1])) {
			t.Errorf("%s: chain does not end with the CA", kind)
		}
		if ip := net.ParseIP("127.0.0.1"); !cert.Leaf.IPAddresses[0].Equal(ip) {
			t.Errorf("%s: IP SAN %v", kind, cert.Leaf.IPAddresses)
		}
		if s1, s2 := pki.Serial(), pki.Serial(); s1.Sign() <= 0 || s1.Cmp(s2) == 0 {
			t.Errorf("serials %v %v", s1, s2)
		}
	}
	if _, err := pki.NewCA("x", nil, now, now); err == nil {
		t.Error("nil key accepted")
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseCertificates(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA("parse", key, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not read")})
	certs, err := pki.ParseCertificates(append(append(keyPEM, ca.PEM...), ca.PEM...))
	if err != nil || len(certs) != 2 || !certs[0].Equal(ca.Cert) {
		t.Errorf("two certificates after a key block: have %d, %v", len(certs), err)
	}
	if certs, err := pki.ParseCertificates([]byte("no PEM here")); err != nil || certs != nil {
		t.Errorf("no PEM: have %v, %v; want nothing and no error", certs, err)
	}
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")})
	if _, err := pki.ParseCertificates(bad); err == nil {
		t.Error("a CERTIFICATE block that does not parse is not an error")
	}
}
